"""The first admin comes from ADMIN_EMAIL / ADMIN_PASSWORD at start, safely with several replicas."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import base_settings
from s1_auth.main import build_app
from s1_auth.repository import UsersRepository
from s1_auth.settings import Settings

from .conftest import ADMIN_EMAIL, FAST_HASH, Account, login, register, unique_email

# Long enough never to fire on a healthy run; only there so a broken build fails instead of hanging.
DEADLOCK_GUARD_SECONDS = 10


async def start_replicas(database_dsn: str, count: int, **settings: Any) -> None:
    """Run `count` apps' start-up (migrations and hooks) at once against one database, then stop them."""
    apps = [build_app(Settings(**base_settings(database_dsn, **FAST_HASH, **settings))) for _ in range(count)]
    async with AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(app.router.lifespan_context(app)) for app in apps))


async def test_the_configured_admin_exists_and_can_log_in(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account
) -> None:
    assert await db.fetchval("SELECT role FROM users WHERE email = $1", ADMIN_EMAIL) == "admin"
    me = await client.get("/me", headers=admin.headers)
    assert me.json()["user"] == {"sub": admin.id, "role": "admin", "email": ADMIN_EMAIL, "name": None}


async def test_replicas_starting_together_create_one_admin(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email("boss")
    # Hold every replica just before its insert until all three are there: each has found no
    # account, so all three insert at once, the worst case.
    all_found_no_account = asyncio.Barrier(3)
    real_insert = UsersRepository.create_or_restore_admin

    async def insert_together(self: UsersRepository, **kwargs: Any) -> asyncpg.Record:
        async with asyncio.timeout(DEADLOCK_GUARD_SECONDS):
            await all_found_no_account.wait()
        return await real_insert(self, **kwargs)

    monkeypatch.setattr(UsersRepository, "create_or_restore_admin", insert_together)

    await start_replicas(database_dsn, 3, admin_email=f" {email.upper()} ", admin_password="boss-password")

    rows = await db.fetch("SELECT role FROM users WHERE email = $1", email)
    assert [row["role"] for row in rows] == ["admin"]
    assert (await login(client, email, "boss-password")).status_code == 200


async def test_an_existing_account_is_promoted_and_keeps_its_password(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_dsn: str
) -> None:
    email = unique_email("promoted")
    user = await register(client, email, "original-password")
    hash_before = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user["id"])

    await start_replicas(database_dsn, 2, admin_email=email, admin_password="configured-password")

    assert await db.fetchval("SELECT role FROM users WHERE id = $1", user["id"]) == "admin"
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user["id"]) == hash_before
    assert (await login(client, email, "original-password")).status_code == 200
    assert (await login(client, email, "configured-password")).status_code == 401


async def test_a_restart_without_admin_settings_changes_no_role(
    db: asyncpg.Connection, database_dsn: str, user: Account
) -> None:
    admins_before = await db.fetch("SELECT id FROM users WHERE role = 'admin' ORDER BY id")

    await start_replicas(database_dsn, 1)

    assert await db.fetch("SELECT id FROM users WHERE role = 'admin' ORDER BY id") == admins_before
    assert await db.fetchval("SELECT role FROM users WHERE id = $1", user.id) == "user"
