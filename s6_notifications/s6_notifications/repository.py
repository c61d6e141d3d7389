"""All of S6's SQL: the `notifications` table (which is also the delivery queue) and the stream
tickets, reached through one asyncpg connection.

The queue's rules, in SQL:
- a worker claims due rows of one channel with `FOR UPDATE SKIP LOCKED`, so replicas claiming at
  the same moment get disjoint rows, and sets `claimed_until`; a row whose claim has lapsed (its
  worker died mid-send) is due again;
- every outcome is written only `WHERE claimed_by = <this worker> AND status = 'sending'`, so a
  worker whose claim lapsed can never overwrite what the next claimant did;
- in-app rows are claimed and marked sent in one statement, under a transaction-level advisory
  lock, so their stream positions (the SSE event ids) are committed in the order they are given:
  a client that saw position n has seen everything below n.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# LISTEN/NOTIFY channel: `queue:<channel>` when rows become due, `sent:<user_id>` when in-app
# rows were marked sent (the streams of that user look for them).
NOTIFY_CHANNEL = "s6_notifications"
# pg_advisory_xact_lock key serialising in-app stream positions (any constant not used elsewhere;
# the migration runner's keys are derived from owner names with hashtext, always negative or
# positive 32-bit values, never this 64-bit one).
STREAM_SEQ_LOCK = 0x5336_5354_5245_414D  # "S6STREAM"

COLUMN_NAMES = (
    "id", "user_id", "ticket_id", "type", "channel", "message", "recipient", "status", "retry_count",
    "next_attempt_at", "claimed_by", "claimed_until", "last_error", "created_at", "sent_at", "read_at",
    "stream_seq", "sender", "idempotency_key", "request_fingerprint",
)  # fmt: skip
COLUMNS = ", ".join(COLUMN_NAMES)
# The same, qualified by the alias `n` (an UPDATE ... FROM whose other relation has an `id`).
N_COLUMNS = ", ".join(f"n.{name}" for name in COLUMN_NAMES)


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    user_id: int
    ticket_id: int | None
    type: str
    channel: str
    message: str
    recipient: str | None
    status: str
    retry_count: int
    next_attempt_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None
    stream_seq: int | None
    sender: str
    idempotency_key: str | None
    request_fingerprint: str | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Notification:
        return cls(**dict(row))


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: int
    ticket_id: int | None
    type: str
    channel: str
    message: str
    recipient: str | None
    sender: str
    idempotency_key: str | None
    request_fingerprint: str | None


@dataclass(frozen=True, slots=True)
class PagePosition:
    """The sort key of the last notification already seen: the next page starts after it."""

    created_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class StreamTicketHolder:
    user_id: int
    role: str
    email: str


def _many(rows: list[asyncpg.Record]) -> list[Notification]:
    return [Notification.from_row(row) for row in rows]


class NotificationsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- the API ------------------------------------------------------------------------------

    async def create(self, new: NewNotification) -> tuple[Notification, bool]:
        """Store `new` and wake the workers of its channel; with an idempotency key already used
        by the same sender, store nothing and return the first row. (row, created)."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO notifications
                   (user_id, ticket_id, type, channel, message, recipient, sender, idempotency_key,
                    request_fingerprint)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT ON CONSTRAINT notifications_idempotency DO NOTHING
            RETURNING {COLUMNS}
            """,
            new.user_id,
            new.ticket_id,
            new.type,
            new.channel,
            new.message,
            new.recipient,
            new.sender,
            new.idempotency_key,
            new.request_fingerprint,
        )
        if row is not None:
            # Delivered to the listeners when this transaction commits, never before.
            await self.conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, f"queue:{new.channel}")
            return Notification.from_row(row), True
        # The key was taken (ON CONFLICT waited for that transaction to commit, so this
        # statement's snapshot sees its row).
        existing: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {COLUMNS} FROM notifications WHERE sender = $1 AND idempotency_key = $2",
            new.sender,
            new.idempotency_key,
        )
        assert existing is not None
        return Notification.from_row(existing), False

    async def create_many(self, news: list[NewNotification]) -> list[tuple[Notification, bool]]:
        """`create` for many, in two statements whatever their number: one INSERT of them all,
        then one SELECT of the rows whose key was taken. Every item needs an idempotency key
        (a batch's keys differ), all from one sender. (row, created) in the order given."""
        sender = news[0].sender
        assert all(n.sender == sender and n.idempotency_key is not None for n in news)
        rows = await self.conn.fetch(
            f"""
            INSERT INTO notifications
                   (user_id, ticket_id, type, channel, message, recipient, idempotency_key,
                    request_fingerprint, sender)
            SELECT n.*, $9::text
              FROM unnest($1::integer[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[],
                          $7::text[], $8::text[]) AS n
               ON CONFLICT ON CONSTRAINT notifications_idempotency DO NOTHING
            RETURNING {COLUMNS}
            """,
            [n.user_id for n in news],
            [n.ticket_id for n in news],
            [n.type for n in news],
            [n.channel for n in news],
            [n.message for n in news],
            [n.recipient for n in news],
            [n.idempotency_key for n in news],
            [n.request_fingerprint for n in news],
            sender,
        )
        created = {row["idempotency_key"]: Notification.from_row(row) for row in rows}
        taken = [n.idempotency_key for n in news if n.idempotency_key not in created]
        existing = {}
        if taken:
            found = await self.conn.fetch(
                f"SELECT {COLUMNS} FROM notifications WHERE sender = $1 AND idempotency_key = ANY($2::text[])",
                sender,
                taken,
            )
            existing = {row["idempotency_key"]: Notification.from_row(row) for row in found}
        for channel in sorted({n.channel for n in created.values()}):
            # Delivered to the listeners when this transaction commits, never before.
            await self.conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, f"queue:{channel}")
        return [
            (created[key], True) if key in created else (existing[key], False)
            for key in (n.idempotency_key for n in news)
        ]

    async def get(self, *, notification_id: int) -> Notification | None:
        row = await self.conn.fetchrow(f"SELECT {COLUMNS} FROM notifications WHERE id = $1", notification_id)
        return None if row is None else Notification.from_row(row)

    async def history_page(self, *, user_id: int, after: PagePosition | None, limit: int) -> list[Notification]:
        """Newest first (index notifications_user_created_idx)."""
        if after is None:
            rows = await self.conn.fetch(
                f"""
                SELECT {COLUMNS} FROM notifications WHERE user_id = $1
                ORDER BY created_at DESC, id DESC LIMIT $2
                """,
                user_id,
                limit,
            )
        else:
            rows = await self.conn.fetch(
                f"""
                SELECT {COLUMNS} FROM notifications
                 WHERE user_id = $1 AND (created_at, id) < ($2, $3)
                ORDER BY created_at DESC, id DESC LIMIT $4
                """,
                user_id,
                after.created_at,
                after.id,
                limit,
            )
        return _many(rows)

    async def mark_read(self, *, notification_id: int) -> Notification:
        """Set read_at once; marking it again keeps the first time."""
        row = await self.conn.fetchrow(
            f"""
            UPDATE notifications SET read_at = COALESCE(read_at, now())
             WHERE id = $1
            RETURNING {COLUMNS}
            """,
            notification_id,
        )
        assert row is not None
        return Notification.from_row(row)

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.conn.fetch("SELECT status, count(*) AS count FROM notifications GROUP BY status")
        return {row["status"]: row["count"] for row in rows}

    # --- the workers --------------------------------------------------------------------------

    async def claim(self, *, channel: str, worker: str, limit: int, claim_seconds: float) -> list[Notification]:
        """Up to `limit` due rows of `channel` (and up to `limit` whose claim lapsed), now
        `sending` and claimed by `worker` for `claim_seconds`."""
        rows = await self.conn.fetch(
            f"""
            WITH lapsed AS (
                SELECT id FROM notifications
                 WHERE status = 'sending' AND channel = $1 AND claimed_until <= now()
                 ORDER BY claimed_until LIMIT $3
                   FOR UPDATE SKIP LOCKED
            ), due AS (
                SELECT id FROM notifications
                 WHERE status = 'pending' AND channel = $1 AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, id LIMIT $3
                   FOR UPDATE SKIP LOCKED
            )
            UPDATE notifications
               SET status = 'sending', claimed_by = $2, claimed_until = now() + make_interval(secs => $4)
             WHERE id IN (SELECT id FROM lapsed UNION ALL SELECT id FROM due)
            RETURNING {COLUMNS}
            """,
            channel,
            worker,
            limit,
            claim_seconds,
        )
        return sorted(_many(rows), key=lambda n: n.id)

    async def deliver_in_app(self, *, limit: int) -> list[Notification]:
        """Claim up to `limit` due in-app rows and mark them sent with their stream positions, in
        one transaction that also tells every replica's streams (NOTIFY at commit)."""
        async with self.conn.transaction():
            # Positions are handed out and committed under this lock, one batch at a time, so no
            # position becomes visible after a higher one (see the module docstring).
            await self.conn.execute("SELECT pg_advisory_xact_lock($1)", STREAM_SEQ_LOCK)
            rows = await self.conn.fetch(
                f"""
                WITH due AS (
                    SELECT id FROM notifications
                     WHERE status = 'pending' AND channel = 'in_app' AND next_attempt_at <= now()
                     ORDER BY next_attempt_at, id LIMIT $1
                       FOR UPDATE SKIP LOCKED
                ), numbered AS (
                    SELECT id, nextval('notifications_stream_seq') AS seq
                      FROM (SELECT id FROM due ORDER BY id) AS ordered
                )
                UPDATE notifications AS n
                   SET status = 'sent', sent_at = now(), stream_seq = numbered.seq
                  FROM numbered
                 WHERE n.id = numbered.id
                RETURNING {N_COLUMNS}
                """,
                limit,
            )
            if rows:
                await self.conn.execute(
                    "SELECT pg_notify($1, 'sent:' || user_id) FROM unnest($2::integer[]) AS user_id",
                    NOTIFY_CHANNEL,
                    list({row["user_id"] for row in rows}),
                )
        return sorted(_many(rows), key=lambda n: n.id)

    async def mark_sent(self, *, notification_id: int, worker: str, recipient: str | None) -> bool:
        result: str = await self.conn.execute(
            """
            UPDATE notifications
               SET status = 'sent', sent_at = now(), claimed_by = NULL, claimed_until = NULL,
                   recipient = COALESCE($3, recipient)
             WHERE id = $1 AND claimed_by = $2 AND status = 'sending'
            """,
            notification_id,
            worker,
            recipient,
        )
        return result == "UPDATE 1"

    async def schedule_retry(
        self, *, notification_id: int, worker: str, error: str, delay_seconds: float, recipient: str | None
    ) -> bool:
        result: str = await self.conn.execute(
            """
            UPDATE notifications
               SET status = 'pending', retry_count = retry_count + 1, last_error = $3,
                   next_attempt_at = now() + make_interval(secs => $4),
                   claimed_by = NULL, claimed_until = NULL, recipient = COALESCE($5, recipient)
             WHERE id = $1 AND claimed_by = $2 AND status = 'sending'
            """,
            notification_id,
            worker,
            error,
            delay_seconds,
            recipient,
        )
        return result == "UPDATE 1"

    async def mark_failed(self, *, notification_id: int, worker: str, error: str, recipient: str | None) -> bool:
        result: str = await self.conn.execute(
            """
            UPDATE notifications
               SET status = 'failed', last_error = $3, claimed_by = NULL, claimed_until = NULL,
                   recipient = COALESCE($4, recipient)
             WHERE id = $1 AND claimed_by = $2 AND status = 'sending'
            """,
            notification_id,
            worker,
            error,
            recipient,
        )
        return result == "UPDATE 1"

    async def release(self, *, notification_ids: list[int], worker: str) -> None:
        """Give back claimed rows that were never attempted: due again at once, no retry counted."""
        await self.conn.execute(
            """
            UPDATE notifications SET status = 'pending', claimed_by = NULL, claimed_until = NULL
             WHERE id = ANY($1::integer[]) AND claimed_by = $2 AND status = 'sending'
            """,
            notification_ids,
            worker,
        )

    async def seconds_until_due(self, *, channel: str) -> float | None:
        """How long until the next row of `channel` is due (0 if one is), None if none waits."""
        value: float | None = await self.conn.fetchval(
            """
            SELECT GREATEST(0, EXTRACT(EPOCH FROM LEAST(
                       (SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending' AND channel = $1),
                       (SELECT min(claimed_until) FROM notifications WHERE status = 'sending' AND channel = $1)
                   ) - now()))::float8
            """,
            channel,
        )
        return value

    # --- the stream ---------------------------------------------------------------------------

    async def stream_after(self, *, user_id: int, position: int, limit: int) -> list[Notification]:
        """The user's in-app notifications past stream `position`, in stream order."""
        rows = await self.conn.fetch(
            f"""
            SELECT {COLUMNS} FROM notifications
             WHERE user_id = $1 AND stream_seq > $2
             ORDER BY stream_seq LIMIT $3
            """,
            user_id,
            position,
            limit,
        )
        return _many(rows)

    async def stream_position(self, *, user_id: int) -> int:
        """The user's latest stream position (0 before their first in-app notification)."""
        value: int = await self.conn.fetchval(
            "SELECT COALESCE(max(stream_seq), 0) FROM notifications WHERE user_id = $1 AND stream_seq IS NOT NULL",
            user_id,
        )
        return value

    async def issue_stream_ticket(self, *, ticket_hash: bytes, holder: StreamTicketHolder, seconds: int) -> None:
        # Expired tickets are swept here, where new ones are made: the table stays tiny.
        await self.conn.execute("DELETE FROM notification_stream_tickets WHERE expires_at < now()")
        await self.conn.execute(
            """
            INSERT INTO notification_stream_tickets (ticket_hash, user_id, role, email, expires_at)
            VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
            """,
            ticket_hash,
            holder.user_id,
            holder.role,
            holder.email,
            seconds,
        )

    async def redeem_stream_ticket(self, *, ticket_hash: bytes) -> StreamTicketHolder | None:
        """The ticket's holder, once: the ticket is gone afterwards (None if unknown or expired)."""
        row: Any = await self.conn.fetchrow(
            """
            DELETE FROM notification_stream_tickets WHERE ticket_hash = $1
            RETURNING user_id, role, email, expires_at > now() AS valid
            """,
            ticket_hash,
        )
        if row is None or not row["valid"]:
            return None
        return StreamTicketHolder(user_id=row["user_id"], role=row["role"], email=row["email"])
