"""A whole fleet on free ports, as real processes: for the system tests and the benchmark.

`running_fleet(db_url, log_dir, env=...)` starts the registry, every installed service and
the gateway (each waited for on /ready), waits until the services have registered, and stops
everything afterwards. `Fleet` holds the processes and speaks to the gateway like a client.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from helpdesk_fleet.process import (
    SINKS,
    ServiceProcess,
    ServiceSpec,
    fleet_environment,
    free_port,
    installed_services,
    sink_environment,
)

T = TypeVar("T")
PASSWORD = "s3cret-passw0rd"  # noqa: S105 - accounts the tests and the benchmark make


def poll_until(
    probe: Callable[[], T | None], *, timeout: float = 10.0, what: str = "a condition", interval: float = 0.02
) -> T:
    """Call `probe` until it returns something truthy and return that; fail after `timeout` seconds.

    The tests' one way to wait for something another process does (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def apoll_until(
    probe: Callable[[], T | Awaitable[T | None] | None],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - poll_until's signature; the probe is what is bounded
    what: str = "a condition",
    interval: float = 0.02,
) -> T:
    """`poll_until` for async tests: the probe may be a coroutine function, and the wait between
    calls yields to the event loop (where the app under test runs)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: str
    token: str


@dataclass
class Fleet:
    db_url: str
    processes: dict[str, ServiceProcess]
    service_token: str
    media_dir: Path
    admin_token: str = ""
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return self.processes["gateway"].url

    @property
    def registry(self) -> ServiceProcess:
        return self.processes["s3-registry"]

    @property
    def mail_sink_url(self) -> str:
        """The local mail sink's HTTP listing (`GET /messages`), where S6's email arrives."""
        return self.processes["mail-sink"].url

    @property
    def sms_sink_url(self) -> str:
        return self.processes["sms-sink"].url

    def client(self, token: str | None = None) -> httpx.Client:
        """A client of the gateway, signed in with `token` if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.gateway_url, headers=headers, timeout=10)
        self._clients.append(client)
        return client

    def login(self, email: str, password: str = PASSWORD) -> str:
        response = self.client().post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def new_account(self, role: str = "user") -> Account:
        """Register through the gateway; the admin grants `role`; log in again for a token with it."""
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        response = self.client().post("/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        user_id = response.json()["id"]
        if role != "user":
            granted = self.client(self.admin_token).patch(f"/auth/users/{user_id}/role", json={"role": role})
            assert granted.status_code == 200, granted.text
        return Account(id=user_id, email=email, role=role, token=self.login(email))

    def registered_names(self) -> set[str]:
        """Names of the healthy instances the registry knows (empty while it does not answer)."""
        try:
            response = httpx.get(
                f"{self.registry.url}/services", headers={"X-Service-Token": self.service_token}, timeout=5
            )
        except httpx.HTTPError:
            return set()
        if response.status_code != 200:
            return set()
        return {s["name"] for s in response.json()["services"] if s["status"] == "healthy"}

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


def _start(processes: Mapping[str, ServiceProcess], specs: list[ServiceSpec]) -> None:
    for spec in specs:
        processes[spec.name].start()
    for spec in specs:
        processes[spec.name].wait_ready(timeout=60)


@contextmanager
def running_fleet(
    db_url: str, log_dir: Path, *, env: Mapping[str, str], admin: tuple[str, str] | None = None
) -> Iterator[Fleet]:
    """`env` must hold at least SERVICE_TOKEN and JWT_SECRET; `admin` is (email, password) or None.

    No fallback addresses are given (SERVICE_URLS is empty): everything is found through the registry.
    S5 keeps its files in a folder of this fleet's own (`MEDIA_DIR`, beside `log_dir`) unless `env` names one.
    """
    specs = installed_services()
    ports = {spec.name: free_port() for spec in [*SINKS, *specs]}
    # The sinks' settings first: what the caller's `env` says wins.
    extra = sink_environment(smtp_port=free_port(), sms_port=ports["sms-sink"], data_dir=log_dir / "sinks") | dict(env)
    extra.setdefault("MEDIA_DIR", str(log_dir.parent / f"{log_dir.name}-media"))
    if admin is not None:
        extra |= {"ADMIN_EMAIL": admin[0], "ADMIN_PASSWORD": admin[1]}
    environment = fleet_environment(db_url=db_url, registry_port=ports["s3-registry"], ports={}, extra=extra)
    processes = {
        spec.name: ServiceProcess(
            spec=spec, port=ports[spec.name], env=environment, log_path=log_dir / f"{spec.name}.log"
        )
        for spec in [*SINKS, *specs]
    }
    fleet = Fleet(
        db_url=db_url, processes=processes, service_token=extra["SERVICE_TOKEN"], media_dir=Path(extra["MEDIA_DIR"])
    )
    try:
        registry, *services, gateway = specs
        _start(processes, list(SINKS))
        _start(processes, [registry])
        _start(processes, services)
        _start(processes, [gateway])
        # The gateway is ready before it has discovered anything; wait until the services registered.
        poll_until(
            lambda: fleet.registered_names() >= {s.name for s in services} or None,
            timeout=30,
            what="every service to register",
        )
        if admin is not None:
            fleet.admin_token = fleet.login(*admin)
        yield fleet
    finally:
        fleet.close()
        for process in reversed(processes.values()):
            process.stop()
