"""Failures of the real processes: the registry restarting, an upstream dying.

Each test puts the fleet back as it found it (and waits until it routes again), because the
other system tests share it.
"""

from __future__ import annotations

import time

import httpx
import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until

pytestmark = pytest.mark.xdist_group("fleet")


def _routes(fleet: Fleet, token: str, path: str) -> bool | None:
    try:
        response = fleet.client(token).get(path)
    except httpx.HTTPError:
        return None
    return True if response.status_code == 200 else None


def test_a_restarted_registry_refills_by_itself_and_the_gateway_keeps_routing(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    token = accounts["user"].token
    assert _routes(fleet, token, "/tickets")
    fleet.registry.stop()

    # The registry is gone: the gateway routes on what it last knew.
    for path in ("/tickets", "/auth/me", "/tickets", "/auth/me"):
        assert fleet.client(token).get(path).status_code == 200

    fleet.registry.start()
    fleet.registry.wait_ready(timeout=30)
    names = poll_until(
        lambda: fleet.registered_names() if {"s1-auth", "s2-tickets"} <= fleet.registered_names() else None,
        timeout=20,
        what="services to re-register with the restarted registry",
    )
    assert {"s1-auth", "s2-tickets"} <= names
    listing = fleet.client(fleet.admin_token).get("/registry/services")
    assert listing.status_code == 200
    assert {"s1-auth", "s2-tickets"} <= {s["name"] for s in listing.json()["services"]}


def test_an_upstream_that_is_down_gets_a_fast_502_or_503_and_recovers(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    token = accounts["user"].token
    tickets = fleet.processes["s2-tickets"]
    assert _routes(fleet, token, "/tickets")
    tickets.kill()  # a crash: no deregistration
    try:
        for _ in range(3):
            started = time.monotonic()
            response = fleet.client(token).get("/tickets")
            elapsed = time.monotonic() - started
            assert response.status_code in (502, 503), response.text
            assert response.json()["error"]
            assert response.headers["x-request-id"]
            assert elapsed < 3.0, f"took {elapsed:.2f}s"
        # Other upstreams are unaffected.
        assert fleet.client(token).get("/auth/me").status_code == 200
    finally:
        tickets.start()
        tickets.wait_ready(timeout=30)
    poll_until(lambda: _routes(fleet, token, "/tickets"), timeout=20, what="the gateway to route to S2 again")
