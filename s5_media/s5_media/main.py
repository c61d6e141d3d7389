"""S5 media: the app, assembled by the shared factory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.workers import BackgroundJob
from s5_media import service
from s5_media.routes import router
from s5_media.service import UploadGate
from s5_media.settings import Settings
from s5_media.storage import LocalStorage

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    storage = LocalStorage(settings.media_dir)

    async def prepare_storage(app: FastAPI) -> None:
        await asyncio.to_thread(storage.prepare)
        # At start-up, before the first request: what a crash left behind goes now.
        await service.sweep_orphans(storage, app.state.pool, grace_seconds=settings.media_orphan_grace_seconds)

    async def sweep_periodically(app: FastAPI) -> None:
        while True:
            await asyncio.sleep(settings.media_sweep_interval_seconds)
            await service.sweep_orphans(storage, app.state.pool, grace_seconds=settings.media_orphan_grace_seconds)

    async def check_storage(_: FastAPI) -> None:
        await storage.check()

    app = create_app(
        settings,
        title="S5 media",
        description="Ticket attachments: streamed uploads judged by their content, authorized downloads.",
        routers=[(router, "")],
        migrations_dir=MIGRATIONS_DIR,
        on_startup=[prepare_storage],
        background_jobs=[BackgroundJob("orphan-sweep", sweep_periodically)],
        ready_checks=[check_storage],
    )
    app.state.storage = storage
    app.state.upload_gate = UploadGate(settings.media_max_uploads_in_flight, settings.media_retry_after_seconds)
    return app
