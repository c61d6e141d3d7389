"""The table and its indexes: the list queries the service really runs use an index, and the
table itself refuses values no service may store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import httpx
import pytest

from helpdesk_common import vocabulary
from helpdesk_common.migrations import run_migrations
from s2_tickets.main import MIGRATIONS_DIR
from s2_tickets.repository import PagePosition, TicketFilters, list_query
from s2_tickets.service import parse_search

BULK_ROWS = 5_000
BULK_OWNERS = 100  # user ids 1-100; test users have ids of 1,000 and up
BULK_ASSIGNEES = 20  # assigned_to 1-20


@pytest.fixture(scope="module")
async def bulk_tickets(db: asyncpg.Connection) -> AsyncIterator[None]:
    """A few thousand realistic rows (older than any test's tickets), with fresh statistics."""
    await db.execute(
        f"""
        INSERT INTO tickets (user_id, title, description, category, status, priority, assigned_to, created_at)
        SELECT (i % {BULK_OWNERS}) + 1,
               'Bulk ticket ' || md5(i::text),
               'Generated row ' || i || ' about ' || md5((i * 7)::text),
               (ARRAY['bug', 'feature', 'support', 'other'])[i % 4 + 1],
               -- Like a real helpdesk: most tickets closed, few open.
               CASE WHEN i % 50 = 0 THEN 'new' ELSE 'closed' END,
               (ARRAY['low', 'medium', 'high', 'urgent'])[i % 4 + 1],
               CASE WHEN i % 3 = 0 THEN (i % {BULK_ASSIGNEES}) + 1 END,
               now() - interval '30 days' - i * interval '1 minute'
          FROM generate_series(1, {BULK_ROWS}) AS i
        """
    )
    # Their conversations: a few replies each, every tenth an internal note.
    await db.execute(
        """
        INSERT INTO ticket_comments (ticket_id, author_id, author_role, body, internal, created_at)
        SELECT t.id, CASE WHEN n % 10 = 0 THEN 1 ELSE t.user_id END,
               CASE WHEN n % 10 = 0 THEN 'staff' ELSE 'user' END,
               'Reply ' || n || ' about ' || md5((t.id * n)::text), n % 10 = 0, t.created_at + n * interval '1 minute'
          FROM tickets t, generate_series(1, 3) AS n
         WHERE t.title LIKE 'Bulk ticket %'
        """
    )
    await db.execute("ANALYZE tickets")
    await db.execute("ANALYZE ticket_comments")
    yield


async def plan(db: asyncpg.Connection, sql: str, args: list[object]) -> str:
    rows = await db.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(row[0] for row in rows)


# (name, owner, filters, whether to ask for page two, the indexes the plan may use)
LIST_QUERIES = [
    # An owner's few tickets: walked in order, or gathered from either of the owner's indexes.
    ("own tickets", 7, TicketFilters(), False, {"tickets_user_created_idx", "tickets_user_activity_idx"}),
    ("own tickets, page two", 7, TicketFilters(), True, {"tickets_user_created_idx", "tickets_user_activity_idx"}),
    ("staff, everything", None, TicketFilters(), False, {"tickets_created_idx"}),
    ("staff, page two", None, TicketFilters(), True, {"tickets_created_idx"}),
    ("staff, new tickets", None, TicketFilters(status="new"), False, {"tickets_status_created_idx"}),
    ("staff, assigned to one", None, TicketFilters(assigned_to=3), False, {"tickets_assigned_created_idx"}),
    # A user's own tickets are few: walking them is as good as the text index.
    (
        "staff, one requester",
        None,
        TicketFilters(user_id=7),
        False,
        {"tickets_user_created_idx", "tickets_user_activity_idx"},
    ),
    (
        "own search",
        7,
        TicketFilters(search=parse_search("needle")),
        False,
        {"tickets_search_idx", "tickets_user_created_idx"},
    ),
    ("staff search", None, TicketFilters(search=parse_search("needle")), False, {"tickets_search_idx"}),
    (
        "staff search, a word being typed",
        None,
        TicketFilters(search=parse_search("need")),
        False,
        {"tickets_search_idx"},
    ),
    (
        "staff search, words and a prefix",
        None,
        TicketFilters(search=parse_search("find the nee")),
        False,
        {"tickets_search_idx"},
    ),
    (
        "staff search, or a prefix",
        None,
        TicketFilters(search=parse_search("haystack or nee")),
        False,
        {"tickets_search_idx"},
    ),
    (
        "staff search, minus a word",
        None,
        TicketFilters(search=parse_search("needle -hay")),
        False,
        {"tickets_search_idx"},
    ),
    (
        "staff search, phrase",
        None,
        TicketFilters(search=parse_search('"find the needle"')),
        False,
        {"tickets_search_idx"},
    ),
    (
        "staff search, a ticket number",
        None,
        TicketFilters(search=parse_search("#42")),
        False,
        {"tickets_search_idx", "tickets_pkey"},
    ),
    (
        "own search, a ticket number",
        7,
        TicketFilters(search=parse_search("42")),
        False,
        {"tickets_search_idx", "tickets_pkey", "tickets_user_created_idx"},
    ),
]


async def page_two_position(db: asyncpg.Connection, owner_id: int | None) -> PagePosition:
    """Where page two of 50 really starts for this owner (or for staff)."""
    row = await db.fetchrow(
        "SELECT created_at, id FROM tickets WHERE ($1::integer IS NULL OR user_id = $1)"
        " ORDER BY created_at DESC, id DESC OFFSET 49 LIMIT 1",
        owner_id,
    )
    assert row is not None
    return PagePosition(created_at=row["created_at"], id=row["id"])


@pytest.mark.usefixtures("bulk_tickets")
@pytest.mark.parametrize(
    ("owner_id", "filters", "page_two", "indexes"),
    [query[1:] for query in LIST_QUERIES],
    ids=[query[0] for query in LIST_QUERIES],
)
async def test_list_queries_use_an_index(
    db: asyncpg.Connection, owner_id: int | None, filters: TicketFilters, page_two: bool, indexes: set[str]
) -> None:
    sql, args = await list_query_of(db, owner_id, filters, page_two)
    explained = await plan(db, sql, args)
    assert any(index in explained for index in indexes), explained
    assert "Seq Scan" not in explained, explained


async def list_query_of(
    db: asyncpg.Connection, owner_id: int | None, filters: TicketFilters, page_two: bool
) -> tuple[str, list[object]]:
    if filters.search is not None:
        # A few rows carrying the words, as a search would find among thousands.
        await db.execute(
            "INSERT INTO tickets (user_id, title, description, category, created_at)"
            " SELECT 7, 'Find the needle', 'In a haystack', 'other', now() - interval '60 days'"
            " FROM generate_series(1, 3)"
        )
    after = await page_two_position(db, owner_id) if page_two else None
    return list_query(owner_id=owner_id, filters=filters, after=after, limit=51)


def literal(value: object) -> str:
    """A test value as SQL text, for EXECUTE (which takes no bound parameters)."""
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    assert isinstance(value, str)
    return "'" + value.replace("'", "''") + "'"


@pytest.mark.usefixtures("bulk_tickets")
@pytest.mark.parametrize(
    ("owner_id", "filters", "page_two", "indexes"),
    [query[1:] for query in LIST_QUERIES],
    ids=[query[0] for query in LIST_QUERIES],
)
async def test_the_prepared_statements_plan_stays_on_an_index_after_six_executions(
    db: asyncpg.Connection, owner_id: int | None, filters: TicketFilters, page_two: bool, indexes: set[str]
) -> None:
    """asyncpg prepares every statement; after five executions PostgreSQL may switch to a
    generic plan, one made without the values, which must not fall back to a scan either.
    Checked both ways: the plan the seventh execution gets, and the generic plan itself."""
    sql, args = await list_query_of(db, owner_id, filters, page_two)
    execute = f"EXECUTE listing({', '.join(literal(a) for a in args)})"
    await db.execute(f"PREPARE listing AS {sql}")
    try:
        for _ in range(6):
            await db.execute(execute)
        chosen = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {execute}"))
        await db.execute("SET plan_cache_mode = force_generic_plan")
        generic = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {execute}"))
    finally:
        await db.execute("RESET plan_cache_mode")
        await db.execute("DEALLOCATE listing")
    for explained in (chosen, generic):
        assert any(index in explained for index in indexes), explained
        assert "Seq Scan" not in explained, explained


async def test_migrations_run_again_change_nothing(db: asyncpg.Connection) -> None:
    assert await run_migrations(db, owner="s2_tickets", directory=MIGRATIONS_DIR) == []


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "reopened"), ("priority", "critical"), ("category", "hardware"), ("title", ""), ("description", "")],
)
async def test_the_table_refuses_what_no_service_may_store(db: asyncpg.Connection, column: str, value: str) -> None:
    ticket_id = await db.fetchval(
        "INSERT INTO tickets (user_id, title, description, category) VALUES (1, 't', 'd', 'bug') RETURNING id"
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(f"UPDATE tickets SET {column} = $2 WHERE id = $1", ticket_id, value)


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["service"] == "s2-tickets"
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


@pytest.mark.parametrize(
    ("constraint", "values"),
    [
        ("tickets_status_valid", vocabulary.STATUSES),
        ("tickets_priority_valid", vocabulary.PRIORITIES),
        ("tickets_category_valid", vocabulary.CATEGORIES),
    ],
)
async def test_check_constraints_allow_exactly_the_shared_vocabulary(
    db: asyncpg.Connection, constraint: str, values: tuple[str, ...]
) -> None:
    """S4 and S7 use `helpdesk_common.vocabulary`; the table must agree with it value for value."""
    definition: str = await db.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1 AND conrelid = 'tickets'::regclass",
        constraint,
    )
    allowed = set(re.findall(r"'([a-z_]+)'::text", definition))
    assert allowed == set(values), definition


