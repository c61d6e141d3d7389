"""S8 feedback: the app, assembled by the shared factory, with the refresh signal to S7."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.workers import BackgroundJob
from s8_feedback.flows import AnalyticsSignal
from s8_feedback.routes import router
from s8_feedback.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _health(app: FastAPI) -> dict[str, Any]:
    return {"analytics_signal": app.state.analytics_signal.snapshot()}


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    signal = AnalyticsSignal(
        timeout_seconds=settings.analytics_signal_timeout_seconds, retries=settings.analytics_signal_retries
    )
    app = create_app(
        settings,
        title="S8 feedback",
        description="Customer satisfaction: the owner of a resolved ticket rates it 1-5.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        background_jobs=[BackgroundJob("analytics-signal", signal.run)],
        health_details=_health,
    )
    app.state.analytics_signal = signal
    return app
