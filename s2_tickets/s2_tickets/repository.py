"""All of S2's SQL: the `tickets` table, reached through one asyncpg connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# The public shape of a ticket; `search` (the tsvector) stays inside the database.
TICKET_COLUMNS = "id, user_id, title, description, category, status, priority, assigned_to, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class TicketFilters:
    """Optional filters of the list; those given combine with AND."""

    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assigned_to: int | None = None
    search: str | None = None


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
    """
    conditions: list[str] = []
    args: list[Any] = []

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if owner_id is not None:
        conditions.append(f"user_id = {bind(owner_id)}")
    if filters.status is not None:
        conditions.append(f"status = {bind(filters.status)}")
    if filters.priority is not None:
        conditions.append(f"priority = {bind(filters.priority)}")
    if filters.category is not None:
        conditions.append(f"category = {bind(filters.category)}")
    if filters.assigned_to is not None:
        conditions.append(f"assigned_to = {bind(filters.assigned_to)}")
    if filters.search is not None:
        # websearch_to_tsquery never raises on user input (quotes, "or", "-word" all work),
        # and the GIN index on `search` answers it; never LIKE '%...%'.
        conditions.append(f"search @@ websearch_to_tsquery('english', {bind(filters.search)})")
    if after is not None:
        conditions.append(f"(created_at, id) < ({bind(after.created_at)}, {bind(after.id)})")

    where = " AND ".join(conditions) if conditions else "TRUE"
    sql = f"SELECT {TICKET_COLUMNS} FROM tickets WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {bind(limit)}"
    return sql, args


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
    ) -> asyncpg.Record | None:
        """Edit the given fields (None keeps the stored value). With an `owner_id`, only that
        owner's ticket matches, so the visibility check and the write are one statement.
        None when no ticket matched."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            UPDATE tickets
               SET title = COALESCE($3, title),
                   description = COALESCE($4, description),
                   category = COALESCE($5, category),
                   updated_at = now()
             WHERE id = $1
               AND ($2::integer IS NULL OR user_id = $2)
            RETURNING {TICKET_COLUMNS}
            """,
            ticket_id,
            owner_id,
            title,
            description,
            category,
        )
        return row
