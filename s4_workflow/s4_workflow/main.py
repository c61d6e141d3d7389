"""S4 workflow: the app, assembled by the shared factory, with the outbox relay as background jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.workers import BackgroundJob
from s4_workflow.relay import OutboxRelay
from s4_workflow.routes import router, workflow_error_handler
from s4_workflow.service import WorkflowError
from s4_workflow.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    relay = OutboxRelay(settings) if settings.outbox_relay else None
    jobs = []
    if relay is not None:
        # The listener first: jobs stop in reverse, so the relay stops before its wake-up does.
        jobs = [BackgroundJob("outbox-listener", relay.listen), BackgroundJob("outbox-relay", relay.run)]

    def outbox_health(_app: FastAPI) -> dict[str, Any]:
        # Never a reason for /ready to fail: S6 being down only delays notifications.
        return {"outbox": relay.snapshot() if relay is not None else {"relay": "off"}}

    app = create_app(
        settings,
        title="S4 workflow",
        description="Ticket status, priority and assignment with history, the staff queue, "
        "and notifications to S6 through a transactional outbox.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        background_jobs=jobs,
        health_details=outbox_health,
    )
    app.add_exception_handler(WorkflowError, workflow_error_handler)
    app.state.relay = relay
    return app
