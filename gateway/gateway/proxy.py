"""The hot path: a bare ASGI reverse proxy in front of the gateway's small FastAPI app.

A request whose first path segment is a routed prefix (`/tickets/7`) is proxied here without
touching FastAPI: no routing, no dependencies, no Request object. The upstream is found through
the shared registry client (cached, round-robin, last knowledge kept while the registry is down,
SERVICE_URLS fallbacks); the request body is streamed from ASGI `receive` to the upstream as it
arrives (counted against the size limit) and the upstream's body is streamed back chunk by chunk.
Headers stay plain lists of pairs throughout. Every other request (`/health`, `/ready`,
`/registry/services`, `/docs`, unknown paths) goes to the FastAPI app.

The upstream call uses httpx's API (an `httpx.Request` sent through an httpx transport, the
response read with `aiter_raw`) on httpx-aiohttp's transport: aiohttp's connection pool, which
holds up under concurrency where httpx's stock pool collapses (docs/performance.md). The
transport is called directly rather than through an `httpx.AsyncClient`: a client keeps a
cookie jar, and a proxy must never carry one client's cookies into another's request. The
aiohttp session under it has no cookie jar either and adds no headers of its own.

Failures answer fast with `{"error"}`: no instance known 503, connection refused 502 (and the
instance is forgotten, so the next request asks the registry again), upstream timeout 504,
body over the limit 413.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from functools import partial

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.cors import CorsPolicy
from gateway.settings import Settings
from helpdesk_common.accesslog import AccessLog
from helpdesk_common.http import pool_safe_connector
from helpdesk_common.logs import request_id_var
from helpdesk_common.registry_client import RegistryClient, ServiceUnavailable

logger = logging.getLogger("helpdesk.gateway")

Headers = list[tuple[bytes, bytes]]

# First path segment -> registered service name. `/tickets` and `/tickets/...` both match
# (prefix stripped: `/tickets` -> `/`, `/tickets/7` -> `/7`); `/ticketsx` does not.
ROUTES: dict[bytes, str] = {
    b"auth": "s1-auth",
    b"tickets": "s2-tickets",
    b"workflow": "s4-workflow",
    b"media": "s5-media",
    b"notifications": "s6-notifications",
    b"analytics": "s7-analytics",
    b"feedback": "s8-feedback",
}

# Hop-by-hop headers (RFC 9110 7.6.1), never forwarded either way; `Proxy-*` too (by prefix),
# and any header that a Connection header names.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"proxy-connection"}
)
# Request headers the proxy reads, then sets itself or drops. X-Service-Token is dropped: a
# client must never pass a service credential through. Expect (100-continue) was answered by
# the server in front of this app when the body was read; the upstream leg needs none.
_REQUEST_SPECIAL = HOP_BY_HOP | {
    b"expect",
    b"host",
    b"content-length",
    b"x-request-id",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-service-token",
    b"origin",
}
# Upstream response headers dropped: hop-by-hop, the request id (the gateway sets its own)
# and CORS (the gateway owns it).
_RESPONSE_DROP = HOP_BY_HOP | {
    b"x-request-id",
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"access-control-expose-headers",
}
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b""})
# On every answer the gateway gives (proxied, its own, errors): no MIME sniffing, no framing
# by other sites, no Referer leaking ticket URLs. A second Content-Security-Policy header
# beside an upstream's (S5 sends `sandbox` on downloads) is enforced too: policies combine.
# HSTS belongs to the TLS terminator in front of the gateway (docs/operations.md).
SECURITY_HEADERS: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]
_SECURITY_SINGLETONS = frozenset({b"x-content-type-options", b"x-frame-options", b"referrer-policy"})
# aiohttp adds these when the request lacks them; a proxy forwards what the client sent.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")

# Same rule as helpdesk_common.middleware: a caller's id is echoed only when it is safe in logs.
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_JSON = (b"content-type", b"application/json")
_CONNECTION_CLOSE = (b"connection", b"close")


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class RequestBody(httpx.AsyncByteStream):
    """The client's body as an httpx stream, counted against `limit` as it streams."""

    __slots__ = ("client_gone", "done", "limit", "on_done", "read", "receive", "started", "too_large")

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.read = 0
        self.started = False
        self.done = False
        self.too_large = False
        self.client_gone = False
        self.on_done: Callable[[], None] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.started:  # a body read from the client once cannot be replayed
            raise RuntimeError("the request body was already sent")
        self.started = True
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                raise _ClientGone
            chunk: bytes = message.get("body", b"")
            if chunk:
                self.read += len(chunk)
                if self.read > self.limit:
                    self.too_large = True
                    raise _BodyTooLarge
                yield chunk
            if not message.get("more_body", False):
                self.done = True
                if self.on_done is not None:
                    self.on_done()
                return


