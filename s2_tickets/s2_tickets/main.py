"""S2 tickets: the app, assembled by the shared factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from helpdesk_common.app import create_app
from s2_tickets.flows import start_requester_directory, start_staff_directory
from s2_tickets.routes import router
from s2_tickets.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="S2 tickets",
        description="Ticket intake, listing with filters and full-text search, owner edits with If-Match.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        on_startup=[start_requester_directory, start_staff_directory],
    )
