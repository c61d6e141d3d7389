"""The outbox relay against a real HTTP S6 (peers.NotifyPeer, the agreed interface): prompt
delivery after a commit, one idempotency key per row, retries with backoff while S6 fails or is
down, exactly one stored notification however often a row is sent, permanent refusals, claims
that outlive a killed relay, two relays sharing one outbox, pruning, and the /health figures.

These tests have a database of their own (S2's and S4's migrations) and start S4 apps with the
relay running, each pointed at the test's S6 through SERVICE_URLS.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from helpdesk_common.migrations import run_migrations
from helpdesk_common.outbox import OutboxRelay, OutboxTable
from helpdesk_fleet.fleet import apoll_until
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import SignedIn, base_settings, signed_in
from s2_tickets.main import MIGRATIONS_DIR as TICKETS_MIGRATIONS
from s4_workflow.main import MIGRATIONS_DIR, build_app
from s4_workflow.settings import Settings

from .peers import NotifyPeer

FAST = {
    "outbox_poll_seconds": 0.05,
    "outbox_backoff_seconds": 0.05,
    "outbox_max_backoff_seconds": 0.2,
    "outbox_stats_seconds": 0.05,
    "http_connect_timeout": 0.5,
    "http_read_timeout": 1.0,
    # Far longer than a send can take even on a loaded machine: only the killed-relay test
    # wants a claim to run out, and it makes its own.
    "outbox_claim_seconds": 20.0,
}


@pytest.fixture(scope="module")
async def relay_dsn(pg_admin_dsn: str) -> str:
    dsn = await create_scratch_database(pg_admin_dsn, prefix="relay")
    conn = await asyncpg.connect(dsn)
    try:
        await run_migrations(conn, owner="s2_tickets", directory=TICKETS_MIGRATIONS)
        await run_migrations(conn, owner="s4_workflow", directory=MIGRATIONS_DIR)
    finally:
        await conn.close()
    return dsn


@pytest.fixture
async def relay_db(relay_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """The relay database, its outbox emptied: each test's S6 sees only that test's rows (the
    apps of earlier tests are stopped by then)."""
    conn = await asyncpg.connect(relay_dsn)
    await conn.execute("DELETE FROM workflow_outbox")
    yield conn
    await conn.close()


@pytest.fixture
async def s6() -> AsyncIterator[NotifyPeer]:
    peer = NotifyPeer()
    await peer.start()
    yield peer
    await peer.stop()


Running = tuple[httpx.AsyncClient, FastAPI]


@pytest.fixture
async def start_s4(relay_dsn: str) -> AsyncIterator[Callable[..., Any]]:
    """`client, app = await start_s4(s6_url, **settings)`: an S4 with its relay, stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(s6_url: str, **overrides: Any) -> Running:
            settings = Settings(
                **base_settings(relay_dsn, service_urls={"s6-notifications": s6_url}, **(FAST | overrides))
            )
            app = build_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s4")
            await stack.enter_async_context(client)
            return client, app

        yield start


async def new_ticket(db: asyncpg.Connection, owner: SignedIn, title: str = "Printer on fire") -> int:
    ticket_id: int = await db.fetchval(
        "INSERT INTO tickets (user_id, title, description, category) VALUES ($1, $2, 'd', 'bug') RETURNING id",
        owner.id,
        title,
    )
    return ticket_id


async def resolve(client: httpx.AsyncClient, ticket_id: int, staff: SignedIn) -> None:
    response = await client.patch(f"/status/{ticket_id}", json={"status": "resolved"}, headers=staff.headers)
    assert response.status_code == 200, response.text


