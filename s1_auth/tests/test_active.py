"""PATCH /users/{id}/active: admins deactivate and reactivate users; a deactivated user cannot
log in or refresh and their tokens end; nobody locks the system out of its last admin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import Account, bearer, login, refresh

NewAccount = Callable[..., Awaitable[Account]]
JSON = {"Content-Type": "application/json"}


async def set_active(client: httpx.AsyncClient, caller: Account, user_id: int, active: Any) -> httpx.Response:
    return await client.patch(f"/users/{user_id}/active", json={"active": active}, headers=caller.headers)


async def is_active(db: asyncpg.Connection, user_id: int) -> bool:
    active: bool = await db.fetchval("SELECT active FROM users WHERE id = $1", user_id)
    return active


@pytest.fixture
async def sole_admin(client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account) -> AsyncIterator[Account]:
    """The configured admin as the only active admin (others are demoted first)."""
    for row in await db.fetch("SELECT id FROM users WHERE role = 'admin' AND id <> $1", admin.id):
        response = await client.patch(f"/users/{row['id']}/role", json={"role": "user"}, headers=admin.headers)
        assert response.status_code == 200
    yield admin
    await db.execute("UPDATE users SET role = 'admin', active = true WHERE id = $1", admin.id)


async def test_a_deactivated_user_cannot_log_in_refresh_or_use_a_token(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    session = (await login(client, user.email, user.password)).json()

    response = await set_active(client, admin, user.id, False)

    assert response.status_code == 200
    assert response.json() == {"id": user.id, "email": user.email, "role": "user", "name": None, "active": False}
    assert not await is_active(db, user.id)
    # The right password says the account is deactivated; a wrong one says nothing more than ever.
    right = await login(client, user.email, user.password)
    assert right.status_code == 403 and "deactivated" in right.json()["error"]
    assert (await login(client, user.email, "wrong-password")).json() == {"error": "invalid credentials"}
    assert (await refresh(client, session["refresh_token"])).status_code == 401
    for token in (session["token"], user.token):
        assert (await client.get("/me", headers=bearer(token))).status_code == 401
    assert (
        await db.fetchval(
            "SELECT count(*) FROM s1_auth_sessions WHERE user_id = $1 AND end_reason = 'deactivated'", user.id
        )
        >= 1
    )


async def test_a_reactivated_user_logs_in_again_but_old_tokens_stay_dead(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    await set_active(client, admin, user.id, False)

    response = await set_active(client, admin, user.id, True)

    assert response.status_code == 200 and response.json()["active"] is True
    assert (await login(client, user.email, user.password)).status_code == 200
    assert (await client.get("/me", headers=user.headers)).status_code == 401


async def test_setting_the_current_state_changes_nothing(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    response = await set_active(client, admin, user.id, True)

    assert response.status_code == 200
    assert (await client.get("/me", headers=user.headers)).status_code == 200  # no token ended


async def test_an_admin_cannot_deactivate_themselves(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account
) -> None:
    response = await set_active(client, admin, admin.id, False)

    assert response.status_code == 409
    assert set(response.json()) == {"error"}
    assert await is_active(db, admin.id)


async def test_another_admin_can_be_deactivated_and_then_does_not_count_as_an_admin(
    client: httpx.AsyncClient, db: asyncpg.Connection, sole_admin: Account, new_account: NewAccount
) -> None:
    second = await new_account("admin")

    assert (await set_active(client, sole_admin, second.id, False)).status_code == 200

    # The deactivated admin can no longer act (its token is refused, or, until S1's cache has
    # heard, the database says it is no active admin) ...
    assert (await set_active(client, second, sole_admin.id, False)).status_code in (401, 403)
    # ... and does not count: the sole active admin still cannot be demoted.
    demoted = await client.patch(f"/users/{sole_admin.id}/role", json={"role": "user"}, headers=sole_admin.headers)
    assert demoted.status_code == 409
    assert await db.fetchval("SELECT role FROM users WHERE id = $1", sole_admin.id) == "admin"


async def test_a_restart_brings_the_configured_admin_back_if_it_was_deactivated(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_dsn: str, user: Account
) -> None:
    """The way back in when every admin is locked out (say, deactivated by hand in SQL)."""
    from .test_first_admin import start_replicas

    await db.execute("UPDATE users SET active = false WHERE id = $1", user.id)

    await start_replicas(database_dsn, 1, admin_email=user.email, admin_password="configured-password")

    assert await db.fetchrow("SELECT role, active FROM users WHERE id = $1", user.id) == ("admin", True)
    assert (await login(client, user.email, user.password)).status_code == 200


@pytest.mark.parametrize("who", ["user", "staff", "self"])
async def test_only_admins_change_who_is_active(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, other_user: Account, staff: Account, who: str
) -> None:
    caller = {"user": other_user, "staff": staff, "self": user}[who]

    response = await set_active(client, caller, user.id, False)

    assert response.status_code == 403
    assert await is_active(db, user.id)


async def test_anonymous_is_401(client: httpx.AsyncClient, db: asyncpg.Connection, user: Account) -> None:
    assert (await client.patch(f"/users/{user.id}/active", json={"active": False})).status_code == 401
    assert await is_active(db, user.id)


async def test_an_unknown_user_is_404(client: httpx.AsyncClient, admin: Account) -> None:
    assert (await set_active(client, admin, 2_147_483_647, False)).status_code == 404


@pytest.mark.parametrize("bad_id", ["abc", "0", "-3", "2147483648", "1.5"])
async def test_a_bad_id_is_400(client: httpx.AsyncClient, admin: Account, bad_id: str) -> None:
    assert (
        await client.patch(f"/users/{bad_id}/active", json={"active": False}, headers=admin.headers)
    ).status_code == 400


BAD_BODIES: dict[str, Any] = {
    "missing active": {},
    "active is a string": {"active": "false"},
    "active is a number": {"active": 0},
    "active is null": {"active": None},
    "unknown field": {"active": False, "role": "admin"},
    "body is a list": [False],
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_bad_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account, body: Any
) -> None:
    response = await client.patch(f"/users/{user.id}/active", content=json.dumps(body), headers=admin.headers | JSON)

    assert response.status_code == 400
    assert set(response.json()) == {"error", "details"}
    assert await is_active(db, user.id)


async def test_malformed_json_is_400_and_a_form_is_415(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    path = f"/users/{user.id}/active"
    assert (await client.patch(path, content=b'{"active": fal', headers=admin.headers | JSON)).status_code == 400
    assert (await client.patch(path, data={"active": "false"}, headers=admin.headers)).status_code == 415
    assert await is_active(db, user.id)
