"""The figures cache: a short TTL, one computation at a time per key, the last good figures kept.

- A read of a fresh entry returns it (no I/O): the cached dashboard is a dictionary lookup.
- A read that finds no fresh entry starts the computation, or joins the one already running
  for that key (single flight): however many requests arrive together, one query set runs.
- `refresh()` (S8's signal, `POST /refresh`) makes every entry stale at once and computes the
  default key again. A computation that started *before* the refresh is not joined by reads
  that arrive after it: what they get reflects every change made before the signal.
- A computation that fails leaves the last good entry in place, served as it is (the figures
  carry their own `cached_at`), and is not tried again for `retry_seconds` (a database outage meets one query
  set per key per interval, not one per request). With no good entry, the error goes to the
  caller.
- Entries are kept for at most `max_entries` keys (least recently read dropped first): each
  `?from=&to=` period is a key.

No library does all of this: async-lru's `alru_cache(ttl=...)` shares concurrent calls but
neither keeps the last good value on failure nor separates computations started before an
invalidation from those started after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

logger = logging.getLogger("s7.cache")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class Entry(Generic[V]):
    value: V
    expires: float  # monotonic
    generation: int  # the cache's generation when the computation started
    retry_at: float = 0.0  # monotonic; set when a later computation of this key failed
    # Renderings of the value (one JSON body per endpoint), made once per entry.
    rendered: dict[str, bytes] = field(default_factory=dict)


@dataclass
class CacheStats:
    hits: int = 0
    computations: int = 0  # query sets started
    joined: int = 0  # reads that waited on a computation another read had started
    failures: int = 0
    stale_served: int = 0  # reads answered with the last good entry after a failure


@dataclass
class _Flight(Generic[V]):
    generation: int
    task: asyncio.Task[Entry[V]]


class SingleFlightCache(Generic[K, V]):
    def __init__(
        self,
        *,
        ttl_seconds: float,
        max_entries: int,
        retry_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.generation = 0
        self.stats = CacheStats()
        self._entries: OrderedDict[K, Entry[V]] = OrderedDict()
        self._flights: dict[K, _Flight[V]] = {}

    def snapshot(self) -> dict[str, Any]:
        """Counters for /health."""
        return {"entries": len(self._entries), "generation": self.generation, **vars(self.stats)}

    async def get(self, key: K, compute: Callable[[], Awaitable[V]]) -> Entry[V]:
        """The entry for `key`: cached if fresh, else computed (or joined); the last good one if that fails."""
        entry = self._entries.get(key)
        if entry is not None:
            now = self.clock()
            if entry.generation == self.generation and now < entry.expires:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return entry
            if now < entry.retry_at:
                self.stats.stale_served += 1
                return entry
        try:
            return await self._join_or_start(key, compute)
        except Exception:
            if entry is None:
                raise
            self.stats.stale_served += 1
            return entry

    async def refresh(self, key: K, compute: Callable[[], Awaitable[V]]) -> Entry[V]:
        """Make every entry stale, then compute `key` now; raises when that computation fails
        (the last good entries stay and are served to reads meanwhile)."""
        self.generation += 1
        return await self._join_or_start(key, compute)

    async def _join_or_start(self, key: K, compute: Callable[[], Awaitable[V]]) -> Entry[V]:
        flight = self._flights.get(key)
        if flight is not None and flight.generation == self.generation:
            self.stats.joined += 1
        else:
            generation = self.generation
            task = asyncio.create_task(self._compute(key, compute, generation), name=f"figures:{key!r}")
            task.add_done_callback(_retrieve_exception)
            flight = self._flights[key] = _Flight(generation, task)
        # shield: a reader that goes away (client disconnected) does not cancel the computation
        # the other readers wait on.
        return await asyncio.shield(flight.task)

    async def _compute(self, key: K, compute: Callable[[], Awaitable[V]], generation: int) -> Entry[V]:
        self.stats.computations += 1
        try:
            value = await compute()
        except Exception:
            self.stats.failures += 1
            logger.exception("computing figures failed; the last good ones stay", extra={"key": repr(key)})
            stale = self._entries.get(key)
            if stale is not None:
                stale.retry_at = self.clock() + self.retry_seconds
            raise
        finally:
            flight = self._flights.get(key)
            if flight is not None and flight.generation == generation:
                del self._flights[key]
        entry = Entry(value=value, expires=self.clock() + self.ttl_seconds, generation=generation)
        stored = self._entries.get(key)
        # A computation started before a refresh may finish after the refresh's own: keep the newer.
        if stored is None or stored.generation <= generation:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    # Every reader may have gone away before a computation failed; its error is logged in
    # _compute, so asyncio need not warn that nobody retrieved it.
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()
