"""POST /login: a token for the right password; one 401 for every wrong answer; the throttle."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx
import pytest
from jose import jwt

from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET

from .conftest import THROTTLE, Account, count_failures, login, random_ip, register, unique_email

MAX_PER_EMAIL = THROTTLE["login_max_failures_per_email"]
MAX_PER_IP = THROTTLE["login_max_failures_per_ip"]
WINDOW = THROTTLE["login_failure_window_seconds"]
# A failure recorded $3 seconds ago.
STALE_FAILURE_SQL = """
    INSERT INTO s1_auth_login_failures (email, client_ip, failed_at)
    VALUES ($1, $2, now() - $3 * interval '1 second')
"""


async def test_login_answers_a_bearer_token_with_the_account_claims(client: httpx.AsyncClient, user: Account) -> None:
    before = int(time.time())

    response = await login(client, user.email, user.password)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900  # JWT_TTL_SECONDS' default
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
    assert body["refresh_expires_in"] == 30 * 24 * 3600
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(body["token"], TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(user.id)
    assert claims["role"] == "user"
    assert claims["email"] == user.email
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 900
    assert claims["tv"] == 0  # never changed yet
    assert isinstance(claims["sid"], int) and claims["sid"] > 0


async def test_the_token_works_on_me(client: httpx.AsyncClient, user: Account) -> None:
    response = await login(client, f"  {user.email.upper()} ", user.password)
    token = response.json()["token"]

    me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})

    assert me.status_code == 200
    assert me.json() == {"user": {"sub": user.id, "role": "user", "email": user.email, "name": None}}


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    wrong_password = await login(client, user.email, user.password + "x")
    unknown_email = await login(client, unique_email("nobody"), user.password)
    not_an_email = await login(client, "not an email at all", user.password)

    for response in (wrong_password, unknown_email, not_an_email):
        assert response.status_code == 401
        assert response.json() == {"error": "invalid credentials"}
    # Byte for byte the same answer (bar the request id): nothing tells the cases apart.
    assert wrong_password.content == unknown_email.content == not_an_email.content


async def test_an_unknown_email_still_costs_a_hash_verification(
    app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same timing by construction: the unknown-email path verifies against the dummy hash."""
    hasher = app.state.password_hasher
    verified: list[str] = []
    real_verify = hasher.context.verify_and_update

    def spy(secret: str, stored: str) -> tuple[bool, str | None]:
        verified.append(stored)
        result: tuple[bool, str | None] = real_verify(secret, stored)
        return result

    monkeypatch.setattr(hasher.context, "verify_and_update", spy)

    response = await login(client, unique_email("nobody"), "whatever-password")

    assert response.status_code == 401
    assert verified == [hasher.dummy_hash]


LOGIN_BAD_BODIES: dict[str, tuple[Any, str]] = {
    "missing email": ({"password": "x"}, "email"),
    "missing password": ({"email": "x@example.com"}, "password"),
    "email is a number": ({"email": 5, "password": "password"}, "email"),
    "password is a number": ({"email": "x@example.com", "password": 12345678}, "password"),
    "password is a bool": ({"email": "x@example.com", "password": True}, "password"),
    "empty email": ({"email": "", "password": "password"}, "email"),
    "empty password": ({"email": "x@example.com", "password": ""}, "password"),
    "email too long": ({"email": "a" * 400 + "@example.com", "password": "password"}, "email"),
    "password too long": ({"email": "x@example.com", "password": "p" * 1025}, "password"),
    "email with NUL": ({"email": "x\u0000@example.com", "password": "password"}, "email"),
    "body is a list": ([], "body"),
}


@pytest.mark.parametrize(("body", "field"), LOGIN_BAD_BODIES.values(), ids=LOGIN_BAD_BODIES.keys())
async def test_invalid_login_bodies_are_400_and_count_no_failure(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: Any, field: str
) -> None:
    failures_before = await count_failures(db)

    response = await client.post("/login", json=body)

    assert response.status_code == 400
    assert field in {d["field"] for d in response.json()["details"]}
    assert await count_failures(db) == failures_before


async def test_malformed_json_login_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", content=b'{"email": ', headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["details"] == [{"field": "body", "message": "malformed JSON"}]


async def test_a_form_login_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", data={"email": "x@example.com", "password": "password"})

    assert response.status_code == 415


# --- throttle -------------------------------------------------------------------------------


