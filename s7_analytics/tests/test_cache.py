"""The figures cache on its own: single flight, TTL, refresh generations, last good on failure."""

from __future__ import annotations

import asyncio

import pytest

from s7_analytics.cache import SingleFlightCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A computation the test releases when it wants, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def __call__(self) -> int:
        self.calls += 1
        call = self.calls
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database went away")
        return call


async def settle() -> None:
    """Let the tasks just created run up to where they wait."""
    for _ in range(5):
        await asyncio.sleep(0)


def make(clock: Clock, **overrides: float) -> SingleFlightCache[str, int]:
    values = {"ttl_seconds": 60.0, "max_entries": 3, "retry_seconds": 5.0} | overrides
    return SingleFlightCache(
        ttl_seconds=values["ttl_seconds"],
        max_entries=int(values["max_entries"]),
        retry_seconds=values["retry_seconds"],
        clock=clock,
    )


async def test_concurrent_reads_of_a_missing_key_run_one_computation() -> None:
    cache, source = make(Clock()), Source()
    source.gate.clear()
    reads = [asyncio.create_task(cache.get("k", source)) for _ in range(20)]
    await settle()
    source.gate.set()
    entries = await asyncio.gather(*reads)
    assert {e.value for e in entries} == {1}
    assert source.calls == 1
    assert cache.stats.computations == 1 and cache.stats.joined == 19


async def test_a_fresh_entry_is_served_until_its_ttl_then_computed_again() -> None:
    clock, source = Clock(), Source()
    cache = make(clock)
    assert (await cache.get("k", source)).value == 1
    clock.now = 59.9
    assert (await cache.get("k", source)).value == 1
    clock.now = 60.0
    assert (await cache.get("k", source)).value == 2
    assert cache.stats.hits == 1


async def test_a_refresh_makes_every_key_stale_and_is_not_served_a_computation_from_before_it() -> None:
    cache, source = make(Clock()), Source()
    await cache.get("a", source)  # 1
    await cache.get("b", source)  # 2
    source.gate.clear()
    before = asyncio.create_task(cache.get("a", Source()))  # a fresh entry: served at once
    assert (await before).value == 1
    source.gate.set()
    refreshed = await cache.refresh("a", source)
    assert refreshed.value == 3
    assert (await cache.get("a", source)).value == 3  # current
    assert (await cache.get("b", source)).value == 4  # stale after the refresh: computed again


async def test_reads_after_a_refresh_do_not_join_a_computation_started_before_it() -> None:
    clock, source = Clock(), Source()
    cache = make(clock, ttl_seconds=0)
    source.gate.clear()
    old = asyncio.create_task(cache.get("k", source))
    await settle()
    refresh = asyncio.create_task(cache.refresh("k", source))
    await settle()
    assert source.calls == 2  # the refresh started its own
    source.gate.set()
    assert (await old).value == 1 and (await refresh).value == 2


async def test_a_failed_computation_keeps_the_last_good_entry_and_waits_before_trying_again() -> None:
    clock, source = Clock(), Source()
    cache = make(clock, ttl_seconds=10)
    assert (await cache.get("k", source)).value == 1
    clock.now = 11
    source.fail = True
    assert (await cache.get("k", source)).value == 1  # last good
    assert cache.stats.failures == 1 and source.calls == 2
    clock.now = 12
    assert (await cache.get("k", source)).value == 1  # within retry_seconds: not tried
    assert source.calls == 2
    with pytest.raises(RuntimeError):
        await cache.refresh("k", source)  # a refresh reports its failure
    source.fail = False
    clock.now = 17
    assert (await cache.get("k", source)).value == 4


async def test_without_a_good_entry_the_error_reaches_the_reader() -> None:
    source = Source()
    source.fail = True
    with pytest.raises(RuntimeError):
        await make(Clock()).get("k", source)


async def test_a_reader_that_goes_away_does_not_cancel_the_computation_others_wait_on() -> None:
    cache, source = make(Clock()), Source()
    source.gate.clear()
    leaving = asyncio.create_task(cache.get("k", source))
    staying = asyncio.create_task(cache.get("k", source))
    await settle()
    leaving.cancel()
    source.gate.set()
    assert (await staying).value == 1


async def test_the_least_recently_read_keys_are_dropped_beyond_the_limit() -> None:
    cache, source = make(Clock(), max_entries=2), Source()
    await cache.get("a", source)
    await cache.get("b", source)
    await cache.get("a", source)  # a is now the most recent
    await cache.get("c", source)
    assert cache.snapshot()["entries"] == 2
    assert (await cache.get("a", source)).value == 1  # kept
    assert (await cache.get("b", source)).value == 4  # dropped, computed again
