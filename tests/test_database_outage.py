"""PostgreSQL stopped for 10 s under light load, then started again, with no service restarted:
meanwhile every request and every `/ready` answers quickly with a 503 `{"error"}` (never a hang,
never a 500); afterwards everything works again; and no write acknowledged before the stop is
lost.

The fleet runs on a PostgreSQL of its own (the other tests share theirs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpdesk_fleet.fleet import Fleet, poll_until, running_fleet
from helpdesk_fleet.postgres import EmbeddedPostgres, create_scratch_database
from helpdesk_fleet.pytest_plugin import REPO_ROOT

from .conftest import ADMIN, SYSTEM_TEST_ENV

OUTAGE_SECONDS = 10.0
# How long any answer may take while the database is down (connect timeout and pool wait included).
ANSWER_BOUND_SECONDS = 6.0
RECOVERY_BOUND_SECONDS = 30.0


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedPostgres, Fleet]]:
    # Under the repository, as the shared one: run as root, pgserver's own system user must be
    # able to reach the data directory, which it cannot under root's private /tmp/pytest-of-root.
    postgres = EmbeddedPostgres(REPO_ROOT / ".pytest_pg_outage")
    db_url = asyncio.run(create_scratch_database(postgres.admin_dsn, prefix="outage"))
    with running_fleet(db_url, tmp_path_factory.mktemp("outage-logs"), env=SYSTEM_TEST_ENV, admin=ADMIN) as fleet:
        yield postgres, fleet


def test_a_database_outage_is_503s_then_recovery_with_nothing_lost(
    outage: tuple[EmbeddedPostgres, Fleet], tmp_path: Path
) -> None:
    postgres, fleet = outage
    user = fleet.new_account("user")
    client = fleet.client(user.token)
    acknowledged = []
    for n in range(20):
        created = client.post("/tickets", json={"title": f"Before {n}", "description": "Kept.", "category": "bug"})
        assert created.status_code == 201, created.text
        acknowledged.append(created.json()["id"])
    pids = {name: p.proc.pid for name, p in fleet.processes.items() if p.proc is not None}

    postgres.stop()
    answers: list[tuple[str, int, float]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < OUTAGE_SECONDS:
            for what, call in [
                ("GET /tickets/:id", lambda: client.get(f"/tickets/{acknowledged[0]}")),
                (
                    "POST /tickets",
                    lambda: client.post(
                        "/tickets", json={"title": "During", "description": "Refused.", "category": "bug"}
                    ),
                ),
                ("S2 /ready", lambda: httpx.get(f"{fleet.processes['s2-tickets'].url}/ready", timeout=10)),
                ("S1 /ready", lambda: httpx.get(f"{fleet.processes['s1-auth'].url}/ready", timeout=10)),
            ]:
                began = time.monotonic()
                response = call()
                took = time.monotonic() - began
                answers.append((what, response.status_code, took))
                assert response.status_code == 503, (what, response.status_code, response.text)
                assert isinstance(response.json()["error"], str), (what, response.text)
                assert took < ANSWER_BOUND_SECONDS, (what, took)
    finally:
        postgres.start()

    def serving() -> bool | None:
        ok = client.get(f"/tickets/{acknowledged[0]}").status_code == 200
        ok = (
            ok
            and client.post("/tickets", json={"title": "After", "description": "Works.", "category": "bug"}).status_code
            == 201
        )
        return ok or None

    poll_until(serving, timeout=RECOVERY_BOUND_SECONDS, what="the fleet to serve again after the database came back")
    assert {name: p.proc.pid for name, p in fleet.processes.items() if p.proc is not None} == pids  # none restarted
    assert all(p.is_running() for p in fleet.processes.values())
    for ticket_id in acknowledged:
        assert client.get(f"/tickets/{ticket_id}").status_code == 200
    print(
        f"\ndatabase outage: {len(answers)} requests during {OUTAGE_SECONDS:.0f} s, all 503, slowest "
        f"{max(t for _, _, t in answers):.2f} s; {len(acknowledged)} acknowledged writes all kept"
    )
