"""S3 registry: service discovery and health checking (in memory; no database)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.workers import BackgroundJob
from s3_registry.repository import InstanceStore
from s3_registry.routes import router
from s3_registry.service import run_health_checks
from s3_registry.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    started = time.monotonic()

    async def health_checks(app: FastAPI) -> None:
        await run_health_checks(
            app.state.store,
            app.state.http,
            interval=settings.health_interval_seconds,
            probe_timeout=settings.health_timeout_seconds,
            max_failed=settings.max_failed_checks,
        )

    def registry_health(app: FastAPI) -> dict[str, Any]:
        return {"registeredServices": len(app.state.store.names()), "uptime": round(time.monotonic() - started, 3)}

    app = create_app(
        settings,
        title="S3 registry",
        description="Service discovery: registration, round-robin discovery, periodic health checks.",
        routers=[(router, "")],
        uses_database=False,
        registers=False,
        # No user routes: only the service credential is checked here, so no revocation feed.
        verifies_tokens=False,
        background_jobs=[BackgroundJob("health-checks", health_checks)],
        health_details=registry_health,
    )
    app.state.store = InstanceStore()
    return app
