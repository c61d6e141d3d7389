"""The registry client's last good view: a registry that restarted (empty, in memory) is not
believed for DISCOVERY_STALE_SECONDS; one that reports the instances failing is believed at once.
Against the real registry app (S3) over ASGI; a restart is a fresh app with an empty store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from helpdesk_common.registry_client import RegistryClient, ServiceUnavailable
from helpdesk_common.settings import ServiceSettings
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN
from s3_registry.main import build_app
from s3_registry.settings import Settings as RegistrySettings

HEADERS = {"X-Service-Token": TEST_SERVICE_TOKEN}
TICKETS = {"name": "s2-tickets", "host": "10.0.0.2", "port": 3002, "healthEndpoint": "/health"}


class RestartableRegistry(httpx.AsyncBaseTransport):
    """The registry app behind a transport whose `restart()` swaps in a new, empty one."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        settings = RegistrySettings(environment="test", jwt_secret=TEST_JWT_SECRET, service_token=TEST_SERVICE_TOKEN)
        self.app: FastAPI = build_app(settings)
        self._transport = httpx.ASGITransport(app=self.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


@pytest.fixture
async def registry() -> AsyncIterator[tuple[RestartableRegistry, httpx.AsyncClient]]:
    transport = RestartableRegistry()
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        yield transport, http


def _client(http: httpx.AsyncClient, stale_seconds: float) -> RegistryClient:
    settings = ServiceSettings(
        environment="test",
        jwt_secret=TEST_JWT_SECRET,
        service_token=TEST_SERVICE_TOKEN,
        registry_url="http://registry",
        discovery_cache_seconds=0,  # ask the registry on every call: the worst case
        discovery_stale_seconds=stale_seconds,
    )
    return RegistryClient(settings, http)


async def _refresh(client: RegistryClient, name: str) -> None:
    await client._refresh(name)  # what a resolve() past the cache's age starts in the background


async def test_a_restarted_registry_is_not_believed_for_a_bounded_time(
    registry: tuple[RestartableRegistry, httpx.AsyncClient],
) -> None:
    transport, http = registry
    assert (await http.post("/register", json=TICKETS, headers=HEADERS)).status_code == 201
    client = _client(http, stale_seconds=60)
    assert await client.resolve("s2-tickets") == "http://10.0.0.2:3002"

    transport.restart()  # empty now
    assert (await http.get("/services/s2-tickets", headers=HEADERS)).status_code == 404
    await _refresh(client, "s2-tickets")
    assert await client.resolve("s2-tickets") == "http://10.0.0.2:3002", "the last good view serves"

    # Re-registered (its next heartbeat) at another address: the fresh answer wins.
    await http.post("/register", json={**TICKETS, "host": "10.0.0.9"}, headers=HEADERS)
    await _refresh(client, "s2-tickets")
    assert await client.resolve("s2-tickets") == "http://10.0.0.9:3002"


async def test_past_the_bound_a_forgotten_service_is_dropped(
    registry: tuple[RestartableRegistry, httpx.AsyncClient],
) -> None:
    transport, http = registry
    await http.post("/register", json=TICKETS, headers=HEADERS)
    client = _client(http, stale_seconds=0)
    assert await client.resolve("s2-tickets") == "http://10.0.0.2:3002"
    transport.restart()
    await _refresh(client, "s2-tickets")
    with pytest.raises(ServiceUnavailable):
        await client.resolve("s2-tickets")


async def test_instances_the_registry_reports_failing_are_dropped_at_once(
    registry: tuple[RestartableRegistry, httpx.AsyncClient],
) -> None:
    transport, http = registry
    await http.post("/register", json=TICKETS, headers=HEADERS)
    client = _client(http, stale_seconds=60)
    assert await client.resolve("s2-tickets") == "http://10.0.0.2:3002"
    for instance in transport.app.state.store.all():
        instance.status = "unhealthy"  # what a failed health check records
    await _refresh(client, "s2-tickets")
    with pytest.raises(ServiceUnavailable):
        await client.resolve("s2-tickets")
