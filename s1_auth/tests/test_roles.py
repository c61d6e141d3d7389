"""PATCH /users/{id}/role: admins only; never leaves the system without an admin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from s1_auth.repository import UsersRepository

from .conftest import Account, register, token_for, unique_email

NewAccount = Callable[..., Awaitable[Account]]
# Long enough never to fire on a healthy run; only there so a broken build fails instead of hanging.
DEADLOCK_GUARD_SECONDS = 10


async def role_of(db: asyncpg.Connection, user_id: int) -> str:
    role: str = await db.fetchval("SELECT role FROM users WHERE id = $1", user_id)
    return role


async def set_role(client: httpx.AsyncClient, caller: Account, user_id: int, role: Any) -> httpx.Response:
    return await client.patch(f"/users/{user_id}/role", json={"role": role}, headers=caller.headers)


@pytest.fixture
async def sole_admin(client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account) -> AsyncIterator[Account]:
    """The configured admin as the only admin: every other admin (made by earlier tests) is
    demoted first. Restored afterwards if a test demoted it."""
    for other_id in await db.fetch("SELECT id FROM users WHERE role = 'admin' AND id <> $1", admin.id):
        assert (await set_role(client, admin, other_id["id"], "user")).status_code == 200
    yield admin
    if await role_of(db, admin.id) != "admin":
        await db.execute("UPDATE users SET role = 'admin' WHERE id = $1", admin.id)


@pytest.mark.parametrize("role", ["staff", "admin", "user"])
async def test_an_admin_sets_any_role(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account, role: str
) -> None:
    response = await set_role(client, admin, user.id, role)

    assert response.status_code == 200
    assert response.json() == {"id": user.id, "email": user.email, "role": role, "name": None, "active": True}
    assert await role_of(db, user.id) == role


async def test_the_new_role_is_in_the_next_token(client: httpx.AsyncClient, admin: Account, user: Account) -> None:
    await set_role(client, admin, user.id, "staff")

    token = await token_for(client, user.email, user.password)

    me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["user"]["role"] == "staff"
    # And it opens the staff routes.
    assert (await client.get("/users", headers={"Authorization": f"Bearer {token}"})).status_code == 200


@pytest.mark.parametrize("who", ["user", "staff"])
@pytest.mark.parametrize("target", ["self", "other"])
async def test_only_admins_change_roles(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    user: Account,
    other_user: Account,
    staff: Account,
    who: str,
    target: str,
) -> None:
    caller = user if who == "user" else staff
    victim = caller if target == "self" else other_user
    role_before = await role_of(db, victim.id)

    response = await set_role(client, caller, victim.id, "admin")

    assert response.status_code == 403
    assert set(response.json()) == {"error"}
    assert await role_of(db, victim.id) == role_before


async def test_setting_the_current_role_changes_nothing(
    client: httpx.AsyncClient, admin: Account, staff: Account
) -> None:
    response = await set_role(client, admin, staff.id, "staff")

    assert response.status_code == 200
    assert response.json()["role"] == "staff"


async def test_an_unknown_user_is_404(client: httpx.AsyncClient, admin: Account) -> None:
    response = await set_role(client, admin, 2_147_483_647, "staff")

    assert response.status_code == 404
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("bad_id", ["abc", "0", "-3", "2147483648", "1.5"])
async def test_a_bad_id_is_400(client: httpx.AsyncClient, admin: Account, bad_id: str) -> None:
    response = await client.patch(f"/users/{bad_id}/role", json={"role": "staff"}, headers=admin.headers)

    assert response.status_code == 400


BAD_BODIES: dict[str, Any] = {
    "missing role": {},
    "unknown role": {"role": "superuser"},
    "upper-case role": {"role": "ADMIN"},
    "empty role": {"role": ""},
    "role is a number": {"role": 1},
    "role is null": {"role": None},
    "role is a list": {"role": ["admin"]},
    "extra field": {"role": "staff", "email": "new@example.com"},
    "body is a list": ["admin"],
    "body is a string": "admin",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_invalid_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account, body: Any
) -> None:
    response = await client.patch(
        f"/users/{user.id}/role",
        content=json.dumps(body),
        headers=admin.headers | {"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert set(response.json()) == {"error", "details"}
    assert await db.fetchrow("SELECT email, role FROM users WHERE id = $1", user.id) == (user.email, "user")


async def test_malformed_json_is_400(client: httpx.AsyncClient, admin: Account, user: Account) -> None:
    response = await client.patch(
        f"/users/{user.id}/role",
        content=b'{"role": "adm',
        headers=admin.headers | {"Content-Type": "application/json"},
    )

    assert response.status_code == 400


async def test_a_form_body_is_415(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    response = await client.patch(f"/users/{user.id}/role", data={"role": "admin"}, headers=admin.headers)

    assert response.status_code == 415
    assert await role_of(db, user.id) == "user"


# --- the last admin ---------------------------------------------------------------------------


@pytest.mark.parametrize("new_role", ["user", "staff"])
async def test_the_last_admin_cannot_be_demoted(
    client: httpx.AsyncClient, db: asyncpg.Connection, sole_admin: Account, new_role: str
) -> None:
    response = await set_role(client, sole_admin, sole_admin.id, new_role)

    assert response.status_code == 409
    assert set(response.json()) == {"error"}
    assert "last admin" in response.json()["error"]
    assert await role_of(db, sole_admin.id) == "admin"


async def test_an_admin_can_be_demoted_while_another_remains(
    client: httpx.AsyncClient, db: asyncpg.Connection, sole_admin: Account, new_account: NewAccount
) -> None:
    second = await new_account("admin")

    # The second admin steps down; then the first is the last one again.
    assert (await set_role(client, sole_admin, second.id, "user")).status_code == 200
    assert (await set_role(client, sole_admin, sole_admin.id, "user")).status_code == 409
    assert await db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'") == 1


async def until_blocked_or_done(db: asyncpg.Connection, task: asyncio.Task[httpx.Response]) -> None:
    """Return once `task` is done or some session of this database waits for a row lock (each
    check is a database round trip, which paces the loop)."""
    while not task.done() and not await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')"
    ):
        pass


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    sole_admin: Account,
    new_account: NewAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worst interleaving, forced: the first change has read the admins and stops; the second
    starts. Without the admin lock the second would see two admins, both changes would pass,
    and no admin would be left."""
    second = await new_account("admin")
    first_has_read_admins = asyncio.Event()
    go_on = asyncio.Event()
    real_get_for_update = UsersRepository.get_for_update

    async def pause_the_first_change(self: UsersRepository, *, user_id: int) -> asyncpg.Record | None:
        if user_id == second.id:
            first_has_read_admins.set()
            await go_on.wait()
        return await real_get_for_update(self, user_id=user_id)

    monkeypatch.setattr(UsersRepository, "get_for_update", pause_the_first_change)

    first = asyncio.create_task(set_role(client, sole_admin, second.id, "user"))
    async with asyncio.timeout(DEADLOCK_GUARD_SECONDS):
        await first_has_read_admins.wait()
    second_change = asyncio.create_task(set_role(client, second, sole_admin.id, "user"))
    try:
        # Let the first go on once the second either finished or queued behind its locks.
        async with asyncio.timeout(DEADLOCK_GUARD_SECONDS):
            await until_blocked_or_done(db, second_change)
    finally:
        go_on.set()
    first_response, second_response = await first, await second_change

    assert first_response.status_code == 200
    # The second waited for the first, then found its caller no longer an admin.
    assert second_response.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'") == 1
    assert await role_of(db, sole_admin.id) == "admin"


