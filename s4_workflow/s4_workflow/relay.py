"""The outbox relay: delivers the notifications that changes wrote to `workflow_outbox` to S6.

A background job of every S4 process (OUTBOX_RELAY=false turns it off). Each round it claims
due rows in one short statement (`FOR UPDATE SKIP LOCKED`, a lease, see
WorkflowRepository.claim_due), sends them to S6 concurrently with one `Idempotency-Key` per
row, and marks them in one statement per outcome:

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

It wakes on the NOTIFY each committed change sends (a trigger on the outbox), and polls every
OUTBOX_POLL_SECONDS besides, which also finds rows whose backoff ended.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

from helpdesk_common.db import Listener, acquire
from helpdesk_common.service_client import ServiceClient
from s4_workflow import flows
from s4_workflow.repository import OutboxRow, OutboxStats, WorkflowRepository
from s4_workflow.settings import Settings

logger = logging.getLogger("s4_workflow.relay")

CHANNEL = "workflow_outbox"
PRUNE_EVERY_SECONDS = 600.0
PRUNE_BATCH = 10_000


class OutboxRelay:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.listener = Listener(settings.db_url or "", CHANNEL)
        self.delivered = 0  # since this process started
        self.retried = 0
        self.refused = 0
        self.peer_reachable: bool | None = None  # None until the first attempt
        self.last_error: str | None = None
        self.stats: OutboxStats | None = None
        self.stats_at: datetime | None = None
        self._pause = 0.0

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
                rows = await WorkflowRepository(conn).claim_due(
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

        async def send(row: OutboxRow) -> flows.Delivery:
            async with gate:
                return await flows.send_notification(services, row)

        deliveries = await asyncio.gather(*(send(row) for row in rows))
        delivered: list[tuple[int, int, int | None]] = []
        retry: list[tuple[int, int, float, str]] = []
        refused: list[tuple[int, int, str]] = []
        for row, delivery in zip(rows, deliveries, strict=True):
            if delivery.outcome == "delivered":
                delivered.append((row.id, row.attempt, delivery.notification_id))
                continue
            error = delivery.error or delivery.outcome
            self.last_error = error
            where = {"outbox_id": row.id, "attempt": row.attempt, "ticket_id": row.ticket_id, "error": error}
            if delivery.outcome == "refused":
                refused.append((row.id, row.attempt, error))
                logger.error("notification refused by S6; outbox row marked failed", extra=where)
            else:
                delay = self.backoff(row.attempt)
                retry.append((row.id, row.attempt, delay, error))
                logger.warning("notification not delivered; will retry", extra={**where, "retry_in_s": round(delay, 3)})
        async with acquire(pool) as conn:
            repo = WorkflowRepository(conn)
            if delivered:
                await repo.mark_delivered(delivered)
            if retry:
                await repo.reschedule(retry)
            if refused:
                await repo.mark_failed(refused)
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
            self.stats = await WorkflowRepository(conn).outbox_stats()
        self.stats_at = datetime.now(UTC)

    async def _prune(self, pool: Any) -> None:
        """Delete delivered rows past their retention, a batch at a time."""
        older_than = self.settings.outbox_retention_hours * 3600
        while True:
            async with acquire(pool) as conn:
                deleted = await WorkflowRepository(conn).prune_delivered(
                    older_than_seconds=older_than, limit=PRUNE_BATCH
                )
            if deleted:
                logger.info("pruned delivered outbox rows", extra={"rows": deleted})
            if deleted < PRUNE_BATCH:
                return
