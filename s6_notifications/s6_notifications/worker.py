"""The delivery side: one loop per channel over the queue in PostgreSQL, woken by LISTEN/NOTIFY.

- `dispatch`: reads the NOTIFY payloads of the dedicated LISTEN connection
  (`helpdesk_common.db.Listener`) and wakes what they concern: `queue:<channel>` the loop of that
  channel, `sent:<user_id>` that user's open streams. While the LISTEN connection is down it
  wakes everything every POLL_INTERVAL_SECONDS (the polling fallback); after a reconnect, once.
- `run_in_app`: claims due in-app rows and marks them sent in one statement (stored is
  delivered; the streams push them).
- `run_outbound(channel)` (email, sms): claims a batch, sends it over SMTP_CONNECTIONS /
  SMS_CONCURRENCY lanes, and writes each outcome as it comes: `sent`, a retry after
  retry_base * 2^(n-1) seconds (capped, with jitter) while retries remain, else `failed` with the
  error kept. No send starts after its claim could lapse before the send times out, so a claim
  that another worker takes over is never one still being sent; rows left over go back to the
  queue at once. A worker that dies mid-send leaves `sending` rows whose claims lapse and are
  claimed again (at least once: a message accepted by the server in the instant before the
  death is sent again, with the same Message-ID).
- Between batches, a loop sleeps until its channel's next row is due, a NOTIFY, or
  POLL_INTERVAL_SECONDS, whichever comes first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress

import asyncpg

from helpdesk_common.db import Listener, acquire
from helpdesk_common.service_client import ServiceClient
from helpdesk_common.vocabulary import NOTIFICATION_CHANNELS
from s6_notifications import flows
from s6_notifications.channels import EmailSender, SmsSender
from s6_notifications.errors import DeliveryError
from s6_notifications.repository import NOTIFY_CHANNEL, Notification, NotificationsRepository
from s6_notifications.settings import Settings
from s6_notifications.stream import StreamHub

logger = logging.getLogger("s6.worker")


def retry_delay(settings: Settings, retry_number: int) -> float:
    """Seconds before retry `retry_number` (1-based): exponential, capped, with "equal jitter"
    (half fixed, half random), so retries of many rows spread out but never come at once."""
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (retry_number - 1))
    delay: float = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography
    return delay


class Delivery:
    """The queue workers, the LISTEN connection and the stream hub of one S6 process."""

    def __init__(
        self, *, settings: Settings, pool: asyncpg.Pool, services: ServiceClient, sms: SmsSender, hub: StreamHub
    ) -> None:
        assert settings.db_url is not None
        self.settings = settings
        self.pool = pool
        self.services = services
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.listener = Listener(settings.db_url, NOTIFY_CHANNEL)
        self.wakeups: dict[str, asyncio.Event] = {channel: asyncio.Event() for channel in NOTIFICATION_CHANNELS}
        self.hub = hub
        self.email = EmailSender(settings)
        self.senders: dict[str, tuple[Callable[[Notification, str], Awaitable[None]], int]] = {
            "email": (lambda n, to: self.email.send(n, recipient=to), settings.smtp_connections),
            "sms": (lambda n, to: sms.send(n, recipient=to), settings.sms_concurrency),
        }

    # --- waking up ----------------------------------------------------------------------------

    def wake_all(self) -> None:
        for event in self.wakeups.values():
            event.set()
        self.hub.wake_all()

    async def dispatch(self, _app: object) -> None:
        connects = self.listener.connects
        while True:
            payloads = await self.listener.wait(self.settings.poll_interval_seconds)
            if not self.listener.connected.is_set() or self.listener.connects != connects:
                # No notifications arrive while disconnected, and some may have been missed
                # before a reconnect: everyone looks for themselves.
                connects = self.listener.connects
                self.wake_all()
            for payload in payloads:
                kind, _, value = payload.partition(":")
                if kind == "queue" and value in self.wakeups:
                    self.wakeups[value].set()
                elif kind == "sent" and value.isdigit():
                    self.hub.wake(int(value))

    async def _sleep(self, channel: str) -> None:
        """Until the channel's next row is due, a NOTIFY for it, or the polling interval."""
        async with acquire(self.pool) as conn:
            due_in = await NotificationsRepository(conn).seconds_until_due(channel=channel)
        timeout = self.settings.poll_interval_seconds
        if due_in is not None:
            timeout = min(due_in, timeout)
        event = self.wakeups[channel]
        if timeout > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    # --- in-app ---------------------------------------------------------------------------------

    async def run_in_app(self, _app: object) -> None:
        while True:
            async with acquire(self.pool) as conn:
                delivered = await NotificationsRepository(conn).deliver_in_app(limit=self.settings.in_app_batch)
            if len(delivered) < self.settings.in_app_batch:
                await self._sleep("in_app")

    # --- email and sms ----------------------------------------------------------------------

    async def run_outbound(self, channel: str) -> None:
        while True:
            async with acquire(self.pool) as conn:
                claimed = await NotificationsRepository(conn).claim(
                    channel=channel,
                    worker=self.worker_id,
                    limit=self.settings.delivery_batch,
                    claim_seconds=self.settings.claim_seconds,
                )
            if claimed:
                await self.deliver(channel, claimed)
                continue
            if channel == "email":
                await self.email.close_idle()
            await self._sleep(channel)

    async def deliver(self, channel: str, claimed: list[Notification]) -> None:
        send, lanes = self.senders[channel]
        # The last moment a send may start: it then ends before the claim lapses.
        settings = self.settings
        latest_start = (
            time.monotonic() + settings.claim_seconds - settings.send_timeout(channel) - settings.CLAIM_MARGIN_SECONDS
        )
        waiting = deque(claimed)
        # The addresses S1 keeps, asked once for the whole batch before any lane starts.
        addresses: dict[int, str] = {}
        lookup_failed: DeliveryError | None = None
        wanted = sorted({n.user_id for n in claimed if n.recipient is None}) if channel == "email" else []
        if wanted:
            try:
                addresses = await flows.email_addresses_of(self.services, wanted)
            except DeliveryError as exc:
                lookup_failed = exc  # every email of the batch that needed it is retried

        async def lane() -> None:
            while waiting:
                if time.monotonic() > latest_start:
                    return
                notification = waiting.popleft()
                recipient = notification.recipient
                try:
                    if recipient is None and channel == "email":
                        if lookup_failed is not None:
                            raise lookup_failed
                        recipient = addresses.get(notification.user_id)
                        if recipient is None:
                            raise flows.unknown_recipient(notification.user_id)
                    if recipient is None:
                        raise DeliveryError("No recipient address is known for this notification.", permanent=True)
                    await send(notification, recipient)
                except DeliveryError as exc:
                    await self._record_failure(notification, exc, recipient)
                else:
                    await self._record(
                        NotificationsRepository.mark_sent,
                        notification_id=notification.id,
                        worker=self.worker_id,
                        recipient=recipient,
                    )

        try:
            await asyncio.gather(*(lane() for _ in range(min(lanes, len(claimed)))))
        finally:
            if waiting:
                # Never attempted: back in the queue now, for this worker or another.
                leftover = [n.id for n in waiting]
                await asyncio.shield(self._release(leftover))

    async def _release(self, notification_ids: list[int]) -> None:
        async with acquire(self.pool) as conn:
            await NotificationsRepository(conn).release(notification_ids=notification_ids, worker=self.worker_id)

    async def _record_failure(self, notification: Notification, exc: DeliveryError, recipient: str | None) -> None:
        common = {"notification_id": notification.id, "worker": self.worker_id, "recipient": recipient}
        if exc.permanent or notification.retry_count >= self.settings.max_retries:
            logger.warning(
                "notification failed",
                extra={"notification_id": notification.id, "channel": notification.channel, "error": exc.message},
            )
            await self._record(NotificationsRepository.mark_failed, error=exc.message, **common)
            return
        delay = retry_delay(self.settings, notification.retry_count + 1)
        await self._record(NotificationsRepository.schedule_retry, error=exc.message, delay_seconds=delay, **common)

    async def _record(self, method: Callable[..., Awaitable[bool]], **arguments: object) -> None:
        async with acquire(self.pool) as conn:
            if not await method(NotificationsRepository(conn), **arguments):
                # Our claim had lapsed and another worker owns the row now: its outcome stands.
                logger.warning("outcome not recorded: claim lapsed", extra={"arguments": repr(arguments)})

    async def close(self) -> None:
        await self.email.close_idle(older_than=0)
