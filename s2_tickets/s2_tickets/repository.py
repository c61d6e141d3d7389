"""All of S2's SQL: the `tickets` table, reached through one asyncpg connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from helpdesk_common.vocabulary import CATEGORIES, PRIORITIES, STATUSES

# The public shape of a ticket, and its version (the ETag, not in the JSON); `search` (the
# tsvector) stays inside the database.
TICKET_COLUMNS = (
    "id, user_id, title, description, category, status, priority, assigned_to, created_at, updated_at, version"
)


@dataclass(frozen=True, slots=True)
class TicketSearch:
    """What `?q=` asks for, already split by the service (see `service.parse_search`).

    - `websearch`: text for websearch_to_tsquery (stemmed words, "phrases", or, -word);
    - `prefix`: the last word, being typed, matched as the beginning of a word (letters and
      digits only, so it can never be tsquery syntax), joined to the rest with AND (or OR when
      the user wrote `or` before it);
    - `ticket_id`: `#123` or `123` also finds ticket 123 itself.
    """

    websearch: str | None = None
    prefix: str | None = None
    prefix_joins_with_or: bool = False
    ticket_id: int | None = None


@dataclass(frozen=True, slots=True)
class TicketFilters:
    """Optional filters of the list; those given combine with AND."""

    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assigned_to: int | None = None
    user_id: int | None = None
    search: TicketSearch | None = None


@dataclass(frozen=True, slots=True)
class PagePosition:
    """The sort key of the last ticket already seen: the next page starts strictly after it."""

    created_at: datetime
    id: int


def list_query(
    *, owner_id: int | None, filters: TicketFilters, after: PagePosition | None, limit: int
) -> tuple[str, list[Any]]:
    """The SELECT behind GET / and its arguments (a function of its own so tests can EXPLAIN it).

    Only fixed SQL fragments are assembled here; every value is a bound parameter. Each filter
    has an index ending in (created_at DESC, id DESC) (see migrations/001_tickets.sql), and the
    keyset condition is a row comparison in that same order, so a page is one index range scan.
    A search goes through the GIN index instead (see the end).
    """
    conditions: list[str] = []
    args: list[Any] = []

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if owner_id is not None:
        conditions.append(f"user_id = {bind(owner_id)}")
    # The vocabulary filters are written into the SQL, not bound: their values come from a closed
    # list (checked again here), and a plan that knows the value is what keeps it on the right
    # index. With `status = $1`, the generic plan PostgreSQL switches to after five executions
    # of a prepared statement cannot tell a rare status from the common one, and was seen
    # walking the created_at index filtering for it. Everything a user types stays bound.
    if filters.status is not None:
        conditions.append(f"status = {_vocabulary(filters.status, STATUSES)}")
    if filters.priority is not None:
        conditions.append(f"priority = {_vocabulary(filters.priority, PRIORITIES)}")
    if filters.category is not None:
        conditions.append(f"category = {_vocabulary(filters.category, CATEGORIES)}")
    if filters.assigned_to is not None:
        conditions.append(f"assigned_to = {bind(filters.assigned_to)}")
    if filters.user_id is not None:
        conditions.append(f"user_id = {bind(filters.user_id)}")
    if filters.search is not None:
        conditions.append(_search_condition(filters.search, bind))
    if after is not None:
        conditions.append(f"(created_at, id) < ({bind(after.created_at)}, {bind(after.id)})")

    where = " AND ".join(conditions) if conditions else "TRUE"
    order = f"ORDER BY created_at DESC, id DESC LIMIT {bind(limit)}"
    if filters.search is None:
        return f"SELECT {TICKET_COLUMNS} FROM tickets WHERE {where} {order}", args
    # A search is answered from the text index, then sorted. Without the fence (OFFSET 0 keeps
    # ORDER BY ... LIMIT out of the inner query) the planner may instead walk the whole
    # created_at index hoping to meet `limit` matches early: it cannot know how rare a prefix
    # (`printe:*`) or a generic plan's parameter is, and for a rare word that walk reads every
    # row. Through the index, a search costs what it matches, whatever the table size.
    return (
        f"SELECT {TICKET_COLUMNS} FROM (SELECT {TICKET_COLUMNS} FROM tickets WHERE {where} OFFSET 0) AS found {order}",
        args,
    )


def _vocabulary(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {allowed}")
    return f"'{value}'"


def _search_condition(search: TicketSearch, bind: Callable[[Any], str]) -> str:
    """`search @@ <tsquery>` (or the ticket id), every value bound.

    websearch_to_tsquery never raises on user input (quotes, "or", "-word" all work), and
    to_tsquery only ever sees `<letters and digits>:*`. The prefix is taken both stemmed
    ('english': "printers" -> printer:*) and as typed ('simple': a stop word like "an" still
    begins "android"). The GIN index on `search` answers all of it, prefixes included; never
    LIKE '%...%'.
    """
    parts: list[str] = []
    if search.websearch is not None:
        parts.append(f"websearch_to_tsquery('english', {bind(search.websearch)})")
    if search.prefix is not None:
        word = bind(search.prefix + ":*")
        parts.append(f"(to_tsquery('english', {word}) || to_tsquery('simple', {word}))")
    tsquery = f" {'||' if search.prefix_joins_with_or else '&&'} ".join(parts) if parts else "''::tsquery"
    if len(parts) > 1:
        tsquery = f"({tsquery})"
    condition = f"search @@ {tsquery}"
    if search.ticket_id is not None:
        condition = f"(id = {bind(search.ticket_id)} OR {condition})"
    return condition


class TicketsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(
        self, *, user_id: int, title: str, description: str, category: str, priority: str
    ) -> asyncpg.Record:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO tickets (user_id, title, description, category, priority)
            VALUES ($1, $2, $3, $4, $5)
            RETURNING {TICKET_COLUMNS}
            """,
            user_id,
            title,
            description,
            category,
            priority,
        )
        assert row is not None  # INSERT ... RETURNING always answers its one row
        return row

    async def get(self, *, ticket_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1", ticket_id
        )
        return row

    async def list_page(
        self, *, owner_id: int | None, filters: TicketFilters, after: PagePosition | None, limit: int
    ) -> list[asyncpg.Record]:
        """Newest first; `owner_id` None means every owner's tickets."""
        sql, args = list_query(owner_id=owner_id, filters=filters, after=after, limit=limit)
        rows: list[asyncpg.Record] = await self.conn.fetch(sql, *args)
        return rows

    async def update(
        self,
        *,
        ticket_id: int,
        owner_id: int | None,
        title: str | None = None,
        description: str | None = None,
        category: str | None = None,
        versions: list[int] | None = None,
    ) -> asyncpg.Record | None:
        """Edit the given fields (None keeps the stored value). With an `owner_id`, only that
        owner's ticket matches, so the visibility check and the write are one statement; with
        `versions` (If-Match), only while the ticket is one of them. None when no ticket matched."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            UPDATE tickets
               SET title = COALESCE($3, title),
                   description = COALESCE($4, description),
                   category = COALESCE($5, category),
                   updated_at = now()
             WHERE id = $1
               AND ($2::integer IS NULL OR user_id = $2)
               AND ($6::integer[] IS NULL OR version = ANY($6::integer[]))
            RETURNING {TICKET_COLUMNS}
            """,
            ticket_id,
            owner_id,
            title,
            description,
            category,
            versions,
        )
        return row
