"""S7 test fixtures: the tables S7 reads (migrated by their owners' own migrations, as the
fleet does), one S7 app (real lifespan, real PostgreSQL) per xdist worker, and a staff token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from helpdesk_common.migrations import run_migrations
from helpdesk_common.security import create_access_token
from helpdesk_fleet.pytest_plugin import REPO_ROOT, TEST_JWT_SECRET
from s7_analytics.main import build_app
from s7_analytics.settings import Settings

OWNERS: list[tuple[str, Path]] = [
    ("s2_tickets", REPO_ROOT / "s2_tickets" / "s2_tickets" / "migrations"),
    ("s4_workflow", REPO_ROOT / "s4_workflow" / "s4_workflow" / "migrations"),
    ("s8_feedback", REPO_ROOT / "s8_feedback" / "s8_feedback" / "migrations"),
]


async def migrate_sources(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for owner, directory in OWNERS:
            await run_migrations(conn, owner=owner, directory=directory)
    finally:
        await conn.close()


def token(role: str, user_id: int = 42) -> dict[str, str]:
    jwt = create_access_token(
        user_id=user_id, role=role, email=f"u{user_id}@example.com", secret=TEST_JWT_SECRET, algorithm="HS256",
        ttl_seconds=3600,
    )  # fmt: skip
    return {"Authorization": f"Bearer {jwt}"}


@pytest.fixture(scope="session")
async def client(database_dsn: str, make_app_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> httpx.AsyncClient:
    await migrate_sources(database_dsn)
    # Every read computes: these tests look at the queries, not at the cache.
    return await make_app_client(build_app, Settings, analytics_cache_seconds=0)


@pytest.fixture
def staff() -> dict[str, str]:
    return token("staff")
