"""The app factory every service is assembled with.

`create_app` wires what is the same everywhere: settings on `app.state`, JSON logging, the
request-id middleware, the error handlers, the shared HTTP client, the database pool and the
service's migrations, registration with the registry, and `/health` (liveness, no I/O) and
`/ready` (database and the service's own checks, 503 otherwise), the client for calls to other
services (`app.state.services`, see service_client.py) and the service's background jobs
(workers.py: started after the start-up hooks, stopped first at shutdown). A service adds its
routers and, where it has them, start-up hooks, background jobs and readiness checks.

`app.state.stopping` is set as soon as the process is asked to stop (SIGTERM, SIGINT): granian
waits for open connections to finish before it runs the lifespan's shutdown, so a response
that never ends by itself (S6's event streams) must end on that event, or it holds the
shutdown until the process is killed (and nothing deregisters).

Every service that verifies user tokens (`verifies_tokens`, the default) also keeps S1's
revocations (token_state.py): `app.state.token_state`, refreshed by the background job
"token-state" from S1's feed (or from `token_state_feed`: S1 reads its own database). A service
with no user routes (the registry) passes `verifies_tokens=False`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from helpdesk_common.accesslog import AccessLog
from helpdesk_common.db import create_pool
from helpdesk_common.errors import install_error_handlers
from helpdesk_common.http import create_http_client
from helpdesk_common.logs import configure_logging
from helpdesk_common.middleware import RequestIdMiddleware
from helpdesk_common.migrations import run_migrations
from helpdesk_common.registry_client import RegistryClient
from helpdesk_common.service_client import ServiceClient
from helpdesk_common.settings import ServiceSettings
from helpdesk_common.token_state import TokenStateCache, TokenStateFeed, fetch_from_auth_service, keep_token_state
from helpdesk_common.workers import BackgroundJob, JobRunner, start_jobs, stop_jobs

logger = logging.getLogger("helpdesk.app")

Hook = Callable[[FastAPI], Awaitable[None]]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _stop_signals_set(stopping: asyncio.Event) -> Iterator[None]:
    """Set `stopping` on SIGTERM/SIGINT, then run the handler that was there (the server's own:
    it still shuts down as before). Restored on exit. Only the main thread can set handlers; a
    server running the app elsewhere simply never sets `stopping` early."""
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stopping.set)
        handler = previous.get(signum)
        if callable(handler):
            handler(signum, frame)

    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)


ReadyCheck = Callable[[FastAPI], Awaitable[None]]


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str = "",
    routers: Sequence[tuple[APIRouter, str]] = (),
    migrations_dir: Path | None = None,
    uses_database: bool = True,
    db_server_settings: Mapping[str, str] | None = None,
    registers: bool = True,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    background_jobs: Sequence[BackgroundJob] = (),
    ready_checks: Sequence[ReadyCheck] = (),
    health_details: Callable[[FastAPI], dict[str, Any]] | None = None,
    verifies_tokens: bool = True,
    token_state_feed: TokenStateFeed = fetch_from_auth_service,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        access_log.start()
        app.state.http = create_http_client(settings)
        app.state.pool = None
        app.state.registry = RegistryClient(settings, app.state.http)
        app.state.services = ServiceClient(settings, app.state.http, app.state.registry)
        app.state.jobs = {}
        app.state.stopping = asyncio.Event()
        jobs: dict[str, JobRunner] = {}
        registration: asyncio.Task[None] | None = None
        stop_signals = contextlib.ExitStack()
        try:
            stop_signals.enter_context(_stop_signals_set(app.state.stopping))
            if uses_database:
                if not settings.db_url:
                    raise RuntimeError("DB_URL is not set")
                app.state.pool = await create_pool(
                    settings.db_url,
                    min_size=settings.db_pool_min,
                    max_size=settings.db_pool_max,
                    server_settings=db_server_settings,
                )
                if migrations_dir is not None:
                    async with app.state.pool.acquire() as conn:
                        await run_migrations(
                            conn, owner=settings.service_name.replace("-", "_"), directory=migrations_dir
                        )
            for hook in on_startup:
                await hook(app)
            jobs = app.state.jobs = await start_jobs(app, all_jobs)
            if registers and settings.registry_url:
                registration = asyncio.create_task(app.state.registry.keep_registered())
            logger.info("started", extra={"port": settings.port})
            yield
        finally:
            app.state.stopping.set()
            stop_signals.close()
            if registration is not None:
                registration.cancel()
                await app.state.registry.deregister()
            await stop_jobs(jobs)
            for hook in on_shutdown:
                await hook(app)
            if app.state.pool is not None:
                await app.state.pool.close()
            await app.state.http.aclose()
            logger.info("stopped")
            await access_log.stop()

    all_jobs = tuple(background_jobs)
    if verifies_tokens:

        async def token_state(app: FastAPI) -> None:
            await keep_token_state(app, token_state_feed)

        # First, so that the service's own jobs start with it already polling.
        all_jobs = (BackgroundJob("token-state", token_state), *all_jobs)

    access_log = AccessLog(settings.service_name, enabled=settings.access_log)
    app = FastAPI(title=title, description=description, lifespan=lifespan)
    app.state.settings = settings
    if verifies_tokens:
        app.state.token_state = TokenStateCache()
    app.state.access_log = access_log
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware, access_log=access_log)

    @app.get("/health", tags=["ops"], summary="Liveness: the process answers (no I/O)")
    async def health() -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok", "service": settings.service_name}
        if health_details is not None:
            body.update(health_details(app))
        return body

    @app.get("/ready", tags=["ops"], summary="Readiness: the database and required dependencies answer")
    async def ready() -> Any:
        # The answer names the failing checks but never says why: exception text can hold
        # host names and addresses, and /ready is public behind the gateway. The log says why.
        checks: dict[str, str] = {}
        if uses_database:
            try:
                async with app.state.pool.acquire(timeout=2.0) as conn:
                    await conn.fetchval("SELECT 1", timeout=2.0)
                checks["database"] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                logger.warning("not ready: database", extra={"error": repr(exc)})
                checks["database"] = "failed"
        for check in ready_checks:
            name = check.__name__.removeprefix("check_")
            try:
                await check(app)
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001
                logger.warning(f"not ready: {name}", extra={"error": repr(exc)})
                checks[name] = "failed"
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks}
        return JSONResponse({"error": "Service is not ready.", "checks": checks}, status_code=503)

    for router, prefix in routers:
        app.include_router(router, prefix=prefix)
    return app
