"""Credentialed CORS for the web client's refresh cookie: allowed for configured origins only."""

from __future__ import annotations

import httpx

from gateway.cors import CorsPolicy
from gateway.settings import Settings

from .conftest import echo, header_values

ALLOWED = "http://localhost:5173"
DENIED = "http://evil.example"


def test_a_preflight_from_a_configured_origin_allows_credentials_and_if_match(client: httpx.Client) -> None:
    response = client.options(
        "/auth/refresh",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, if-match",
        },
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "if-match"} <= allowed


def test_a_proxied_answer_to_a_configured_origin_allows_credentials_and_exposes_etag(client: httpx.Client) -> None:
    response = client.get("/tickets/1", headers={"Origin": ALLOWED})

    echo(response)
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "etag", "retry-after", "content-disposition"} <= exposed


def test_another_origin_gets_no_credentials(client: httpx.Client) -> None:
    response = client.get("/tickets/1", headers={"Origin": DENIED})

    echo(response)
    assert "access-control-allow-credentials" not in response.headers


def test_the_browsers_cookie_reaches_the_service(client: httpx.Client) -> None:
    seen = echo(client.post("/auth/refresh", json={}, headers={"Origin": ALLOWED, "Cookie": "helpdesk_refresh=abc"}))

    assert header_values(seen, "cookie") == ["helpdesk_refresh=abc"]


def test_an_origin_let_in_by_a_wildcard_never_gets_credentials() -> None:
    """With `*` any site could make credentialed calls: it may read, never with cookies."""
    policy = CorsPolicy(Settings(cors_origins=["*", "http://app.example"]))

    assert policy.allows(b"http://anyone.example")
    assert (b"access-control-allow-credentials", b"true") not in policy.response_headers(b"http://anyone.example")
    assert (b"access-control-allow-credentials", b"true") in policy.response_headers(b"http://app.example")
