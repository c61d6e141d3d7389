"""The caller's own account: the display name (PATCH /me) and the password (POST /password)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from jose import jwt

from helpdesk_common.security import create_access_token
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET

from .conftest import THROTTLE, Account, bearer, login, refresh, unique_email

JSON = {"Content-Type": "application/json"}
NEW_PASSWORD = "a-brand-new-passw0rd"


# --- the display name ---------------------------------------------------------------------------


async def test_a_name_given_at_registration_is_shown_everywhere(client: httpx.AsyncClient, staff: Account) -> None:
    email = unique_email()
    created = await client.post(
        "/register", json={"email": email, "password": "long-enough", "name": "  Ada Lovelace "}
    )
    assert created.status_code == 201
    assert created.json()["name"] == "Ada Lovelace"
    user_id = created.json()["id"]

    one = await client.get(f"/users/{user_id}", headers=staff.headers)
    listed = await client.get("/users", params={"ids": str(user_id)}, headers=staff.headers)

    assert one.json()["name"] == "Ada Lovelace"
    assert listed.json()["users"][0]["name"] == "Ada Lovelace"


@pytest.mark.parametrize(
    ("name", "stored"), [("Grace Hopper", "Grace Hopper"), ("  Zoë  ", "Zoë"), ("", None), ("   ", None), (None, None)]
)
async def test_patch_me_sets_or_removes_the_name(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, name: str | None, stored: str | None
) -> None:
    await db.execute("UPDATE users SET name = 'Before' WHERE id = $1", user.id)

    response = await client.patch("/me", json={"name": name}, headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {"user": {"sub": user.id, "role": "user", "email": user.email, "name": stored}}
    assert await db.fetchval("SELECT name FROM users WHERE id = $1", user.id) == stored
    assert (await client.get("/me", headers=user.headers)).json()["user"]["name"] == stored


async def test_a_name_of_100_characters_is_accepted(client: httpx.AsyncClient, user: Account) -> None:
    response = await client.patch("/me", json={"name": "n" * 100}, headers=user.headers)

    assert response.status_code == 200


NAME_BAD_BODIES: dict[str, Any] = {
    "missing name": {},
    "name is a number": {"name": 5},
    "name is a list": {"name": ["Ada"]},
    "name too long": {"name": "n" * 101},
    "name with a newline": {"name": "Ada\nLovelace"},
    "name with NUL": {"name": "Ada\u0000"},
    "unknown field": {"name": "Ada", "role": "admin"},
    "body is a list": ["Ada"],
}


@pytest.mark.parametrize("body", NAME_BAD_BODIES.values(), ids=NAME_BAD_BODIES.keys())
async def test_bad_name_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, body: Any
) -> None:
    response = await client.patch("/me", content=json.dumps(body), headers=user.headers | JSON)

    assert response.status_code == 400
    assert set(response.json()) == {"error", "details"}
    assert await db.fetchrow("SELECT name, role FROM users WHERE id = $1", user.id) == (None, "user")


@pytest.mark.parametrize(
    "body",
    [
        {"email": unique_email(), "password": "long-enough", "name": 5},
        {"email": unique_email(), "password": "long-enough", "name": "n" * 101},
        {"email": unique_email(), "password": "long-enough", "name": "tab\there"},
    ],
    ids=["number", "too long", "control character"],
)
async def test_registration_refuses_a_bad_name(client: httpx.AsyncClient, db: asyncpg.Connection, body: Any) -> None:
    response = await client.post("/register", json=body)

    assert response.status_code == 400
    assert "name" in {d["field"] for d in response.json()["details"]}
    assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", body["email"]) == 0


async def test_patch_me_needs_a_valid_token(client: httpx.AsyncClient) -> None:
    assert (await client.patch("/me", json={"name": "x"})).status_code == 401
    assert (await client.patch("/me", json={"name": "x"}, headers=bearer("not-a-token"))).status_code == 401


async def test_patch_me_malformed_json_is_400_and_a_form_415(client: httpx.AsyncClient, user: Account) -> None:
    assert (await client.patch("/me", content=b'{"name": ', headers=user.headers | JSON)).status_code == 400
    assert (await client.patch("/me", data={"name": "x"}, headers=user.headers)).status_code == 415


# --- the password -------------------------------------------------------------------------------


async def change(client: httpx.AsyncClient, token: str, current: str, new: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(
        "/password", json={"current_password": current, "new_password": new}, headers=bearer(token)
    )


async def test_a_password_change_ends_every_other_session_and_token(client: httpx.AsyncClient, user: Account) -> None:
    here = (await login(client, user.email, user.password)).json()
    elsewhere = (await login(client, user.email, user.password)).json()

    response = await change(client, here["token"], user.password)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "token_type", "expires_in"}
    new_claims = jwt.decode(body["token"], TEST_JWT_SECRET, algorithms=["HS256"])
    assert new_claims["sid"] == jwt.decode(here["token"], TEST_JWT_SECRET, algorithms=["HS256"])["sid"]
    # This session goes on, with the new token and its refresh token ...
    assert (await client.get("/me", headers=bearer(body["token"]))).status_code == 200
    assert (await refresh(client, here["refresh_token"])).status_code == 200
    # ... every token issued before is refused, the other session is over ...
    for old in (here["token"], elsewhere["token"], user.token):
        assert (await client.get("/me", headers=bearer(old))).status_code == 401
    assert (await refresh(client, elsewhere["refresh_token"])).status_code == 401
    # ... and only the new password logs in.
    assert (await login(client, user.email, NEW_PASSWORD)).status_code == 200
    assert (await login(client, user.email, user.password)).status_code == 401


async def test_a_token_of_no_session_ends_every_session(client: httpx.AsyncClient, user: Account) -> None:
    session = (await login(client, user.email, user.password)).json()
    sessionless = create_access_token(
        user_id=user.id, role="user", email=user.email, secret=TEST_JWT_SECRET, algorithm="HS256", ttl_seconds=900
    )

    assert (await change(client, sessionless, user.password)).status_code == 200

    assert (await refresh(client, session["refresh_token"])).status_code == 401


async def test_a_wrong_current_password_is_403_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    hash_before = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id)

    response = await change(client, user.token, "not-my-password")

    assert response.status_code == 403
    assert set(response.json()) == {"error"}
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id) == hash_before
    assert (await client.get("/me", headers=user.headers)).status_code == 200


async def test_guessing_the_current_password_is_throttled_like_a_login(
    client: httpx.AsyncClient, user: Account
) -> None:
    """A stolen access token must not become a way to guess the password without limit."""
    for _ in range(THROTTLE["login_max_failures_per_email"]):
        assert (await change(client, user.token, "a-wrong-guess")).status_code == 403

    blocked = await change(client, user.token, user.password)

    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


PASSWORD_BAD_BODIES: dict[str, Any] = {
    "missing current": {"new_password": NEW_PASSWORD},
    "missing new": {"current_password": "whatever"},
    "empty object": {},
    "new too short": {"current_password": "whatever", "new_password": "short"},
    "new too long": {"current_password": "whatever", "new_password": "p" * 1025},
    "new is a number": {"current_password": "whatever", "new_password": 12345678},
    "current is null": {"current_password": None, "new_password": NEW_PASSWORD},
    "same as current": {"current_password": NEW_PASSWORD, "new_password": NEW_PASSWORD},
    "unknown field": {"current_password": "whatever", "new_password": NEW_PASSWORD, "user_id": 1},
    "body is a list": [],
}


@pytest.mark.parametrize("body", PASSWORD_BAD_BODIES.values(), ids=PASSWORD_BAD_BODIES.keys())
async def test_bad_password_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, body: Any
) -> None:
    hash_before = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id)

    response = await client.post("/password", content=json.dumps(body), headers=user.headers | JSON)

    assert response.status_code == 400
    assert set(response.json()) == {"error", "details"}
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id) == hash_before


async def test_password_change_needs_a_valid_token_json_and_well_formed_json(
    client: httpx.AsyncClient, user: Account
) -> None:
    body = {"current_password": user.password, "new_password": NEW_PASSWORD}
    assert (await client.post("/password", json=body)).status_code == 401
    assert (await client.post("/password", data=body, headers=user.headers)).status_code == 415
    assert (await client.post("/password", content=b'{"current_', headers=user.headers | JSON)).status_code == 400
    assert (await login(client, user.email, user.password)).status_code == 200
