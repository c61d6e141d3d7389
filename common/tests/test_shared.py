"""The shared package on its own: tokens, role dependencies, error shape, ids, bodies,
cursors, settings and the migration runner (against a real PostgreSQL)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Depends
from jose import jwt
from pydantic import BaseModel, ValidationError

from helpdesk_common.app import create_app
from helpdesk_common.auth import AdminUser, CurrentUser, ServiceOrStaff, StaffUser
from helpdesk_common.bodies import require_json_body
from helpdesk_common.logs import _ContextFilter
from helpdesk_common.migrations import run_migrations
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import InvalidToken, create_access_token, decode_access_token
from helpdesk_common.settings import ServiceSettings
from helpdesk_common.types import PathId
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN, base_settings

SECRET = TEST_JWT_SECRET


def token(role: str = "user", *, user_id: int = 7, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": str(user_id), "role": role, "email": "a@example.com", "iat": now, "exp": now + 60} | claims
    return jwt.encode(body, SECRET, algorithm="HS256")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_round_trips() -> None:
    raw = create_access_token(
        user_id=3, role="staff", email="s@example.com", secret=SECRET, algorithm="HS256", ttl_seconds=60
    )
    user = decode_access_token(raw, secret=SECRET, algorithm="HS256")
    assert (user.id, user.role, user.email, user.is_staff, user.is_admin) == (3, "staff", "s@example.com", True, False)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': '1', 'role': 'admin'})}.", id="alg none"),
        pytest.param(token(exp=int(time.time()) - 5), id="expired"),
        pytest.param(jwt.encode({"sub": "1", "role": "user", "email": "e", "iat": 1, "exp": 2**40}, "x"), id="forged"),
        pytest.param(token(role="root"), id="unknown role"),
        pytest.param(token(sub="abc"), id="non-numeric sub"),
        pytest.param(token(sub="0"), id="zero sub"),
        pytest.param("a.b.c", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param(
            jwt.encode({"sub": "1", "role": "user", "email": "e", "iat": 1, "exp": 2**40}, SECRET, algorithm="HS512"),
            id="other algorithm",
        ),
    ],
)
def test_bad_tokens_are_invalid_never_a_crash(bad: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(bad, secret=SECRET, algorithm="HS256")


# --- an app built by create_app, with each dependency on a route -----------------------------

router = APIRouter()


class Body(BaseModel):
    name: str


@router.get("/me")
async def me(user: CurrentUser) -> dict[str, Any]:
    return {"id": user.id}


@router.get("/staff")
async def staff_only(user: StaffUser) -> dict[str, Any]:
    return {"id": user.id}


@router.get("/admin")
async def admin_only(user: AdminUser) -> dict[str, Any]:
    return {"id": user.id}


@router.get("/internal")
async def internal(caller: ServiceOrStaff) -> dict[str, Any]:
    return {"service": caller.is_service}


@router.get("/items/{item_id}")
async def item(item_id: PathId) -> dict[str, Any]:
    return {"id": item_id}


@router.post("/items", dependencies=[Depends(require_json_body)], status_code=201)
async def create_item(body: Body) -> dict[str, Any]:
    return {"name": body.name}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("a bug")


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(**base_settings(None, service_name="shared-test"))
    app = create_app(settings, title="t", routers=[(router, "")], uses_database=False, registers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/me", None, 401),
        ("/me", "user", 200),
        ("/staff", "user", 403),
        ("/staff", "staff", 200),
        ("/staff", "admin", 200),
        ("/admin", "staff", 403),
        ("/admin", "admin", 200),
        ("/internal", None, 401),
        ("/internal", "user", 403),
        ("/internal", "staff", 200),
    ],
)
async def test_role_dependencies(client: httpx.AsyncClient, path: str, role: str | None, status: int) -> None:
    response = await client.get(path, headers=bearer(token(role)) if role else {})
    assert response.status_code == status
    if status >= 400:
        assert set(response.json()) == {"error"}


async def test_the_service_credential(client: httpx.AsyncClient) -> None:
    ok = await client.get("/internal", headers={"X-Service-Token": TEST_SERVICE_TOKEN})
    assert ok.json() == {"service": True}
    wrong = await client.get("/internal", headers={"X-Service-Token": "guess"})
    assert wrong.status_code == 401


@pytest.mark.parametrize("raw", ["1.0", " 1", "+1", "abc", "0", "-3", "2147483648", "1e3"])
async def test_path_ids_are_plain_positive_integers(client: httpx.AsyncClient, raw: str) -> None:
    response = await client.get(f"/items/{raw}")
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "item_id"


async def test_a_good_path_id(client: httpx.AsyncClient) -> None:
    assert (await client.get("/items/2147483647")).json() == {"id": 2147483647}


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({"Content-Type": "application/json"}, b'{"name": "x"}', 201),
        ({"Content-Type": "application/merge-patch+json"}, b'{"name": "x"}', 201),
        ({}, b'{"name": "x"}', 415),
        ({"Content-Type": "text/plain"}, b'{"name": "x"}', 415),
        ({"Content-Type": "application/json"}, b'{"name": ', 400),
        ({"Content-Type": "application/json"}, b'{"name": 5}', 400),
        ({"Content-Type": "application/json"}, b"{}", 400),
    ],
)
async def test_json_bodies(client: httpx.AsyncClient, headers: dict[str, str], content: bytes, status: int) -> None:
    response = await client.post("/items", headers=headers, content=content)
    assert response.status_code == status, response.text
    if status >= 400:
        assert isinstance(response.json()["error"], str)


async def test_a_bug_is_a_500_with_the_error_shape_and_no_trace(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert set(response.json()) == {"error"} and "a bug" not in response.text


async def test_a_bug_keeps_its_request_id_on_the_answer_and_in_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The same filter as the service's JSON handler: it stamps the request id in context at
    # the moment the line is written.
    caplog.handler.addFilter(_ContextFilter("shared-test"))
    with caplog.at_level(logging.ERROR, logger="helpdesk.errors"):
        response = await client.get("/boom", headers={"X-Request-ID": "bug-trail-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "bug-trail-1"
    assert response.json() == {"error": "Internal server error."}
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None and "a bug" in str(record.exc_info[1])
    assert getattr(record, "request_id", None) == "bug-trail-1"


async def test_ready_names_a_failing_check_but_never_its_exception_text() -> None:
    async def check_peer(_app: Any) -> None:
        raise RuntimeError("cannot reach 10.1.2.3:5432 at db.internal")

    settings = ServiceSettings(**base_settings(None, service_name="ready-test"))
    app = create_app(settings, title="t", uses_database=False, registers=False, ready_checks=[check_peer])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"error": "Service is not ready.", "checks": {"peer": "failed"}}


async def test_request_ids_are_kept_or_minted(client: httpx.AsyncClient) -> None:
    kept = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    minted = await client.get("/health")
    assert len(minted.headers["x-request-id"]) >= 16
    unknown = await client.get("/nowhere")
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}


# --- cursors and settings --------------------------------------------------------------------


def test_cursors_round_trip_and_garbage_is_refused() -> None:
    assert decode_cursor(encode_cursor(5, "x"), kinds=(int, str)) == (5, "x")
    for garbage in ("", "!!!", encode_cursor("5", "x"), encode_cursor(5)):
        with pytest.raises(Exception, match=r"(?i)cursor"):
            decode_cursor(garbage, kinds=(int, str))


@pytest.mark.parametrize("secret", ["", "changeme", "dev-secret-change-me", "short"])
def test_production_refuses_placeholder_secrets(secret: str) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(environment="production", jwt_secret=secret, service_token="s" * 32)
    ServiceSettings(environment="production", jwt_secret="j" * 32, service_token="s" * 32)


# --- migrations ------------------------------------------------------------------------------


async def test_migrations_apply_once_in_order(pg_admin_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "001_first.sql").write_text("-- migrate:up\nCREATE TABLE things (id int);\n-- migrate:down\n")
    (tmp_path / "002_second.sql").write_text("-- migrate:up\nALTER TABLE things ADD COLUMN name text;\n")
    conn = await asyncpg.connect(await create_scratch_database(pg_admin_dsn, prefix="shared"))
    try:
        assert len(await run_migrations(conn, owner="demo", directory=tmp_path)) == 2
        assert await run_migrations(conn, owner="demo", directory=tmp_path) == []
        columns = await conn.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'things'")
        assert {r["column_name"] for r in columns} == {"id", "name"}
        (tmp_path / "003_broken.sql").write_text("-- migrate:up\nALTER TABLE things ADD COLUMN id int;\n")
        with pytest.raises(asyncpg.PostgresError):
            await run_migrations(conn, owner="demo", directory=tmp_path)
        # The failed migration left nothing behind and is not recorded.
        assert await conn.fetchval("SELECT count(*) FROM demo_schema_migrations") == 2
    finally:
        await conn.close()


def test_a_list_setting_reads_commas_or_a_json_array_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic_settings import BaseSettings

    from helpdesk_common.settings import SettingList

    class Listing(BaseSettings):
        names: SettingList = []

    monkeypatch.setenv("NAMES", " a, b ,,c ")
    assert Listing().names == ["a", "b", "c"]
    monkeypatch.setenv("NAMES", '["a,b", "c"]')
    assert Listing().names == ["a,b", "c"]
    monkeypatch.setenv("NAMES", "")
    assert Listing().names == []
