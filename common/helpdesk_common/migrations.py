"""Per-service SQL migrations in the manner of dbmate.

Each service keeps plain SQL files in its own `migrations/` folder, named
`<version>_<what>.sql` with a `-- migrate:up` block (an optional `-- migrate:down` block is
ignored at start-up). Applied versions are recorded in a table owned by the service
(`<owner>_schema_migrations`), each file runs in one transaction, and a PostgreSQL advisory lock
keyed by the owner lets several replicas start at once: one migrates, the others wait and
then find nothing left to do.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

logger = logging.getLogger("helpdesk.migrations")

_OWNER = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_UP = re.compile(r"^--\s*migrate:up\s*$", re.MULTILINE)
_DOWN = re.compile(r"^--\s*migrate:down\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    up_sql: str


def advisory_lock_key(owner: str) -> int:
    digest = hashlib.sha256(f"helpdesk-migrations:{owner}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def load_migrations(directory: Path) -> list[Migration]:
    migrations: list[Migration] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.sql")):
        version, _, _ = path.stem.partition("_")
        if not version.isdigit():
            raise ValueError(f"migration file {path.name} must start with a numeric version")
        if version in seen:
            raise ValueError(f"migration version {version} appears twice in {directory}")
        seen.add(version)
        text = path.read_text(encoding="utf-8")
        up = _UP.search(text)
        if up is None:
            raise ValueError(f"migration file {path.name} has no '-- migrate:up' block")
        body = text[up.end() :]
        down = _DOWN.search(body)
        if down is not None:
            body = body[: down.start()]
        migrations.append(Migration(version=version, name=path.name, up_sql=body.strip()))
    return migrations


async def run_migrations(conn: asyncpg.Connection, *, owner: str, directory: Path) -> list[str]:
    """Apply the owner's pending migrations; returns the versions applied now."""
    if not _OWNER.match(owner):
        raise ValueError(f"invalid migration owner name {owner!r}")
    migrations = load_migrations(directory)
    table = f"{owner}_schema_migrations"
    applied_now: list[str] = []
    key = advisory_lock_key(owner)
    await conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " version text PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version FROM {table}")
        done = {row["version"] for row in rows}
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.up_sql)
                await conn.execute(
                    f"INSERT INTO {table} (version, name) VALUES ($1, $2)", migration.version, migration.name
                )
            logger.info("migration applied", extra={"owner": owner, "migration": migration.name})
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", key)
    return applied_now
