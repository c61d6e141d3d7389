"""The mail sink's web view for compose's `dev` profile: a read-only relay of its listing.

    MAIL_SINK_URL=http://mail-sink:8025 python -m helpdesk_fleet.sinks.webview

Compose publishes this (on 127.0.0.1 only) rather than the sink itself, so that what a browser
on the host reaches is the listing and the messages (`GET /messages`, `GET /messages/<id>`),
never the sink's deleting or fault-setting routes, and the sink stays off the host's ports
unless a developer asks for it (`docker compose --profile dev up`).
"""

from __future__ import annotations

import asyncio
import os

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from helpdesk_fleet.sinks import run_until_stopped, serve_http

RELAYED_HEADERS = ("Content-Type",)


def relay_app(upstream: str) -> web.Application:
    app = web.Application()
    session_key = web.AppKey("session", ClientSession)

    async def open_session(app: web.Application) -> None:
        app[session_key] = ClientSession(timeout=ClientTimeout(total=10))

    async def close_session(app: web.Application) -> None:
        await app[session_key].close()

    async def relay(request: web.Request) -> web.Response:
        try:
            async with app[session_key].get(f"{upstream}{request.rel_url}") as answer:
                body = await answer.read()
                headers = {k: answer.headers[k] for k in RELAYED_HEADERS if k in answer.headers}
                return web.Response(status=answer.status, body=body, headers=headers)
        except (ClientError, TimeoutError):
            return web.json_response({"error": "The mail sink does not answer."}, status=502)

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_get("/health", ok)
    app.router.add_get("/ready", ok)
    app.router.add_get("/messages", relay)
    app.router.add_get("/messages/{message_id}", relay)
    return app


async def serve() -> None:
    upstream = os.environ.get("MAIL_SINK_URL", "http://127.0.0.1:8025").rstrip("/")
    runner = await serve_http(
        relay_app(upstream), os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8025"))
    )
    try:
        await run_until_stopped()
    finally:
        await runner.cleanup()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