async def outbox(db: asyncpg.Connection, ticket_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM workflow_outbox WHERE ticket_id = $1 ORDER BY id", ticket_id)
    return [dict(r) for r in rows]


def delivered(db: asyncpg.Connection, ticket_id: int, count: int) -> Callable[[], Any]:
    async def probe() -> list[dict[str, Any]] | None:
        rows = await outbox(db, ticket_id)
        return rows if len(rows) == count and all(r["status"] == "delivered" for r in rows) else None

    return probe


async def test_a_change_is_delivered_promptly_with_one_key_per_row(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any]
) -> None:
    # Polling every 30 s: only the NOTIFY sent at commit can make this prompt.
    client, app = await start_s4(s6.url, outbox_poll_seconds=30.0)
    owner, staff = signed_in("user"), signed_in("staff")
    ticket_id = await new_ticket(relay_db, owner)
    await apoll_until(app.state.relay.listener.connected.is_set, what="the relay to listen")
    await resolve(client, ticket_id, staff)

    rows = await apoll_until(delivered(relay_db, ticket_id, 2), timeout=5, what="both notifications delivered")

    assert sorted(s6.keys()) == sorted(f"s4-outbox-{r['id']}" for r in rows)
    assert {r.status for r in s6.received} == {201}
    bodies = sorted((r.body for r in s6.received), key=lambda b: b["channel"])
    message = f"Your ticket #{ticket_id} 'Printer on fire' is now resolved."
    assert bodies == [
        {"user_id": owner.id, "ticket_id": ticket_id, "type": "ticket_status_changed", "channel": "email",
         "message": message},
        {"user_id": owner.id, "ticket_id": ticket_id, "type": "ticket_status_changed", "channel": "in_app",
         "message": message},
    ]  # fmt: skip
    assert {r["notification_id"] for r in rows} == {s6.stored[k]["id"] for k in s6.keys()}
    assert all(r["attempts"] == 1 and r["last_error"] is None for r in rows)


async def test_an_assignment_passes_the_assignees_address_it_knows(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any]
) -> None:
    """The outbox row carries recipient_email when S4 knew it; the owner's is left to S6."""
    _client, app = await start_s4(s6.url)
    owner, assignee = signed_in("user"), signed_in("staff")
    ticket_id = await new_ticket(relay_db, owner)
    await relay_db.execute(
        "INSERT INTO workflow_outbox (ticket_id, recipient_id, recipient_email, type, channel, message)"
        " VALUES ($1, $2, NULL, 'ticket_assigned', 'in_app', 'Yours.'),"
        "        ($1, $3, $4, 'ticket_assigned', 'email', 'You.')",
        ticket_id,
        owner.id,
        assignee.id,
        assignee.email,
    )
    await apoll_until(delivered(relay_db, ticket_id, 2), what="both delivered")
    by_user = {r.body["user_id"]: r.body for r in s6.received}
    assert "user_email" not in by_user[owner.id]
    assert by_user[assignee.id]["user_email"] == assignee.email
    assert app.state.relay.delivered == 2


async def test_503s_are_retried_with_backoff_until_s6_takes_the_row(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any]
) -> None:
    client, _ = await start_s4(s6.url)
    owner, staff = signed_in("user"), signed_in("staff")
    ticket_id = await new_ticket(relay_db, owner)
    s6.answer_first = [503, 503, 500]
    await resolve(client, ticket_id, staff)

    rows = await apoll_until(delivered(relay_db, ticket_id, 2), what="delivery after the failures")

    assert s6.answer_first == []  # the three failures were all answered
    # Both rows went in the first (batch) request; each was in one to three of the failures.
    assert all(2 <= r["attempts"] <= 4 for r in rows), [r["attempts"] for r in rows]
    assert all(r["last_error"] is None for r in rows)
    assert len(s6.stored) == 2


