"""`make up`'s supervisor (`python -m helpdesk_fleet up`) as a user runs it.

It must start every service and the gateway on the ports it is given, restart each one that
crashes (SIGKILL, one after another: the gateway answers for it at once meanwhile), and on
SIGTERM stop everything, leaving no process behind. (DB_URL is given, so no
embedded PostgreSQL is started here; the suite's own embedded server plays that part.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.proxy import ROUTES
from helpdesk_fleet.fleet import poll_until
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.process import SINKS, free_port, installed_services
from tests.conftest import SYSTEM_TEST_ENV

pytestmark = pytest.mark.xdist_group("make-up")

REPO_ROOT = Path(__file__).resolve().parents[1]
# A killed service is ready again within this: the supervisor waits 1 s, then the service starts,
# migrates (nothing to do) and registers; 11-26 s were measured at a load average of 10-18.
RESTART_BOUND_SECONDS = 45.0
# While it is down, the gateway answers for it within this.
GATEWAY_ANSWER_BOUND_SECONDS = 3.0


def processes_with(marker: str) -> list[int]:
    """Pids of the processes whose environment holds `marker` (ours, and only ours)."""
    found = []
    needle = marker.encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def service_pid(marker: str, port: int) -> int | None:
    """The pid of the process group leader serving `port` among ours."""
    for pid in processes_with(marker):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"PORT={port}".encode() in environ and os.getpgid(pid) == pid:
                return pid
        except (OSError, ProcessLookupError):
            continue
    return None


@dataclass
class Supervisor:
    proc: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int]
    marker: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def supervisor(pg_admin_dsn: str, tmp_path: Path) -> Iterator[Supervisor]:
    db_url = asyncio.run(create_scratch_database(pg_admin_dsn, prefix="makeup"))
    ports = {spec.name: free_port() for spec in installed_services()}
    sink_ports = {spec.port_env: str(free_port()) for spec in SINKS}
    marker = f"HELPDESK_TEST_RUN={uuid.uuid4().hex}"
    env = {
        **os.environ,
        **SYSTEM_TEST_ENV,
        "DB_URL": db_url,
        # S5's files, the mail and the SMS sinks' in this test's own folder, never in the
        # developer's .data.
        "HELPDESK_DATA_DIR": str(tmp_path / "data"),
        **{spec.port_env: str(ports[spec.name]) for spec in installed_services()},
        # The mail and SMS sinks on ports of their own.
        **sink_ports,
        "MAIL_SINK_SMTP_PORT": str(free_port()),
        marker.split("=")[0]: marker.split("=")[1],
    }
    log = tmp_path / "make-up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "helpdesk_fleet", "up"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sup = Supervisor(proc=proc, log=log, ports=ports, marker=marker)
    try:
        yield sup
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in processes_with(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_make_up_starts_restarts_and_stops_cleanly(supervisor: Supervisor) -> None:
    poll_until(
        lambda: True if "Ctrl-C stops everything" in supervisor.output() else None,
        timeout=90,
        what=f"the fleet to be ready:\n{supervisor.output()[-3000:]}",
    )
    gateway = f"http://127.0.0.1:{supervisor.ports['gateway']}"
    assert httpx.get(f"{gateway}/health").json()["status"] == "ok"
    for name, port in supervisor.ports.items():
        assert f"http://127.0.0.1:{port}" in supervisor.output(), f"{name}'s URL is not printed"

    # S2's main process dies (its granian worker is left orphaned): the crash is noticed, the
    # orphan reaped (it would hold the port), and S2 restarted.
    tickets_port = supervisor.ports["s2-tickets"]
    crashed = service_pid(supervisor.marker, tickets_port)
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)
    poll_until(
        lambda: True if "s2-tickets exited" in supervisor.output() else None, timeout=10, what="the crash report"
    )

    def restarted() -> bool | None:
        pid = service_pid(supervisor.marker, tickets_port)
        if pid is None or pid == crashed:
            return None
        try:
            return True if httpx.get(f"http://127.0.0.1:{tickets_port}/ready").status_code == 200 else None
        except httpx.HTTPError:
            return None

    poll_until(restarted, timeout=30, what="S2 to be restarted")

    # Every other service killed the same way, one at a time: restarted within the bound, and
    # meanwhile the gateway answers for it at once, with a 502/503 {"error"}, never a hang.
    prefixes = {service: prefix.decode() for prefix, service in ROUTES.items()}
    restart_seconds = {}
    for name, port in supervisor.ports.items():
        if name in ("s2-tickets", "gateway"):
            continue
        crashed = service_pid(supervisor.marker, port)
        assert crashed is not None, name
        killed_at = time.monotonic()
        os.kill(crashed, signal.SIGKILL)
        if name in prefixes:
            began = time.monotonic()
            answer = httpx.get(f"{gateway}/{prefixes[name]}/health", timeout=10)
            assert time.monotonic() - began < GATEWAY_ANSWER_BOUND_SECONDS, name
            assert answer.status_code in (200, 502, 503), (name, answer.status_code, answer.text)
            if answer.status_code != 200:
                assert isinstance(answer.json()["error"], str), answer.text

        def back(port: int = port, crashed: int = crashed) -> bool | None:
            pid = service_pid(supervisor.marker, port)
            if pid is None or pid == crashed:
                return None
            try:
                return True if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200 else None
            except httpx.HTTPError:
                return None

        poll_until(back, timeout=RESTART_BOUND_SECONDS, what=f"{name} to be restarted")
        restart_seconds[name] = round(time.monotonic() - killed_at, 1)
    print(f"\nSIGKILL -> ready again, seconds: {restart_seconds}")

    # SIGTERM (what Ctrl-C's SIGINT also does): everything stops, nothing is left behind.
    supervisor.proc.send_signal(signal.SIGTERM)
    assert supervisor.proc.wait(30) == 0
    assert "stopped" in supervisor.output().splitlines()[-1]
    poll_until(
        lambda: True if not processes_with(supervisor.marker) else None,
        timeout=10,
        what="every service process to be gone",
    )
