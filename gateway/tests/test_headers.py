"""Headers: hop-by-hop dropped both ways, X-Forwarded-*, Host, X-Request-ID, X-Service-Token,
and one access-log line per request."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from helpdesk_fleet.fleet import poll_until

from .conftest import Gateway, Upstream, echo, header_values, parse_raw_response, raw_request

HOP_BY_HOP_REQUEST = {
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "x-named-by-connection",
}


def test_hop_by_hop_request_headers_are_dropped(gateway: Gateway, upstream: Upstream) -> None:
    head = "\n".join(
        [
            "POST /tickets/1 HTTP/1.1",
            "Host: test",
            "Connection: keep-alive, X-Named-By-Connection",
            "X-Named-By-Connection: secret",
            "Keep-Alive: timeout=5",
            "TE: trailers",
            "Trailer: X-Checksum",
            "Upgrade: h2c",
            "Proxy-Authorization: Basic Zm9vOmJhcg==",
            "Proxy-Connection: keep-alive",
            "X-End-To-End: kept",
            "Content-Length: 5",
        ]
    )
    data = raw_request(gateway.port, head, iter([b"hello"]))
    status, _, body = parse_raw_response(data)
    assert status == 200, body
    seen = httpx.Response(200, content=body).json()
    names = {name for name, _ in seen["headers"]}
    assert not names & HOP_BY_HOP_REQUEST, names & HOP_BY_HOP_REQUEST
    assert header_values(seen, "x-end-to-end") == ["kept"]
    assert seen["body_size"] == 5
    assert header_values(seen, "content-length") == ["5"]  # sent as it came, not re-chunked


def test_hop_by_hop_response_headers_are_dropped(client: httpx.Client) -> None:
    response = client.get("/tickets/__hop")
    assert response.status_code == 200
    assert response.text == "hop"
    for name in ("x-hop-named", "keep-alive", "proxy-authenticate", "trailer"):
        assert name not in response.headers, name
    assert response.headers["x-end-to-end"] == "kept"


def test_host_is_rewritten_and_forwarded_headers_added(
    client: httpx.Client, gateway: Gateway, upstream: Upstream
) -> None:
    seen = echo(client.get("/tickets/1"))
    assert header_values(seen, "host") == [f"127.0.0.1:{upstream.ports['s2-tickets']}"]
    assert header_values(seen, "x-forwarded-for") == ["127.0.0.1"]
    assert header_values(seen, "x-forwarded-proto") == ["http"]
    assert header_values(seen, "x-forwarded-host") == [f"127.0.0.1:{gateway.port}"]


def test_forwarded_for_is_appended_and_the_others_replaced(client: httpx.Client, gateway: Gateway) -> None:
    seen = echo(
        client.get(
            "/tickets/1",
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil"},
        )
    )
    # The rightmost entry is the one the gateway saw (S1 counts login attempts by it).
    assert header_values(seen, "x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]
    assert header_values(seen, "x-forwarded-proto") == ["http"]
    assert header_values(seen, "x-forwarded-host") == [f"127.0.0.1:{gateway.port}"]


def test_client_headers_pass_through_untouched(client: httpx.Client) -> None:
    seen = echo(
        client.get(
            "/tickets/1",
            headers={"Authorization": "Bearer abc", "Accept": "application/json", "Cookie": "a=1", "User-Agent": "t/1"},
        )
    )
    assert header_values(seen, "authorization") == ["Bearer abc"]
    assert header_values(seen, "accept") == ["application/json"]
    assert header_values(seen, "cookie") == ["a=1"]
    assert header_values(seen, "user-agent") == ["t/1"]


def test_no_headers_are_invented_for_the_client(gateway: Gateway) -> None:
    """A body without Content-Type stays without one (S2 reads such a body as JSON), and no
    Accept-Encoding is asked for on the client's behalf."""
    data = raw_request(gateway.port, "POST /tickets HTTP/1.1\nHost: test\nContent-Length: 2", iter([b"{}"]))
    status, _, body = parse_raw_response(data)
    assert status == 200
    names = {name for name, _ in httpx.Response(200, content=body).json()["headers"]}
    assert "content-type" not in names
    assert "accept-encoding" not in names
    assert "user-agent" not in names


def test_a_client_service_token_is_stripped(client: httpx.Client) -> None:
    seen = echo(client.get("/tickets/1", headers={"X-Service-Token": "stolen-credential"}))
    assert header_values(seen, "x-service-token") == []


def test_a_callers_request_id_is_forwarded_and_echoed(client: httpx.Client) -> None:
    response = client.get("/tickets/1", headers={"X-Request-ID": "caller-id-123"})
    seen = echo(response)
    assert header_values(seen, "x-request-id") == ["caller-id-123"]
    assert response.headers.get_list("x-request-id") == ["caller-id-123"]


@pytest.mark.parametrize("sent", [None, "has spaces in it", "x" * 200])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_minted_one(client: httpx.Client, sent: str | None) -> None:
    response = client.get("/tickets/1", headers={"X-Request-ID": sent} if sent else {})
    minted = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", minted)
    assert header_values(echo(response), "x-request-id") == [minted]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("GET", "/health", 200), ("GET", "/registry/services", 401), ("GET", "/analytics", 200)],
)
def test_every_answer_carries_the_request_id(client: httpx.Client, method: str, path: str, status: int) -> None:
    response = client.request(method, path, headers={"X-Request-ID": "rid-every-answer"})
    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == ["rid-every-answer"]


def test_one_access_line_per_request(client: httpx.Client, gateway: Gateway) -> None:
    proxied, own = f"proxied-{uuid.uuid4().hex}", f"own-{uuid.uuid4().hex}"
    client.get("/tickets/1?x=1", headers={"X-Request-ID": proxied})
    client.get("/health", headers={"X-Request-ID": own})
    # Access lines are written in batches (every 0.25 s): poll for them.
    line = poll_until(lambda: gateway.access_lines(proxied), what="the proxied request's access line")
    assert len(line) == 1
    assert line[0] | {"duration_ms": 0, "ts": ""} == {
        "level": "INFO",
        "logger": "helpdesk.access",
        "message": "request",
        "service": "gateway",
        "request_id": proxied,
        "method": "GET",
        "path": "/tickets/1",
        "status": 200,
        "duration_ms": 0,
        "upstream": "s2-tickets",
        "ts": "",
    }
    assert isinstance(line[0]["duration_ms"], float | int)
    assert line[0]["ts"].endswith("+00:00")
    own_line = poll_until(lambda: gateway.access_lines(own), what="the health request's access line")
    assert len(own_line) == 1
    assert own_line[0]["path"] == "/health"
    assert own_line[0]["status"] == 200
    # Nothing else in the log names these requests (no httpx or granian lines per request).
    text = gateway.log_path.read_text()
    assert text.count(proxied) == 1
    assert text.count(own) == 1


SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "frame-ancestors 'none'",
}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tickets/anything", 200),  # proxied
        ("/health", 200),  # the gateway's own
        ("/registry/services", 401),  # the gateway's own error
        ("/nowhere", 404),  # no route
        ("/tickets/__slow?seconds=10", 504),  # the proxy's own error
    ],
)
def test_every_answer_carries_the_security_headers(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    for name, value in SECURITY.items():
        assert response.headers.get_list(name) == [value], name


def test_a_preflight_carries_the_security_headers(client: httpx.Client) -> None:
    response = client.options(
        "/tickets", headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204
    assert response.headers["x-content-type-options"] == "nosniff"
