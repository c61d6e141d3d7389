"""Which address the throttles count a request by: X-Forwarded-For is believed only from the
trusted proxies (TRUSTED_PROXIES), hop by hop from the right."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.requests import Request

from s1_auth.service import TrustedProxies, client_address, is_trusted
from s1_auth.settings import Settings

from .conftest import random_ip, unique_email


def request_from(peer: str | None, *forwarded_for: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/login",
            "headers": headers,
            "client": (peer, 51000) if peer is not None else None,
        }
    )


GATEWAY = TrustedProxies(["192.0.2.1"])


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ((), "192.0.2.1"),
        (("203.0.113.7",), "203.0.113.7"),
        (("198.51.100.1, 203.0.113.7",), "203.0.113.7"),
        (("198.51.100.1,203.0.113.7 ",), "203.0.113.7"),
        # Several headers: the last one is the gateway's.
        (("198.51.100.1", "10.0.0.1, 203.0.113.7"), "203.0.113.7"),
        (("2001:db8::1",), "2001:db8::1"),
        (("2001:DB8:0::1",), "2001:db8::1"),
        # Not an address: the last trusted hop (the peer) is used.
        (("203.0.113.7, not-an-ip",), "192.0.2.1"),
        (("",), "192.0.2.1"),
    ],
)
def test_behind_a_trusted_gateway_the_entry_it_appended_is_the_client(
    forwarded_for: tuple[str, ...], expected: str
) -> None:
    assert client_address(request_from("192.0.2.1", *forwarded_for), trusted=GATEWAY) == expected


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    """A client reaching S1 directly cannot choose the address it is throttled by."""
    request = request_from("198.51.100.9", "203.0.113.7")

    assert client_address(request, trusted=GATEWAY) == "198.51.100.9"


def test_the_walk_goes_left_through_every_trusted_hop_and_stops_at_the_first_other() -> None:
    # client -> load balancer (10.1.2.3) -> gateway (192.0.2.1) -> S1
    trusted = TrustedProxies(["192.0.2.1", "10.0.0.0/8"])
    request = request_from("192.0.2.1", "6.6.6.6, 203.0.113.7, 10.1.2.3")

    assert client_address(request, trusted=trusted) == "203.0.113.7"


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    trusted = TrustedProxies(["127.0.0.0/8", "10.0.0.0/8"])

    assert client_address(request_from("127.0.0.1", "10.0.0.7, 127.0.0.1"), trusted=trusted) == "10.0.0.7"


def test_an_ipv4_client_seen_through_an_ipv6_socket_is_the_ipv4_address() -> None:
    trusted = TrustedProxies(["127.0.0.0/8"])

    assert client_address(request_from("::ffff:127.0.0.1", "203.0.113.7"), trusted=trusted) == "203.0.113.7"
    assert client_address(request_from("::ffff:203.0.113.9"), trusted=trusted) == "203.0.113.9"


def test_nothing_trusted_means_the_peer_always() -> None:
    assert client_address(request_from("127.0.0.1", "203.0.113.7"), trusted=TrustedProxies([])) == "127.0.0.1"


def test_no_peer_and_no_header() -> None:
    assert client_address(request_from(None), trusted=GATEWAY) == "unknown"


async def test_host_names_are_resolved_to_the_addresses_they_have_now() -> None:
    trusted = TrustedProxies(["localhost", "no-such-host.invalid"])
    await trusted.resolve()

    assert client_address(request_from("127.0.0.1", "203.0.113.7"), trusted=trusted) == "203.0.113.7"
    assert is_trusted("127.0.0.1", trusted)
    assert not is_trusted("203.0.113.7", trusted)
    assert trusted.unresolved  # the .invalid name, asked again later


def test_the_default_trusts_loopback_only() -> None:
    trusted = TrustedProxies(Settings().trusted_proxies)

    assert is_trusted("127.0.0.1", trusted) and is_trusted("::1", trusted)
    assert not is_trusted("10.0.0.1", trusted) and not is_trusted("172.17.0.1", trusted)


# --- through the app: the address a failed login is recorded under ------------------------


@pytest.fixture
async def from_outside(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app whose connection comes from an address that is no proxy."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_a_client_outside_cannot_forge_its_address(
    from_outside: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = unique_email("nobody")

    await from_outside.post(
        "/login", json={"email": email, "password": "wrong-password"}, headers={"X-Forwarded-For": random_ip()}
    )

    assert await db.fetchval("SELECT client_ip FROM s1_auth_login_failures WHERE email = $1", email) == "198.51.100.9"
