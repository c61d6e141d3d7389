"""The parts of the template that services beyond S1-S3 build on: migrations of several
owners in a declared order, the transaction dependency, background jobs, the LISTEN
connection and the service-to-service client (against a real PostgreSQL and a real HTTP peer)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from fastapi import APIRouter, FastAPI

from helpdesk_common.app import create_app
from helpdesk_common.db import DbTransaction, Listener
from helpdesk_common.errors import ApiError
from helpdesk_common.http import create_http_client
from helpdesk_common.migrations import load_migrations, run_migrations
from helpdesk_common.registry_client import RegistryClient
from helpdesk_common.service_client import PeerUnavailable, ServiceClient
from helpdesk_common.settings import ServiceSettings
from helpdesk_common.workers import BackgroundJob
from helpdesk_fleet.fleet import apoll_until
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN, base_settings


@pytest.fixture
async def scratch_db(pg_admin_dsn: str) -> AsyncIterator[str]:
    yield await create_scratch_database(pg_admin_dsn, prefix="template")


# --- migrations in a declared order ---------------------------------------------------------


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_requires_lines_are_read_from_above_the_up_block(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "b",
        "001_child.sql",
        "-- migrate:requires owner_a 001\n-- migrate:requires owner_c 002\n-- migrate:up\nSELECT 1;\n",
    )
    (migration,) = load_migrations(folder)
    assert [(r.owner, r.version) for r in migration.requires] == [("owner_a", "001"), ("owner_c", "002")]


def test_a_malformed_requires_line_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path / "b", "001_child.sql", "-- migrate:requires Owner-A one\n-- migrate:up\nSELECT 1;\n")
    with pytest.raises(ValueError, match="migrate:requires"):
        load_migrations(folder)


async def test_a_migration_waits_for_the_owner_it_requires(scratch_db: str, tmp_path: Path) -> None:
    parent = _write(tmp_path / "a", "001_parent.sql", "-- migrate:up\nCREATE TABLE parent (id int PRIMARY KEY);\n")
    child = _write(
        tmp_path / "b",
        "001_child.sql",
        "-- migrate:requires owner_a 001\n-- migrate:up\n"
        "CREATE TABLE child (parent_id int NOT NULL REFERENCES parent (id));\n",
    )
    child_conn = await asyncpg.connect(scratch_db)
    parent_conn = await asyncpg.connect(scratch_db)
    try:
        # The child's service starts first: it must wait, not fail on the missing table.
        child_run = asyncio.create_task(
            run_migrations(child_conn, owner="owner_b", directory=child, requires_timeout=10)
        )
        # Once its version table exists it has reached the wait (or failed, which done() shows).
        await apoll_until(
            lambda: parent_conn.fetchval("SELECT to_regclass('owner_b_schema_migrations') IS NOT NULL"),
            what="the child's runner to start",
        )
        assert not child_run.done()
        assert await run_migrations(parent_conn, owner="owner_a", directory=parent) == ["001"]
        assert await asyncio.wait_for(child_run, 10) == ["001"]
        assert await parent_conn.fetchval("SELECT to_regclass('child') IS NOT NULL")
    finally:
        await child_conn.close()
        await parent_conn.close()


async def test_a_missing_requirement_fails_with_a_message_naming_it(scratch_db: str, tmp_path: Path) -> None:
    child = _write(tmp_path / "b", "001_child.sql", "-- migrate:requires owner_x 003\n-- migrate:up\nSELECT 1;\n")
    conn = await asyncpg.connect(scratch_db)
    try:
        with pytest.raises(RuntimeError, match="requires owner_x migration 003"):
            await run_migrations(conn, owner="owner_b", directory=child, requires_timeout=0.3)
        # Nothing recorded: the next start tries again.
        assert await conn.fetchval("SELECT count(*) FROM owner_b_schema_migrations") == 0
    finally:
        await conn.close()


# --- the transaction dependency -------------------------------------------------------------


def _transaction_app(settings: ServiceSettings) -> FastAPI:
    router = APIRouter()

    @router.post("/rows/{value}")
    async def add_row(value: int, conn: DbTransaction) -> dict[str, Any]:
        await conn.execute("INSERT INTO tx_rows (value) VALUES ($1)", value)
        if value < 0:
            raise ApiError(409, "Negative values are refused after the insert.")
        return {"in_transaction": conn.is_in_transaction()}

    async def make_table(app: FastAPI) -> None:
        async with app.state.pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS tx_rows (value int NOT NULL)")

    return create_app(settings, title="tx", routers=[(router, "")], registers=False, on_startup=[make_table])


async def test_a_transaction_commits_on_success_and_rolls_back_on_an_error(scratch_db: str) -> None:
    settings = ServiceSettings(**base_settings(scratch_db))
    app = _transaction_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.post("/rows/5")
            refused = await client.post("/rows/-5")
        assert ok.status_code == 200 and ok.json() == {"in_transaction": True}
        assert refused.status_code == 409 and refused.json() == {
            "error": "Negative values are refused after the insert."
        }
        async with app.state.pool.acquire() as conn:
            assert [r["value"] for r in await conn.fetch("SELECT value FROM tx_rows")] == [5]


# --- background jobs ------------------------------------------------------------------------


async def test_a_crashing_job_is_restarted_and_stopped_at_shutdown() -> None:
    runs: list[float] = []
    stopped = asyncio.Event()

    async def flaky(_app: FastAPI) -> None:
        runs.append(time.monotonic())
        if len(runs) < 3:
            raise RuntimeError("boom")
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    settings = ServiceSettings(**base_settings(None))
    job = BackgroundJob("flaky", flaky, initial_backoff=0.01, max_backoff=0.05)
    app = create_app(settings, title="jobs", uses_database=False, registers=False, background_jobs=[job])
    async with app.router.lifespan_context(app):
        runner = app.state.jobs["flaky"]
        await apoll_until(lambda: len(runs) == 3, what="the job's third run")
        assert runner.restarts == 2 and runner.running
        assert runner.last_error == "RuntimeError('boom')"
    assert stopped.is_set()  # cancelled at shutdown, its finally ran
    assert not runner.running


async def test_a_stop_signal_sets_stopping_at_once_and_the_previous_handler_still_runs() -> None:
    """granian drains open connections before the lifespan's shutdown: a stream that never ends
    must learn of the stop from the signal itself (app.state.stopping)."""
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        settings = ServiceSettings(**base_settings(None))
        app = create_app(settings, title="signals", uses_database=False, registers=False)
        async with app.router.lifespan_context(app):
            assert not app.state.stopping.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
            await apoll_until(app.state.stopping.is_set, what="stopping to be set by SIGTERM")
            assert received == [signal.SIGTERM]  # the server's own handler ran too
        # The handler that was there before the app is back.
        os.kill(os.getpid(), signal.SIGTERM)
        await apoll_until(lambda: len(received) == 2, what="the previous handler to run again")
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- LISTEN outside the pool ----------------------------------------------------------------


async def test_the_listener_wakes_on_notify_and_times_out_otherwise(scratch_db: str) -> None:
    listener = Listener(scratch_db, "template_channel")
    task = asyncio.create_task(listener.run())
    conn = await asyncpg.connect(scratch_db)
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        await listener.wait(0)  # the wake-up of connecting itself
        assert await listener.wait(0.05) == []
        await conn.execute("SELECT pg_notify('template_channel', 'hello')")
        assert await listener.wait(5) == ["hello"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await conn.close()


async def test_the_listener_reconnects_after_its_connection_is_killed(scratch_db: str) -> None:
    listener = Listener(scratch_db, "template_channel")
    task = asyncio.create_task(listener.run())
    conn = await asyncpg.connect(scratch_db)
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        killed = await conn.fetchval(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
        )
        assert killed
        await apoll_until(lambda: listener.connects == 2, what="the listener to reconnect")
        await asyncio.wait_for(listener.connected.wait(), 10)
        await listener.wait(0)
        await conn.execute("SELECT pg_notify('template_channel', 'again')")
        assert await listener.wait(5) == ["again"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await conn.close()


# --- the service client ---------------------------------------------------------------------


class Peer:
    """A real HTTP peer on a free port that fails the first `failures` requests with 503."""

    def __init__(self) -> None:
        self.failures = 0
        self.seen: list[dict[str, Any]] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append({"method": request.method, "path": request.path, "headers": headers})
        if self.failures > 0:
            self.failures -= 1
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    server = Peer()
    await server.start()
    yield server
    await server.stop()


def _client(urls: dict[str, str], **overrides: Any) -> tuple[ServiceClient, httpx.AsyncClient]:
    values = base_settings(None, service_urls=urls, service_call_backoff=0.01, **overrides)
    settings = ServiceSettings(**values)
    http = create_http_client(settings)  # the services' own client (aiohttp's pool under httpx)
    return ServiceClient(settings, http, RegistryClient(settings, http)), http


async def test_a_call_carries_the_credential_the_bearer_and_the_idempotency_key(peer: Peer) -> None:
    client, http = _client({"peer": f"http://127.0.0.1:{peer.port}"})
    async with http:
        response = await client.request("peer", "POST", "/things", json={}, bearer="abc", idempotency_key="k-1")
    assert response.status_code == 200
    headers = peer.seen[0]["headers"]
    assert headers["x-service-token"] == TEST_SERVICE_TOKEN
    assert headers["authorization"] == "Bearer abc"
    assert headers["idempotency-key"] == "k-1"


async def test_503s_are_retried_when_repeating_is_safe(peer: Peer) -> None:
    client, http = _client({"peer": f"http://127.0.0.1:{peer.port}"})
    peer.failures = 2
    async with http:
        response = await client.request("peer", "GET", "/things")
    assert response.status_code == 200 and len(peer.seen) == 3


async def test_a_post_without_an_idempotency_key_is_not_repeated(peer: Peer) -> None:
    client, http = _client({"peer": f"http://127.0.0.1:{peer.port}"})
    peer.failures = 1
    async with http:
        with pytest.raises(PeerUnavailable) as raised:
            await client.request("peer", "POST", "/things", json={})
    assert len(peer.seen) == 1
    assert raised.value.status == 503 and "peer" in raised.value.message


async def test_the_retry_budget_is_bounded(peer: Peer) -> None:
    client, http = _client({"peer": f"http://127.0.0.1:{peer.port}"}, service_call_retries=2)
    peer.failures = 100
    async with http:
        with pytest.raises(PeerUnavailable):
            await client.request("peer", "GET", "/things")
    assert len(peer.seen) == 3  # the first try and two retries


async def test_a_refused_connection_is_retried_and_then_a_503() -> None:
    client, http = _client({"peer": f"http://127.0.0.1:{free_port()}"}, service_call_retries=1)
    async with http:
        with pytest.raises(PeerUnavailable, match="not available"):
            await client.request("peer", "POST", "/things", json={})


async def test_an_unknown_peer_is_a_503() -> None:
    client, http = _client({})
    async with http:
        with pytest.raises(PeerUnavailable):
            await client.request("nobody", "GET", "/")


async def test_a_caller_that_logs_failures_itself_can_keep_the_client_quiet(caplog: pytest.LogCaptureFixture) -> None:
    client, http = _client({"peer": f"http://127.0.0.1:{free_port()}"}, service_call_retries=0)
    async with http:
        with caplog.at_level("WARNING", logger="helpdesk.service_client"):
            with pytest.raises(PeerUnavailable):
                await client.request("peer", "POST", "/things", json={}, log_unavailable=False)
            assert caplog.records == []
            with pytest.raises(PeerUnavailable):
                await client.request("peer", "POST", "/things", json={})
    assert [r.getMessage() for r in caplog.records] == ["peer unavailable"]
