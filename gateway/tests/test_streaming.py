"""Bodies stream both ways (never held whole), and the size limits."""

from __future__ import annotations

import hashlib
import json
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from helpdesk_fleet.fleet import poll_until

from .conftest import READ_TIMEOUT, Gateway, Upstream, echo, parse_raw_response, raw_request
from .upstream import pattern_bytes

MIB = 1024 * 1024
KIB = 1024
DEFAULT_LIMIT = 1 * MIB
UPLOAD_LIMIT = 10 * MIB + 64 * KIB


def chunks_of(data: bytes, size: int = 64 * KIB) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_5_mib_download_with_content_length(client: httpx.Client) -> None:
    size = 5 * MIB
    response = client.get("/media/__download", params={"size": size})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(size)
    assert response.content == pattern_bytes(size)


def test_5_mib_download_chunked(client: httpx.Client) -> None:
    size = 5 * MIB + 123
    response = client.get("/media/__download", params={"size": size, "chunked": 1})
    assert response.status_code == 200
    assert "content-length" not in response.headers
    assert response.content == pattern_bytes(size)


def test_an_event_stream_outlives_the_read_timeout_while_pings_keep_coming(gateway: Gateway) -> None:
    """SSE through the gateway: each event arrives as it is sent, and a stream that lasts
    longer than the read timeout stays open as long as the upstream writes more often."""
    every = READ_TIMEOUT / 3
    events = 9  # ~3 read timeouts in all
    received: list[str] = []
    with (
        gateway.client() as client,
        client.stream("GET", "/notifications/__sse", params={"events": events, "every": every}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(line.removeprefix("data: "))
    assert received == [f"event {n}" for n in range(events)]


def test_the_response_is_streamed_not_buffered(gateway: Gateway, upstream: Upstream) -> None:
    """The upstream sends a first chunk and then waits to be released: the client can only
    read that chunk before the release if the gateway passes chunks on as they come."""
    key = uuid.uuid4().hex
    with gateway.client() as client, client.stream("GET", "/tickets/__drip", params={"key": key}) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        received = b""
        while b"first;" not in received:
            received += next(chunks)
        upstream.release(key)
        received += b"".join(chunks)
    assert received == b"first;last"


def test_5_mib_upload_with_content_length(client: httpx.Client) -> None:
    data = pattern_bytes(5 * MIB)
    response = client.post("/media/upload", params={"key": uuid.uuid4().hex}, content=data)
    assert response.status_code == 200, response.text
    assert response.json() == {"body_size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("chunked", [0, 1])
def test_an_upload_after_an_idle_pause_after_a_large_download(client: httpx.Client, chunked: int) -> None:
    """A large download leaves the pooled upstream connection with a read timer that aiohttp
    re-armed after the body ended; idle past the read timeout, the next request on it failed
    at once with a 504 (helpdesk_common.http._PoolSafeResponseHandler). The pause is the
    condition under test, not a wait for something."""
    download = client.get("/media/__download", params={"size": 5 * MIB, "chunked": chunked})
    assert download.status_code == 200
    time.sleep(READ_TIMEOUT * 1.5)
    data = pattern_bytes(5 * MIB)
    response = client.post("/media/upload", params={"key": uuid.uuid4().hex}, content=data)
    assert response.status_code == 200, response.text
    assert response.json()["body_size"] == len(data)


def test_5_mib_upload_chunked(client: httpx.Client) -> None:
    data = pattern_bytes(5 * MIB)
    response = client.post("/media/upload", params={"key": uuid.uuid4().hex}, content=chunks_of(data))
    assert response.status_code == 200, response.text
    assert response.json() == {"body_size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_the_request_body_is_streamed_not_buffered(client: httpx.Client, upstream: Upstream) -> None:
    """The client sends its second chunk only once the upstream has seen the first: that can
    only happen if the gateway forwards the body as it arrives."""
    key = uuid.uuid4().hex
    first, rest = b"a" * (64 * KIB), b"b" * (2 * MIB)

    def body() -> Iterator[bytes]:
        yield first
        poll_until(lambda: upstream.seen(key)["bytes"] >= len(first), timeout=5, what="the first chunk upstream")
        assert upstream.seen(key)["completed"] is False
        yield rest

    response = client.post("/media/upload", params={"key": key}, content=body())
    assert response.status_code == 200, response.text
    assert response.json()["body_size"] == len(first) + len(rest)


def test_media_upload_allows_10_mib(client: httpx.Client) -> None:
    data = pattern_bytes(10 * MIB)
    response = client.post("/media/upload", params={"key": uuid.uuid4().hex}, content=data)
    assert response.status_code == 200, response.text
    assert response.json()["body_size"] == 10 * MIB


def test_exactly_the_limit_is_allowed_elsewhere(client: httpx.Client) -> None:
    seen = echo(client.post("/tickets", content=b"x" * DEFAULT_LIMIT))
    assert seen["body_size"] == DEFAULT_LIMIT


@pytest.mark.parametrize(
    ("path", "length"),
    [("/tickets", DEFAULT_LIMIT + 1), ("/media/ticket/1", 2 * MIB), ("/media/upload", UPLOAD_LIMIT + 1)],
)
def test_a_declared_length_over_the_limit_is_413_before_any_upstream_call(
    gateway: Gateway, upstream: Upstream, path: str, length: int
) -> None:
    # Only the head is sent: the gateway must answer without waiting for the body.
    request_id = f"too-big-{uuid.uuid4().hex}"
    head = f"POST {path} HTTP/1.1\nHost: test\nContent-Length: {length}\nX-Request-ID: {request_id}"
    status, headers, body = parse_raw_response(raw_request(gateway.port, head, timeout=5))
    assert status == 413
    assert "error" in json.loads(body)
    assert headers["x-request-id"] == request_id
    assert upstream.requests_with_id(request_id) == []


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(gateway: Gateway, upstream: Upstream) -> None:
    request_id = f"chunked-too-big-{uuid.uuid4().hex}"
    head = f"POST /tickets HTTP/1.1\nHost: test\nTransfer-Encoding: chunked\nX-Request-ID: {request_id}"
    piece = b"x" * (64 * KIB)
    # 17 pieces of 64 KiB: 64 KiB over the limit; no terminating chunk is ever sent.
    chunks = (b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(17))
    status, headers, body = parse_raw_response(raw_request(gateway.port, head, chunks, timeout=5))
    assert status == 413
    assert "error" in json.loads(body)
    assert headers["x-request-id"] == request_id
    # The upstream got the start of it, but never a complete request.
    assert not any(r["completed"] for r in upstream.requests_with_id(request_id))


def test_an_invalid_content_length_is_400(gateway: Gateway) -> None:
    head = "POST /tickets HTTP/1.1\nHost: test\nContent-Length: -5"
    data = raw_request(gateway.port, head, timeout=5)
    status, _, _ = parse_raw_response(data)
    assert status == 400


def test_a_client_that_leaves_mid_stream_stops_the_relay(gateway: Gateway) -> None:
    """granian does not fail `send` once the client has gone; without watching for the
    disconnect the gateway would wait on this upstream (which never finishes unreleased)."""
    request_id = f"leaver-{uuid.uuid4().hex}"
    head = f"GET /tickets/__drip?key={uuid.uuid4().hex} HTTP/1.1\r\nHost: test\r\nX-Request-ID: {request_id}"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n")
        received = b""
        while b"first;" not in received:
            received += sock.recv(65536)
    line = poll_until(lambda: gateway.access_lines(request_id), what="the access line of the abandoned request")
    assert line[0]["status"] == 499


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("status", [404, 413])
def test_an_upstream_that_answers_before_reading_the_whole_body_is_relayed(
    client: httpx.Client, status: int, chunked: bool
) -> None:
    """S5 refuses an upload for a ticket the caller cannot see, or one past its limit, after
    the first part: the client gets that answer, not a 502 for the body the upstream left unread."""
    data = pattern_bytes(DEFAULT_LIMIT - KIB)  # the upstream reads 64 KiB of it
    response = client.post("/media/__early", params={"status": status}, content=chunks_of(data) if chunked else data)
    assert response.status_code == status, response.text
    assert response.json() == {"error": "refused early"}
    # The connection pool is still sound afterwards.
    assert client.post("/media/upload", params={"key": uuid.uuid4().hex}, content=b"x").status_code == 200


def test_an_upload_may_last_longer_than_the_read_timeout(client: httpx.Client, upstream: Upstream) -> None:
    """The read timeout is for the upstream's answer: a client still sending its body (a large
    file on a slow line) is not cut off while the pieces keep coming."""
    key = uuid.uuid4().hex
    pieces = 8
    pause = READ_TIMEOUT * 3 / pieces  # ~3 read timeouts in all

    def slow_body() -> Iterator[bytes]:
        for number in range(pieces):
            # The pause is the condition under test (a slow client), not a wait for something.
            time.sleep(pause)
            yield bytes([number]) * (16 * KIB)

    started = time.monotonic()
    response = client.post("/media/upload", params={"key": key}, content=slow_body())
    assert response.status_code == 200, response.text
    assert response.json()["body_size"] == pieces * 16 * KIB
    assert time.monotonic() - started > READ_TIMEOUT * 2
