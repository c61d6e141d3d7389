"""Every route that needs a caller refuses anything but a valid bearer token: 401, nothing changed."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import asyncpg
import httpx
import pytest
from jose import jwt

from helpdesk_common.security import create_access_token
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET

from .conftest import Account


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "1", "role": "admin", "email": "root@example.com", "iat": now, "exp": now + 3600} | overrides


def _token(*, secret: str = TEST_JWT_SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    return jwt.encode(_claims(**claims), secret, algorithm=algorithm)


def _alg_none_token() -> str:
    # Crafted by hand: no library will sign with "none".
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."


def _expired_token() -> str:
    return create_access_token(
        user_id=1,
        role="admin",
        email="root@example.com",
        secret=TEST_JWT_SECRET,
        algorithm="HS256",
        ttl_seconds=3600,
        now=time.time() - 7200,
    )


BAD_AUTHORIZATION: dict[str, str | None] = {
    "missing": None,
    "empty": "",
    "empty bearer": "Bearer ",
    "bearer only": "Bearer",
    "other scheme": "Basic dXNlcjpwYXNz",
    "token without scheme": _token(),
    "garbage": "Bearer not-a-jwt",
    "three garbage segments": "Bearer a.b.c",
    "expired": "Bearer " + _expired_token(),
    "wrong signature": "Bearer " + _token(secret="another-secret-0123456789abcdef"),
    "alg none": "Bearer " + _alg_none_token(),
    "alg none with a signature": "Bearer " + _alg_none_token() + "c2ln",
    "HS512 when HS256 is configured": "Bearer " + _token(algorithm="HS512"),
    "unknown role": "Bearer " + _token(role="superuser"),
    "non-numeric subject": "Bearer " + _token(sub="alice"),
    "integer subject": "Bearer " + _token(sub=1),
    "zero subject": "Bearer " + _token(sub="0"),
    "no expiry": "Bearer " + _token(exp=None),
    "no email": "Bearer " + _token(email=None),
}

# Each route with a body it would accept: only the token is wrong.
ROUTES: dict[str, Any] = {
    "GET /me": None,
    "PATCH /me": {"name": "Mallory"},
    "POST /password": {"current_password": "s3cret-passw0rd", "new_password": "taken-over-pw"},
    "GET /users": None,
    "GET /users/{id}": None,
    "PATCH /users/{id}/role": {"role": "admin"},
    "PATCH /users/{id}/active": {"active": False},
}


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
@pytest.mark.parametrize("route", ROUTES)
async def test_a_bad_or_missing_token_is_401_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, route: str, authorization: str | None
) -> None:
    method, path = route.split(" ")
    headers = {} if authorization is None else {"Authorization": authorization}
    body = ROUTES[route]
    before = await db.fetchrow("SELECT role, name, active, password_hash FROM users WHERE id = $1", user.id)

    response = await client.request(method, path.replace("{id}", str(user.id)), json=body, headers=headers)

    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert await db.fetchrow("SELECT role, name, active, password_hash FROM users WHERE id = $1", user.id) == before


async def test_the_scheme_name_is_case_insensitive(client: httpx.AsyncClient, user: Account) -> None:
    response = await client.get("/me", headers={"Authorization": f"bearer {user.token}"})

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/register", "/login", "/refresh", "/logout", "/health", "/ready", "/openapi.json"])
async def test_public_routes_need_no_token(client: httpx.AsyncClient, path: str) -> None:
    if path in ("/refresh", "/logout"):
        response = await client.post(path, json={"refresh_token": 5})
        assert response.status_code == 400  # validation: these take a refresh token, not a bearer
    elif path in ("/register", "/login"):
        response = await client.post(path, json={})
        assert response.status_code == 400  # validation, not authentication
    else:
        response = await client.get(path)
        assert response.status_code == 200
