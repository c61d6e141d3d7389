"""One asyncpg pool per app (created in the lifespan) and the ways to borrow a connection.

- `DbConn`: a route dependency that holds one connection for the whole request.
- `DbTransaction`: the same connection inside one transaction that commits when the route
  returns and rolls back when it raises (an ApiError included), before the response is sent:
  a client never sees a 2xx for a change that did not commit.
- `acquire(pool)`: a connection for one short step, for routes that must not hold one while
  they wait on something slow (S1 hashes passwords between its SQL statements).
All answer 503 `{"error"}` when the database cannot lend a connection within 5 s.
- `Listener`: LISTEN on a dedicated connection outside the pool (a pooled connection would
  carry the LISTEN to the next borrower, and the pool's reset would silently drop it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any, cast

import asyncpg
from fastapi import Depends, Request

from helpdesk_common.errors import ApiError

ACQUIRE_TIMEOUT_SECONDS = 5.0
# For a service that only reads other services' tables (S7): every transaction on its
# connections is READ ONLY, so a stray write fails in PostgreSQL instead of landing (until each
# service has a database role of its own).
READ_ONLY_SESSION: Mapping[str, str] = {"default_transaction_read_only": "on"}
logger = logging.getLogger("helpdesk.db")


async def _keep_session_state(_conn: asyncpg.Connection) -> None:
    """What the pool does to a returned connection, beyond rolling back an open transaction
    (which asyncpg always does): nothing.

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release: one more round trip per request, ~4% of S2's CPU on
    GET /tickets/:id and a query for PostgreSQL each time. Our services leave no session state
    behind: no SET, no LISTEN, no cursors outside a transaction, and the one session-level
    advisory lock (the migration runner's) is released explicitly. Keep it that way, or
    give this back its default.
    """


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, server_settings: Mapping[str, str] | None = None
) -> asyncpg.Pool:
    """`server_settings` are set on every connection of the pool at connect time (a read-only
    service passes `{"default_transaction_read_only": "on"}`, see READ_ONLY_SESSION)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=_keep_session_state,
        server_settings=dict(server_settings) if server_settings else None,
        # Fail fast instead of queueing forever when the database is gone.
        timeout=5.0,
        command_timeout=30.0,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def acquire(pool: asyncpg.Pool | None) -> AsyncIterator[asyncpg.Connection]:
    if pool is None:
        raise ApiError(503, "The database is not available.")
    try:
        conn = await pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise ApiError(503, "The database is not available.") from exc
    try:
        # The pool lends a proxy that forwards every call to its Connection.
        yield cast(asyncpg.Connection, conn)
    finally:
        await pool.release(conn)


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with acquire(getattr(request.app.state, "pool", None)) as conn:
        yield conn


DbConn = Annotated[asyncpg.Connection, Depends(_connection)]


async def _transaction(conn: DbConn) -> AsyncIterator[asyncpg.Connection]:
    async with conn.transaction():
        yield conn


# scope="function": the exit code (the COMMIT) runs when the route returns, before FastAPI sends
# the response; with the default scope it would run after the client already had its answer.
DbTransaction = Annotated[asyncpg.Connection, Depends(_transaction, scope="function")]


class Listener:
    """LISTEN on `channel` over a connection of its own; `wait()` returns when a NOTIFY came.

    Run `listener.run()` as a background job (it reconnects after a lost connection, with
    backoff); while it is disconnected `wait()` simply times out, so a consumer that waits with
    a timeout and then polls keeps working without notifications (the polling fallback).
    """

    def __init__(self, dsn: str, channel: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self.connected = asyncio.Event()
        self.connects = 0  # how many times it has (re)connected
        self._wake = asyncio.Event()
        self._payloads: list[str] = []

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self._payloads.append(str(payload))
        self._wake.set()

    async def wait(self, max_wait: float) -> list[str]:
        """The payloads received since the last call (empty after `max_wait` seconds without any)."""
        if not self._wake.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max_wait)
        self._wake.clear()
        payloads, self._payloads = self._payloads, []
        return payloads

    def wake(self) -> None:
        """Wake a waiting consumer without a NOTIFY (e.g. after a reconnect, to catch up)."""
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5.0)
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                logger.warning("LISTEN connection failed", extra={"channel": self.channel, "error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(self.channel, self._on_notify)
                backoff = 0.2
                self.connects += 1
                self.connected.set()
                self.wake()  # anything sent while we were not listening is found by the next poll
                # Check the connection now and then: a server restart does not always reach the
                # termination listener at once.
                while not lost.is_set():
                    with suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5.0)
                    if not lost.is_set():
                        await conn.execute("SELECT 1", timeout=5.0)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("LISTEN connection lost", extra={"channel": self.channel, "error": repr(exc)})
            finally:
                self.connected.clear()
                with suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2.0)
