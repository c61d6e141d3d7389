"""S2 tickets: the app, assembled by the shared factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.outbox import OutboxRelay
from s2_tickets.flows import start_requester_directory, start_staff_directory
from s2_tickets.repository import OUTBOX_KEY_PREFIX, OUTBOX_TABLE
from s2_tickets.routes import router
from s2_tickets.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # The conversation's notifications, written to tickets_outbox in the comment's transaction,
    # go to S6 from here (every S2 process relays; OUTBOX_RELAY=false turns one off).
    relay = OutboxRelay(settings, table=OUTBOX_TABLE, key_prefix=OUTBOX_KEY_PREFIX)
    app = create_app(
        settings,
        title="S2 tickets",
        description="Ticket intake, listing with filters and full-text search, owner edits with If-Match.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        on_startup=[start_requester_directory, start_staff_directory],
        background_jobs=relay.jobs(),
        health_details=relay.health_details,
    )
    app.state.relay = relay if settings.outbox_relay else None
    return app
