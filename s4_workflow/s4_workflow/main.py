"""S4 workflow: the app, assembled by the shared factory, with the outbox relay as background jobs."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.outbox import OutboxRelay
from s4_workflow.routes import router, workflow_error_handler
from s4_workflow.service import WorkflowError
from s4_workflow.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    relay = OutboxRelay(settings, table="workflow_outbox", key_prefix="s4-outbox")
    app = create_app(
        settings,
        title="S4 workflow",
        description="Ticket status, priority and assignment with history, the staff queue, "
        "and notifications to S6 through a transactional outbox.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        background_jobs=relay.jobs(),
        health_details=relay.health_details,
    )
    app.add_exception_handler(WorkflowError, workflow_error_handler)
    app.state.relay = relay if settings.outbox_relay else None
    return app
