"""The one outgoing HTTP client of a service: httpx's API on aiohttp's connection pool.

httpx's stock pool (httpcore) collapses under concurrency when used as a proxy client
(436 req/s vs 1,318 on this machine kind, see docs/performance.md); httpx-aiohttp keeps the
httpx API and puts aiohttp's pool underneath. Every outgoing request carries the current
request id.
"""

from __future__ import annotations

import functools
from typing import Any

import aiohttp
import httpx
from aiohttp.client_proto import ResponseHandler
from httpx_aiohttp import AiohttpTransport

from helpdesk_common.logs import request_id_var
from helpdesk_common.settings import ServiceSettings


async def _add_request_id(request: httpx.Request) -> None:
    request_id = request_id_var.get()
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = request_id


class _PoolSafeResponseHandler(ResponseHandler):
    """aiohttp's connection protocol, minus a read timer armed on an idle pooled connection.

    aiohttp (3.13 and 3.14.5 alike) re-arms the `sock_read` timer in `resume_reading()`, which
    also runs while the caller drains a response whose body has already ended (the transport
    was paused for backpressure at the end of a large body). By then the connection is back
    in the keep-alive pool: the timer fires while it sits idle, marks it failed, and the next
    request that borrows it fails at once with `SocketTimeoutError` (a spurious 504 in the
    gateway, seen after a 5 MiB download followed by an upload). Same family as aiohttp
    issue #12953, whose fix covers only the unpaused case. Here the timer is dropped again
    when the response it would time has already ended.
    """

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:
        super().resume_reading(*args, **kwargs)
        payload = self._payload
        if payload is not None and payload.is_eof():
            self._drop_timeout()


def pool_safe_connector(*, limit: int, keepalive_timeout: float = 5.0) -> aiohttp.TCPConnector:
    """aiohttp's TCP connector with `_PoolSafeResponseHandler` (the gateway uses it too)."""
    connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=keepalive_timeout)
    # `_factory` is how the connector makes each connection's protocol (aiohttp 3.x); the
    # gateway's test_an_upload_after_an_idle_pause_after_a_large_download fails without it.
    connector._factory = functools.partial(_PoolSafeResponseHandler, loop=connector._loop)  # type: ignore[assignment]
    return connector


def create_http_client(settings: ServiceSettings, *, max_connections: int = 200) -> httpx.AsyncClient:
    def aiohttp_session() -> aiohttp.ClientSession:
        # Called by the transport on first use, inside the event loop. No cookie jar: calls
        # between services carry no cookies (httpx's own jar is the one a caller could use).
        return aiohttp.ClientSession(
            connector=pool_safe_connector(limit=max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    return httpx.AsyncClient(
        transport=AiohttpTransport(client=aiohttp_session),
        timeout=httpx.Timeout(
            connect=settings.http_connect_timeout,
            read=settings.http_read_timeout,
            write=settings.http_read_timeout,
            pool=settings.http_connect_timeout,
        ),
        event_hooks={"request": [_add_request_id]},
        follow_redirects=False,
    )
