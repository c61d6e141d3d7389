"""Gateway tests against real processes: registries (s3-registry), a small aiohttp upstream
(`upstream.py`, one port per service) and gateways (`python -m gateway`), all on free ports.

Three gateways, each with its own registry, because their tests change what the registry
knows or kill it:
- `gateway` (main): every routed service registered; 1 s read timeout, 2 s request deadline;
  long discovery cache; access log on.
- `forgetful`: s6-notifications registered on a dead port, nothing else; long discovery cache,
  so a 200 right after a 502 proves the dead instance was forgotten rather than expired. Its
  body limits and CORS origins are configured (not the defaults).
- `orphaned`: s2-tickets registered, s8-feedback only as a SERVICE_URLS fallback, short
  discovery cache; its registry gets killed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpdesk_common.security import create_access_token
from helpdesk_fleet.fleet import poll_until
from helpdesk_fleet.process import ALL_SERVICES, ServiceProcess, free_port
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN

HERE = Path(__file__).parent
REGISTRY_SPEC = next(s for s in ALL_SERVICES if s.module == "s3_registry")
GATEWAY_SPEC = next(s for s in ALL_SERVICES if s.module == "gateway")
SERVICE_AUTH = {"X-Service-Token": TEST_SERVICE_TOKEN}
READ_TIMEOUT = 1.0  # the main gateway's HTTP_READ_TIMEOUT
REQUEST_DEADLINE = 2.0  # and its REQUEST_DEADLINE_SECONDS (the SSE test outlasts it: streams are exempt)
FORGETFUL_MAX_BODY = 1000  # the forgetful gateway's limits and CORS origins (not the defaults)
FORGETFUL_UPLOAD_MAX_BODY = 2000
FORGETFUL_ORIGINS = ("http://a.example", "http://b.example")

# The contract's route table: prefix -> service name.
ROUTES = {
    "auth": "s1-auth",
    "tickets": "s2-tickets",
    "workflow": "s4-workflow",
    "media": "s5-media",
    "notifications": "s6-notifications",
    "analytics": "s7-analytics",
    "feedback": "s8-feedback",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the gateway's tests on one xdist worker (`--dist loadgroup`): they share one set of
    processes, which every worker would otherwise start for itself."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.xdist_group("gateway"))


def token(role: str, *, user_id: int = 42, secret: str = TEST_JWT_SECRET, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "user_id": user_id,
        "role": role,
        "email": f"{role}@example.com",
        "secret": secret,
        "algorithm": "HS256",
        "ttl_seconds": 3600,
    }
    values.update(overrides)
    return create_access_token(**values)


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}"}


@dataclass
class Upstream:
    """The aiohttp upstream: one port per service name, plus helpers to ask it what it saw."""

    ports: dict[str, int]
    proc: subprocess.Popen[bytes] | None = None
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=5))

    def url(self, service: str = "s2-tickets") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def requests_with_id(self, request_id: str) -> list[dict[str, Any]]:
        """What the upstream recorded for requests carrying this X-Request-ID."""
        response = self.client.get(f"{self.url()}/__requests", params={"rid": request_id})
        records: list[dict[str, Any]] = response.json()["requests"]
        return records

    def seen(self, key: str) -> dict[str, Any]:
        progress: dict[str, Any] = self.client.get(f"{self.url('s5-media')}/__seen", params={"key": key}).json()
        return progress

    def release(self, key: str) -> None:
        self.client.get(f"{self.url()}/__release", params={"key": key}).raise_for_status()


@dataclass
class Gateway:
    process: ServiceProcess
    registry: ServiceProcess
    log_path: Path

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def port(self) -> int:
        return self.process.port

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def access_lines(self, request_id: str) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            if request_id not in raw or not raw.startswith("{"):
                continue
            record = json.loads(raw)
            if record.get("logger") == "helpdesk.access" and record.get("request_id") == request_id:
                lines.append(record)
        return lines


def _register(registry: ServiceProcess, name: str, port: int) -> None:
    response = httpx.post(
        f"{registry.url}/register",
        json={"name": name, "host": "127.0.0.1", "port": port},
        headers=SERVICE_AUTH,
        timeout=5,
    )
    assert response.status_code == 201, response.text


def _registry(log_dir: Path, label: str) -> ServiceProcess:
    return ServiceProcess(
        spec=REGISTRY_SPEC,
        port=free_port(),
        env={
            "ENVIRONMENT": "test",
            "SERVICE_TOKEN": TEST_SERVICE_TOKEN,
            # No periodic checks during the tests: what it knows changes only through its API.
            "HEALTH_INTERVAL_SECONDS": "3600",
            "LOG_LEVEL": "WARNING",
        },
        log_path=log_dir / f"registry-{label}.log",
    )


def _gateway(log_dir: Path, label: str, registry: ServiceProcess, **env: str) -> Gateway:
    log_path = log_dir / f"gateway-{label}.log"
    process = ServiceProcess(
        spec=GATEWAY_SPEC,
        port=free_port(),
        env={
            "ENVIRONMENT": "test",
            "JWT_SECRET": TEST_JWT_SECRET,
            "SERVICE_TOKEN": TEST_SERVICE_TOKEN,
            "REGISTRY_URL": registry.url,
            "SERVICE_URLS": "{}",
            "HTTP_CONNECT_TIMEOUT": "1",
            "HTTP_READ_TIMEOUT": "5",
            "LOG_LEVEL": "INFO",
            "ACCESS_LOG": "false",
            **env,
        },
        log_path=log_path,
    )
    return Gateway(process=process, registry=registry, log_path=log_path)


@dataclass
class Fleet:
    upstream: Upstream
    main: Gateway
    forgetful: Gateway
    orphaned: Gateway
    dead_port: int


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    log_dir = tmp_path_factory.mktemp("gateway-logs")
    ports = {name: free_port() for name in ROUTES.values()}
    dead_port = free_port()  # nothing listens there
    upstream = Upstream(ports=ports)
    upstream.proc = subprocess.Popen(
        [sys.executable, str(HERE / "upstream.py"), *map(str, ports.values())],
        stdout=(log_dir / "upstream.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    registries = {label: _registry(log_dir, label) for label in ("main", "forgetful", "orphaned")}
    for registry in registries.values():
        registry.start()
    gateways = {
        "main": _gateway(
            log_dir,
            "main",
            registries["main"],
            HTTP_READ_TIMEOUT=str(READ_TIMEOUT),
            REQUEST_DEADLINE_SECONDS=str(REQUEST_DEADLINE),
            DISCOVERY_CACHE_SECONDS="600",
            ACCESS_LOG="true",
        ),
        "forgetful": _gateway(
            log_dir,
            "forgetful",
            registries["forgetful"],
            DISCOVERY_CACHE_SECONDS="600",
            MAX_BODY_BYTES=str(FORGETFUL_MAX_BODY),
            MEDIA_UPLOAD_MAX_BODY_BYTES=str(FORGETFUL_UPLOAD_MAX_BODY),
            CORS_ORIGINS=" http://a.example, http://b.example/",
        ),
        "orphaned": _gateway(
            log_dir,
            "orphaned",
            registries["orphaned"],
            DISCOVERY_CACHE_SECONDS="0.1",
            SERVICE_URLS=json.dumps({"s8-feedback": f"http://127.0.0.1:{ports['s8-feedback']}"}),
        ),
    }
    try:
        for registry in registries.values():
            registry.wait_ready()
        for gateway in gateways.values():
            gateway.process.start()
        poll_until(lambda: _answers(upstream.url("s8-feedback")), what="the upstream to listen")
        for name, port in ports.items():
            _register(registries["main"], name, port)
        _register(registries["forgetful"], "s6-notifications", dead_port)
        _register(registries["orphaned"], "s2-tickets", ports["s2-tickets"])
        for gateway in gateways.values():
            gateway.process.wait_ready()
        yield Fleet(
            upstream=upstream,
            main=gateways["main"],
            forgetful=gateways["forgetful"],
            orphaned=gateways["orphaned"],
            dead_port=dead_port,
        )
    finally:
        for gateway in gateways.values():
            gateway.process.stop()
        for registry in registries.values():
            registry.stop()
        upstream.client.close()
        upstream.proc.terminate()
        upstream.proc.wait(5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/__requests", params={"rid": "-"}, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def upstream(fleet: Fleet) -> Upstream:
    return fleet.upstream


@pytest.fixture(scope="session")
def gateway(fleet: Fleet) -> Gateway:
    return fleet.main


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


def echo(response: httpx.Response) -> dict[str, Any]:
    """The upstream's echo of a proxied request (asserts the proxying worked)."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def header_values(echoed: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in echoed["headers"] if key == name]


def raw_request(port: int, head: str, body_chunks: Iterator[bytes] | None = None, *, timeout: float = 10) -> bytes:
    """Send a hand-made HTTP/1.1 request (head without the blank line), then read the answer
    until the connection closes or a complete response (by Content-Length) has arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n")
        for chunk in body_chunks or ():
            sock.sendall(chunk)
        data = b""
        while True:
            header_end = data.find(b"\r\n\r\n")
            if header_end >= 0:
                length = _content_length(data[:header_end])
                if length is not None and len(data) >= header_end + 4 + length:
                    return data
            part = sock.recv(65536)
            if not part:
                return data
            data += part


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def parse_raw_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
