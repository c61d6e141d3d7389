"""One asyncpg pool per app (created in the lifespan) and the ways to borrow a connection.

- `DbConn`: a route dependency that holds one connection for the whole request.
- `acquire(pool)`: a connection for one short step, for routes that must not hold one while
  they wait on something slow (S1 hashes passwords between its SQL statements).
Both answer 503 `{"error"}` when the database cannot lend a connection within 5 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from helpdesk_common.errors import ApiError

ACQUIRE_TIMEOUT_SECONDS = 5.0


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


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=_keep_session_state,
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
