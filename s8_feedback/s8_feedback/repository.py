"""All of S8's SQL: the `feedback` table, reached through one asyncpg connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

FEEDBACK_COLUMNS = "id, ticket_id, user_id, rating, comment, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class PagePosition:
    """The sort key of the last rating already seen: the next page starts strictly after it."""

    created_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class Totals:
    total: int
    rating_sum: int
    min_rating: int
    max_rating: int
    tickets: int
    users: int


class FeedbackRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def upsert(
        self, *, ticket_id: int, user_id: int, rating: int, comment: str | None
    ) -> tuple[asyncpg.Record, bool]:
        """Store the rating; a second one by the same user for the same ticket replaces the first
        (same row and id, new rating, comment and updated_at). Returns the row and whether it is new.

        One statement on the unique (ticket_id, user_id) index, so two ratings sent at once
        cannot both insert. `xmax = 0` holds for a row this statement inserted, not for one it
        updated (PostgreSQL's documented MVCC bookkeeping; the usual way to tell them apart).
        """
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO feedback (ticket_id, user_id, rating, comment)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (ticket_id, user_id) DO UPDATE
               SET rating = EXCLUDED.rating, comment = EXCLUDED.comment, updated_at = now()
            RETURNING {FEEDBACK_COLUMNS}, (xmax = 0) AS inserted
            """,
            ticket_id,
            user_id,
            rating,
            comment,
        )
        assert row is not None  # INSERT ... ON CONFLICT DO UPDATE always returns its row
        return row, bool(row["inserted"])

    async def get(self, *, feedback_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE id = $1", feedback_id
        )
        return row

    async def delete(self, *, feedback_id: int) -> bool:
        deleted = await self.conn.fetchval("DELETE FROM feedback WHERE id = $1 RETURNING id", feedback_id)
        return deleted is not None

    async def for_ticket(self, *, ticket_id: int) -> list[asyncpg.Record]:
        """Every rating of a ticket, newest first. Unpaginated: only the ticket's owner can rate
        it, once (feedback_ticket_user_key), so there is at most one row."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE ticket_id = $1 ORDER BY created_at DESC, id DESC",
            ticket_id,
        )
        return rows

    async def page_for_user(self, *, user_id: int, after: PagePosition | None, limit: int) -> list[asyncpg.Record]:
        """A user's ratings, newest first (feedback_user_created_idx: one range scan per page)."""
        if after is None:
            rows: list[asyncpg.Record] = await self.conn.fetch(
                f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE user_id = $1"
                " ORDER BY created_at DESC, id DESC LIMIT $2",
                user_id,
                limit,
            )
            return rows
        rows = await self.conn.fetch(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE user_id = $1 AND (created_at, id) < ($2, $3)"
            " ORDER BY created_at DESC, id DESC LIMIT $4",
            user_id,
            after.created_at,
            after.id,
            limit,
        )
        return rows

    async def totals(self) -> Totals:
        """One pass for the counts; the distinct tickets and users each walk an index in order
        (feedback_ticket_user_key, feedback_user_created_idx) instead of sorting."""
        row = await self.conn.fetchrow(
            """
            SELECT count(*) AS total,
                   coalesce(sum(rating), 0) AS rating_sum,
                   coalesce(min(rating), 0) AS min_rating,
                   coalesce(max(rating), 0) AS max_rating,
                   (SELECT count(*) FROM (SELECT DISTINCT ticket_id FROM feedback) AS t) AS tickets,
                   (SELECT count(*) FROM (SELECT DISTINCT user_id FROM feedback) AS u) AS users
              FROM feedback
            """
        )
        assert row is not None
        return Totals(**dict(row))
