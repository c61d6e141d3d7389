"""Route table, prefix stripping, query strings, and what the gateway answers itself."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from .conftest import ROUTES, Gateway, Upstream, echo

QUERY = "a=1&b=x%20y&c=%2F&c=2&empty="

CASES = [
    # (method, path through the gateway, service, path upstream)
    ("POST", "/auth/login", "s1-auth", "/login"),
    ("PATCH", "/auth/users/7/role", "s1-auth", "/users/7/role"),
    ("GET", "/tickets", "s2-tickets", "/"),
    ("POST", "/tickets/", "s2-tickets", "/"),
    ("GET", "/tickets/7", "s2-tickets", "/7"),
    ("PATCH", "/workflow/status/3", "s4-workflow", "/status/3"),
    ("GET", "/workflow/queue", "s4-workflow", "/queue"),
    ("GET", "/media/ticket/9", "s5-media", "/ticket/9"),
    ("DELETE", "/media/12", "s5-media", "/12"),
    ("GET", "/notifications/history/4", "s6-notifications", "/history/4"),
    ("GET", "/analytics/tickets/stats", "s7-analytics", "/tickets/stats"),
    ("GET", "/feedback", "s8-feedback", "/"),
    ("POST", "/feedback/", "s8-feedback", "/"),
    ("GET", "/feedback/ticket/3", "s8-feedback", "/ticket/3"),
]


def test_every_prefix_of_the_contract_is_covered() -> None:
    assert {service for _, _, service, _ in CASES} == set(ROUTES.values())


@pytest.mark.parametrize(("method", "path", "service", "upstream_path"), CASES)
def test_prefix_is_stripped_and_the_query_kept(
    client: httpx.Client, upstream: Upstream, method: str, path: str, service: str, upstream_path: str
) -> None:
    body = b'{"x": 1}' if method in ("POST", "PATCH") else None
    seen = echo(client.request(method, f"{path}?{QUERY}", content=body))
    assert seen["port"] == upstream.ports[service], f"{path} reached the wrong service"
    assert seen["method"] == method
    assert seen["path"] == upstream_path
    # The same parameters, repeats and blanks in the same order. aiohttp (under httpx) may
    # re-quote characters that need no escape in a query (`%2F` -> `/`): the same value.
    assert parse_qsl(seen["query"], keep_blank_values=True) == parse_qsl(QUERY, keep_blank_values=True)
    assert "x%20y" in seen["query"]
    assert seen["body_size"] == (len(body) if body else 0)


def test_a_path_without_query_reaches_upstream_without_one(client: httpx.Client) -> None:
    seen = echo(client.get("/tickets/7"))
    assert seen["path"] == "/7"
    assert seen["query"] == ""


def test_percent_escapes_in_the_path_are_forwarded_raw(client: httpx.Client) -> None:
    seen = echo(client.get("/media/a%2Fb/caf%C3%A9"))
    assert seen["path"] == "/a%2Fb/caf%C3%A9"


@pytest.mark.parametrize("path", ["/ticketsx", "/ticketsx/1", "/authx/login", "/unknown/path", "/", "/tickets-1"])
def test_unknown_paths_are_404_json(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["error"], str)
    assert response.headers["x-request-id"]


def test_health_is_ok_without_io(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "gateway"}


def test_ready_when_the_registry_answers(client: httpx.Client) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"routing": "ok"}}


def test_openapi_and_docs_are_served(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert "/registry/services" in schema["paths"]
    assert "/health" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_responses_come_back_with_status_and_headers(client: httpx.Client, gateway: Gateway) -> None:
    response = client.get("/tickets/__download", params={"size": 10})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == "10"
    assert response.content == bytes(range(10))


def test_head_gets_the_headers_without_a_body(client: httpx.Client) -> None:
    response = client.head("/tickets/__download", params={"size": 1000})
    assert response.status_code == 200
    assert response.headers["content-length"] == "1000"
    assert response.content == b""
