"""S6 notifications: the app, assembled by the shared factory, with its delivery jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.workers import BackgroundJob
from s6_notifications.channels import SmsSender
from s6_notifications.routes import router
from s6_notifications.settings import Settings
from s6_notifications.stream import StreamHub
from s6_notifications.worker import Delivery

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


async def _start_delivery(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.hub = hub = StreamHub()

    async def end_streams_when_stopping() -> None:
        # Open streams end as soon as the process is asked to stop, not when it is killed: the
        # server waits for them before it shuts the app down (helpdesk_common.app).
        await app.state.stopping.wait()
        hub.close()

    app.state.stream_closer = asyncio.create_task(end_streams_when_stopping())
    app.state.delivery = Delivery(
        settings=settings,
        pool=app.state.pool,
        services=app.state.services,
        sms=SmsSender(settings, app.state.http),
        hub=app.state.hub,
    )


async def _stop_delivery(app: FastAPI) -> None:
    # The jobs are stopped by now; open streams end (their clients reconnect), SMTP says QUIT.
    app.state.hub.close()
    app.state.stream_closer.cancel()
    await app.state.delivery.close()


def _delivery(app: Any) -> Delivery:
    delivery: Delivery = app.state.delivery
    return delivery


def _health(app: FastAPI) -> dict[str, Any]:
    # Whether the LISTEN connection is up (without it the workers poll) and how many streams are open.
    delivery: Delivery | None = getattr(app.state, "delivery", None)
    if delivery is None:  # before start-up
        return {}
    return {"listening": delivery.listener.connected.is_set(), "open_streams": delivery.hub.open_streams()}


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="S6 notifications",
        description="A durable notification queue in PostgreSQL, delivered by email, SMS and in-app (SSE).",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        on_startup=[_start_delivery],
        on_shutdown=[_stop_delivery],
        background_jobs=[
            # LISTEN on a connection of its own, outside the pool (reconnects by itself).
            BackgroundJob("listen", lambda app: _delivery(app).listener.run()),
            BackgroundJob("dispatch", lambda app: _delivery(app).dispatch(app)),
            BackgroundJob("deliver-in-app", lambda app: _delivery(app).run_in_app(app)),
            BackgroundJob("deliver-email", lambda app: _delivery(app).run_outbound("email")),
            BackgroundJob("deliver-sms", lambda app: _delivery(app).run_outbound("sms")),
        ],
        health_details=_health,
    )
