"""All of S7's SQL. S7 owns no table: it reads S2's `tickets`, S4's `ticket_history` and
`ticket_milestones`, and S8's `feedback`, on connections whose transactions are all READ ONLY
(`helpdesk_common.db.READ_ONLY_SESSION`).

Each query is one pass over one index, named beside it; `tests/test_plans.py` checks the plans.
Time bounds are parameters computed once in Python, never `now() - interval ...` per row
(that alone tripled the cost of a 1,000,000-row pass). Counts are grouped in SQL and summed
into the figures in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from helpdesk_common.vocabulary import OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Sources:
    """Which of the tables S7 reads exist yet (a service deployed later has not migrated)."""

    tickets: bool
    history: bool
    milestones: bool
    feedback: bool


@dataclass(frozen=True, slots=True)
class StateCount:
    status: str
    priority: str
    category: str
    assigned_to: int | None
    tickets: int


@dataclass(frozen=True, slots=True)
class OpenAges:
    open: int
    under_1d: int
    under_3d: int
    under_7d: int


@dataclass(frozen=True, slots=True)
class Durations:
    """Median and p90 in seconds (None without data) and how many tickets they cover."""

    tickets: int
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class RecentCreated:
    last_24h: int
    last_7d: int
    last_30d: int


@dataclass(frozen=True, slots=True)
class RatingCount:
    rating: int
    ratings: int
    last_7d: int = 0


TICKET_SUMMARY_COLUMNS = "id, user_id, title, category, status, priority, assigned_to, created_at, updated_at"


def _created_between(start: datetime | None, end: datetime | None, args: list[Any], column: str) -> str:
    """` WHERE` conditions for an optional half-open range, with its bound parameters."""
    conditions = []
    if start is not None:
        args.append(start)
        conditions.append(f"{column} >= ${len(args)}")
    if end is not None:
        args.append(end)
        conditions.append(f"{column} < ${len(args)}")
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def state_query(start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """Tickets by (status, priority, category, assignee). Over all tickets this is a (parallel)
    index-only scan of tickets_state_idx, whose order is the grouping's: no hashing, no sort
    (~100 ms at 1,000,000 tickets on 2 cores; a hashed pass over the table took 300-900 ms)."""
    args: list[Any] = []
    where = _created_between(start, end, args, "created_at")
    sql = (
        "SELECT status, priority, category, assigned_to, count(*) AS tickets FROM tickets"
        f"{where} GROUP BY status, priority, category, assigned_to"
    )
    return sql, args


def per_day_query(table: str, column: str, condition: str) -> str:
    """Rows per UTC day of [$1, $2), as day numbers counted from the epoch second $3 (the first
    day's midnight): one range scan of an index on `column`."""
    return (
        f"SELECT floor((date_part('epoch', {column}) - $3) / 86400)::int AS day, count(*) AS n"
        f" FROM {table} WHERE {condition}{column} >= $1 AND {column} < $2 GROUP BY 1"
    )


CREATED_PER_DAY = per_day_query("tickets", "created_at", "")  # tickets_created_idx
# ticket_history_resolved_idx (partial: exactly these rows).
RESOLVED_PER_DAY = per_day_query(
    "ticket_history", "changed_at", "field_name = 'status' AND new_value = 'resolved' AND "
)

# tickets_created_idx, one range scan of the last 30 days.
RECENT_CREATED = """
SELECT count(*) AS last_30d,
       count(*) FILTER (WHERE created_at >= $2) AS last_7d,
       count(*) FILTER (WHERE created_at >= $3) AS last_24h
  FROM tickets WHERE created_at >= $1 AND created_at <= $4
"""

# tickets_status_created_idx (the open statuses' ranges) or S4's partial tickets_queue_idx
# (exactly the open tickets): index-only either way.
OPEN_AGES = """
SELECT count(*) AS open,
       count(*) FILTER (WHERE created_at >= $2) AS under_1d,
       count(*) FILTER (WHERE created_at >= $3) AS under_3d,
       count(*) FILTER (WHERE created_at >= $4) AS under_7d
  FROM tickets WHERE status = ANY($1::text[])
"""

# ticket_milestones_created_idx (S4's rollup): one range scan, two sorts of the durations.
# percentile_cont interpolates linearly between the two nearest ranks (the median of an even
# count is the mean of the middle two).
RESPONSE_TIMES = """
SELECT count(*) FILTER (WHERE first_response_at IS NOT NULL) AS responded,
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
           ORDER BY greatest(date_part('epoch', first_response_at - ticket_created_at), 0)
       ) FILTER (WHERE first_response_at IS NOT NULL) AS response,
       count(*) FILTER (WHERE first_resolved_at IS NOT NULL) AS resolved,
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
           ORDER BY greatest(date_part('epoch', first_resolved_at - ticket_created_at), 0)
       ) FILTER (WHERE first_resolved_at IS NOT NULL) AS resolution
  FROM ticket_milestones WHERE ticket_created_at >= $1 AND ticket_created_at < $2
"""

# feedback_updated_rating_idx (index-only): ratings of the last 30 days.
RECENT_RATINGS = """
SELECT rating, count(*) AS ratings, count(*) FILTER (WHERE updated_at >= $2) AS last_7d
  FROM feedback WHERE updated_at >= $1 GROUP BY rating
"""

# tickets_created_idx range, owners read from the heap pages of recent tickets (adjacent: ids
# and creation times rise together).
ACTIVE_USERS = "SELECT count(DISTINCT user_id) FROM tickets WHERE created_at >= $1 AND created_at < $2"

SOURCES = """
SELECT to_regclass('tickets') IS NOT NULL AS tickets,
       to_regclass('ticket_history') IS NOT NULL AS history,
       to_regclass('ticket_milestones') IS NOT NULL AS milestones,
       to_regclass('feedback') IS NOT NULL AS feedback
"""


def ratings_query(start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    args: list[Any] = []
    where = _created_between(start, end, args, "updated_at")
    return f"SELECT rating, count(*) AS ratings FROM feedback{where} GROUP BY rating", args


def recent_tickets_query(start: datetime | None, end: datetime | None, limit: int) -> tuple[str, list[Any]]:
    args: list[Any] = []
    where = _created_between(start, end, args, "created_at")
    args.append(limit)
    sql = f"SELECT {TICKET_SUMMARY_COLUMNS} FROM tickets{where} ORDER BY created_at DESC, id DESC LIMIT ${len(args)}"
    return sql, args


def _durations(count: int, percentiles: Sequence[float] | None) -> Durations:
    if not percentiles:
        return Durations(tickets=count, median=None, p90=None)
    return Durations(tickets=count, median=percentiles[0], p90=percentiles[1])


class AnalyticsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def sources(self) -> Sources:
        row = await self.conn.fetchrow(SOURCES)
        assert row is not None
        return Sources(**dict(row))

    async def state_counts(self, start: datetime | None, end: datetime | None) -> list[StateCount]:
        sql, args = state_query(start, end)
        return [StateCount(**dict(row)) for row in await self.conn.fetch(sql, *args)]

    async def per_day(self, sql: str, start: datetime, end: datetime, origin: datetime) -> dict[int, int]:
        rows = await self.conn.fetch(sql, start, end, origin.timestamp())
        return {row["day"]: row["n"] for row in rows}

    async def created_per_day(self, start: datetime, end: datetime, origin: datetime) -> dict[int, int]:
        return await self.per_day(CREATED_PER_DAY, start, end, origin)

    async def resolved_per_day(self, start: datetime, end: datetime, origin: datetime) -> dict[int, int]:
        return await self.per_day(RESOLVED_PER_DAY, start, end, origin)

    async def recent_created(
        self, *, since_30d: datetime, since_7d: datetime, since_24h: datetime, now: datetime
    ) -> RecentCreated:
        row = await self.conn.fetchrow(RECENT_CREATED, since_30d, since_7d, since_24h, now)
        assert row is not None
        return RecentCreated(**dict(row))

    async def open_ages(self, *, since_1d: datetime, since_3d: datetime, since_7d: datetime) -> OpenAges:
        row = await self.conn.fetchrow(OPEN_AGES, list(OPEN_STATUSES), since_1d, since_3d, since_7d)
        assert row is not None
        return OpenAges(**dict(row))

    async def response_times(self, start: datetime, end: datetime) -> tuple[Durations, Durations]:
        row = await self.conn.fetchrow(RESPONSE_TIMES, start, end)
        assert row is not None
        return _durations(row["responded"], row["response"]), _durations(row["resolved"], row["resolution"])

    async def ratings(self, start: datetime | None, end: datetime | None) -> list[RatingCount]:
        sql, args = ratings_query(start, end)
        return [RatingCount(rating=row["rating"], ratings=row["ratings"]) for row in await self.conn.fetch(sql, *args)]

    async def recent_ratings(self, *, since_30d: datetime, since_7d: datetime) -> list[RatingCount]:
        rows = await self.conn.fetch(RECENT_RATINGS, since_30d, since_7d)
        return [RatingCount(**dict(row)) for row in rows]

    async def active_users(self, start: datetime, end: datetime) -> int:
        count: int = await self.conn.fetchval(ACTIVE_USERS, start, end)
        return count

    async def recent_tickets(self, start: datetime | None, end: datetime | None, limit: int) -> list[asyncpg.Record]:
        sql, args = recent_tickets_query(start, end, limit)
        rows: list[asyncpg.Record] = await self.conn.fetch(sql, *args)
        return rows


EXPORT_COLUMNS = (
    "ticket_id",
    "user_id",
    "category",
    "priority",
    "status",
    "assigned_to",
    "created_at",
    "first_response_at",
    "first_response_seconds",
    "first_resolved_at",
    "resolution_seconds",
    "rating",
    "rated_at",
)


def export_query(sources: Sources, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """One row per ticket, in id order, with its milestones and its owner's rating: the facts
    behind the figures. Every join follows a primary or unique key in ticket id order, so rows
    stream out as they are read (no sort, no hash table of a million rows)."""
    args: list[Any] = []
    where = _created_between(start, end, args, "t.created_at")
    milestones = "m.first_response_at, m.first_resolved_at" if sources.milestones else "NULL, NULL"
    feedback = "f.rating, f.updated_at" if sources.feedback else "NULL::smallint, NULL::timestamptz"
    joins = ""
    if sources.milestones:
        joins += " LEFT JOIN ticket_milestones m ON m.ticket_id = t.id"
    if sources.feedback:
        joins += " LEFT JOIN feedback f ON f.ticket_id = t.id AND f.user_id = t.user_id"
    sql = (
        "SELECT t.id, t.user_id, t.category, t.priority, t.status, t.assigned_to, t.created_at,"
        f" {milestones}, {feedback} FROM tickets t{joins}{where} ORDER BY t.id"
    )
    return sql, args
