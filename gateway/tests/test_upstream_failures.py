"""Upstreams that are missing, down or slow, and a registry that dies: fast `{"error"}` answers."""

from __future__ import annotations

import time

import httpx
import pytest

from .conftest import READ_TIMEOUT, REQUEST_DEADLINE, SERVICE_AUTH, Fleet, Gateway, Upstream, bearer, echo


def timed(call: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call.get(path)
    return response, time.monotonic() - started


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str)
    assert response.headers["x-request-id"]


def test_a_slow_upstream_is_504_within_the_read_timeout(client: httpx.Client) -> None:
    response, took = timed(client, "/tickets/__slow?seconds=10")
    assert_error(response, 504)
    assert READ_TIMEOUT <= took < READ_TIMEOUT + 1.5


def test_a_dripping_upstream_is_cut_at_the_request_deadline(client: httpx.Client) -> None:
    """Each byte comes well within the read timeout, so only the overall deadline can end it:
    the response's status line is out, so the client sees a cut connection, not a fake end."""
    count = int(REQUEST_DEADLINE / (READ_TIMEOUT / 4)) * 2  # twice as long as the deadline
    started = time.monotonic()
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("GET", "/tickets/__trickle", params={"count": count, "every": READ_TIMEOUT / 4}) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                received += chunk
    assert len(received) < count
    assert time.monotonic() - started < REQUEST_DEADLINE + 1.5


def test_no_known_instance_is_503_fast(fleet: Fleet) -> None:
    # The forgetful gateway's registry knows no s7-analytics, and there is no fallback for it.
    with fleet.forgetful.client() as client:
        response, took = timed(client, "/analytics/metrics")
    assert_error(response, 503)
    assert took < 1.0


def test_a_dead_instance_is_502_fast_and_forgotten(fleet: Fleet) -> None:
    gateway, upstream = fleet.forgetful, fleet.upstream
    registry = gateway.registry.url
    with gateway.client() as client:
        # The registry lists only a port where nothing listens.
        response, took = timed(client, "/notifications/history/1")
        assert_error(response, 502)
        assert took < 1.0
        # Replace it in the registry by a live instance. The gateway caches discoveries for
        # 600 s; it answers 200 at once only because the 502 made it forget the dead one.
        live = {"name": "s6-notifications", "host": "127.0.0.1", "port": upstream.ports["s6-notifications"]}
        assert httpx.post(f"{registry}/register", json=live, headers=SERVICE_AUTH).status_code == 201
        removed = httpx.delete(
            f"{registry}/deregister/s6-notifications",
            params={"instance": f"127.0.0.1:{fleet.dead_port}"},
            headers=SERVICE_AUTH,
        )
        assert removed.status_code == 200
        seen = echo(client.get("/notifications/history/1"))
        assert seen["port"] == upstream.ports["s6-notifications"]
        assert seen["path"] == "/history/1"


@pytest.fixture(scope="module")
def orphaned(fleet: Fleet) -> Gateway:
    """The orphaned gateway after it has discovered s2-tickets once and its registry died."""
    gateway = fleet.orphaned
    with gateway.client() as client:
        assert echo(client.get("/tickets/1"))["port"] == fleet.upstream.ports["s2-tickets"]
        gateway.registry.kill()
    return gateway


def test_with_the_registry_down_it_keeps_routing_with_what_it_knew(orphaned: Gateway, upstream: Upstream) -> None:
    # The discovery cache lives 0.1 s: every request for a second after it expired tries to
    # refresh from the dead registry, and still routes with the last known instance.
    with orphaned.client() as client:
        deadline = time.monotonic() + 1.0
        count = 0
        while time.monotonic() < deadline:
            response = client.get("/tickets/7", params={"n": count})
            assert echo(response)["port"] == upstream.ports["s2-tickets"]
            count += 1
    assert count > 5


def test_with_the_registry_down_configured_fallbacks_route(orphaned: Gateway, upstream: Upstream) -> None:
    with orphaned.client() as client:
        seen = echo(client.get("/feedback/stats"))
    assert seen["port"] == upstream.ports["s8-feedback"]
    assert seen["path"] == "/stats"


def test_with_the_registry_down_an_unknown_service_is_503_fast(orphaned: Gateway) -> None:
    with orphaned.client() as client:
        response, took = timed(client, "/workflow/queue")
    assert_error(response, 503)
    assert took < 1.0


def test_with_the_registry_down_ready_holds_thanks_to_fallbacks(orphaned: Gateway) -> None:
    with orphaned.client() as client:
        response = client.get("/ready")
    assert response.status_code == 200


def test_with_the_registry_down_the_service_list_is_503(orphaned: Gateway) -> None:
    with orphaned.client() as client:
        response = client.get("/registry/services", headers=bearer("admin"))
    assert_error(response, 503)
