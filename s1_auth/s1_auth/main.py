"""S1 auth: the app, assembled by the shared factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from helpdesk_common.app import create_app
from s1_auth.routes import router
from s1_auth.service import ensure_first_admin, start_password_hasher
from s1_auth.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="S1 auth",
        description="Accounts, password login with a throttle, JWTs and roles.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        # The hasher first: the first admin's password is hashed with it.
        on_startup=[start_password_hasher, ensure_first_admin],
    )
