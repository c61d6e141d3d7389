"""Revoked tokens are refused by every service from memory: the cache, the claims it reads, and
the background job that keeps it in step with S1's feed (against a real HTTP peer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi import APIRouter, FastAPI
from jose import jwt

from helpdesk_common.app import create_app
from helpdesk_common.auth import TOKEN_REVOKED, CurrentUser
from helpdesk_common.security import InvalidToken, TokenUser, create_access_token, decode_access_token
from helpdesk_common.settings import ServiceSettings
from helpdesk_common.token_state import TokenStateCache, TokenStateOut, UserTokenState
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN, base_settings


def changes(
    *,
    cursor: int = 1,
    users: Sequence[tuple[int, int, bool]] = (),
    sessions: Sequence[int] = (),
    retain: int = 960,
) -> TokenStateOut:
    return TokenStateOut(
        cursor=cursor,
        retain_seconds=retain,
        users=[UserTokenState(id=i, token_version=v, active=a) for i, v, a in users],
        ended_sessions=list(sessions),
    )


def who(user_id: int = 7, *, tv: int = 0, sid: int | None = None) -> TokenUser:
    return TokenUser(id=user_id, role="user", email="u@example.com", token_version=tv, session_id=sid)


# --- the claims ---------------------------------------------------------------------------------


def test_the_old_call_still_mints_a_valid_token_of_version_0_without_a_session() -> None:
    token = create_access_token(
        user_id=7, role="staff", email="s@example.com", secret=TEST_JWT_SECRET, algorithm="HS256", ttl_seconds=900
    )

    user = decode_access_token(token, secret=TEST_JWT_SECRET, algorithm="HS256")

    assert (user.id, user.role, user.token_version, user.session_id) == (7, "staff", 0, None)


def test_a_token_without_tv_counts_as_version_0() -> None:
    now = int(time.time())
    claims = {"sub": "7", "role": "user", "email": "u@example.com", "iat": now, "exp": now + 60}

    user = decode_access_token(
        jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256"), secret=TEST_JWT_SECRET, algorithm="HS256"
    )

    assert user.token_version == 0 and user.session_id is None


def test_version_and_session_travel_in_the_token() -> None:
    token = create_access_token(
        user_id=7,
        role="user",
        email="u@example.com",
        secret=TEST_JWT_SECRET,
        algorithm="HS256",
        ttl_seconds=900,
        token_version=3,
        session_id=41,
    )

    user = decode_access_token(token, secret=TEST_JWT_SECRET, algorithm="HS256")

    assert (user.token_version, user.session_id) == (3, 41)


@pytest.mark.parametrize(
    "claims",
    [{"tv": -1}, {"tv": "1"}, {"tv": True}, {"tv": 1.5}, {"sid": 0}, {"sid": "4"}, {"sid": False}],
    ids=str,
)
def test_malformed_version_or_session_claims_are_refused(claims: dict[str, Any]) -> None:
    now = int(time.time())
    base = {"sub": "7", "role": "user", "email": "u@example.com", "iat": now, "exp": now + 60}

    with pytest.raises(InvalidToken):
        decode_access_token(
            jwt.encode(base | claims, TEST_JWT_SECRET, algorithm="HS256"), secret=TEST_JWT_SECRET, algorithm="HS256"
        )


# --- the cache ----------------------------------------------------------------------------------


def test_an_empty_cache_refuses_nothing() -> None:
    assert not TokenStateCache().refuses(who(tv=0, sid=3))


def test_tokens_older_than_the_users_version_are_refused() -> None:
    cache = TokenStateCache()
    cache.apply(changes(users=[(7, 2, True)]))

    assert cache.refuses(who(tv=0))
    assert cache.refuses(who(tv=1))
    assert not cache.refuses(who(tv=2))
    assert not cache.refuses(who(user_id=8, tv=0))  # someone else


def test_a_deactivated_user_is_refused_whatever_the_version_until_reactivated() -> None:
    cache = TokenStateCache()
    cache.apply(changes(users=[(7, 1, False)]))
    assert cache.refuses(who(tv=5))

    cache.apply(changes(cursor=2, users=[(7, 1, True)]))

    assert not cache.refuses(who(tv=1))
    assert cache.refuses(who(tv=0))


def test_an_ended_session_is_refused_and_others_are_not() -> None:
    cache = TokenStateCache()
    cache.apply(changes(sessions=[41]))

    assert cache.refuses(who(sid=41))
    assert not cache.refuses(who(sid=42))
    assert not cache.refuses(who(sid=None))


def test_a_version_never_goes_back() -> None:
    """The feed may repeat an older answer (overlapping snapshots); it must not undo a bump."""
    cache = TokenStateCache()
    cache.apply(changes(users=[(7, 3, True)]))
    cache.apply(changes(cursor=2, users=[(7, 2, True)]))

    assert cache.refuses(who(tv=2))


def test_entries_are_forgotten_once_every_token_they_refuse_has_expired() -> None:
    now = [1000.0]
    cache = TokenStateCache(clock=lambda: now[0])
    cache.apply(changes(users=[(7, 1, False)], sessions=[41], retain=100))
    now[0] += 50
    cache.apply(changes(cursor=2, users=[(8, 1, True)], retain=100))
    assert cache.refuses(who(tv=1)) and cache.refuses(who(user_id=9, sid=41))

    now[0] += 60  # 110 s after the first entries, 60 s after the second
    cache.apply(changes(cursor=3, retain=100))

    assert not cache.refuses(who(tv=0)) and not cache.refuses(who(user_id=9, sid=41))
    assert cache.refuses(who(user_id=8, tv=0))
    assert len(cache) == 1


# --- the job, against a real peer ---------------------------------------------------------------


class FakeAuth:
    """S1's feed on a free port: answers what the test sets, records each `since` it was asked."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answer = changes(cursor=10)
        self.asked: list[str | None] = []
        self.credentials: list[str | None] = []
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.asked.append(request.query.get("since"))
        self.credentials.append(request.headers.get("X-Service-Token"))
        return web.json_response(self.answer.model_dump())

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/token-state", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


