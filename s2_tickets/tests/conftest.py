"""S2 test fixtures: one app (real lifespan, real PostgreSQL) per xdist worker, and tokens.

Every token fixture gets a fresh random user id, so tests never see each other's tickets;
staff listings hold everyone's tickets, so tests assert on their own ids, never on totals.

S2 asks S1 for the names of requesters (staff views): here S1 is `FakeAuth`, a real HTTP
server on a free port that answers `GET /users?ids=` from the users a test gave it (and an
empty token-state feed). The system tests run the real S1.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web

from helpdesk_common.migrations import run_migrations
from helpdesk_common.security import create_access_token
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET
from s2_tickets.main import build_app
from s2_tickets.settings import Settings
from s4_workflow.main import MIGRATIONS_DIR as S4_MIGRATIONS
from s5_media.main import MIGRATIONS_DIR as S5_MIGRATIONS

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
    "comment_count",
    "last_activity_at",
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


@dataclass
class FakeAuth:
    """S1 as S2 sees it: `users` answer GET /users?ids=; `down` makes it answer 503."""

    port: int = field(default_factory=free_port)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    asked: list[list[int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, user_id: int, *, name: str | None, email: str | None = None, role: str = "user") -> None:
        self.users[user_id] = {"id": user_id, "email": email or f"u{user_id}@example.com", "name": name, "role": role}

    async def users_page(self, request: web.Request) -> web.Response:
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        if "ids" not in request.query:  # the active staff (S2's StaffDirectory)
            roles = request.query.getall("role", [])
            staff = [u for u in self.users.values() if u["role"] in roles]
            return web.json_response({"users": sorted(staff, key=lambda u: u["id"]), "next_cursor": None})
        ids = [int(part) for part in request.query["ids"].split(",")]
        self.asked.append(ids)
        return web.json_response(
            {"users": [self.users[i] for i in sorted(ids) if i in self.users], "next_cursor": None}
        )

    async def token_state(self, _: web.Request) -> web.Response:
        return web.json_response({"cursor": 1, "retain_seconds": 1200, "users": [], "ended_sessions": []})


@pytest.fixture(scope="session")
async def fake_auth() -> AsyncIterator[FakeAuth]:
    auth = FakeAuth()
    app = web.Application()
    app.router.add_get("/users", auth.users_page)
    app.router.add_get("/token-state", auth.token_state)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", auth.port).start()
    yield auth
    await runner.cleanup()


@pytest.fixture(scope="session")
async def app_and_client(
    make_app_client: Callable[..., Awaitable[httpx.AsyncClient]], fake_auth: FakeAuth, database_dsn: str
) -> tuple[Any, httpx.AsyncClient]:
    built: list[Any] = []

    def build_and_keep(settings: Settings) -> Any:
        built.append(build_app(settings))
        return built[-1]

    client = await make_app_client(
        build_and_keep,
        Settings,
        service_urls={"s1-auth": fake_auth.url},
        staff_cache_seconds=0,
        # No relay here: the tests read the outbox rows a comment writes (the system tests
        # follow them to S6).
        outbox_relay=False,
    )
    # The tables of S4 (history) and S5 (files) that the conversation writes (a reopening's
    # history row) and reads (the timeline), as they are in every deployment; migrated by the
    # shared runner from those services' own files, after S2's (theirs require S2's 001).
    conn = await asyncpg.connect(database_dsn)
    try:
        await run_migrations(conn, owner="s4_workflow", directory=S4_MIGRATIONS)
        await run_migrations(conn, owner="s5_media", directory=S5_MIGRATIONS)
    finally:
        await conn.close()
    return built[0], client


@pytest.fixture(scope="session")
def app(app_and_client: tuple[Any, httpx.AsyncClient]) -> Any:
    return app_and_client[0]


@pytest.fixture(scope="session")
def client(app_and_client: tuple[Any, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_and_client[1]


# What staff views say about a requester S1 does not know (the random test users).
UNKNOWN_REQUESTER = {"name": None, "email": None, "lookup": "unknown"}


def as_staff_see_it(ticket: dict[str, Any], requester: dict[str, Any] | None = None) -> dict[str, Any]:
    return ticket | {"requester": requester or UNKNOWN_REQUESTER}


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
