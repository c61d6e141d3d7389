"""The registry is in memory and runs once, by design: when it restarts, it knows nobody until
each service's next heartbeat. The fleet must keep serving meanwhile (the callers' last good
view, DISCOVERY_STALE_SECONDS) and refill by itself (re-registration on the heartbeat).

A fleet of its own, with a 3 s heartbeat so the empty-registry window is long enough to be
hit (the shared fleet's 0.5 s would make it a matter of luck): light load through the gateway
from a few clients while the registry is killed and started again by the fleet's supervisor
(`ServiceProcess`), then every request is counted.

Stated bound: no failed request at all (a 5xx, a refused connection or a timeout) from the
kill until the registry has everyone back, and after.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until, running_fleet
from helpdesk_fleet.postgres import create_scratch_database

from .conftest import ADMIN, SYSTEM_TEST_ENV

pytestmark = pytest.mark.xdist_group("registry-restart")

HEARTBEAT_SECONDS = 3.0
CLIENTS = 3
ALLOWED_FAILURES = 0


@pytest.fixture(scope="module")
def own_fleet(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    db_url = asyncio.run(create_scratch_database(pg_admin_dsn, prefix="registry_restart"))
    env = {**SYSTEM_TEST_ENV, "REGISTRY_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}
    with running_fleet(db_url, Path(tmp_path_factory.mktemp("registry-restart")), env=env, admin=ADMIN) as fleet:
        yield fleet


@dataclass
class Load:
    """A few clients calling the gateway in a loop until stopped; every outcome kept."""

    fleet: Fleet
    account: Account
    outcomes: list[tuple[float, str, str]] = field(default_factory=list)  # (time, path, outcome)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.account.token}"}
        with httpx.Client(base_url=self.fleet.gateway_url, headers=headers, timeout=10) as client:
            calls = 0
            while not self._stop.is_set():
                calls += 1
                path = "POST /tickets" if calls % 5 == 0 else ("GET /tickets" if calls % 2 else "GET /auth/me")
                try:
                    response = _call(client, path, calls)
                    outcome = "ok" if response.status_code < 400 else f"{response.status_code} {response.text[:120]}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self._lock:
                    self.outcomes.append((time.monotonic(), path, outcome))

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def count(self, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for at, _, _ in self.outcomes if at >= since)

    def failures(self) -> list[tuple[float, str, str]]:
        with self._lock:
            return [o for o in self.outcomes if o[2] != "ok"]


def _call(client: httpx.Client, path: str, n: int) -> httpx.Response:
    method, url = path.split()
    if method == "POST":
        ticket = {"title": f"Printer on fire #{n}", "description": "It is on fire again.", "category": "support"}
        return client.post(url, json=ticket)
    return client.get(url)


def test_the_fleet_serves_through_a_registry_restart(own_fleet: Fleet) -> None:
    fleet = own_fleet
    account = fleet.new_account("user")
    expected = fleet.registered_names()
    assert {"s1-auth", "s2-tickets", "s4-workflow"} <= expected

    with Load(fleet, account) as load:
        poll_until(lambda: load.count() >= 20, timeout=30, what="the load to get going")
        killed_at = time.monotonic()
        fleet.registry.kill()  # a crash: everything it knew is gone
        # Down for longer than a heartbeat: by then every service retries registering once per
        # heartbeat (its backoff is capped there), so after the restart they come back one by
        # one over up to HEARTBEAT_SECONDS, not all at once: the window this test is about.
        poll_until(
            lambda: load.count(since=killed_at) >= 10 and time.monotonic() - killed_at > HEARTBEAT_SECONDS + 0.5,
            timeout=30,
            what="requests while the registry is down, for longer than a heartbeat",
        )
        fleet.registry.start()
        fleet.registry.wait_ready(timeout=30)
        back_at = time.monotonic()
        assert fleet.registered_names() < expected, "the restarted registry starts out not knowing everyone"
        poll_until(
            lambda: fleet.registered_names() >= expected,
            timeout=HEARTBEAT_SECONDS * 4,
            what="every service to re-register on its heartbeat",
        )
        refilled_at = time.monotonic()
        poll_until(lambda: load.count(since=refilled_at) >= 20, timeout=30, what="requests after the refill")

    during_the_empty_registry = sum(1 for at, _, _ in load.outcomes if back_at <= at <= refilled_at)
    assert during_the_empty_registry > 0, "no request was made while the restarted registry was refilling"
    failures = load.failures()
    assert len(failures) <= ALLOWED_FAILURES, (
        f"{len(failures)} of {len(load.outcomes)} requests failed (at most {ALLOWED_FAILURES} allowed); "
        f"registry killed at +0, back at +{back_at - killed_at:.2f}s, refilled at +{refilled_at - killed_at:.2f}s:\n"
        + "\n".join(f"+{at - killed_at:.2f}s {path}: {outcome}" for at, path, outcome in failures[:20])
    )