async def test_a_demoted_admin_token_can_no_longer_change_roles(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, new_account: NewAccount, user: Account
) -> None:
    """Its token still says admin for up to an hour; the database has the last word."""
    former = await new_account("admin")
    assert (await set_role(client, admin, former.id, "user")).status_code == 200

    response = await set_role(client, former, user.id, "admin")

    assert response.status_code == 403
    assert await role_of(db, user.id) == "user"


# --- nothing else makes staff or admins -------------------------------------------------------


async def test_registration_cannot_escalate(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    email = unique_email("mallory")
    created = (
        await client.post("/register", json={"email": email, "password": "mallory-password", "role": "admin"})
    ).json()
    token = await token_for(client, email, "mallory-password")

    me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})

    assert created["role"] == "user"
    assert me.json()["user"]["role"] == "user"
    assert (await client.get("/users", headers={"Authorization": f"Bearer {token}"})).status_code == 403
    assert await role_of(db, created["id"]) == "user"


async def test_reregistering_an_admin_email_does_not_touch_the_admin(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account
) -> None:
    hash_before = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", admin.id)

    response = await client.post("/register", json={"email": admin.email, "password": "taken-over-password"})

    assert response.status_code == 409
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = $1", admin.id) == hash_before
    assert (await register(client, unique_email()))["role"] == "user"
