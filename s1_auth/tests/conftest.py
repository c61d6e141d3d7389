"""S1 test fixtures: one app (real lifespan, real PostgreSQL) per xdist worker, and accounts.

Every account fixture registers a fresh address (uuid), so tests never depend on each other;
listings hold every test's users, so tests assert on their own ids, never on totals. Logins go
through `login()`, which sends a fresh client address each time unless told otherwise, so the
per-address throttle only ever counts what one test did.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from s1_auth.main import build_app
from s1_auth.settings import Settings

ADMIN_EMAIL = "root@helpdesk.example.com"
ADMIN_PASSWORD = "correct horse battery staple"
PASSWORD = "s3cret-passw0rd"

# argon2's cheapest parameters keep the suite fast; the defaults are checked in test_settings.
FAST_HASH = {"argon2_memory_cost_kib": 8, "argon2_time_cost": 1, "argon2_parallelism": 1}
# Small throttle limits so that the tests reach them in a few requests.
THROTTLE = {
    "login_max_failures_per_email": 3,
    "login_max_failures_per_ip": 5,
    "login_failure_window_seconds": 900,
    "password_reset_max_per_ip": 4,
    "password_reset_max_per_email": 2,
}
APP_SETTINGS: dict[str, Any] = {
    "admin_email": ADMIN_EMAIL,
    "admin_password": ADMIN_PASSWORD,
    "hash_concurrency": 2,
    # S1's own revocation cache re-reads the database this often (tests wait for it with a deadline).
    "token_state_poll_seconds": 0.1,
    # No S6 here: the reset emails stay in the outbox, where the tests read them (the relay is
    # tested in common/tests/test_outbox.py, and with S6 in tests/test_password_reset.py).
    "outbox_relay": False,
    **FAST_HASH,
    **THROTTLE,
}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def random_ip() -> str:
    # TEST-NET-1..3 and 10/8 are never real clients; 10/8 has room for no collisions in practice.
    return str(ipaddress.IPv4Address(0x0A000000 + secrets.randbelow(2**24)))


@dataclass(frozen=True)
class Account:
    """A registered test user: credentials, id, role and a ready-made Authorization header."""

    id: int
    email: str
    password: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(
    client: httpx.AsyncClient, email: str, password: str, *, ip: str | None = None, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/login",
        json={"email": email, "password": password, **extra},
        headers={"X-Forwarded-For": ip or random_ip()},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/refresh", json={"refresh_token": refresh_token})


async def token_for(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


@pytest.fixture(scope="session")
async def app_and_client(
    make_app_client: Callable[..., Awaitable[httpx.AsyncClient]],
) -> tuple[FastAPI, httpx.AsyncClient]:
    built: list[FastAPI] = []

    def build_and_keep(settings: Settings) -> FastAPI:
        app = build_app(settings)
        built.append(app)
        return app

    client = await make_app_client(build_and_keep, Settings, **APP_SETTINGS)
    return built[0], client


@pytest.fixture(scope="session")
def app(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return app_and_client[0]


@pytest.fixture(scope="session")
def client(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_and_client[1]


@pytest.fixture
def new_account(client: httpx.AsyncClient, admin: Account) -> Callable[..., Awaitable[Account]]:
    """`await new_account(role)`: register a fresh user, have the admin give it `role`, log in."""

    async def create(role: str = "user", *, password: str = PASSWORD) -> Account:
        email = unique_email(role)
        user = await register(client, email, password)
        if role != "user":
            response = await client.patch(f"/users/{user['id']}/role", json={"role": role}, headers=admin.headers)
            assert response.status_code == 200, response.text
        token = await token_for(client, email, password)
        return Account(id=user["id"], email=email, password=password, role=role, token=token)

    return create


@pytest.fixture(scope="session")
async def admin(client: httpx.AsyncClient, db: asyncpg.Connection) -> Account:
    """The configured first admin (ADMIN_EMAIL). Tests that demote it put it back."""
    admin_id = await db.fetchval("SELECT id FROM users WHERE email = $1", ADMIN_EMAIL)
    token = await token_for(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    return Account(id=admin_id, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin", token=token)


@pytest.fixture
async def user(new_account: Callable[..., Awaitable[Account]]) -> Account:
    return await new_account("user")


@pytest.fixture
async def other_user(new_account: Callable[..., Awaitable[Account]]) -> Account:
    return await new_account("user")


@pytest.fixture
async def staff(new_account: Callable[..., Awaitable[Account]]) -> Account:
    return await new_account("staff")


async def count_users(db: asyncpg.Connection) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM users")
    return count


async def count_failures(db: asyncpg.Connection) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM s1_auth_login_failures")
    return count
