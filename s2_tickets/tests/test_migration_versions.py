"""Migration 003 on a database that already has tickets (as every deployment before it does):
rows, ids and the columns S4, S5, S7 and S8 read are kept; each row starts at version 1; the
rebuilt search column covers the old rows too."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from helpdesk_common.migrations import run_migrations
from helpdesk_fleet.postgres import create_scratch_database
from s2_tickets.main import MIGRATIONS_DIR

OWNER = "s2_tickets"


@pytest.fixture
async def before_003(pg_admin_dsn: str, tmp_path: Path) -> AsyncIterator[asyncpg.Connection]:
    """A database migrated up to 002 only, with tickets written the way S2 and S4 wrote them."""
    conn = await asyncpg.connect(await create_scratch_database(pg_admin_dsn))
    older = tmp_path / "migrations"
    older.mkdir()
    for migration in sorted(MIGRATIONS_DIR.glob("00[12]_*.sql")):
        shutil.copy(migration, older)
    assert await run_migrations(conn, owner=OWNER, directory=older) == ["001", "002"]
    await conn.execute(
        "INSERT INTO tickets (user_id, title, description, category, status, priority, assigned_to)"
        " SELECT 1 + n % 7, 'Printer jammed ' || n, 'Paper everywhere.', 'bug', 'assigned', 'high', 3"
        " FROM generate_series(1, 50) AS n"
    )
    yield conn
    await conn.close()


async def test_003_keeps_every_row_and_starts_them_at_version_1(before_003: asyncpg.Connection) -> None:
    kept_columns = "id, user_id, title, description, category, status, priority, assigned_to, created_at, updated_at"
    before = await before_003.fetch(f"SELECT {kept_columns} FROM tickets ORDER BY id")

    assert await run_migrations(before_003, owner=OWNER, directory=MIGRATIONS_DIR) == ["003", "004"]

    after = await before_003.fetch(f"SELECT {kept_columns} FROM tickets ORDER BY id")
    assert after == before
    assert await before_003.fetchval("SELECT array_agg(DISTINCT version) FROM tickets") == [1]
    # S7's state index from 002 is untouched; the search index is back.
    indexes = {
        r["indexname"] for r in await before_003.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'tickets'")
    }
    assert {"tickets_state_idx", "tickets_search_idx"} <= indexes


async def test_after_003_old_rows_are_found_by_prefix_and_move_their_version(before_003: asyncpg.Connection) -> None:
    await run_migrations(before_003, owner=OWNER, directory=MIGRATIONS_DIR)

    found = await before_003.fetchval("SELECT count(*) FROM tickets WHERE search @@ to_tsquery('simple', 'jamm:*')")
    version = await before_003.fetchval(
        "UPDATE tickets SET status = 'in_progress' WHERE id = (SELECT min(id) FROM tickets) RETURNING version"
    )

    assert found == 50
    assert version == 2


async def test_004_starts_old_rows_with_their_last_change_as_activity_and_keeps_their_version(
    before_003: asyncpg.Connection,
) -> None:
    await run_migrations(before_003, owner=OWNER, directory=MIGRATIONS_DIR)

    rows = await before_003.fetch(
        "SELECT version, comment_count, public_comment_count, activity_at, public_activity_at, updated_at FROM tickets"
    )
    assert len(rows) == 50
    for row in rows:
        assert row["version"] == 1
        assert row["comment_count"] == row["public_comment_count"] == 0
        assert row["activity_at"] == row["public_activity_at"] == row["updated_at"]
