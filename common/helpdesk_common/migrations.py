"""Per-service SQL migrations in the manner of dbmate.

Each service keeps plain SQL files in its own `migrations/` folder, named
`<version>_<what>.sql` with a `-- migrate:up` block (an optional `-- migrate:down` block is
ignored at start-up). Applied versions are recorded in a table owned by the service
(`<owner>_schema_migrations`), each file runs in one transaction, and a PostgreSQL advisory lock
keyed by the owner lets several replicas start at once: one migrates, the others wait and
then find nothing left to do.

Migrations of different owners in a declared order: a file may name, above its
`-- migrate:up` line, migrations of other owners it builds on,

    -- migrate:requires s2_tickets 001

(S4's history table references S2's `tickets`). The runner then waits, polling with a deadline,
until that owner has recorded that version, so services started together (`make up`, compose,
a cluster) migrate in the right order whoever starts first; after the deadline it fails with a
message that names the missing migration.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

logger = logging.getLogger("helpdesk.migrations")

_OWNER = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_UP = re.compile(r"^--\s*migrate:up\s*$", re.MULTILINE)
_DOWN = re.compile(r"^--\s*migrate:down\s*$", re.MULTILINE)
_REQUIRES = re.compile(r"^--\s*migrate:requires\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)
REQUIRES_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Requirement:
    """Another owner's migration that must be applied first."""

    owner: str
    version: str


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    up_sql: str
    requires: tuple[Requirement, ...] = field(default=())


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
        requires = []
        for owner, required_version in _REQUIRES.findall(text[: up.start()]):
            if not _OWNER.match(owner) or not required_version.isdigit():
                raise ValueError(f"migration file {path.name}: bad 'migrate:requires {owner} {required_version}'")
            requires.append(Requirement(owner=owner, version=required_version))
        body = text[up.end() :]
        down = _DOWN.search(body)
        if down is not None:
            body = body[: down.start()]
        migrations.append(Migration(version=version, name=path.name, up_sql=body.strip(), requires=tuple(requires)))
    return migrations


async def _is_applied(conn: asyncpg.Connection, requirement: Requirement) -> bool:
    table = f"{requirement.owner}_schema_migrations"
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return False
    return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE version = $1)", requirement.version))


async def wait_for_requirements(
    conn: asyncpg.Connection, migration: Migration, *, max_wait: float = REQUIRES_TIMEOUT_SECONDS
) -> None:
    """Return once every migration `migration` requires is applied; RuntimeError after `max_wait` s."""
    deadline = time.monotonic() + max_wait
    for requirement in migration.requires:
        logged = False
        while not await _is_applied(conn, requirement):
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"migration {migration.name} requires {requirement.owner} migration {requirement.version}, "
                    f"which was not applied within {max_wait:.0f}s: is that service running against this database?"
                )
            if not logged:
                logger.info(
                    "waiting for another service's migration",
                    extra={"migration": migration.name, "requires": f"{requirement.owner} {requirement.version}"},
                )
                logged = True
            await asyncio.sleep(0.2)


async def run_migrations(
    conn: asyncpg.Connection, *, owner: str, directory: Path, requires_timeout: float = REQUIRES_TIMEOUT_SECONDS
) -> list[str]:
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
            await wait_for_requirements(conn, migration, max_wait=requires_timeout)
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
