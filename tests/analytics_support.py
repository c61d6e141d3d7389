"""What the S7 and S8 system tests share: direct SQL on the fleet's database, S4's table, and
tickets in a given status.

Ticket statuses change only through S4 (workflow) in production; S4 does not run in these
tests yet, so they set statuses, history rows and timestamps with SQL, as the benchmark's seed
does. S4's migrations are applied to the fleet's database first (as S4 would at start), so its
`ticket_history` and the `ticket_milestones` rollup its trigger keeps exist.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from helpdesk_common.migrations import run_migrations
from helpdesk_fleet.fleet import Account, Fleet, poll_until

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_MIGRATIONS = REPO_ROOT / "s4_workflow" / "s4_workflow" / "migrations"


async def _with_connection(db_url: str, work: Any) -> Any:
    conn = await asyncpg.connect(db_url)
    try:
        return await work(conn)
    finally:
        await conn.close()


def sql(fleet: Fleet, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one statement on the fleet's database and return its rows."""

    async def run(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        return rows

    result: list[asyncpg.Record] = asyncio.run(_with_connection(fleet.db_url, run))
    return result


def sql_value(fleet: Fleet, query: str, *args: Any) -> Any:
    rows = sql(fleet, query, *args)
    return rows[0][0] if rows else None


def apply_workflow_migrations(fleet: Fleet) -> None:
    async def run(conn: asyncpg.Connection) -> None:
        await run_migrations(conn, owner="s4_workflow", directory=WORKFLOW_MIGRATIONS)

    asyncio.run(_with_connection(fleet.db_url, run))


def ticket_in_status(fleet: Fleet, owner: Account, status: str = "resolved") -> dict[str, Any]:
    """A ticket opened by `owner` through the gateway, then moved to `status` with SQL."""
    response = fleet.client(owner.token).post(
        "/tickets", json={"title": "Printer jammed", "description": "Page 3 is stuck.", "category": "support"}
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    sql(fleet, "UPDATE tickets SET status = $2 WHERE id = $1", ticket["id"], status)
    return ticket | {"status": status}


def feedback_rows(fleet: Fleet, ticket_id: int) -> list[asyncpg.Record]:
    return sql(fleet, "SELECT id, user_id, rating, comment FROM feedback WHERE ticket_id = $1", ticket_id)


def direct(fleet: Fleet, service: str) -> str:
    return fleet.processes[service].url


def health(fleet: Fleet, service: str) -> dict[str, Any]:
    response = httpx.get(f"{direct(fleet, service)}/health", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def signal_idle(fleet: Fleet) -> None:
    """Wait until S8 has no refresh signal to S7 pending or under way (so S7's cache changes
    only when a test changes it)."""
    poll_until(
        lambda: not (lambda s: s["pending"] or s["in_flight"])(health(fleet, "s8-feedback")["analytics_signal"]),
        timeout=30,
        what="S8's refresh signal to go quiet",
    )


def restart(fleet: Fleet, service: str) -> None:
    process = fleet.processes[service]
    process.start()
    process.wait_ready(timeout=30)
    poll_until(lambda: service in fleet.registered_names(), timeout=20, what=f"{service} to register again")