router = APIRouter()


@router.get("/me")
async def me(user: CurrentUser) -> dict[str, Any]:
    return {"id": user.id}


async def until(probe: Any, *, timeout: float = 5.0, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake_auth() -> AsyncIterator[FakeAuth]:
    server = FakeAuth()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def service(fake_auth: FakeAuth) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = ServiceSettings(
        **base_settings(
            None,
            service_urls={"s1-auth": f"http://127.0.0.1:{fake_auth.port}"},
            token_state_poll_seconds=0.05,
        )
    )
    app = create_app(settings, title="t", routers=[(router, "")], uses_database=False, registers=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield app, client


def bearer(user_id: int = 7, tv: int = 0, sid: int | None = None) -> dict[str, str]:
    token = create_access_token(
        user_id=user_id,
        role="user",
        email="u@example.com",
        secret=TEST_JWT_SECRET,
        algorithm="HS256",
        ttl_seconds=900,
        token_version=tv,
        session_id=sid,
    )
    return {"Authorization": f"Bearer {token}"}


async def test_the_service_asks_the_feed_with_its_credential_and_continues_from_the_cursor(
    service: tuple[FastAPI, httpx.AsyncClient], fake_auth: FakeAuth
) -> None:
    await until(lambda: len(fake_auth.asked) >= 2, what="two polls")

    assert fake_auth.asked[0] is None  # the first asks for everything that still matters
    assert fake_auth.asked[1] == "10"
    assert set(fake_auth.credentials) == {TEST_SERVICE_TOKEN}


async def test_a_revoked_token_is_refused_within_a_poll_and_others_still_pass(
    service: tuple[FastAPI, httpx.AsyncClient], fake_auth: FakeAuth
) -> None:
    _, client = service
    assert (await client.get("/me", headers=bearer(tv=0))).status_code == 200

    fake_auth.answer = changes(cursor=11, users=[(7, 1, True)], sessions=[99])

    async def refused() -> bool:
        return (await client.get("/me", headers=bearer(tv=0))).status_code == 401

    await until(refused, what="the old token to be refused")
    answer = await client.get("/me", headers=bearer(tv=0))
    assert answer.json() == {"error": TOKEN_REVOKED}
    assert answer.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/me", headers=bearer(tv=1))).status_code == 200
    assert (await client.get("/me", headers=bearer(tv=1, sid=99))).status_code == 401
    assert (await client.get("/me", headers=bearer(user_id=8))).status_code == 200


async def test_while_the_feed_is_down_the_last_known_state_holds(
    service: tuple[FastAPI, httpx.AsyncClient], fake_auth: FakeAuth
) -> None:
    app, client = service
    fake_auth.answer = changes(cursor=12, users=[(7, 0, False)])
    await until(lambda: app.state.token_state.cursor == 12, what="the deactivation to arrive")
    await fake_auth.stop()

    # Polls keep failing (nothing answers) ...
    await until(lambda: app.state.token_state.failed_polls >= 3, what="a few failed polls")
    # ... and the deactivation still holds.
    assert (await client.get("/me", headers=bearer(tv=0))).status_code == 401
    assert app.state.jobs["token-state"].restarts == 0  # a failed poll is not a crash


async def test_a_service_without_user_routes_keeps_no_token_state() -> None:
    settings = ServiceSettings(**base_settings(None))
    app = create_app(settings, title="t", uses_database=False, registers=False, verifies_tokens=False)
    async with app.router.lifespan_context(app):
        assert "token-state" not in app.state.jobs
        assert not hasattr(app.state, "token_state")
