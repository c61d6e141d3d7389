"""Start, watch and stop the fleet's services as real processes (`python -m <module>`).

Used by `make up` (through `supervisor.py`), by the system tests and by the benchmark, so
all three run the services exactly the same way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the name it registers under, e.g. "s2-tickets"
    module: str  # the package run with `python -m`, e.g. "s2_tickets"
    port: int  # the contract's port
    port_env: str  # the variable that overrides the port for `make up`, e.g. "S2_PORT"
    uses_database: bool = True


# Start order: the registry first, the gateway last.
ALL_SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("s3-registry", "s3_registry", 3003, "S3_PORT", uses_database=False),
    ServiceSpec("s1-auth", "s1_auth", 3001, "S1_PORT"),
    ServiceSpec("s2-tickets", "s2_tickets", 3002, "S2_PORT"),
    ServiceSpec("s4-workflow", "s4_workflow", 3004, "S4_PORT"),
    ServiceSpec("s5-media", "s5_media", 3005, "S5_PORT"),
    ServiceSpec("s6-notifications", "s6_notifications", 3006, "S6_PORT"),
    ServiceSpec("s7-analytics", "s7_analytics", 3007, "S7_PORT"),
    ServiceSpec("s8-feedback", "s8_feedback", 3008, "S8_PORT"),
    ServiceSpec("gateway", "gateway", 8080, "GATEWAY_PORT", uses_database=False),
)


# Dev tooling started before the services (by `make up`, the system tests and the benchmark):
# local stand-ins for the mail server and the SMS provider S6 delivers to (helpdesk_fleet.sinks).
# They answer /ready like a service and are supervised the same way. Production has none.
MAIL_SINK = ServiceSpec("mail-sink", "helpdesk_fleet.sinks.mail", 8025, "MAIL_SINK_HTTP_PORT", uses_database=False)
SMS_SINK = ServiceSpec("sms-sink", "helpdesk_fleet.sinks.sms", 8026, "SMS_SINK_PORT", uses_database=False)
SINKS: tuple[ServiceSpec, ...] = (MAIL_SINK, SMS_SINK)
MAIL_SINK_SMTP_PORT = 1025  # the mail sink's SMTP port (MAIL_SINK_SMTP_PORT overrides it for `make up`)


def sink_environment(*, smtp_port: int, sms_port: int, data_dir: Path) -> dict[str, str]:
    """Where the sinks keep what they receive, and S6's settings that point at them."""
    return {
        "MAIL_SINK_SMTP_PORT": str(smtp_port),
        "MAIL_SINK_DIR": str(data_dir / "mail"),
        "SMS_SINK_FILE": str(data_dir / "sms" / "messages.jsonl"),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "SMS_PROVIDER_URL": f"http://127.0.0.1:{sms_port}/messages",
    }


def installed_services() -> list[ServiceSpec]:
    """The services whose packages exist in this checkout (later issues add the rest)."""
    # find_spec("pkg.__main__") raises when `pkg` itself is missing, so ask for the package first.
    return [
        s
        for s in ALL_SERVICES
        if importlib.util.find_spec(s.module) is not None
        and importlib.util.find_spec(f"{s.module}.__main__") is not None
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    port: int
    env: dict[str, str]
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "PORT": str(self.port)}
        stdout: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
            stdout = self._log_file
        # A session of its own, so stopping it reaches granian's worker processes too.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.spec.module],
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            start_new_session=True,
        )

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll /ready until it answers 200; fail early if the process dies."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(
                    f"{self.spec.name} exited with {self.proc and self.proc.returncode}: {self.log_tail()}"
                )
            try:
                response = httpx.get(f"{self.url}/ready", timeout=1.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.05)
        raise TimeoutError(f"{self.spec.name} not ready after {timeout}s ({last}): {self.log_tail()}")

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful: lifespan shutdown deregisters), then SIGKILL after `timeout`."""
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(5)
        # Reap anything left in its process group (granian workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill(self) -> None:
        """Die without a goodbye (no deregistration): a crash, for tests."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def fleet_environment(
    *,
    db_url: str,
    registry_port: int,
    ports: Mapping[str, int],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Variables every service gets: where the database and the registry are, and fallback
    addresses for every service so the gateway routes even before the registry answers."""
    fallbacks = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        "DB_URL": db_url,
        "HOST": "127.0.0.1",
        "REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
        "SERVICE_URLS": json.dumps(fallbacks),
    }
    env.update(extra or {})
    return env
