"""S1 auth: the app, assembled by the shared factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.outbox import OutboxRelay
from helpdesk_common.workers import BackgroundJob
from s1_auth import service
from s1_auth.routes import router
from s1_auth.service import (
    ensure_first_admin,
    keep_trusted_proxies_resolved,
    prune_sessions,
    start_password_hasher,
    start_trusted_proxies,
    token_state_from_database,
)
from s1_auth.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    relay = OutboxRelay(settings, table=service.OUTBOX_TABLE, key_prefix="s1-outbox")
    return create_app(
        settings,
        title="S1 auth",
        description="Accounts, password login with a throttle, sessions with rotating refresh tokens, JWTs, "
        "roles, and password reset by email through a transactional outbox.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        # The hasher first: the first admin's password is hashed with it.
        on_startup=[start_password_hasher, start_trusted_proxies, ensure_first_admin],
        background_jobs=[
            BackgroundJob("trusted-proxies", keep_trusted_proxies_resolved),
            BackgroundJob("session-pruner", prune_sessions),
            *relay.jobs(),
        ],
        health_details=relay.health_details,
        # S1 knows its own revocations from its database, not over HTTP.
        token_state_feed=token_state_from_database,
    )
