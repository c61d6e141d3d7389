"""Every route needs a valid bearer token: anything else is a 401 and changes nothing."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from jose import jwt

from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET

from .conftest import Caller, count_tickets, make_token


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _alg_none_token() -> str:
    now = int(time.time())
    claims = {"sub": "42", "role": "admin", "email": "x@example.com", "iat": now, "exp": now + 3600}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _claims_token(**claims: Any) -> str:
    now = int(time.time())
    values = {"sub": "42", "role": "user", "email": "x@example.com", "iat": now, "exp": now + 3600} | claims
    return jwt.encode(values, TEST_JWT_SECRET, algorithm="HS256")


BAD_AUTHORIZATION: dict[str, str | None] = {
    "missing": None,
    "empty bearer": "Bearer ",
    "other scheme": "Basic dXNlcjpwYXNz",
    "garbage": "Bearer not-a-jwt",
    "expired": "Bearer " + make_token(42, "user", now=time.time() - 7200),
    "wrong signature": "Bearer " + make_token(42, "user", secret="another-secret-0123456789abcdef"),
    "alg none": "Bearer " + _alg_none_token(),
    "other algorithm": "Bearer " + make_token(42, "user", algorithm="HS512"),
    "unknown role": "Bearer " + make_token(42, "superuser"),
    "non-numeric subject": "Bearer " + _claims_token(sub="alice"),
    "no expiry": "Bearer " + _claims_token(exp=None),
}

VALID_BODY = {"title": "Should not exist", "description": "Refused before it is written.", "category": "bug"}


@pytest.fixture
async def ticket(user: Caller, create_ticket: Callable[..., Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    return await create_ticket(user, title="Guarded ticket")


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
@pytest.mark.parametrize("route", ["POST /", "GET /", "GET /{id}", "PATCH /{id}"])
async def test_bad_or_missing_token_is_401_and_writes_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    ticket: dict[str, Any],
    user: Caller,
    route: str,
    authorization: str | None,
) -> None:
    method, path = route.split(" ")
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"title": "Hijacked"} if method == "PATCH" else VALID_BODY if method == "POST" else None
    rows_before = await count_tickets(db)

    response = await client.request(method, path.replace("{id}", str(ticket["id"])), json=body, headers=headers)

    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert await count_tickets(db) == rows_before
    unchanged = await client.get(f"/{ticket['id']}", headers=user.headers)
    assert unchanged.json() == ticket


async def test_a_token_for_the_right_secret_is_accepted(client: httpx.AsyncClient, user: Caller) -> None:
    response = await client.get("/", headers=user.headers)
    assert response.status_code == 200
