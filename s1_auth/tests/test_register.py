"""POST /register: anyone may create an account, always as `user`; refusals write nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import PASSWORD, Account, count_users, register, token_for, unique_email


async def test_register_answers_201_with_the_new_user(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    email = unique_email()

    response = await client.post("/register", json={"email": email, "password": PASSWORD})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "role", "name", "active"}
    assert isinstance(body["id"], int) and body["id"] > 0
    assert body["email"] == email
    assert body["role"] == "user"
    assert body["name"] is None and body["active"] is True
    stored = await db.fetchrow("SELECT email, role, password_hash FROM users WHERE id = $1", body["id"])
    assert stored["email"] == email and stored["role"] == "user"
    # Never the password itself: an argon2id hash of it.
    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in stored["password_hash"]


async def test_email_is_stored_trimmed_and_lower_cased(client: httpx.AsyncClient) -> None:
    email = unique_email()
    mixed = f"  {email.upper()}\t"

    response = await client.post("/register", json={"email": mixed, "password": PASSWORD})

    assert response.status_code == 201
    assert response.json()["email"] == email
    # And the account answers to any casing at login.
    assert await token_for(client, email.upper(), PASSWORD)


@pytest.mark.parametrize("role", ["admin", "staff", "user", 5, None])
async def test_a_role_field_is_ignored_registration_is_always_user(
    client: httpx.AsyncClient, db: asyncpg.Connection, role: Any
) -> None:
    email = unique_email()

    response = await client.post("/register", json={"email": email, "password": PASSWORD, "role": role})

    assert response.status_code == 201
    assert response.json()["role"] == "user"
    assert await db.fetchval("SELECT role FROM users WHERE email = $1", email) == "user"


async def test_other_extra_fields_are_ignored(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    email = unique_email()

    response = await client.post(
        "/register", json={"email": email, "password": PASSWORD, "id": 1, "password_hash": "x", "is_admin": True}
    )

    assert response.status_code == 201
    assert response.json()["role"] == "user"
    stored_hash = await db.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
    assert stored_hash.startswith("$argon2id$")


async def test_a_taken_email_is_409_in_any_casing_and_writes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    hash_before = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id)
    rows_before = await count_users(db)

    for email in (user.email, f" {user.email.upper()} "):
        response = await client.post("/register", json={"email": email, "password": "another-password"})
        assert response.status_code == 409
        assert response.json() == {"error": "email already registered"}

    assert await count_users(db) == rows_before
    # The existing account keeps its password.
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id) == hash_before
    assert await token_for(client, user.email, user.password)


async def test_concurrent_registrations_of_one_email_create_one_account(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    email = unique_email()

    responses = await asyncio.gather(
        *(client.post("/register", json={"email": email, "password": PASSWORD}) for _ in range(6))
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 1


JSON = {"Content-Type": "application/json"}
TOO_LONG_EMAIL = "a" * 250 + "@example.com"
BAD_BODIES: dict[str, tuple[Any, str]] = {
    "missing email": ({"password": PASSWORD}, "email"),
    "missing password": ({"email": "x@example.com"}, "password"),
    "empty object": ({}, "email"),
    "email is a number": ({"email": 5, "password": PASSWORD}, "email"),
    "email is null": ({"email": None, "password": PASSWORD}, "email"),
    "email is a list": ({"email": ["x@example.com"], "password": PASSWORD}, "email"),
    "password is a number": ({"email": "x@example.com", "password": 12345678}, "password"),
    "password is null": ({"email": "x@example.com", "password": None}, "password"),
    "password is an object": ({"email": "x@example.com", "password": {"a": 1}}, "password"),
    "email without @": ({"email": "not-an-email", "password": PASSWORD}, "email"),
    "email without domain dot": ({"email": "x@localhost", "password": PASSWORD}, "email"),
    "empty email": ({"email": "", "password": PASSWORD}, "email"),
    "blank email": ({"email": "   ", "password": PASSWORD}, "email"),
    "display-name form": ({"email": "Jo <jo@example.com>", "password": PASSWORD}, "email"),
    "email too long": ({"email": TOO_LONG_EMAIL, "password": PASSWORD}, "email"),
    "email far too long": ({"email": "a" * 5000 + "@example.com", "password": PASSWORD}, "email"),
    "email with NUL": ({"email": "x\u0000y@example.com", "password": PASSWORD}, "email"),
    "password of 7": ({"email": "x@example.com", "password": "1234567"}, "password"),
    "empty password": ({"email": "x@example.com", "password": ""}, "password"),
    "password of 1025": ({"email": "x@example.com", "password": "p" * 1025}, "password"),
    "password with NUL": ({"email": "x@example.com", "password": "abc\u0000defgh"}, "password"),
    "body is a list": ([{"email": "x@example.com", "password": PASSWORD}], "body"),
    "body is a string": ("x@example.com", "body"),
    "body is null": (None, "body"),
}


@pytest.mark.parametrize(("body", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_invalid_bodies_are_400_with_details_and_write_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: Any, field: str
) -> None:
    rows_before = await count_users(db)

    response = await client.post("/register", content=json.dumps(body), headers=JSON)

    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"error", "details"}
    assert isinstance(payload["error"], str) and payload["error"]
    assert field in {d["field"] for d in payload["details"]}
    assert await count_users(db) == rows_before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email": "x@example.com", "password": ',
        b"not json at all",
        b"",
        # A lone surrogate is valid JSON but not storable text.
        b'{"email": "x@example.com", "password": "abc\\ud800defgh"}',
    ],
    ids=["truncated", "not json", "empty", "lone surrogate"],
)
async def test_malformed_json_is_400_and_writes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, raw: bytes
) -> None:
    rows_before = await count_users(db)

    response = await client.post("/register", content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert "error" in response.json()
    assert await count_users(db) == rows_before


async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    rows_before = await count_users(db)

    response = await client.post("/register", data={"email": unique_email(), "password": PASSWORD})

    assert response.status_code == 415
    assert set(response.json()) == {"error"}
    assert await count_users(db) == rows_before


async def test_a_body_without_content_type_is_415(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    rows_before = await count_users(db)
    raw = f'{{"email": "{unique_email()}", "password": "{PASSWORD}"}}'.encode()

    response = await client.post("/register", content=raw)

    assert response.status_code == 415
    assert await count_users(db) == rows_before


async def test_a_json_content_type_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    raw = f'{{"email": "{unique_email()}", "password": "{PASSWORD}"}}'.encode()

    response = await client.post("/register", content=raw, headers={"Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 201


@pytest.mark.parametrize(
    "password",
    ["12345678", "p" * 1024, "\N{SNOWMAN}" * 1024, "pass word with spaces  "],
    ids=["exactly 8", "exactly 1024", "1024 four-byte-ish characters", "spaces kept"],
)
async def test_passwords_at_the_limits_are_accepted_and_work(client: httpx.AsyncClient, password: str) -> None:
    email = unique_email()

    await register(client, email, password)

    assert await token_for(client, email, password)


async def test_a_password_that_normalizes_past_the_limit_is_400(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """U+FDFA is one character that NFKC turns into 18: the limit is on what gets hashed."""
    rows_before = await count_users(db)

    response = await client.post("/register", json={"email": unique_email(), "password": "\ufdfa" * 100})

    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "password"
    assert await count_users(db) == rows_before


async def test_composed_and_decomposed_accents_are_the_same_password(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email, "caf\u00e9-au-lait")  # é as one code point

    assert await token_for(client, email, "cafe\u0301-au-lait")  # e + combining accent


async def test_wrong_methods_are_405_with_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/register")

    assert response.status_code == 405
    assert set(response.json()) == {"error"}


async def test_unknown_routes_are_404_with_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-route")

    assert response.status_code == 404
    assert set(response.json()) == {"error"}
