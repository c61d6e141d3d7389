"""The one outgoing HTTP client of a service: httpx's API on aiohttp's connection pool.

httpx's stock pool (httpcore) collapses under concurrency when used as a proxy client
(436 req/s vs 1,318 on this machine kind, see docs/performance.md); httpx-aiohttp keeps the
httpx API and puts aiohttp's pool underneath. Every outgoing request carries the current
request id.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from helpdesk_common.logs import request_id_var
from helpdesk_common.settings import ServiceSettings


async def _add_request_id(request: httpx.Request) -> None:
    request_id = request_id_var.get()
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = request_id


def create_http_client(settings: ServiceSettings, *, max_connections: int = 200) -> httpx.AsyncClient:
    def aiohttp_session() -> aiohttp.ClientSession:
        # Called by the transport on first use, inside the event loop. No cookie jar: calls
        # between services carry no cookies (httpx's own jar is the one a caller could use).
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=5.0),
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
