"""Sessions: refresh tokens rotate on every use, a reused one ends its session, logout ends it,
browsers keep theirs in a cookie; and the token-state feed that tells every service."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import asyncpg
import httpx
import pytest
from jose import jwt

from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN

from .conftest import Account, bearer, login, refresh

NewAccount = Callable[..., Awaitable[Account]]
SERVICE = {"X-Service-Token": TEST_SERVICE_TOKEN}
JSON = {"Content-Type": "application/json"}


async def signed_in(client: httpx.AsyncClient, account: Account, **extra: Any) -> dict[str, Any]:
    response = await login(client, account.email, account.password, **extra)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    return decoded


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Set-Cookie headers by the cookie's Path."""
    by_path: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for morsel in cookie.values():
            by_path[morsel["path"]] = cookie
    return by_path


def cookie_header(token: str) -> dict[str, str]:
    return {"Cookie": f"helpdesk_refresh={token}"}


async def session_end(db: asyncpg.Connection, session_id: int) -> str | None:
    reason: str | None = await db.fetchval("SELECT end_reason FROM s1_auth_sessions WHERE id = $1", session_id)
    return reason


# --- rotation -------------------------------------------------------------------------------------


async def test_a_refresh_gives_a_new_access_token_and_the_next_refresh_token(
    client: httpx.AsyncClient, user: Account
) -> None:
    first = await signed_in(client, user)

    response = await refresh(client, first["refresh_token"])

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}
    assert body["refresh_token"] != first["refresh_token"]
    assert body["expires_in"] == 900
    assert claims(body["token"])["sid"] == claims(first["token"])["sid"]  # the same session goes on
    assert (await client.get("/me", headers=bearer(body["token"]))).status_code == 200
    # The next one works in turn.
    assert (await refresh(client, body["refresh_token"])).status_code == 200