async def test_repeated_failures_for_one_email_are_throttled_with_retry_after(
    client: httpx.AsyncClient, user: Account, other_user: Account
) -> None:
    for _ in range(MAX_PER_EMAIL):
        assert (await login(client, user.email, "wrong-password")).status_code == 401

    # From yet another address, and with the right password: the email is what is blocked.
    throttled = await login(client, user.email, user.password)

    assert throttled.status_code == 429
    assert set(throttled.json()) == {"error"}
    retry_after = int(throttled.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW
    # Another account is not affected.
    assert (await login(client, other_user.email, other_user.password)).status_code == 200


async def test_unknown_emails_are_throttled_too(client: httpx.AsyncClient) -> None:
    """Otherwise a 429 would say "this address has an account"."""
    email = unique_email("nobody")
    for _ in range(MAX_PER_EMAIL):
        assert (await login(client, email, "wrong-password")).status_code == 401

    assert (await login(client, email, "wrong-password")).status_code == 429


async def test_a_throttled_login_does_not_look_at_the_password(
    app: Any, client: httpx.AsyncClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(MAX_PER_EMAIL):
        await login(client, user.email, "wrong-password")
    calls: list[str] = []
    monkeypatch.setattr(app.state.password_hasher.context, "verify_and_update", lambda *a: calls.append("v"))

    response = await login(client, user.email, user.password)

    assert response.status_code == 429
    assert calls == []


async def test_a_successful_login_clears_the_email_failures(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    for _ in range(MAX_PER_EMAIL - 1):
        assert (await login(client, user.email, "wrong-password")).status_code == 401
    assert (await login(client, user.email, user.password)).status_code == 200
    assert await db.fetchval("SELECT count(*) FROM s1_auth_login_failures WHERE email = $1", user.email) == 0

    # A fresh allowance: MAX_PER_EMAIL - 1 more failures are still answered 401, not 429.
    for _ in range(MAX_PER_EMAIL - 1):
        assert (await login(client, user.email, "wrong-password")).status_code == 401
    assert (await login(client, user.email, user.password)).status_code == 200


async def test_repeated_failures_from_one_client_address_are_throttled(
    client: httpx.AsyncClient, user: Account
) -> None:
    ip = random_ip()
    # Different emails each time: only the address ties them together.
    for _ in range(MAX_PER_IP):
        assert (await login(client, unique_email("spray"), "wrong-password", ip=ip)).status_code == 401

    blocked = await login(client, user.email, user.password, ip=ip)

    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    # The same account from another address logs in.
    assert (await login(client, user.email, user.password, ip=random_ip())).status_code == 200


async def test_the_rightmost_forwarded_address_is_the_one_counted(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    real_client = random_ip()
    forged = random_ip()
    email = unique_email("nobody")

    await client.post(
        "/login",
        json={"email": email, "password": "wrong-password"},
        headers={"X-Forwarded-For": f"{forged}, {real_client}"},
    )

    assert await db.fetchval("SELECT client_ip FROM s1_auth_login_failures WHERE email = $1", email) == real_client


async def test_without_forwarded_for_the_peer_address_is_counted(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = unique_email("nobody")

    await client.post("/login", json={"email": email, "password": "wrong-password"})

    # httpx's in-process transport presents the client as 127.0.0.1.
    assert await db.fetchval("SELECT client_ip FROM s1_auth_login_failures WHERE email = $1", email) == "127.0.0.1"


async def test_failures_older_than_the_window_do_not_count_and_are_pruned(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    stale_ip = random_ip()
    await db.executemany(
        STALE_FAILURE_SQL,
        [(user.email, stale_ip, WINDOW + 60)] * (MAX_PER_EMAIL + MAX_PER_IP),
    )

    # Stale failures block nothing ...
    assert (await login(client, user.email, user.password, ip=stale_ip)).status_code == 200
    # ... and the next recorded failure prunes them.
    assert (await login(client, unique_email("nobody"), "wrong-password")).status_code == 401
    assert await db.fetchval("SELECT count(*) FROM s1_auth_login_failures WHERE client_ip = $1", stale_ip) == 0


async def test_retry_after_counts_down_from_the_failure_that_reached_the_limit(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = unique_email("nobody")
    # The limit was reached 10 minutes ago; the block lifts when that failure leaves the window.
    await db.executemany(
        STALE_FAILURE_SQL,
        [(email, random_ip(), 600)] * MAX_PER_EMAIL,
    )

    response = await login(client, email, "wrong-password")

    assert response.status_code == 429
    assert WINDOW - 600 - 5 <= int(response.headers["Retry-After"]) <= WINDOW - 600 + 1


# --- hash upgrades --------------------------------------------------------------------------


async def test_a_hash_made_with_other_parameters_is_upgraded_at_login(
    app: Any, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    from passlib.hash import argon2

    email = unique_email()
    user = await register(client, email)
    old_hash = argon2.using(memory_cost=16, rounds=2, parallelism=1).hash("s3cret-passw0rd")
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user["id"], old_hash)

    assert (await login(client, email, "s3cret-passw0rd")).status_code == 200

    new_hash = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user["id"])
    assert new_hash != old_hash
    assert not app.state.password_hasher.context.needs_update(new_hash)
    assert (await login(client, email, "s3cret-passw0rd")).status_code == 200
