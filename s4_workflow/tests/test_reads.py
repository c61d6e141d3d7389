"""GET /history/{id} (owner or staff, newest first, paginated) and GET /queue (open tickets,
urgent first then oldest first, keyset-paginated on an index: the plans are checked here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.vocabulary import PRIORITIES, PRIORITY_RANK
from helpdesk_fleet.pytest_plugin import SignedIn
from s4_workflow.repository import QueuePosition, queue_query

from .conftest import TICKET_KEYS, CreateTicket, set_columns

BULK_ROWS = 5_000


async def test_history_is_newest_first_for_the_owner_and_staff(
    client: httpx.AsyncClient, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn, admin: SignedIn
) -> None:
    ticket = await create_ticket(owner, priority="low")
    tid = ticket["id"]
    for path, body in [
        (f"/priority/{tid}", {"priority": "high"}),
        (f"/status/{tid}", {"status": "in_progress"}),
        (f"/status/{tid}", {"status": "resolved"}),
    ]:
        assert (await client.patch(path, json=body, headers=staff.headers)).status_code == 200

    for reader in (owner, staff, admin):
        response = await client.get(f"/history/{tid}", headers=reader.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["next_cursor"] is None
        assert [(h["field_name"], h["old_value"], h["new_value"]) for h in body["history"]] == [
            ("status", "in_progress", "resolved"),
            ("status", "new", "in_progress"),
            ("priority", "low", "high"),
        ]
        first = body["history"][0]
        assert set(first) == {
            "id",
            "ticket_id",
            "changed_by",
            "changed_by_role",
            "field_name",
            "old_value",
            "new_value",
            "changed_at",
        }
        assert (first["ticket_id"], first["changed_by"], first["changed_by_role"]) == (tid, staff.id, "staff")
        assert first["changed_at"].endswith("+00:00")


async def test_history_pages_neither_repeat_nor_skip(
    client: httpx.AsyncClient, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner, priority="low")
    for priority in ("medium", "high", "urgent", "low", "medium"):
        await client.patch(f"/priority/{ticket['id']}", json={"priority": priority}, headers=staff.headers)
    whole = (await client.get(f"/history/{ticket['id']}", headers=owner.headers)).json()["history"]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/history/{ticket['id']}", params=params, headers=owner.headers)).json()
        seen += [h["id"] for h in page["history"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [h["id"] for h in whole] and len(seen) == 5


async def test_history_of_another_users_ticket_is_a_404_like_a_missing_one(
    client: httpx.AsyncClient, create_ticket: CreateTicket, owner: SignedIn, other_user: SignedIn
) -> None:
    ticket = await create_ticket(owner)
    hidden = await client.get(f"/history/{ticket['id']}", headers=other_user.headers)
    missing = await client.get("/history/2147483647", headers=other_user.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {"error": f"Ticket {ticket['id']} not found."}


async def _whole_queue(client: httpx.AsyncClient, staff: SignedIn, limit: int) -> list[dict[str, Any]]:
    tickets: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/queue", params=params, headers=staff.headers)
        assert response.status_code == 200, response.text
        tickets += response.json()["queue"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return tickets


async def test_the_queue_is_open_tickets_urgent_first_then_oldest_first(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    made = [await create_ticket(owner, priority=p) for p in ("low", "urgent", "medium", "high", "urgent", "low")]
    done = await create_ticket(owner, priority="urgent")
    await set_columns(db, done["id"], status="resolved")
    closed = await create_ticket(owner, priority="urgent")
    await set_columns(db, closed["id"], status="closed")
    working = await create_ticket(owner, priority="low")
    await set_columns(db, working["id"], status="in_progress")
    mine = {t["id"] for t in [*made, done, closed, working]}

    queue = await _whole_queue(client, staff, limit=200)
    ours = [t for t in queue if t["id"] in mine]
    order = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
    expected = sorted([*made, working], key=lambda t: (order[t["priority"]], t["created_at"], t["id"]))
    assert [t["id"] for t in ours] == [t["id"] for t in expected]
    assert set(ours[0]) == TICKET_KEYS
    # The whole queue keeps that order too, whoever's tickets are in it.
    keys = [(order[t["priority"]], t["created_at"], t["id"]) for t in queue]
    assert keys == sorted(keys)
    assert {t["status"] for t in queue} <= {"new", "assigned", "in_progress"}


async def test_queue_pages_neither_repeat_nor_skip(
    client: httpx.AsyncClient, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    for priority in PRIORITIES:
        await create_ticket(owner, priority=priority)
    whole = [t["id"] for t in await _whole_queue(client, staff, limit=200)]
    paged = [t["id"] for t in await _whole_queue(client, staff, limit=3)]
    assert paged == whole


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        "WzEsMl0",  # [1,2]: wrong arity
        "WzksIjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLDFd",  # rank 9
        "WzEsIjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLDk5OTk5OTk5OTk5XQ",  # id beyond integer
        "WzEsIjAwMDEtMDEtMDFUMDA6MDA6MDArMTQ6MDAiLDFd",  # year 0 once in UTC
    ],
)
async def test_a_forged_queue_cursor_is_a_400(client: httpx.AsyncClient, staff: SignedIn, cursor: str) -> None:
    response = await client.get("/queue", params={"cursor": cursor}, headers=staff.headers)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid cursor.",
        "details": [{"field": "cursor", "message": "Invalid cursor."}],
    }


async def test_the_rank_function_agrees_with_the_shared_vocabulary(db: asyncpg.Connection) -> None:
    for priority in PRIORITIES:
        rank = await db.fetchval("SELECT ticket_queue_rank($1)", priority)
        assert rank == len(PRIORITIES) + 1 - PRIORITY_RANK[priority], priority


@pytest.fixture(scope="module")
async def bulk_tickets(db: asyncpg.Connection) -> AsyncIterator[None]:
    """A few thousand rows like a real helpdesk's (most of them done), with fresh statistics."""
    await db.execute(
        f"""
        INSERT INTO tickets (user_id, title, description, category, status, priority, created_at)
        SELECT (i % 100) + 1, 'Bulk ' || i, 'Generated row ' || i, 'other',
               CASE WHEN i % 20 = 0 THEN 'new' WHEN i % 20 = 1 THEN 'in_progress' ELSE 'closed' END,
               (ARRAY['low', 'medium', 'high', 'urgent'])[i % 4 + 1],
               now() - interval '30 days' - i * interval '1 minute'
          FROM generate_series(1, {BULK_ROWS}) AS i
        """
    )
    await db.execute("ANALYZE tickets")
    yield


@pytest.mark.usefixtures("bulk_tickets")
@pytest.mark.parametrize("page", ["first page", "a later page"])
async def test_the_queue_is_read_from_its_index_without_sorting(db: asyncpg.Connection, page: str) -> None:
    after = None
    if page == "a later page":
        row = await db.fetchrow(
            "SELECT ticket_queue_rank(priority) AS rank, created_at, id FROM tickets"
            " WHERE status IN ('new', 'assigned', 'in_progress')"
            " ORDER BY 1, 2, 3 OFFSET 120 LIMIT 1"
        )
        assert row is not None
        after = QueuePosition(rank=row["rank"], created_at=row["created_at"], id=row["id"])
    sql, args = queue_query(after=after, limit=51)
    plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}", *args))
    assert "tickets_queue_idx" in plan, plan
    assert "Seq Scan" not in plan and "Sort" not in plan, plan
    if after is not None:
        assert "Index Cond" in plan, plan  # the keyset is where the scan starts, not a filter
