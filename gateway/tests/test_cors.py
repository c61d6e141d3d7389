"""CORS from configuration (default origin http://localhost:5173), answered by the gateway."""

from __future__ import annotations

import uuid

import httpx
import pytest

from .conftest import Upstream, echo

ALLOWED = "http://localhost:5173"
DENIED = "http://evil.example"


def preflight(client: httpx.Client, path: str, origin: str, request_id: str | None = None) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    if request_id:
        headers["X-Request-ID"] = request_id
    return client.options(path, headers=headers)


@pytest.mark.parametrize("path", ["/tickets/1", "/registry/services", "/nowhere"])
def test_preflight_from_an_allowed_origin_is_answered_by_the_gateway(
    client: httpx.Client, upstream: Upstream, path: str
) -> None:
    request_id = f"preflight-{uuid.uuid4().hex}"
    response = preflight(client, path, ALLOWED, request_id)
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["vary"] == "Origin"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods
    allowed_headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["x-request-id"] == request_id
    assert upstream.requests_with_id(request_id) == []  # never proxied


def test_preflight_from_another_origin_gets_no_cors_headers(client: httpx.Client, upstream: Upstream) -> None:
    request_id = f"preflight-denied-{uuid.uuid4().hex}"
    response = preflight(client, "/tickets/1", DENIED, request_id)
    assert response.status_code == 403
    assert "error" in response.json()
    assert not [name for name in response.headers if name.startswith("access-control-")]
    assert upstream.requests_with_id(request_id) == []


def test_proxied_answers_carry_cors_headers_for_an_allowed_origin(client: httpx.Client) -> None:
    response = client.get("/tickets/1", headers={"Origin": ALLOWED})
    echo(response)
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in response.headers.get_list("vary")
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_proxied_answers_carry_no_cors_headers_for_another_origin(client: httpx.Client) -> None:
    response = client.get("/tickets/1", headers={"Origin": DENIED})
    echo(response)
    assert not [name for name in response.headers if name.startswith("access-control-")]


@pytest.mark.parametrize(("path", "status"), [("/health", 200), ("/nowhere", 404), ("/registry/services", 401)])
def test_the_gateways_own_answers_carry_cors_headers_too(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path, headers={"Origin": ALLOWED})
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == ALLOWED
    denied = client.get(path, headers={"Origin": DENIED})
    assert "access-control-allow-origin" not in denied.headers


def test_an_options_request_that_is_no_preflight_is_proxied(client: httpx.Client) -> None:
    seen = echo(client.options("/tickets/1", headers={"Origin": ALLOWED}))
    assert seen["method"] == "OPTIONS"
    assert seen["path"] == "/1"