async def _until_disconnect(receive: Receive) -> None:
    """Returns once the client has gone (call only after the request body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _cancel_relay(relay: asyncio.Task[int], watcher: asyncio.Future[None]) -> None:
    if not watcher.cancelled():
        relay.cancel()  # wakes the relay loop: the client is gone


def _connection_named(value: bytes) -> set[bytes]:
    """Header names listed in a Connection header (other than its own options)."""
    return {t.strip().lower() for t in value.split(b",")} - _CONNECTION_OPTIONS


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _too_large(limit: int) -> str:
    return f"Request body too large (limit {limit} bytes)."


def _declared_length(raw: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in raw:
        if len(name) == 14 and name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _response_headers(raw: list[tuple[bytes, bytes]], request_id: bytes, cors: Headers | None) -> Headers:
    headers: Headers = []
    connection = None
    upstream_set: set[bytes] | None = None
    for raw_name, value in raw:
        name = raw_name.lower()
        if name in _RESPONSE_DROP or name.startswith(b"proxy-"):
            if name == b"connection":
                connection = value if connection is None else connection + b"," + value
            continue
        if name in _SECURITY_SINGLETONS:
            upstream_set = {name} if upstream_set is None else upstream_set | {name}
        headers.append((name, value))
    if connection is not None and (named := _connection_named(connection)):
        headers = [h for h in headers if h[0] not in named]
    headers.append((b"x-request-id", request_id))
    if upstream_set is None:
        headers.extend(SECURITY_HEADERS)
    else:
        headers.extend(h for h in SECURITY_HEADERS if h[0] not in upstream_set)
    if cors:
        headers.extend(cors)
    return headers


class GatewayApp:
    """The gateway's ASGI app: the proxy for routed prefixes, the FastAPI `api` for the rest."""

    def __init__(self, api: ASGIApp, settings: Settings, access_log: AccessLog) -> None:
        self.api = api
        self.settings = settings
        self.cors = CorsPolicy(settings)
        self.access_log = access_log
        self.max_body = settings.max_body_bytes
        self.deadline = settings.request_deadline_seconds
        upload = settings.media_upload_max_body_bytes
        self.body_limits = {b"/media/upload": upload, b"/media/upload/": upload}
        self.registry: RegistryClient | None = None
        self.transport: AiohttpTransport | None = None
        # httpx's per-request timeouts, which the transport maps onto aiohttp's (the only
        # timeouts of the upstream call: the transport sets them on every request).
        self.timeouts = {
            "connect": settings.http_connect_timeout,
            "read": settings.http_read_timeout,
            "write": settings.http_read_timeout,
            # waiting for a free pooled connection plus connecting
            "pool": settings.http_connect_timeout,
        }

    async def start(self, registry: RegistryClient) -> None:
        """At start-up (inside the event loop): the registry client and the upstream pool."""
        self.registry = registry
        session = aiohttp.ClientSession(
            connector=pool_safe_connector(limit=self.settings.upstream_max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
        )
        self.transport = AiohttpTransport(client=session)

    async def stop(self) -> None:
        if self.transport is not None:
            await self.transport.aclose()  # closes the session
            self.transport = None

    # --- dispatch ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)  # lifespan
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        segment, _, rest = raw_path[1:].partition(b"/")
        service = ROUTES.get(segment)
        if scope["method"] == "OPTIONS" and await self._maybe_preflight(scope, send):
            return
        if service is None:
            await self._serve_api(scope, receive, send)
            return
        await self._proxy(scope, receive, send, service, raw_path, rest)

    async def _serve_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The FastAPI app (its RequestIdMiddleware sets X-Request-ID and writes the access
        line), with the security headers, and CORS headers for an allowed origin."""
        origin = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
                break
        extra = [*SECURITY_HEADERS]
        if origin is not None and self.cors.allows(origin):
            extra.extend(self.cors.response_headers(origin))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.api(scope, receive, send_with_headers)

    async def _maybe_preflight(self, scope: Scope, send: Send) -> bool:
        """Answer a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)."""
        origin = request_method = request_id = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                request_method = value
            elif name == b"x-request-id" and _SAFE_REQUEST_ID.match(value):
                request_id = value
        if origin is None or request_method is None:
            return False
        started = time.perf_counter()
        request_id = request_id or os.urandom(16).hex().encode()
        request_id_text = request_id.decode()
        token = request_id_var.set(request_id_text)
        try:
            if self.cors.allows(origin):
                status = 204
                headers = [
                    (b"x-request-id", request_id),
                    *self.cors.response_headers(origin),
                    *self.cors.preflight_headers,
                    *SECURITY_HEADERS,
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
            else:
                status = 403
                await self._error(send, status, "This origin may not call the API.", request_id, None)
            self._log(scope, request_id_text, status, started, None)
        finally:
            request_id_var.reset(token)
        return True

    # --- the proxy ------------------------------------------------------------------------------

    async def _proxy(
        self, scope: Scope, receive: Receive, send: Send, service: str, raw_path: bytes, rest: bytes
    ) -> None:
        started = time.perf_counter()

        # One pass over the request headers: keep the end-to-end ones, note the others.
        headers: list[tuple[str, str]] = []
        origin = request_id = forwarded_for = host = content_length = connection = None
        chunked = False
        for name, value in scope["headers"]:
            if name in _REQUEST_SPECIAL:
                if name == b"content-length":
                    content_length = value
                elif name == b"origin":
                    origin = value
                    headers.append(("origin", value.decode("latin-1")))
                elif name == b"x-request-id":
                    if _SAFE_REQUEST_ID.match(value):
                        request_id = value
                elif name == b"host":
                    host = value
                elif name == b"x-forwarded-for":
                    forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
                elif name == b"transfer-encoding":
                    chunked = True
                elif name == b"connection":
                    connection = value if connection is None else connection + b"," + value
                # te, trailer, upgrade, keep-alive, proxy-connection, expect,
                # x-forwarded-proto/-host, x-service-token: dropped
            elif not name.startswith(b"proxy-"):
                headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if connection is not None and (named := _connection_named(connection)):
            headers = [h for h in headers if h[0].encode("latin-1") not in named]
        if request_id is None:
            request_id = os.urandom(16).hex().encode()
        request_id_text = request_id.decode()
        token = request_id_var.set(request_id_text)
        status = 502
        body: RequestBody | None = None
        if chunked or (content_length is not None and content_length != b"0"):
            client_send = send

            async def send(message: Message) -> None:
                # An answer sent while the client's body was being read and before its end (a
                # counted 413, or an upstream refusing an upload after its first part) ends the
                # connection: the rest of that body is never read, so the connection cannot
                # carry another request, and saying so keeps the client from sending one on it.
                # (A body refused before its first byte, on its declared length, is left to the
                # server as before: closing then made clients still sending see a reset.)
                if message["type"] == "http.response.start" and body is not None and body.started and not body.done:
                    message["headers"] = [*message.get("headers", ()), _CONNECTION_CLOSE]
                await client_send(message)

        try:
            cors = self.cors.response_headers(origin) if origin is not None and self.cors.allows(origin) else None

            # Size limit: a declared length over the limit is refused before any upstream is
            # contacted; the body is counted while it streams as well (chunked bodies).
            limit = self.body_limits.get(raw_path, self.max_body)
            if content_length is not None:
                if not content_length.isdigit():
                    status = 400
                    await self._error(send, status, "Invalid Content-Length header.", request_id, cors)
                    return
                declared = int(content_length)
                if declared > limit:
                    status = 413
                    await self._error(send, status, _too_large(limit), request_id, cors)
                    return
                headers.append(("content-length", content_length.decode()))
                if declared > 0:
                    body = RequestBody(receive, limit)
            elif chunked:
                body = RequestBody(receive, limit)  # sent on chunked

            client = scope.get("client")
            peer: str = client[0] if client else "unknown"
            headers.append(("x-forwarded-for", f"{forwarded_for.decode('latin-1')}, {peer}" if forwarded_for else peer))
            headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
            if host is not None:
                headers.append(("x-forwarded-host", host.decode("latin-1")))
            headers.append(("x-request-id", request_id_text))

            assert self.registry is not None and self.transport is not None
            try:
                base = await self.registry.resolve(service)
            except ServiceUnavailable:
                status = 503
                await self._error(send, status, f"No instance of {service} is available.", request_id, cors)
                return
            except Exception:
                logger.exception("service discovery failed", extra={"upstream": service})
                status = 503
                await self._error(send, status, f"Cannot find {service} right now.", request_id, cors)
                return

            # The raw (still percent-encoded) path and query go upstream exactly as they came.
            target = f"{base}/{rest.decode('latin-1')}"
            query: bytes = scope["query_string"]
            if query:
                target = f"{target}?{query.decode('latin-1')}"
            try:
                request = httpx.Request(
                    scope["method"], target, headers=headers, stream=body, extensions={"timeout": self.timeouts}
                )
            except (httpx.InvalidURL, ValueError):
                status = 400
                await self._error(send, status, "Invalid request path.", request_id, cors)
                return

            relaying = False
            budget: asyncio.Timeout | None = None
            try:
                # The overall deadline (REQUEST_DEADLINE_SECONDS) besides the read timeout: an
                # upstream dripping a byte now and then cannot hold a request forever. It starts
                # once the client's body has arrived (a slow upload is not the upstream's
                # fault) and is lifted for event streams, which are meant to last.
                async with asyncio.timeout(None) as budget:
                    loop = asyncio.get_running_loop()

                    def start_deadline() -> None:
                        budget.reschedule(loop.time() + self.deadline)

                    if body is None:
                        start_deadline()
                    else:
                        body.on_done = start_deadline
                    try:
                        response = await self.transport.handle_async_request(request)
                    except Exception as exc:  # noqa: BLE001 - every failure maps to an answer
                        status = await self._upstream_failed(exc, send, service, base, body, limit, request_id, cors)
                        return
                    if response.headers.get("content-type", "").startswith("text/event-stream"):
                        budget.reschedule(None)
                    relaying = True
                    status = await self._relay(response, receive, send, body, request_id, cors, service)
            except TimeoutError:
                if budget is None or not budget.expired():
                    raise  # a timeout of the stream itself (the relay already logged it)
                logger.warning("upstream exceeded the request deadline", extra={"upstream": service, "url": base})
                status = 504
                if relaying:
                    raise  # the status line is out: cut the connection rather than fake an end
                await self._error(send, status, f"The {service} service did not answer in time.", request_id, cors)
        finally:
            self._log(scope, request_id_text, status, started, service)
            request_id_var.reset(token)

    async def _relay(
        self,
        response: httpx.Response,
        receive: Receive,
        send: Send,
        body: RequestBody | None,
        request_id: bytes,
        cors: Headers | None,
        service: str,
    ) -> int:
        """Stream the upstream's answer to the client chunk by chunk; returns the status to log.

        granian's `send` does not fail once the client has gone, so a response that takes more
        than one chunk watches `receive` for the disconnect and then stops reading the
        upstream (an endless event stream would otherwise be relayed to nobody). A response
        that fits in one chunk, the common case, never starts the watcher.
        """
        raw_headers = response.headers.raw
        watcher: asyncio.Future[None] | None = None
        completed = False
        relay = asyncio.current_task()
        assert relay is not None

        def client_gone() -> bool:
            return watcher is not None and watcher.done() and not watcher.cancelled()

        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _response_headers(raw_headers, request_id, cors),
                }
            )
            # With a Content-Length, the last chunk closes the response (no empty message).
            remaining = _declared_length(raw_headers)
            if remaining == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                async for chunk in response.aiter_raw():
                    if remaining is not None:
                        remaining -= len(chunk)
                        if remaining <= 0:
                            await send({"type": "http.response.body", "body": chunk, "more_body": False})
                            break
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    if watcher is None and (body is None or body.done):
                        watcher = asyncio.ensure_future(_until_disconnect(receive))
                        watcher.add_done_callback(partial(_cancel_relay, relay))
                else:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            completed = not client_gone()
        except asyncio.CancelledError:
            if client_gone():  # cancelled by the watcher, not from outside
                relay.uncancel()
                return 499
            raise
        except Exception as exc:
            if client_gone():
                return 499
            # The status line is out and cannot change. Abort, so that the client sees a cut
            # connection rather than a body that looks complete.
            logger.warning("response stream broken", extra={"upstream": service, "error": repr(exc)})
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            # Returns the connection to the pool when the body was read to the end, else closes it.
            await response.aclose()
        return response.status_code if completed else 499

    async def _upstream_failed(
        self,
        exc: Exception,
        send: Send,
        service: str,
        base: str,
        body: RequestBody | None,
        limit: int,
        request_id: bytes,
        cors: Headers | None,
    ) -> int:
        """Answer for a request that got no upstream response; returns the status sent."""
        # The transport re-raises aiohttp's errors as httpx ones, with a coarse mapping (a refused
        # connection becomes ConnectTimeout); the aiohttp error it came from says what happened.
        if isinstance(exc, httpx.HTTPError) and exc.__cause__ is not None:
            exc = exc.__cause__  # type: ignore[assignment]
        if body is not None and body.too_large:
            await self._error(send, 413, _too_large(limit), request_id, cors)
            return 413
        if body is not None and body.client_gone:
            return 499  # nobody left to answer
        if isinstance(exc, aiohttp.ClientConnectorError):
            # Refused, unreachable, unknown host: forget it, so the next request re-discovers.
            assert self.registry is not None
            self.registry.forget(service, base)
            logger.warning("upstream not reachable", extra={"upstream": service, "url": base, "error": str(exc)})
            await self._error(send, 502, f"The {service} service is not reachable.", request_id, cors)
            return 502
        if isinstance(exc, asyncio.TimeoutError):
            logger.warning("upstream timed out", extra={"upstream": service, "url": base})
            await self._error(send, 504, f"The {service} service did not answer in time.", request_id, cors)
            return 504
        if not isinstance(exc, aiohttp.ClientError | OSError):
            logger.error("upstream request failed", extra={"upstream": service, "url": base}, exc_info=exc)
        else:
            logger.warning("upstream request failed", extra={"upstream": service, "url": base, "error": repr(exc)})
        await self._error(send, 502, f"The {service} service failed to answer.", request_id, cors)
        return 502

    # --- helpers --------------------------------------------------------------------------------

    async def _error(self, send: Send, status: int, message: str, request_id: bytes, cors: Headers | None) -> None:
        body = _error_body(message)
        headers = [
            _JSON,
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id),
            *SECURITY_HEADERS,
        ]
        if cors:
            headers.extend(cors)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _log(self, scope: Scope, request_id: str, status: int, started: float, upstream: str | None) -> None:
        if self.access_log.enabled:
            self.access_log.write(
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                upstream=upstream,
            )
