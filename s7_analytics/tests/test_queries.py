"""S7's queries against a real PostgreSQL: the plans use the indexes they were written for,
the session cannot write, a database without the tables gives zeros, and S4's milestones
rollup keeps the first staff response and the first resolution."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from helpdesk_common.db import READ_ONLY_SESSION
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.pytest_plugin import base_settings
from s7_analytics import repository
from s7_analytics.main import build_app
from s7_analytics.settings import Settings

from .conftest import token

BULK_TICKETS = 20_000


@pytest.fixture(scope="module")
async def bulk(db: asyncpg.Connection) -> AsyncIterator[None]:
    """A year of tickets (most done), a staff response and a resolution each, ratings; vacuumed
    so index-only scans are what the planner would choose in production."""
    await db.execute(
        f"""
        INSERT INTO tickets (user_id, title, description, category, status, priority, assigned_to, created_at)
        SELECT i % 500 + 1, 'Bulk', 'Bulk row',
               (ARRAY['bug', 'feature', 'support', 'other'])[i % 4 + 1],
               CASE WHEN i % 20 = 0 THEN 'new' WHEN i % 20 = 1 THEN 'in_progress' ELSE 'closed' END,
               (ARRAY['low', 'medium', 'high', 'urgent'])[i % 4 + 1],
               CASE WHEN i % 20 <> 0 THEN i % 10 + 1 END,
               now() - interval '365 days' + i * interval '26 minutes'
          FROM generate_series(1, {BULK_TICKETS}) AS i
        """
    )
    await db.execute(
        """
        INSERT INTO ticket_history (ticket_id, changed_by, changed_by_role, field_name, new_value, changed_at)
        SELECT id, 1, 'staff', 'assigned_to', '1', created_at + interval '1 hour' FROM tickets WHERE status <> 'new'
        UNION ALL
        SELECT id, 1, 'staff', 'status', 'resolved', created_at + interval '1 day' FROM tickets WHERE status = 'closed'
        """
    )
    await db.execute(
        "INSERT INTO feedback (ticket_id, user_id, rating, created_at, updated_at)"
        " SELECT id, user_id, id % 5 + 1, created_at + interval '2 days', created_at + interval '2 days'"
        " FROM tickets WHERE status = 'closed' AND id % 4 = 0"
    )
    await db.execute("VACUUM (ANALYZE) tickets, ticket_history, ticket_milestones, feedback")
    yield


async def plan(db: asyncpg.Connection, sql: str, args: list[object]) -> str:
    rows = await db.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(row[0] for row in rows)


NOW = datetime.now(UTC)
MONTH_AGO = NOW - timedelta(days=30)

PLANS: list[tuple[str, str, list[object], str]] = [
    ("tickets by state", *repository.state_query(None, None), "Index Only Scan using tickets_state_idx"),
    ("created per day", repository.CREATED_PER_DAY, [MONTH_AGO, NOW, MONTH_AGO.timestamp()], "tickets_created_idx"),
    (
        "resolved per day",
        repository.RESOLVED_PER_DAY,
        [MONTH_AGO, NOW, MONTH_AGO.timestamp()],
        "ticket_history_resolved_idx",
    ),
    (
        "response times",
        repository.RESPONSE_TIMES,
        [MONTH_AGO, NOW],
        "Index Only Scan using ticket_milestones_created_idx",
    ),
    ("recent ratings", repository.RECENT_RATINGS, [MONTH_AGO, NOW - timedelta(days=7)], "feedback_updated_rating_idx"),
    ("recent tickets", *repository.recent_tickets_query(None, None, 10), "tickets_created_idx"),
    (
        "open by age",
        repository.OPEN_AGES,
        [["new", "assigned", "in_progress"], NOW, NOW, NOW],
        # Either index is read alone: S2's by status, or S4's partial queue index, which holds
        # exactly the open tickets and is smaller, so the planner prefers it when it can prove
        # the predicate (a custom plan with the statuses known).
        "Index Only Scan using tickets_(status_created|queue)_idx",
    ),
    ("recent created", repository.RECENT_CREATED, [MONTH_AGO, NOW, NOW, NOW], "tickets_created_idx"),
]


@pytest.mark.usefixtures("bulk")
@pytest.mark.parametrize(("sql", "args", "index"), [p[1:] for p in PLANS], ids=[p[0] for p in PLANS])
async def test_each_query_uses_its_index(db: asyncpg.Connection, sql: str, args: list[object], index: str) -> None:
    await db.execute("SET max_parallel_workers_per_gather = 0")  # one plan shape, whatever the machine
    try:
        text = await plan(db, sql, args)
    finally:
        await db.execute("RESET max_parallel_workers_per_gather")
    assert re.search(index, text), text
    assert "Seq Scan" not in text, text


@pytest.mark.usefixtures("bulk")
async def test_the_state_pass_neither_hashes_nor_sorts(db: asyncpg.Connection) -> None:
    text = await plan(db, *repository.state_query(None, None))
    assert "GroupAggregate" in text and "HashAggregate" not in text and "Sort Key" not in text.split("Gather")[-1], text


@pytest.mark.usefixtures("bulk")
async def test_the_figures_answer_over_bulk_data(client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    body = (await client.get("/dashboard", headers=staff)).json()
    metrics = body["metrics"]
    assert metrics["tickets"]["total"] >= BULK_TICKETS
    assert metrics["first_response"]["median_seconds"] == 3600.0
    assert metrics["resolution"]["median_seconds"] == 86400.0
    assert len(metrics["daily"]) == 30 and len(metrics["tickets"]["recent_trend"]) == 7


async def test_the_session_is_read_only(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    async with app.state.pool.acquire() as conn:
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("DELETE FROM feedback")
    assert READ_ONLY_SESSION == {"default_transaction_read_only": "on"}


@pytest.fixture
async def bare_database_client(pg_admin_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    """S7 against a database where no other service has migrated yet."""
    dsn = await create_scratch_database(pg_admin_dsn, prefix="s7bare")
    app = build_app(Settings(**base_settings(dsn)))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        )


async def test_without_the_tables_every_figure_is_zero(bare_database_client: httpx.AsyncClient) -> None:
    headers = token("admin")
    metrics = (await bare_database_client.get("/metrics", headers=headers)).json()
    assert metrics["tickets"]["total"] == 0 and metrics["feedback"]["total"] == 0
    assert metrics["first_response"] == {"median_seconds": 0.0, "p90_seconds": 0.0, "tickets": 0}
    assert [d["created"] + d["resolved"] for d in metrics["daily"]] == [0] * 30
    stats = (await bare_database_client.get("/tickets/stats", headers=headers)).json()
    assert stats["total"] == stats["last_24h"] == stats["open_count"] == 0
    dashboard = (await bare_database_client.get("/dashboard", headers=headers)).json()
    assert dashboard["active_users"] == 0 and dashboard["recent_tickets"] == []
    assert (await bare_database_client.get("/export.csv", headers=headers)).status_code == 503


async def test_the_milestones_keep_the_first_staff_row_and_the_first_resolution(db: asyncpg.Connection) -> None:
    created = datetime(2020, 5, 1, 12, tzinfo=UTC)
    ticket_id = await db.fetchval(
        "INSERT INTO tickets (user_id, title, description, category, created_at) VALUES (7, 't', 'd', 'bug', $1)"
        " RETURNING id",
        created,
    )
    rows = [
        ("user", "title", "x", 1),  # an owner's edit is no response
        ("staff", "priority", "high", 5),
        ("admin", "assigned_to", "3", 3),  # written later, happened earlier: the earliest counts
        ("staff", "status", "resolved", 9),
        ("staff", "status", "resolved", 7),
        ("staff", "status", "in_progress", 8),
    ]
    for role, field, value, hours in rows:
        await db.execute(
            "INSERT INTO ticket_history (ticket_id, changed_by, changed_by_role, field_name, new_value, changed_at)"
            " VALUES ($1, 1, $2, $3, $4, $5)",
            ticket_id, role, field, value, created + timedelta(hours=hours),
        )  # fmt: skip
    milestone = await db.fetchrow("SELECT * FROM ticket_milestones WHERE ticket_id = $1", ticket_id)
    assert milestone is not None
    assert dict(milestone) == {
        "ticket_id": ticket_id,
        "ticket_created_at": created,
        "first_response_at": created + timedelta(hours=3),
        "first_resolved_at": created + timedelta(hours=7),
    }
    owner_only = await db.fetchval(
        "INSERT INTO tickets (user_id, title, description, category) VALUES (7, 't', 'd', 'bug') RETURNING id"
    )
    await db.execute(
        "INSERT INTO ticket_history (ticket_id, changed_by, changed_by_role, field_name, new_value)"
        " VALUES ($1, 7, 'user', 'title', 'y')",
        owner_only,
    )
    assert await db.fetchval("SELECT count(*) FROM ticket_milestones WHERE ticket_id = $1", owner_only) == 0