async def test_with_s6_down_the_change_answers_and_the_notification_arrives_when_s6_is_back(
    relay_db: asyncpg.Connection, start_s4: Callable[..., Any]
) -> None:
    s6 = NotifyPeer()  # not started: connections to it are refused
    client, app = await start_s4(s6.url)
    owner, staff = signed_in("user"), signed_in("staff")
    ticket_id = await new_ticket(relay_db, owner)
    await resolve(client, ticket_id, staff)
    relay = app.state.relay

    async def tried_and_waiting() -> bool:
        rows = await outbox(relay_db, ticket_id)
        return relay.peer_reachable is False and all(r["status"] == "pending" and r["attempts"] >= 1 for r in rows)

    await apoll_until(tried_and_waiting, what="the relay to find S6 down")
    [row, *_] = await outbox(relay_db, ticket_id)
    assert row["last_error"].startswith("S6 unavailable")
    health = (await client.get("/health")).json()["outbox"]
    assert health["notifications_service"] == "unreachable"
    assert (await client.get("/ready")).status_code == 200  # S6 down never makes S4 unready

    await s6.start()
    try:
        await apoll_until(delivered(relay_db, ticket_id, 2), timeout=10, what="delivery once S6 is back")
    finally:
        await s6.stop()
    assert len(s6.stored) == 2
    assert relay.peer_reachable is True


async def test_a_row_sent_again_after_a_lost_answer_is_stored_once(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any]
) -> None:
    client, _ = await start_s4(s6.url)
    owner, staff = signed_in("user"), signed_in("staff")
    ticket_id = await new_ticket(relay_db, owner)
    s6.lose_answers = 2  # S6 stores both notifications, but the relay hears 503s
    await resolve(client, ticket_id, staff)

    rows = await apoll_until(delivered(relay_db, ticket_id, 2), what="delivery")

    assert [r.status for r in s6.received].count(503) == 2
    assert [r.status for r in s6.received].count(200) == 2  # the replays, answered with what was stored
    assert len(s6.stored) == 2  # exactly once in the user's history
    assert {r["notification_id"] for r in rows} == {n["id"] for n in s6.stored.values()}


async def test_a_refused_body_marks_the_row_failed_and_is_not_sent_again(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    _client, app = await start_s4(s6.url)
    owner = signed_in("user")
    ticket_id = await new_ticket(relay_db, owner)
    # A message S6 refuses (over its 2,000 characters), next to one it takes.
    await relay_db.execute(
        "INSERT INTO workflow_outbox (ticket_id, recipient_id, type, channel, message)"
        " VALUES ($1, $2, 'ticket_status_changed', 'email', repeat('x', 3000)),"
        "        ($1, $2, 'ticket_status_changed', 'in_app', 'Fine.')",
        ticket_id,
        owner.id,
    )

    async def settled() -> list[dict[str, Any]] | None:
        rows = await outbox(relay_db, ticket_id)
        return rows if {r["status"] for r in rows} == {"failed", "delivered"} else None

    failed, ok = await apoll_until(settled, what="one failed, one delivered")
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "failed",
        1,
        "S6 answered 400: Invalid message.",
    )
    assert ok["status"] == "delivered"
    await apoll_until(lambda: app.state.relay.stats and app.state.relay.stats.failed >= 1, what="the count")
    assert [r.key for r in s6.received].count(f"s4-outbox-{failed['id']}") == 1
    logged = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    assert [(e["level"], e["error"]) for e in logged if e.get("outbox_id") == failed["id"]] == [
        ("ERROR", "S6 answered 400: Invalid message.")
    ]


async def test_a_claim_left_by_a_killed_relay_expires_and_the_row_is_sent(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any]
) -> None:
    owner = signed_in("user")
    ticket_id = await new_ticket(relay_db, owner)
    await relay_db.execute(
        "INSERT INTO workflow_outbox (ticket_id, recipient_id, type, channel, message)"
        " VALUES ($1, $2, 'ticket_closed', 'in_app', 'Closed.')",
        ticket_id,
        owner.id,
    )
    # A relay claims the row and dies before sending it (its claim lasts 0.3 s).
    claimed = await OutboxTable(relay_db, "workflow_outbox").claim_due(limit=1000, claim_seconds=0.3)
    assert ticket_id in {row.ticket_id for row in claimed}
    # That dead relay's mark, had it come, no longer counts once another claim took the row.
    await start_s4(s6.url)
    rows = await apoll_until(delivered(relay_db, ticket_id, 1), what="the row sent after the claim expired")
    assert rows[0]["attempts"] == 2
    mine = next(row for row in claimed if row.ticket_id == ticket_id)
    await OutboxTable(relay_db, "workflow_outbox").mark_failed([(mine.id, mine.attempt, "stale")])
    assert (await outbox(relay_db, ticket_id))[0]["status"] == "delivered"


