"""S5 test fixtures: S5 apps in-process (real lifespan, real PostgreSQL, a store in a temporary
folder) that ask a real S2 process, on a free port against the same database, about tickets."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpdesk_common.security import create_access_token
from helpdesk_fleet.process import ALL_SERVICES, ServiceProcess, free_port
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN
from s5_media.main import build_app
from s5_media.settings import Settings

S2_SPEC = next(s for s in ALL_SERVICES if s.module == "s2_tickets")
BOUNDARY = "s5-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@dataclass(frozen=True)
class Caller:
    id: int
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_caller(role: str) -> Caller:
    user_id = 1_000 + secrets.randbelow(2_000_000_000)
    token = create_access_token(
        user_id=user_id,
        role=role,
        email=f"u{user_id}@example.com",
        secret=TEST_JWT_SECRET,
        algorithm="HS256",
        ttl_seconds=3600,
    )
    return Caller(user_id, role, token)


def body(
    ticket_id: int | str | None, data: bytes | None, *, filename: str = "f.txt", content_type: str = "text/plain"
) -> bytes:
    out = b""
    if ticket_id is not None:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="ticket_id"\r\n\r\n{ticket_id}\r\n'.encode()
    if data is not None:
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture(scope="session")
def s2_url(database_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process = ServiceProcess(
        spec=S2_SPEC,
        port=free_port(),
        env={
            "ENVIRONMENT": "test",
            "DB_URL": database_dsn,
            "JWT_SECRET": TEST_JWT_SECRET,
            "SERVICE_TOKEN": TEST_SERVICE_TOKEN,
            "REGISTRY_URL": "",
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
        },
        log_path=tmp_path_factory.mktemp("s2-for-s5") / "s2.log",
    )
    process.start()
    try:
        process.wait_ready(timeout=60)
        yield process.url
    finally:
        process.stop()


AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="session")
def media_app(make_app_client: Callable[..., Any], s2_url: str, tmp_path_factory: pytest.TempPathFactory) -> AppFactory:
    """`await media_app(**settings)`: an S5 app of its own (its own store), for the session."""

    async def make(**overrides: Any) -> httpx.AsyncClient:
        settings: dict[str, Any] = {
            "service_urls": {"s2-tickets": s2_url},
            "media_dir": tmp_path_factory.mktemp("media"),
            "media_orphan_grace_seconds": 0,
            "service_call_retries": 0,
        }
        settings.update(overrides)
        client: httpx.AsyncClient = await make_app_client(build_app, Settings, **settings)
        return client

    return make


@pytest.fixture(scope="session")
async def client(media_app: AppFactory) -> httpx.AsyncClient:
    return await media_app()


@pytest.fixture
def owner() -> Caller:
    return new_caller("user")


@pytest.fixture
def create_ticket(s2_url: str) -> Callable[[Caller], int]:
    def create(caller: Caller) -> int:
        response = httpx.post(
            f"{s2_url}/", json={"title": "t", "description": "d", "category": "bug"}, headers=caller.headers
        )
        assert response.status_code == 201, response.text
        ticket_id: int = response.json()["id"]
        return ticket_id

    return create


def store_of(client: httpx.AsyncClient) -> Path:
    app = client._transport.app  # type: ignore[attr-defined]
    root: Path = app.state.storage.root
    return root


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".ready-")]
