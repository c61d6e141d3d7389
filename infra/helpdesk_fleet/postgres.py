"""PostgreSQL for local runs and tests: the server named by DB_URL, or an embedded one.

The embedded server comes from the `pgserver` package (PostgreSQL binaries in a wheel). It
listens on a unix socket only, so DSNs carry the socket directory as `?host=`; run as root,
pgserver runs PostgreSQL as a `pgserver` system user it creates.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def start_embedded(data_dir: Path, *, stop_at_exit: bool = True) -> str:
    """Start (or attach to) the embedded server keeping its data in `data_dir`; returns an admin DSN."""
    from pgserver.postgres_server import get_server  # dev-only dependency, imported here so services never need it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop" if stop_at_exit else None)
    return str(server.get_uri("postgres"))


def ensure_max_connections(data_dir: Path, wanted: int) -> None:
    """Give the embedded server at `data_dir` at least `wanted` connections (ALTER SYSTEM and a
    restart, once: the setting stays in its data directory). Only while nothing else uses it:
    the test session calls it before its workers start."""
    import asyncio

    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time
    from pgserver.postgres_server import get_server

    server = get_server(data_dir, cleanup_mode="stop")

    async def current() -> int:
        conn = await asyncpg.connect(str(server.get_uri("postgres")))
        try:
            if int(await conn.fetchval("SHOW max_connections")) >= wanted:
                return wanted
            await conn.execute(f"ALTER SYSTEM SET max_connections = {int(wanted)}")
            return 0
        finally:
            await conn.close()

    if asyncio.run(current()) < wanted:
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def ensure_database(admin_dsn: str, database: str) -> str:
    """Create `database` if it does not exist; returns its DSN."""
    if not _DB_NAME.match(database):
        raise ValueError(f"invalid database name {database!r}")
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, database)


async def create_scratch_database(admin_dsn: str, prefix: str = "test") -> str:
    return await ensure_database(admin_dsn, f"{prefix}_{uuid.uuid4().hex[:12]}")


class EmbeddedPostgres:
    """An embedded server of a test's own that the test may stop and start again (a database
    outage), on the same socket, so every DSN handed out keeps working once it is back."""

    def __init__(self, data_dir: Path) -> None:
        from pgserver.postgres_server import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        self.server = get_server(data_dir, cleanup_mode="stop")

    @property
    def admin_dsn(self) -> str:
        return str(self.server.get_uri("postgres"))

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as when a database host goes away."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:  # pgserver's own inter-process lock around starting a server
            self.server.ensure_postgres_running()
