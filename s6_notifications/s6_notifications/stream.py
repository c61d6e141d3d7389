"""GET /stream: each caller's new in-app notifications as Server-Sent Events (sse-starlette).

The stream reads from PostgreSQL, never from memory: each in-app row gets a stream position
when it is marked sent (repository.deliver_in_app, in commit order), and a stream sends the
caller's rows past the position it has reached, as

    id: <position>
    event: notification
    data: {"id": 42, "user_id": 7, ...}

A reconnecting client sends the last id it saw (`Last-Event-ID`, which EventSource sends by
itself, or `?last_event_id=`) and first gets everything it missed; a new stream starts at the
caller's latest position. A NOTIFY `sent:<user_id>` (worker.Delivery.dispatch) wakes that user's
streams in every replica, whichever replica delivered; keep-alive comments go out every
STREAM_PING_SECONDS, well under the gateway's read timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import asyncpg
from sse_starlette import ServerSentEvent

from helpdesk_common.db import acquire
from s6_notifications.repository import Notification, NotificationsRepository
from s6_notifications.schemas import NotificationRead

# Rows sent per query while catching up; a long backlog goes out page by page.
PAGE = 100
# What EventSource waits before reconnecting after a dropped stream (milliseconds).
RECONNECT_MS = 2000


class StreamHub:
    """The open streams of this process, by user: who to wake when a user's rows were sent."""

    def __init__(self) -> None:
        self._waiting: dict[int, set[asyncio.Event]] = defaultdict(set)
        self.closing = asyncio.Event()

    @contextmanager
    def subscription(self, user_id: int) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting[user_id].add(event)
        try:
            yield event
        finally:
            self._waiting[user_id].discard(event)
            if not self._waiting[user_id]:
                del self._waiting[user_id]

    def wake(self, user_id: int) -> None:
        for event in self._waiting.get(user_id, ()):
            event.set()

    def wake_all(self) -> None:
        for events in self._waiting.values():
            for event in events:
                event.set()

    def open_streams(self) -> int:
        return sum(len(events) for events in self._waiting.values())

    def close(self) -> None:
        """At shutdown: every stream ends (clients reconnect to another replica, or this one)."""
        self.closing.set()
        self.wake_all()


def notification_event(notification: Notification) -> ServerSentEvent:
    body = NotificationRead.model_validate(notification, from_attributes=True)
    return ServerSentEvent(
        data=json.dumps(body.model_dump(mode="json", exclude={"last_error"}), separators=(",", ":")),
        event="notification",
        id=str(notification.stream_seq),
    )


async def events(
    *, pool: asyncpg.Pool, hub: StreamHub, user_id: int, position: int | None
) -> AsyncIterator[ServerSentEvent]:
    with hub.subscription(user_id) as woken:
        # Subscribed before reading the position: nothing marked sent in between is missed.
        if position is None:
            async with acquire(pool) as conn:
                position = await NotificationsRepository(conn).stream_position(user_id=user_id)
        yield ServerSentEvent(comment="stream open", retry=RECONNECT_MS)
        while not hub.closing.is_set():
            woken.clear()
            async with acquire(pool) as conn:
                rows = await NotificationsRepository(conn).stream_after(user_id=user_id, position=position, limit=PAGE)
            for notification in rows:
                assert notification.stream_seq is not None
                position = notification.stream_seq
                yield notification_event(notification)
            if len(rows) < PAGE:
                await woken.wait()
