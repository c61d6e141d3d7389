"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs ~20% on small requests).

RequestIdMiddleware takes a caller's `X-Request-ID` when it looks sane, mints one otherwise,
keeps it in a contextvar for log lines and outgoing calls, returns it on the response and
writes one access-log line per request.

It also answers an unhandled error itself: Starlette would answer it in ServerErrorMiddleware,
outside this middleware, after the request id was reset, so the 500 lost its `X-Request-ID`
and its traceback line had no `request_id`. Here the traceback is logged with the id and the
500 `{"error"}` carries it.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpdesk_common.accesslog import AccessLog
from helpdesk_common.logs import request_id_var

logger = logging.getLogger("helpdesk.errors")

REQUEST_ID_HEADER = b"x-request-id"
_INTERNAL_ERROR = json.dumps({"error": "Internal server error."}).encode()
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's request id if it is safe to echo into logs and headers, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SAFE_REQUEST_ID.match(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope["headers"])
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        started_response = False
        header_value = request_id.encode("ascii")

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, header_value))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("unhandled error")
            if started_response:
                raise  # the status line is out; the server cuts the connection
            status = 500
            await send_with_request_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                    ],
                }
            )
            await send_with_request_id({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            if self.access_log.enabled:
                self.access_log.write(
                    request_id=request_id,
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            request_id_var.reset(token)
