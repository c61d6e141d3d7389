"""S2 test fixtures: one app (real lifespan, real PostgreSQL) per xdist worker, and tokens.

Every token fixture gets a fresh random user id, so tests never see each other's tickets;
staff listings hold everyone's tickets, so tests assert on their own ids, never on totals.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.security import create_access_token
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET
from s2_tickets.main import build_app
from s2_tickets.settings import Settings

TICKET_KEYS = {
    "id",
    "user_id",
    "title",
    "description",
    "category",
    "status",
    "priority",
    "assigned_to",
    "created_at",
    "updated_at",
}


def random_user_id() -> int:
    # Far above the ids the bulk rows of the index tests use (1-100).
    return 1_000 + secrets.randbelow(2_000_000_000)


def make_token(user_id: int, role: str, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "user_id": user_id,
        "role": role,
        "email": f"u{user_id}@example.com",
        "secret": TEST_JWT_SECRET,
        "algorithm": "HS256",
        "ttl_seconds": 3600,
    }
    values.update(overrides)
    return create_access_token(**values)


@dataclass(frozen=True)
class Caller:
    """A signed-in test user: their id, role and ready-made Authorization header."""

    id: int
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_caller(role: str) -> Caller:
    user_id = random_user_id()
    return Caller(id=user_id, role=role, token=make_token(user_id, role))


@pytest.fixture(scope="session")
async def client(make_app_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> httpx.AsyncClient:
    return await make_app_client(build_app, Settings)


@pytest.fixture
def user() -> Caller:
    return new_caller("user")


@pytest.fixture
def other_user() -> Caller:
    return new_caller("user")


@pytest.fixture
def staff() -> Caller:
    return new_caller("staff")


@pytest.fixture
def admin() -> Caller:
    return new_caller("admin")


@pytest.fixture
def create_ticket(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """`await create_ticket(caller, title=..., ...)`: create through the API, assert 201, return the ticket."""

    async def create(caller: Caller, **fields: Any) -> dict[str, Any]:
        body = {"title": "Printer on fire", "description": "It smokes.", "category": "bug"} | fields
        response = await client.post("/", json=body, headers=caller.headers)
        assert response.status_code == 201, response.text
        ticket: dict[str, Any] = response.json()
        return ticket

    return create


async def count_tickets(db: asyncpg.Connection) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM tickets")
    return count
