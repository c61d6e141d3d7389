"""The refresh signal to S7 against a real HTTP peer: one call per burst of changes, never a
pile of calls or tasks, and nothing but a log line when the peer is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from helpdesk_common.http import create_http_client
from helpdesk_common.registry_client import RegistryClient
from helpdesk_common.service_client import ServiceClient
from helpdesk_common.settings import ServiceSettings
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN, base_settings
from s8_feedback.flows import AnalyticsSignal


class FakeAnalytics:
    """A real HTTP server on a free port, standing where S7 would; each call takes `delay`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls = 0
        self.tokens: list[str | None] = []
        self.release = asyncio.Event()
        self.release.set()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.tokens.append(request.headers.get("X-Service-Token"))
        await self.release.wait()
        return web.json_response({"message": "Figures refreshed.", "cached_at": "2026-11-24T10:00:00.000000+00:00"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/refresh", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def until(probe: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def peer() -> AsyncIterator[FakeAnalytics]:
    server = FakeAnalytics()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def running(peer: FakeAnalytics) -> AsyncIterator[tuple[AnalyticsSignal, FakeAnalytics]]:
    settings = ServiceSettings(
        **base_settings(None, service_urls={"s7-analytics": f"http://127.0.0.1:{peer.port}"}, service_call_backoff=0.01)
    )
    http = create_http_client(settings)
    app = SimpleNamespace(state=SimpleNamespace(services=ServiceClient(settings, http, RegistryClient(settings, http))))
    signal = AnalyticsSignal(timeout_seconds=5, retries=1)
    task = asyncio.create_task(signal.run(app))
    yield signal, peer
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await http.aclose()


async def test_a_change_is_one_call_with_the_service_credential(running: tuple[AnalyticsSignal, FakeAnalytics]) -> None:
    signal, peer = running
    await signal.request()
    await until(lambda: signal.sent == 1)
    assert peer.calls == 1 and peer.tokens == [TEST_SERVICE_TOKEN]


async def test_changes_during_a_call_cost_one_more_call_not_one_each(
    running: tuple[AnalyticsSignal, FakeAnalytics],
) -> None:
    signal, peer = running
    peer.release.clear()
    await signal.request()
    await until(lambda: peer.calls == 1)
    for _ in range(50):
        await signal.request()
    peer.release.set()
    await until(lambda: signal.sent == 2)
    assert peer.calls == 2 and not signal.snapshot()["pending"]


async def test_a_peer_that_is_down_is_given_up_and_the_next_change_tries_again(
    running: tuple[AnalyticsSignal, FakeAnalytics],
) -> None:
    signal, peer = running
    await peer.stop()
    await signal.request()
    await until(lambda: signal.failed == 1)
    assert not signal.snapshot()["in_flight"]
    await peer.start()
    await signal.request()
    await until(lambda: signal.sent == 1)