async def test_refresh_tokens_are_stored_only_as_their_sha256(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    token = (await signed_in(client, user))["refresh_token"]

    stored = await db.fetchval(
        "SELECT token_hash FROM s1_auth_refresh_tokens WHERE token_hash = $1", hashlib.sha256(token.encode()).digest()
    )

    assert stored is not None
    assert await db.fetchval("SELECT count(*) FROM s1_auth_refresh_tokens WHERE token_hash = $1", token.encode()) == 0


async def test_reusing_a_rotated_refresh_token_ends_the_whole_session(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    first = await signed_in(client, user)
    second = (await refresh(client, first["refresh_token"])).json()

    reused = await refresh(client, first["refresh_token"])

    assert reused.status_code == 401
    assert set(reused.json()) == {"error"}
    # Whoever holds the newer token is out too: the server cannot tell the thief from the owner.
    assert (await refresh(client, second["refresh_token"])).status_code == 401
    assert await session_end(db, claims(first["token"])["sid"]) == "refresh_reuse"
    # And the session's access tokens are refused (S1 checks its database on /me).
    assert (await client.get("/me", headers=bearer(second["token"]))).status_code == 401


async def test_other_sessions_of_the_same_user_are_not_touched_by_a_reuse(
    client: httpx.AsyncClient, user: Account
) -> None:
    laptop, phone = await signed_in(client, user), await signed_in(client, user)
    await refresh(client, laptop["refresh_token"])
    await refresh(client, laptop["refresh_token"])  # reuse: the laptop's session ends

    assert (await refresh(client, phone["refresh_token"])).status_code == 200


async def test_two_refreshes_with_one_token_at_once_give_one_new_token_and_end_the_session(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    first = await signed_in(client, user)

    responses = await asyncio.gather(*(refresh(client, first["refresh_token"]) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401, 401]
    assert await session_end(db, claims(first["token"])["sid"]) == "refresh_reuse"


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    token = (await signed_in(client, user))["refresh_token"]
    await db.execute(
        "UPDATE s1_auth_refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        hashlib.sha256(token.encode()).digest(),
    )

    assert (await refresh(client, token)).status_code == 401


@pytest.mark.parametrize("token", ["made-up", "x" * 256, "a" * 43])
async def test_an_unknown_refresh_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await refresh(client, token)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_refresh_carries_the_role_the_user_has_now(
    client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    first = await signed_in(client, user)
    assert (
        await client.patch(f"/users/{user.id}/role", json={"role": "staff"}, headers=admin.headers)
    ).status_code == 200

    body = (await refresh(client, first["refresh_token"])).json()

    assert claims(body["token"])["role"] == "staff"
    assert claims(body["token"])["tv"] == claims(first["token"])["tv"] + 1
    assert (await client.get("/users", headers=bearer(body["token"]))).status_code == 200


# --- logout ---------------------------------------------------------------------------------------


async def test_logout_ends_the_session_its_refresh_token_and_its_access_tokens(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    session = await signed_in(client, user)

    response = await client.post("/logout", json={"refresh_token": session["refresh_token"]})

    assert response.status_code == 204
    assert response.content == b""
    assert (await refresh(client, session["refresh_token"])).status_code == 401
    assert (await client.get("/me", headers=bearer(session["token"]))).status_code == 401
    assert await session_end(db, claims(session["token"])["sid"]) == "logout"


async def test_logout_twice_or_with_an_unknown_token_is_still_204(client: httpx.AsyncClient, user: Account) -> None:
    token = (await signed_in(client, user))["refresh_token"]

    for presented in (token, token, "never-issued"):
        assert (await client.post("/logout", json={"refresh_token": presented})).status_code == 204


async def test_logout_leaves_the_users_other_sessions(client: httpx.AsyncClient, user: Account) -> None:
    laptop, phone = await signed_in(client, user), await signed_in(client, user)

    await client.post("/logout", json={"refresh_token": laptop["refresh_token"]})

    assert (await client.get("/me", headers=bearer(phone["token"]))).status_code == 200
    assert (await refresh(client, phone["refresh_token"])).status_code == 200


# --- the browser's cookie -------------------------------------------------------------------------


async def test_a_browser_login_puts_the_refresh_token_in_a_strict_httponly_cookie(
    client: httpx.AsyncClient, user: Account
) -> None:
    response = await login(client, user.email, user.password, refresh_via="cookie")

    assert response.status_code == 200
    assert response.json()["refresh_token"] is None  # no script ever sees it
    cookies = set_cookies(response)
    assert set(cookies) == {"/auth/refresh", "/auth/logout"}
    for cookie in cookies.values():
        morsel = cookie["helpdesk_refresh"]
        assert morsel["httponly"] and morsel["secure"]
        assert morsel["samesite"].lower() == "strict"
        assert int(morsel["max-age"]) == 30 * 24 * 3600
        assert len(morsel.value) >= 43
    assert cookies["/auth/refresh"]["helpdesk_refresh"].value == cookies["/auth/logout"]["helpdesk_refresh"].value


async def test_a_refresh_with_the_cookie_rotates_the_cookie(client: httpx.AsyncClient, user: Account) -> None:
    signed = await login(client, user.email, user.password, refresh_via="cookie")
    token = set_cookies(signed)["/auth/refresh"]["helpdesk_refresh"].value

    response = await client.post("/refresh", json={}, headers=cookie_header(token))

    assert response.status_code == 200
    assert response.json()["refresh_token"] is None
    rotated = set_cookies(response)["/auth/refresh"]["helpdesk_refresh"].value
    assert rotated != token
    assert (await client.post("/refresh", json={}, headers=cookie_header(rotated))).status_code == 200


async def test_a_browser_logout_ends_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, user: Account
) -> None:
    signed = await login(client, user.email, user.password, refresh_via="cookie")
    token = set_cookies(signed)["/auth/logout"]["helpdesk_refresh"].value

    response = await client.post("/logout", json={}, headers=cookie_header(token))

    assert response.status_code == 204
    cleared = set_cookies(response)
    assert set(cleared) == {"/auth/refresh", "/auth/logout"}
    assert all(int(c["helpdesk_refresh"]["max-age"]) == 0 for c in cleared.values())
    assert (await client.post("/refresh", json={}, headers=cookie_header(token))).status_code == 401


async def test_without_a_token_in_the_body_or_a_cookie_refresh_and_logout_are_401(client: httpx.AsyncClient) -> None:
    for path in ("/refresh", "/logout"):
        response = await client.post(path, json={})
        assert response.status_code == 401
        assert set(response.json()) == {"error"}


BAD_BODIES: dict[str, Any] = {
    "token is a number": {"refresh_token": 12345},
    "token is a list": {"refresh_token": ["a"]},
    "token is empty": {"refresh_token": ""},
    "token too long": {"refresh_token": "x" * 257},
    "unknown field": {"refresh_token": "abc", "user_id": 1},
    "body is a list": ["abc"],
    "body is a string": "abc",
}


@pytest.mark.parametrize("path", ["/refresh", "/logout"])
@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_bad_bodies_are_400_and_end_nothing(
    client: httpx.AsyncClient, user: Account, path: str, body: Any
) -> None:
    session = await signed_in(client, user)

    response = await client.post(path, content=json.dumps(body), headers=JSON)

    assert response.status_code == 400
    assert set(response.json()) == {"error", "details"}
    assert (await refresh(client, session["refresh_token"])).status_code == 200


@pytest.mark.parametrize("path", ["/refresh", "/logout"])
async def test_malformed_json_is_400_and_a_form_is_415(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.post(path, content=b'{"refresh_token": ', headers=JSON)).status_code == 400
    assert (await client.post(path, data={"refresh_token": "abc"})).status_code == 415


async def test_login_refuses_an_unknown_refresh_via(client: httpx.AsyncClient, user: Account) -> None:
    response = await login(client, user.email, user.password, refresh_via="localStorage")

    assert response.status_code == 400
    assert "refresh_via" in {d["field"] for d in response.json()["details"]}


# --- the token-state feed -------------------------------------------------------------------------


async def test_the_feed_needs_the_service_credential(client: httpx.AsyncClient, user: Account, admin: Account) -> None:
    for headers in ({}, user.headers, admin.headers, {"X-Service-Token": "guess"}):
        response = await client.get("/token-state", headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"error"}


async def test_the_feed_tells_what_changed_since_its_cursor(
    client: httpx.AsyncClient, admin: Account, user: Account, other_user: Account
) -> None:
    start = (await client.get("/token-state", headers=SERVICE)).json()
    assert set(start) == {"cursor", "retain_seconds", "users", "ended_sessions"}
    assert start["retain_seconds"] == 900 + 300
    session = await signed_in(client, other_user)

    await client.patch(f"/users/{user.id}/role", json={"role": "staff"}, headers=admin.headers)
    await client.post("/logout", json={"refresh_token": session["refresh_token"]})
    changes = (await client.get("/token-state", params={"since": start["cursor"]}, headers=SERVICE)).json()

    assert {"id": user.id, "token_version": 1, "active": True} in changes["users"]
    assert other_user.id not in {u["id"] for u in changes["users"]}
    assert claims(session["token"])["sid"] in changes["ended_sessions"]
    assert changes["cursor"] >= start["cursor"]
    # A service that starts now learns the recent changes without a cursor.
    recent = (await client.get("/token-state", headers=SERVICE)).json()
    assert user.id in {u["id"] for u in recent["users"]}


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", str(2**63)])
async def test_a_bad_cursor_is_400(client: httpx.AsyncClient, since: str) -> None:
    response = await client.get("/token-state", params={"since": since}, headers=SERVICE)

    assert response.status_code == 400


async def test_s1_refuses_a_revoked_token_on_routes_that_trust_the_token_within_a_poll(
    app: Any, client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    """GET /users/{id} reads nothing about the caller from the database: S1's own cache, fed
    from its database every TOKEN_STATE_POLL_SECONDS, refuses the token once its role changed."""
    assert (await client.get(f"/users/{user.id}", headers=user.headers)).status_code == 200

    await client.patch(f"/users/{user.id}/role", json={"role": "staff"}, headers=admin.headers)

    async with asyncio.timeout(5):
        while (await client.get(f"/users/{user.id}", headers=user.headers)).status_code != 401:
            await asyncio.sleep(0.02)  # a poll interval, under the deadline above


async def test_expired_tokens_and_old_sessions_are_pruned(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    from s1_auth.repository import UsersRepository

    session = await signed_in(client, user)
    sid = claims(session["token"])["sid"]
    await db.execute(
        "UPDATE s1_auth_refresh_tokens SET expires_at = now() - interval '1 day' WHERE session_id = $1", sid
    )
    await db.execute("UPDATE s1_auth_sessions SET created_at = now() - interval '40 days' WHERE id = $1", sid)

    while await UsersRepository(db).prune_sessions(retain_seconds=1200, batch=1000) >= 1000:
        pass

    assert await db.fetchval("SELECT count(*) FROM s1_auth_refresh_tokens WHERE session_id = $1", sid) == 0
    assert await db.fetchval("SELECT count(*) FROM s1_auth_sessions WHERE id = $1", sid) == 0
