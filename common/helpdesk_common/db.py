"""One asyncpg pool per app (created in the lifespan) and a dependency that lends a connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from helpdesk_common.errors import ApiError


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        # Fail fast instead of queueing forever when the database is gone.
        timeout=5.0,
        command_timeout=30.0,
    )
    assert pool is not None
    return pool


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    if pool is None:
        raise ApiError(503, "The database is not available.")
    try:
        conn = await pool.acquire(timeout=5.0)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise ApiError(503, "The database is not available.") from exc
    try:
        yield conn
    finally:
        await pool.release(conn)


DbConn = Annotated[asyncpg.Connection, Depends(_connection)]
