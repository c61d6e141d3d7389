"""The transactional outbox: notifications written in the same transaction as the change that
causes them, and a relay that hands them to S6 (`POST /notify`) afterwards. Never inside the
request: S6 being down delays a notification, never loses it, and never fails the change.

A service that notifies owns an outbox table of its own (a migration, `<name>_outbox`, of the
shape below), writes to it with `enqueue` (or its own INSERT in a larger statement, as S4
does) inside the transaction of the change, and runs an `OutboxRelay` as background jobs:

    relay = OutboxRelay(settings, table="tickets_outbox", key_prefix="s2-outbox")
    create_app(..., background_jobs=relay.jobs(), health_details=relay.health_details)

The relay, each round: claims due rows in one short statement (`FOR UPDATE SKIP LOCKED`, a
lease: see OutboxTable.claim_due), sends them to S6 in batches (`POST /notify/batch`, up to
100 rows a request, one idempotency key per row: `<key_prefix>-<row id>`; a batch S6 refuses
as a whole is sent again row by row through `POST /notify`, so only the bad row is refused),
and marks them in one statement per outcome:

- delivered (S6 answered 201, or 200 for a key it had already stored);
- refused for good (S6 refused the body: 400, 409, 413, 415, 422): `failed`, logged at ERROR;
- anything else: due again after a backoff that doubles per attempt, with jitter, up to
  OUTBOX_MAX_BACKOFF_SECONDS, logged once per attempt at WARNING with the row id. Rows are
  never given up on for being retried: S6 may be down for minutes.

While S6 cannot be reached at all, the relay sends one row per round (a probe) and pauses
between rounds, doubling to the same cap, instead of spending a batch of attempts (and log
lines) per round on a peer that is down; the first row S6 takes ends the pause.

No connection is held while S6 is called; a relay killed mid-send leaves its rows claimed
until their lease ends, then any relay sends them again, and S6's idempotency keys make that
repeat harmless: at least once on the wire, exactly once in the user's history.

It wakes on the NOTIFY each committed change sends (a trigger on the table, channel = the
table's name), and polls every OUTBOX_POLL_SECONDS besides, which also finds rows whose
backoff ended.

The table (copy into the service's migration, renaming `x_outbox`; `ticket_id` may reference
`tickets` where the service's migrations come after S2's, and is nullable for messages about
no ticket, such as S1's password reset):

    CREATE TABLE x_outbox (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ticket_id       integer,
        recipient_id    integer     NOT NULL,
        recipient_email text,       -- passed to S6 when known; S6 looks it up otherwise
        type            text        NOT NULL,   -- helpdesk_common.vocabulary.NOTIFICATION_TYPES
        channel         text        NOT NULL,   -- email | sms | in_app
        message         text        NOT NULL,
        status          text        NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
        attempts        integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error      text,
        notification_id bigint,
        created_at      timestamptz NOT NULL DEFAULT now(),
        delivered_at    timestamptz,
        CHECK (status IN ('pending', 'delivered', 'failed')),
        CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
    );
    CREATE INDEX x_outbox_due_idx ON x_outbox (next_attempt_at, id) WHERE status = 'pending';
    CREATE INDEX x_outbox_delivered_idx ON x_outbox (delivered_at) WHERE status = 'delivered';
    CREATE INDEX x_outbox_failed_idx ON x_outbox (id) WHERE status = 'failed';
    CREATE FUNCTION x_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('x_outbox', ''); RETURN NULL; END $$;
    CREATE TRIGGER x_outbox_inserted AFTER INSERT ON x_outbox
        FOR EACH STATEMENT EXECUTE FUNCTION x_outbox_notify();

`common/tests/test_outbox.py` checks a table created from this text against the relay.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import httpx
from pydantic import Field, model_validator

from helpdesk_common.db import Listener, acquire
from helpdesk_common.service_client import PeerUnavailable, ServiceClient
from helpdesk_common.settings import ServiceSettings
from helpdesk_common.workers import BackgroundJob

logger = logging.getLogger("helpdesk.outbox")

NOTIFICATIONS = "s6-notifications"
# S6 answers these when it refuses the body itself: sending it again cannot help. Any other
# answer (a 5xx, 401/403 from a credential being rotated, 404 from an S6 being deployed, 408,
# 429) is retried with backoff, so a misconfiguration delays notifications and loses none.
REFUSED_FOR_GOOD = frozenset({400, 409, 413, 415, 422})
# S6's limit on POST /notify/batch.
NOTIFY_BATCH_MAX = 100
PRUNE_EVERY_SECONDS = 600.0
PRUNE_BATCH = 10_000
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}_outbox")


class OutboxSettings(ServiceSettings):
    """The settings of a service that relays an outbox (its Settings class inherits these)."""

    # Off: this process only writes the outbox; relays run elsewhere (any instance relays).
    outbox_relay: bool = True
    # Rows claimed per round, and how many of them are in flight to S6 at once.
    outbox_batch_size: int = Field(default=100, ge=1, le=1000)
    outbox_concurrency: int = Field(default=16, ge=1, le=200)
    # The relay wakes on NOTIFY at each commit; this is the polling fallback (and how soon a
    # row whose backoff ended is seen).
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    # How long a claim lasts: a relay killed mid-send leaves its rows due again after this.
    # Must be longer than one call to S6 can take.
    outbox_claim_seconds: float = Field(default=60.0, gt=0)
    # Retry delays per row: doubling from the first, capped, with jitter.
    outbox_backoff_seconds: float = Field(default=0.5, gt=0)
    outbox_max_backoff_seconds: float = Field(default=30.0, gt=0)
    # Delivered rows are deleted after this (failed rows are kept for an operator).
    outbox_retention_hours: float = Field(default=72.0, gt=0)
    # How often the relay refreshes the pending figures shown on /health.
    outbox_stats_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _claim_outlasts_a_call(self) -> OutboxSettings:
        if self.outbox_claim_seconds <= self.http_connect_timeout + self.http_read_timeout:
            raise ValueError("OUTBOX_CLAIM_SECONDS must be longer than HTTP_CONNECT_TIMEOUT + HTTP_READ_TIMEOUT")
        return self


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message to one recipient over one channel, as a change writes it."""

    recipient_id: int
    type: str
    channel: str
    message: str
    ticket_id: int | None = None
    recipient_email: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox row; `attempt` is its claim token (see OutboxTable.claim_due)."""

    id: int
    attempt: int
    ticket_id: int | None
    recipient_id: int
    recipient_email: str | None
    type: str
    channel: str
    message: str


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    oldest_pending_at: datetime | None
    failed: int


class OutboxTable:
    """The SQL of one service's outbox table (each statement its own short transaction, but
    `enqueue`, which runs in the caller's)."""

    def __init__(self, conn: asyncpg.Connection, table: str) -> None:
        if not _TABLE_NAME.fullmatch(table):
            raise ValueError(f"not an outbox table name: {table!r}")
        self.conn = conn
        self.table = table

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Write `messages`, in the transaction the caller holds: they go out once it commits."""
        if not messages:
            return  # no INSERT, so the trigger does not wake the relays for nothing
        await self.conn.execute(
            f"""
            INSERT INTO {self.table} (ticket_id, recipient_id, recipient_email, type, channel, message)
            SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[])
            """,
            [m.ticket_id for m in messages],
            [m.recipient_id for m in messages],
            [m.recipient_email for m in messages],
            [m.type for m in messages],
            [m.channel for m in messages],
            [m.message for m in messages],
        )

    async def claim_due(self, *, limit: int, claim_seconds: float) -> list[OutboxRow]:
        """Claim up to `limit` due rows: their next attempt moves `claim_seconds` ahead (so no
        other relay takes them meanwhile, and a relay that dies leaves them due again) and
        `attempts` goes up by one (the claim token the marks below check). SKIP LOCKED: relays
        of several replicas claim different rows instead of waiting on each other."""
        rows = await self.conn.fetch(
            f"""
            UPDATE {self.table} o
               SET attempts = o.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2)
              FROM (SELECT id FROM {self.table}
                     WHERE status = 'pending' AND next_attempt_at <= now()
                     ORDER BY next_attempt_at, id
                     LIMIT $1
                       FOR UPDATE SKIP LOCKED) due
             WHERE o.id = due.id
            RETURNING o.id, o.attempts AS attempt, o.ticket_id, o.recipient_id, o.recipient_email,
                      o.type, o.channel, o.message
            """,
            limit,
            claim_seconds,
        )
        return [OutboxRow(**dict(row)) for row in rows]

    async def mark_delivered(self, rows: Sequence[tuple[int, int, int | None]]) -> None:
        """(id, attempt, S6's notification id) for each delivered row."""
        await self.conn.execute(
            f"""
            UPDATE {self.table} o
               SET status = 'delivered', delivered_at = now(), last_error = NULL, notification_id = d.notification_id
              FROM unnest($1::bigint[], $2::integer[], $3::bigint[]) AS d (id, attempt, notification_id)
             WHERE o.id = d.id AND o.attempts = d.attempt AND o.status = 'pending'
            """,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )

    async def reschedule(self, rows: Sequence[tuple[int, int, float, str]]) -> None:
        """(id, attempt, seconds until the next attempt, the error) for each row to retry."""
        await self.conn.execute(
            f"""
            UPDATE {self.table} o
               SET next_attempt_at = now() + make_interval(secs => d.delay), last_error = d.error
              FROM unnest($1::bigint[], $2::integer[], $3::float8[], $4::text[]) AS d (id, attempt, delay, error)
             WHERE o.id = d.id AND o.attempts = d.attempt AND o.status = 'pending'
            """,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
        )

    async def mark_failed(self, rows: Sequence[tuple[int, int, str]]) -> None:
        """(id, attempt, the error) for each row S6 refused for good."""
        await self.conn.execute(
            f"""
            UPDATE {self.table} o
               SET status = 'failed', last_error = d.error
              FROM unnest($1::bigint[], $2::integer[], $3::text[]) AS d (id, attempt, error)
             WHERE o.id = d.id AND o.attempts = d.attempt AND o.status = 'pending'
            """,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )

    async def stats(self) -> OutboxStats:
        row = await self.conn.fetchrow(
            f"""
            SELECT (SELECT count(*) FROM {self.table} WHERE status = 'pending') AS pending,
                   (SELECT min(created_at) FROM {self.table} WHERE status = 'pending') AS oldest_pending_at,
                   (SELECT count(*) FROM {self.table} WHERE status = 'failed') AS failed
            """
        )
        assert row is not None
        return OutboxStats(**dict(row))

    async def prune_delivered(self, *, older_than_seconds: float, limit: int) -> int:
        """Delete up to `limit` rows delivered more than `older_than_seconds` ago; how many went."""
        status: str = await self.conn.execute(
            f"""
            DELETE FROM {self.table}
             WHERE id IN (SELECT id FROM {self.table}
                           WHERE status = 'delivered' AND delivered_at < now() - make_interval(secs => $1)
                           LIMIT $2)
            """,
            older_than_seconds,
            limit,
        )
        return int(status.rsplit(" ", 1)[-1])


async def enqueue(conn: asyncpg.Connection, table: str, messages: Sequence[OutboxMessage]) -> None:
    """Write `messages` to the service's outbox `table` in the caller's transaction."""
    await OutboxTable(conn, table).enqueue(messages)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one attempt to hand a row to S6.

    delivered: S6 stored it (201) or had already stored it under this key (200);
    refused: S6 refused the body for good; retry: S6 answered something else;
    unavailable: S6 could not be reached or said it cannot serve now (503)."""

    outcome: Literal["delivered", "refused", "retry", "unavailable"]
    error: str | None = None
    notification_id: int | None = None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    said = body.get("error") if isinstance(body, dict) else None
    return f"S6 answered {response.status_code}" + (f": {said}" if isinstance(said, str) else "")


def _notify_body(row: OutboxRow) -> dict[str, object]:
    body: dict[str, object] = {
        "user_id": row.recipient_id,
        "type": row.type,
        "channel": row.channel,
        "message": row.message,
    }
    if row.ticket_id is not None:
        body["ticket_id"] = row.ticket_id
    if row.recipient_email is not None:
        body["user_email"] = row.recipient_email
    return body


def _stored(response: httpx.Response) -> Delivery:
    try:
        stored = response.json()
    except ValueError:
        stored = None
    found = stored.get("id") if isinstance(stored, dict) else None
    return Delivery("delivered", notification_id=found if isinstance(found, int) else None)


async def send_notification(services: ServiceClient, row: OutboxRow, *, idempotency_key: str) -> Delivery:
    """Hand one row to S6 (`POST /notify`); `idempotency_key` is stable per row, so a repeat is
    stored once."""
    try:
        # No retries in the client: the relay retries each row with its own backoff, and
        # logs each failure once, with the row id.
        response = await services.request(
            NOTIFICATIONS,
            "POST",
            "/notify",
            json=_notify_body(row),
            idempotency_key=idempotency_key,
            retries=0,
            log_unavailable=False,
        )
    except PeerUnavailable as exc:
        return Delivery("unavailable", error=f"S6 unavailable: {exc.reason}")
    if response.status_code in (200, 201):
        return _stored(response)
    if response.status_code in REFUSED_FOR_GOOD:
        return Delivery("refused", error=_error_text(response))
    return Delivery("retry", error=_error_text(response))


async def send_batch(services: ServiceClient, rows: Sequence[OutboxRow], keys: Sequence[str]) -> list[Delivery] | None:
    """Hand up to NOTIFY_BATCH_MAX rows to S6 in one request (`POST /notify/batch`, each item
    with its row's key), which costs both sides far less than a request per row. None when S6
    refused the batch as a whole (one bad item makes it a 400, or an S6 without the route):
    the caller then sends the rows one by one, so only a bad row is refused."""
    body = {
        "notifications": [
            {"idempotency_key": key, "notification": _notify_body(row)} for row, key in zip(rows, keys, strict=True)
        ]
    }
    try:
        response = await services.request(
            NOTIFICATIONS, "POST", "/notify/batch", json=body, retries=0, log_unavailable=False
        )
    except PeerUnavailable as exc:
        return [Delivery("unavailable", error=f"S6 unavailable: {exc.reason}")] * len(rows)
    if response.status_code in REFUSED_FOR_GOOD or response.status_code in (404, 405):
        return None
    if response.status_code != 200:
        return [Delivery("retry", error=_error_text(response))] * len(rows)
    try:
        results = response.json()["results"]
        if not isinstance(results, list) or len(results) != len(rows):
            raise TypeError
        deliveries = []
        for result in results:
            if result["status"] in (200, 201):
                found = result.get("id")
                deliveries.append(Delivery("delivered", notification_id=found if isinstance(found, int) else None))
            else:  # 409: the row's key was taken by another notification, sending it again cannot help
                deliveries.append(Delivery("refused", error=f"S6 answered {result['status']}: {result.get('error')}"))
    except (ValueError, KeyError, TypeError):
        return [Delivery("retry", error="S6 answered the batch with a body that is not its results")] * len(rows)
    return deliveries


class OutboxRelay:
    """Delivers one service's outbox table to S6 (see the module's docstring)."""

    def __init__(self, settings: OutboxSettings, *, table: str, key_prefix: str) -> None:
        if not _TABLE_NAME.fullmatch(table):
            raise ValueError(f"not an outbox table name: {table!r}")
        self.settings = settings
        self.table = table
        self.key_prefix = key_prefix
        self.listener = Listener(settings.db_url or "", table)
        self.delivered = 0  # since this process started
        self.retried = 0
        self.refused = 0
        self.peer_reachable: bool | None = None  # None until the first attempt
        self.last_error: str | None = None
        self.stats: OutboxStats | None = None
        self.stats_at: datetime | None = None
        self._pause = 0.0

    def jobs(self) -> list[BackgroundJob]:
        """For create_app's `background_jobs`; empty when OUTBOX_RELAY is off. The listener
        first: jobs stop in reverse, so the relay stops before its wake-up does."""
        if not self.settings.outbox_relay:
            return []
        return [BackgroundJob("outbox-listener", self.listen), BackgroundJob("outbox-relay", self.run)]

    def health_details(self, _app: Any) -> dict[str, Any]:
        """For create_app's `health_details`. Never a reason for /ready to fail: S6 being down
        only delays notifications."""
        return {"outbox": self.snapshot() if self.settings.outbox_relay else {"relay": "off"}}

    def idempotency_key(self, row_id: int) -> str:
        """One stable key per outbox row: however often the relay sends a row, S6 stores it once."""
        return f"{self.key_prefix}-{row_id}"

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt `attempt + 1`: doubling, capped, half of it jittered, so rows
        that failed together do not all come back at the same moment."""
        ceiling = min(
            self.settings.outbox_max_backoff_seconds, self.settings.outbox_backoff_seconds * 2.0 ** (attempt - 1)
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography

    def snapshot(self) -> dict[str, Any]:
        """For /health: the queue as last counted, and what this process's relay has done."""
        oldest = self.stats.oldest_pending_at if self.stats else None
        return {
            "relay": "running",
            "pending": self.stats.pending if self.stats else None,
            "oldest_pending_seconds": round((datetime.now(UTC) - oldest).total_seconds(), 3) if oldest else None,
            "failed": self.stats.failed if self.stats else None,
            "counted_at": self.stats_at.isoformat() if self.stats_at else None,
            "delivered_since_start": self.delivered,
            "retries_since_start": self.retried,
            "refused_since_start": self.refused,
            "notifications_service": {None: "unknown", True: "reachable", False: "unreachable"}[self.peer_reachable],
            "last_error": self.last_error,
        }

    async def listen(self, _app: Any) -> None:
        """A background job of its own: the LISTEN connection that wakes `run`."""
        await self.listener.run()

    async def run(self, app: Any) -> None:
        """The background job: rounds of claim, send, mark, for the life of the app."""
        pool, services = app.state.pool, app.state.services
        next_stats = next_prune = 0.0
        while True:
            now = time.monotonic()
            if now >= next_stats:
                await self._count(pool)
                next_stats = now + self.settings.outbox_stats_seconds
            if now >= next_prune:
                await self._prune(pool)
                next_prune = now + PRUNE_EVERY_SECONDS
            probing = self.peer_reachable is False
            limit = 1 if probing else self.settings.outbox_batch_size
            async with acquire(pool) as conn:
                rows = await OutboxTable(conn, self.table).claim_due(
                    limit=limit, claim_seconds=self.settings.outbox_claim_seconds
                )
            if rows:
                await self._deliver(pool, services, rows)
            elif probing:
                self.peer_reachable = None  # nothing left to probe with: the next row goes out at once
            if self.peer_reachable is False:
                # S6 is down: wait out the pause (changes committed meanwhile wake nobody),
                # then probe with one row.
                await asyncio.sleep(self._pause)
                await self.listener.wait(0)
            elif len(rows) < limit:
                await self.listener.wait(self.settings.outbox_poll_seconds)
            # else: a full batch, so more may be due: go on at once

    async def _deliver(self, pool: Any, services: ServiceClient, rows: list[OutboxRow]) -> None:
        gate = asyncio.Semaphore(self.settings.outbox_concurrency)

        async def send(row: OutboxRow) -> Delivery:
            async with gate:
                return await send_notification(services, row, idempotency_key=self.idempotency_key(row.id))

        async def send_part(part: list[OutboxRow]) -> list[Delivery]:
            async with gate:
                answered = await send_batch(services, part, [self.idempotency_key(row.id) for row in part])
            if answered is not None:
                return answered
            return list(await asyncio.gather(*(send(row) for row in part)))

        parts = [rows[i : i + NOTIFY_BATCH_MAX] for i in range(0, len(rows), NOTIFY_BATCH_MAX)]
        deliveries = [d for answered in await asyncio.gather(*(send_part(part) for part in parts)) for d in answered]
        delivered: list[tuple[int, int, int | None]] = []
        retry: list[tuple[int, int, float, str]] = []
        refused: list[tuple[int, int, str]] = []
        for row, delivery in zip(rows, deliveries, strict=True):
            if delivery.outcome == "delivered":
                delivered.append((row.id, row.attempt, delivery.notification_id))
                continue
            error = delivery.error or delivery.outcome
            self.last_error = error
            where = {
                "outbox": self.table,
                "outbox_id": row.id,
                "attempt": row.attempt,
                "ticket_id": row.ticket_id,
                "error": error,
            }
            if delivery.outcome == "refused":
                refused.append((row.id, row.attempt, error))
                logger.error("notification refused by S6; outbox row marked failed", extra=where)
            else:
                delay = self.backoff(row.attempt)
                retry.append((row.id, row.attempt, delay, error))
                logger.warning("notification not delivered; will retry", extra={**where, "retry_in_s": round(delay, 3)})
        async with acquire(pool) as conn:
            table = OutboxTable(conn, self.table)
            if delivered:
                await table.mark_delivered(delivered)
            if retry:
                await table.reschedule(retry)
            if refused:
                await table.mark_failed(refused)
        self.delivered += len(delivered)
        self.retried += len(retry)
        self.refused += len(refused)
        if any(d.outcome == "unavailable" for d in deliveries):
            self.peer_reachable = False
            self._pause = min(
                self.settings.outbox_max_backoff_seconds, max(self._pause * 2, self.settings.outbox_backoff_seconds)
            )
        elif delivered or refused:
            self.peer_reachable = True
            self._pause = 0.0

    async def _count(self, pool: Any) -> None:
        async with acquire(pool) as conn:
            self.stats = await OutboxTable(conn, self.table).stats()
        self.stats_at = datetime.now(UTC)

    async def _prune(self, pool: Any) -> None:
        """Delete delivered rows past their retention, a batch at a time."""
        older_than = self.settings.outbox_retention_hours * 3600
        while True:
            async with acquire(pool) as conn:
                deleted = await OutboxTable(conn, self.table).prune_delivered(
                    older_than_seconds=older_than, limit=PRUNE_BATCH
                )
            if deleted:
                logger.info("pruned delivered outbox rows", extra={"rows": deleted, "outbox": self.table})
            if deleted < PRUNE_BATCH:
                return