# (name, owner, filters, whether to ask for page two, the index the plan must use)
ACTIVITY_QUERIES = [
    # An owner's few tickets: the planner may as well gather them from the owner's other index
    # and sort them (as for the default order); never a scan.
    ("own tickets", 7, TicketFilters(), False, "tickets_user_"),
    ("own tickets, page two", 7, TicketFilters(), True, "tickets_user_"),
    ("staff, everything", None, TicketFilters(), False, "tickets_activity_idx"),
    ("staff, page two", None, TicketFilters(), True, "tickets_activity_idx"),
    ("staff, new tickets", None, TicketFilters(status="new"), False, "tickets_status_activity_idx"),
    ("staff, assigned to one", None, TicketFilters(assigned_to=3), False, "tickets_assigned_activity_idx"),
]


@pytest.mark.usefixtures("bulk_tickets")
@pytest.mark.parametrize(
    ("owner_id", "filters", "page_two", "index"),
    [query[1:] for query in ACTIVITY_QUERIES],
    ids=[query[0] for query in ACTIVITY_QUERIES],
)
async def test_sorting_by_activity_walks_an_activity_index(
    db: asyncpg.Connection, owner_id: int | None, filters: TicketFilters, page_two: bool, index: str
) -> None:
    after = None
    if page_two:
        column = "public_activity_at" if owner_id is not None else "activity_at"
        row = await db.fetchrow(
            f"SELECT {column} AS at, id FROM tickets WHERE ($1::integer IS NULL OR user_id = $1)"
            f" ORDER BY {column} DESC, id DESC OFFSET 49 LIMIT 1",
            owner_id,
        )
        assert row is not None
        after = PagePosition(created_at=row["at"], id=row["id"], by_activity=True)
    sql, args = list_query(owner_id=owner_id, filters=filters, after=after, limit=51, by_activity=True)
    explained = await plan(db, sql, args)
    assert index in explained, explained
    assert "Seq Scan" not in explained, explained
    if owner_id is None:
        # Everyone's tickets: read in the index's order, never all fetched and sorted (an
        # owner's few may be gathered and sorted: the planner's call, cheap either way).
        assert "Sort" not in explained, explained


@pytest.mark.usefixtures("bulk_tickets")
@pytest.mark.parametrize("owner_id", [7, None], ids=["owner", "staff"])
async def test_a_search_reads_the_comments_text_index_too(db: asyncpg.Connection, owner_id: int | None) -> None:
    sql, args = await list_query_of(db, owner_id, TicketFilters(search=parse_search("find the nee")), False)
    explained = await plan(db, sql, args)
    assert "ticket_comments_search_idx" in explained and "tickets_search_idx" in explained, explained
    assert "Seq Scan" not in explained, explained
