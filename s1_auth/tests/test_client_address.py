"""Which address the login throttle counts a request by."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from s1_auth.service import client_address


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
        # Not an address: the peer is used.
        (("203.0.113.7, not-an-ip",), "192.0.2.1"),
        (("",), "192.0.2.1"),
    ],
)
def test_the_rightmost_forwarded_address_or_the_peer(forwarded_for: tuple[str, ...], expected: str) -> None:
    assert client_address(request_from("192.0.2.1", *forwarded_for), trust_forwarded_for=True) == expected


def test_forwarded_for_is_ignored_when_not_trusted() -> None:
    request = request_from("192.0.2.1", "203.0.113.7")

    assert client_address(request, trust_forwarded_for=False) == "192.0.2.1"


def test_no_peer_and_no_header() -> None:
    assert client_address(request_from(None), trust_forwarded_for=True) == "unknown"