async def test_two_relays_share_the_outbox_and_never_send_a_row_twice(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any]
) -> None:
    first, _ = await start_s4(s6.url, outbox_batch_size=5)
    await start_s4(s6.url, outbox_batch_size=5)
    staff = signed_in("staff")
    tickets = [await new_ticket(relay_db, signed_in("user")) for _ in range(30)]
    for ticket_id in tickets:
        await resolve(first, ticket_id, staff)

    async def all_delivered() -> bool:
        count = await relay_db.fetchval(
            "SELECT count(*) FROM workflow_outbox WHERE ticket_id = ANY($1) AND status = 'delivered'", tickets
        )
        return bool(count == 60)

    await apoll_until(all_delivered, what="sixty notifications")
    keys = s6.keys()
    assert len(keys) == len(set(keys)) == 60
    assert {r.status for r in s6.received} == {201}


async def test_delivered_rows_are_pruned_after_their_retention(
    relay_db: asyncpg.Connection, s6: NotifyPeer, start_s4: Callable[..., Any]
) -> None:
    owner = signed_in("user")
    ticket_id = await new_ticket(relay_db, owner)
    await relay_db.execute(
        "INSERT INTO workflow_outbox (ticket_id, recipient_id, type, channel, message, status, delivered_at)"
        " VALUES ($1, $2, 'ticket_closed', 'in_app', 'Old.', 'delivered', now() - interval '4 days'),"
        "        ($1, $2, 'ticket_closed', 'in_app', 'Recent.', 'delivered', now() - interval '1 day'),"
        "        ($1, $2, 'ticket_closed', 'in_app', 'Refused.', 'failed', NULL)",
        ticket_id,
        owner.id,
    )
    await start_s4(s6.url, outbox_retention_hours=72)  # prunes when it starts

    async def pruned() -> list[str] | None:
        left = [r["message"] for r in await outbox(relay_db, ticket_id)]
        return left if "Old." not in left else None

    assert await apoll_until(pruned, what="the old row pruned") == ["Recent.", "Refused."]


async def test_health_shows_the_pending_rows_and_their_age(
    relay_db: asyncpg.Connection, start_s4: Callable[..., Any]
) -> None:
    client, _ = await start_s4(f"http://127.0.0.1:{free_port()}")  # S6 never answers
    owner = signed_in("user")
    ticket_id = await new_ticket(relay_db, owner)
    await relay_db.execute(
        "INSERT INTO workflow_outbox (ticket_id, recipient_id, type, channel, message, created_at)"
        " VALUES ($1, $2, 'ticket_closed', 'in_app', 'Waiting.', now() - interval '90 seconds')",
        ticket_id,
        owner.id,
    )

    async def counted() -> dict[str, Any] | None:
        outbox_health: dict[str, Any] = (await client.get("/health")).json()["outbox"]
        return outbox_health if (outbox_health["pending"] or 0) >= 1 else None

    health = await apoll_until(counted, what="the pending row counted")
    assert health["relay"] == "running"
    assert health["oldest_pending_seconds"] >= 90
    assert health["counted_at"]


def test_the_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    settings = Settings(outbox_backoff_seconds=1.0, outbox_max_backoff_seconds=30.0)
    relay = OutboxRelay(settings, table="workflow_outbox", key_prefix="s4-outbox")
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)]:
        delays = [relay.backoff(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not one value
