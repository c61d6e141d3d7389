"""Pytest fixtures shared by every service's tests and the system tests.

- `pg_admin_dsn` (session): TEST_DB_URL if set, else an embedded PostgreSQL under
  `.pytest_pg/` (shared by xdist workers through pgserver's reference counting).
- `database_dsn` (session): a fresh database of this worker's own, so workers never collide.
- `db` (session): a direct asyncpg connection to that database, once the service migrated it.
- `make_app_client(build_app, **settings)`: an httpx client bound in-process to a service app
  with its lifespan running (migrations, pool), against `database_dsn`.
- `signed_in(role)`: a `SignedIn` test user with a fresh random id and a token signed with the
  tests' secret (`make_token` for tokens with other claims).
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.security import create_access_token
from helpdesk_fleet.postgres import create_scratch_database, ensure_max_connections, start_embedded

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_JWT_SECRET = "test-jwt-secret-0123456789abcdef"  # noqa: S105 - tests only
TEST_SERVICE_TOKEN = "test-service-token-0123456789abcdef"  # noqa: S105 - tests only


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    """Import every service package before pytest imports any test module.

    With --import-mode=importlib a test file `s1_auth/tests/conftest.py` is imported as
    `s1_auth.tests.conftest`, and pytest would register the service *folder* (no __init__.py)
    as a stand-in module `s1_auth`, hiding the real package one level down (s1_auth/s1_auth).
    Once the real package is in sys.modules, pytest builds on it instead.
    """
    for package_init in sorted(REPO_ROOT.glob("*/*/__init__.py")):
        folder = package_init.parent
        if folder.name == folder.parent.name:
            importlib.import_module(folder.name)


# Every system test's fleet (nine services with their pools and LISTEN connections) and every
# worker's in-process apps share the one embedded server: PostgreSQL's default of 100 is
# exhausted when several fleets run at once (TooManyConnectionsError).
TEST_MAX_CONNECTIONS = 400


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In the controlling process, before any xdist worker exists: raise the embedded server's
    connection limit (a restart, which must not happen under a worker's feet)."""
    if os.environ.get("TEST_DB_URL") or hasattr(session.config, "workerinput"):
        return
    ensure_max_connections(REPO_ROOT / ".pytest_pg", TEST_MAX_CONNECTIONS)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    explicit = os.environ.get("TEST_DB_URL")
    if explicit:
        return explicit
    return start_embedded(REPO_ROOT / ".pytest_pg")


@pytest.fixture(scope="session")
async def database_dsn(pg_admin_dsn: str) -> str:
    return await create_scratch_database(pg_admin_dsn)


def base_settings(database_dsn: str | None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "environment": "test",
        "db_url": database_dsn,
        "jwt_secret": TEST_JWT_SECRET,
        "service_token": TEST_SERVICE_TOKEN,
        "registry_url": None,
        "access_log": False,
        "log_level": "WARNING",
        # A worker's in-process apps live for its whole session, all on one test PostgreSQL
        # (max_connections 100) beside the system tests' fleets; pools of 10 each add up.
        "db_pool_max": 3,
    }
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
async def db(database_dsn: str, client: Any) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the worker's database, for what an API does not show (row counts,
    hashes, EXPLAIN). Needs the service's own `client` fixture, so its migrations have run."""
    conn = await asyncpg.connect(database_dsn)
    yield conn
    await conn.close()


AppClientFactory = Callable[..., "AsyncIterator[httpx.AsyncClient]"]


@pytest.fixture(scope="session")
async def app_stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def make_app_client(database_dsn: str, app_stack: AsyncExitStack) -> Callable[..., Any]:
    """`client = await make_app_client(build_app, settings_cls, **overrides)`; lives for the session."""

    async def factory(build_app: Callable[[Any], Any], settings_cls: type, **overrides: Any) -> httpx.AsyncClient:
        settings = settings_cls(**base_settings(database_dsn, **overrides))
        app = build_app(settings)
        await app_stack.enter_async_context(app.router.lifespan_context(app))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        await app_stack.enter_async_context(client)
        return client

    return factory


def make_token(user_id: int, role: str, **overrides: Any) -> str:
    """A JWT as S1 would sign it with the tests' secret; `overrides` change any claim or key."""
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
class SignedIn:
    """A signed-in test user: their id, role and ready-made Authorization header."""

    id: int
    role: str
    token: str

    @property
    def email(self) -> str:
        return f"u{self.id}@example.com"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signed_in(role: str) -> SignedIn:
    """A user with a fresh random id (far above the small ids bulk test rows use), so tests
    never see each other's rows."""
    user_id = 1_000 + secrets.randbelow(2_000_000_000)
    return SignedIn(id=user_id, role=role, token=make_token(user_id, role))
