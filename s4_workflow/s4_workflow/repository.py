"""All of S4's SQL: its own `ticket_history` and `workflow_outbox`, and the four workflow
columns of S2's `tickets` (`status`, `priority`, `assigned_to`, `updated_at`), the only ones S4
writes there. Each query's index is in the migrations beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from helpdesk_common.vocabulary import OPEN_STATUSES

# The public shape of a ticket, as S2 answers it.
TICKET_COLUMNS = "id, user_id, title, description, category, status, priority, assigned_to, created_at, updated_at"
HISTORY_COLUMNS = "id, ticket_id, changed_by, changed_by_role, field_name, old_value, new_value, changed_at"
# A literal list, not a parameter: the planner can only match the queue's partial index
# (WHERE status IN (...), migrations/002) when it sees the same constants in the query.
OPEN_STATUS_SQL = ", ".join(f"'{status}'" for status in OPEN_STATUSES)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket in its public shape (S2's table, S2's columns)."""

    id: int
    user_id: int
    title: str
    description: str
    category: str
    status: str
    priority: str
    assigned_to: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One history row: a workflow column's value before and after (as text, None for null)."""

    field_name: str
    old_value: str | None
    new_value: str | None


@dataclass(frozen=True, slots=True)
class Notification:
    """One outbox row: one message to one recipient over one channel."""

    recipient_id: int
    recipient_email: str | None
    type: str
    channel: str
    message: str


@dataclass(frozen=True, slots=True)
class TicketChange:
    """A ticket's workflow columns after a change, its history rows and its notifications."""

    status: str
    priority: str
    assigned_to: int | None
    fields: tuple[FieldChange, ...]
    notifications: tuple[Notification, ...] = ()


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """The sort key of the last ticket of a queue page: the next page starts strictly after it."""

    rank: int
    created_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class HistoryPosition:
    changed_at: datetime
    id: int


# The whole change as one statement (so one transaction of its own, in autocommit): the
# UPDATE writes only if the workflow columns are still what the rules were checked against
# ($10-$12); the history and outbox rows are inserted only for a row the UPDATE returned.
# A concurrent change of the same ticket waits on the UPDATE's row lock, then finds the row
# changed and writes nothing (the caller reads again and re-checks the rules).
_APPLY_CHANGE = f"""
    WITH updated AS (
        UPDATE tickets
           SET status = $2, priority = $3, assigned_to = $4, updated_at = clock_timestamp()
         WHERE id = $1 AND status = $10 AND priority = $11 AND assigned_to IS NOT DISTINCT FROM $12
        RETURNING {TICKET_COLUMNS}
    ), history AS (
        -- changed_at is the ticket's new updated_at, taken under the row lock, so a ticket's
        -- history is in the order its changes committed.
        INSERT INTO ticket_history
               (ticket_id, changed_by, changed_by_role, field_name, old_value, new_value, changed_at)
        SELECT $1, $5, $6, c.field_name, c.old_value, c.new_value, updated.updated_at
          FROM unnest($7::text[], $8::text[], $9::text[]) AS c (field_name, old_value, new_value), updated
    )
    {{outbox}}
    SELECT {TICKET_COLUMNS} FROM updated
"""
_OUTBOX_CTE = """
    , outbox AS (
        INSERT INTO workflow_outbox (ticket_id, recipient_id, recipient_email, type, channel, message)
        SELECT $1, n.recipient_id, n.recipient_email, n.type, n.channel, n.message
          FROM unnest($13::integer[], $14::text[], $15::text[], $16::text[], $17::text[])
               AS n (recipient_id, recipient_email, type, channel, message), updated
    )
"""
# Two fixed statements: without notifications the outbox INSERT is left out altogether, so its
# trigger does not wake the relays for nothing.
APPLY_CHANGE_SQL = _APPLY_CHANGE.format(outbox="")
APPLY_CHANGE_WITH_OUTBOX_SQL = _APPLY_CHANGE.format(outbox=_OUTBOX_CTE)


def queue_query(*, after: QueuePosition | None, limit: int) -> tuple[str, list[object]]:
    """The SELECT behind GET /queue and its arguments (a function of its own so tests can EXPLAIN it).

    Sort key and keyset condition are the index's own columns (tickets_queue_idx), in its order,
    so a page at any depth is one index range scan that stops after `limit` rows."""
    args: list[object] = []
    keyset = "TRUE"
    if after is not None:
        args += [after.rank, after.created_at, after.id]
        keyset = "(ticket_queue_rank(priority), created_at, id) > ($1, $2, $3)"
    args.append(limit)
    sql = (
        f"SELECT {TICKET_COLUMNS}, ticket_queue_rank(priority) AS queue_rank FROM tickets"
        f" WHERE status IN ({OPEN_STATUS_SQL}) AND {keyset}"
        f" ORDER BY ticket_queue_rank(priority), created_at, id LIMIT ${len(args)}"
    )
    return sql, args


class WorkflowRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- changes: a read, then one conditional statement -----------------------------------

    async def get_ticket(self, *, ticket_id: int) -> Ticket | None:
        row = await self.conn.fetchrow(f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1", ticket_id)
        return None if row is None else Ticket(**dict(row))

    async def apply_change(
        self, *, read: Ticket, changed_by: int, changed_by_role: str, change: TicketChange
    ) -> Ticket | None:
        """The new workflow columns, their history rows and the notifications, in one statement,
        if the ticket's workflow columns are still as `read`; None (nothing written) otherwise."""
        args: list[object] = [
            read.id,
            change.status,
            change.priority,
            change.assigned_to,
            changed_by,
            changed_by_role,
            [f.field_name for f in change.fields],
            [f.old_value for f in change.fields],
            [f.new_value for f in change.fields],
            read.status,
            read.priority,
            read.assigned_to,
        ]
        sql = APPLY_CHANGE_SQL
        if change.notifications:
            sql = APPLY_CHANGE_WITH_OUTBOX_SQL
            args += [
                [n.recipient_id for n in change.notifications],
                [n.recipient_email for n in change.notifications],
                [n.type for n in change.notifications],
                [n.channel for n in change.notifications],
                [n.message for n in change.notifications],
            ]
        row: asyncpg.Record | None = await self.conn.fetchrow(sql, *args)
        return None if row is None else Ticket(**dict(row))

    # --- reads ------------------------------------------------------------------------------

    async def ticket_owner(self, *, ticket_id: int) -> int | None:
        owner: int | None = await self.conn.fetchval("SELECT user_id FROM tickets WHERE id = $1", ticket_id)
        return owner

    async def history_page(self, *, ticket_id: int, after: HistoryPosition | None, limit: int) -> list[asyncpg.Record]:
        """Newest first (ticket_history_ticket_idx)."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"""
            SELECT {HISTORY_COLUMNS} FROM ticket_history
             WHERE ticket_id = $1
               AND ($2::timestamptz IS NULL OR (changed_at, id) < ($2, $3))
             ORDER BY changed_at DESC, id DESC
             LIMIT $4
            """,
            ticket_id,
            after.changed_at if after else None,
            after.id if after else None,
            limit,
        )
        return rows

    async def queue_page(self, *, after: QueuePosition | None, limit: int) -> list[asyncpg.Record]:
        sql, args = queue_query(after=after, limit=limit)
        rows: list[asyncpg.Record] = await self.conn.fetch(sql, *args)
        return rows
