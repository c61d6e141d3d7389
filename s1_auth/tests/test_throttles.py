"""The throttles under concurrency: a burst of guesses cannot outrun the login limit, a burst of
registrations is limited per address and never makes a login wait for a hashing thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import PASSWORD, THROTTLE, Account, count_users, login, random_ip, unique_email

MAX_PER_EMAIL = THROTTLE["login_max_failures_per_email"]
MAX_PER_IP = THROTTLE["login_max_failures_per_ip"]
BURST = 50
# Long enough never to fire on a healthy run; only there so a broken build fails instead of hanging.
DEADLOCK_GUARD_SECONDS = 10


@pytest.fixture
def verifications(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password verification the hasher runs (the stored hash it was checked against)."""
    context = app.state.password_hasher.context
    real_verify = context.verify_and_update
    seen: list[str] = []

    def counting(secret: str, stored: str) -> tuple[bool, str | None]:
        seen.append(stored)
        result: tuple[bool, str | None] = real_verify(secret, stored)
        return result

    monkeypatch.setattr(context, "verify_and_update", counting)
    return seen


async def test_50_concurrent_wrong_passwords_for_one_email_verify_at_most_the_limit(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, verifications: list[str]
) -> None:
    """Each attempt is recorded before its password is looked at, so the n-th of a burst sees
    the ones before it. Recording after the hash let every guess of a burst pass the check."""
    responses = await asyncio.gather(*(login(client, user.email, f"guess-{n}") for n in range(BURST)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 429}
    assert len(verifications) <= MAX_PER_EMAIL, f"{len(verifications)} guesses were verified"
    assert statuses.count(401) == len(verifications)
    # What the throttle remembers is exactly what was verified (refused attempts leave no row).
    failures = await db.fetchval("SELECT count(*) FROM s1_auth_login_failures WHERE email = $1", user.email)
    assert failures == len(verifications)
    # Once the limit was reached the account is blocked, even with the right password. (A burst
    # may also be refused before reaching it: every attempt in flight counts against the others.)
    blocked = len(verifications) == MAX_PER_EMAIL
    assert (await login(client, user.email, user.password)).status_code == (429 if blocked else 200)


async def test_50_concurrent_guesses_from_one_address_verify_at_most_its_limit(
    client: httpx.AsyncClient, verifications: list[str]
) -> None:
    ip = random_ip()

    responses = await asyncio.gather(
        *(login(client, unique_email("spray"), "wrong-password", ip=ip) for _ in range(BURST))
    )

    assert len(verifications) <= MAX_PER_IP, f"{len(verifications)} guesses were verified"
    assert sorted({r.status_code for r in responses}) in ([401, 429], [429])


async def test_a_successful_login_in_a_burst_still_gets_in(client: httpx.AsyncClient, user: Account) -> None:
    """Recording first must not turn the right password into a failure."""
    response = await login(client, user.email, user.password)

    assert response.status_code == 200


# --- registration -------------------------------------------------------------------------------


@pytest.fixture
def register_limit(app: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(app.state.settings, "register_max_per_ip", 3)
    return 3


async def register_from(client: httpx.AsyncClient, ip: str, email: str | None = None) -> httpx.Response:
    return await client.post(
        "/register",
        json={"email": email or unique_email("signup"), "password": PASSWORD},
        headers={"X-Forwarded-For": ip},
    )


async def test_registrations_from_one_address_are_limited_with_retry_after(
    client: httpx.AsyncClient, db: asyncpg.Connection, register_limit: int
) -> None:
    ip = random_ip()
    for _ in range(register_limit):
        assert (await register_from(client, ip)).status_code == 201
    users_before = await count_users(db)

    refused = await register_from(client, ip)

    assert refused.status_code == 429
    assert set(refused.json()) == {"error"}
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert await count_users(db) == users_before
    # Another address is not affected.
    assert (await register_from(client, random_ip())).status_code == 201


async def test_a_concurrent_burst_of_registrations_creates_at_most_the_limit(
    client: httpx.AsyncClient, db: asyncpg.Connection, register_limit: int
) -> None:
    ip = random_ip()
    users_before = await count_users(db)

    responses = await asyncio.gather(*(register_from(client, ip) for _ in range(20)))

    created = [r for r in responses if r.status_code == 201]
    assert len(created) <= register_limit
    assert {r.status_code for r in responses} <= {201, 429}
    assert await count_users(db) - users_before == len(created)


async def test_registrations_from_inside_the_deployment_are_not_limited(
    client: httpx.AsyncClient, register_limit: int
) -> None:
    """The in-process client connects from 127.0.0.1, a trusted proxy (no X-Forwarded-For)."""
    for _ in range(register_limit + 2):
        response = await client.post("/register", json={"email": unique_email("inside"), "password": PASSWORD})
        assert response.status_code == 201


@pytest.fixture
def held_registration_hashes(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Registration hashes block in their threads until the event is set (set at the end in any
    case, so no thread is left hanging)."""
    context = app.state.password_hasher.context
    real_hash = context.hash
    release = threading.Event()

    def held(secret: str) -> str:
        release.wait(DEADLOCK_GUARD_SECONDS)
        digest: str = real_hash(secret)
        return digest

    monkeypatch.setattr(context, "hash", held)
    yield release
    release.set()


async def until(probe: Any, what: str) -> None:
    async with asyncio.timeout(DEADLOCK_GUARD_SECONDS):
        while not probe():
            await asyncio.sleep(0.01)  # a poll interval, with the deadline above


async def test_a_burst_of_registrations_does_not_make_logins_wait_for_a_hashing_thread(
    app: Any, client: httpx.AsyncClient, user: Account, held_registration_hashes: threading.Event
) -> None:
    """Registrations hash on threads of their own: with every one of them busy (and more
    registrations queued), a login is still verified at once. On a shared pool it would wait
    for the registrations' hashes to finish."""
    hasher = app.state.password_hasher
    burst = [
        asyncio.create_task(client.post("/register", json={"email": unique_email("burst"), "password": PASSWORD}))
        for _ in range(hasher.registration_limiter.total_tokens + 3)
    ]
    await until(
        lambda: (
            hasher.registration_limiter.borrowed_tokens == hasher.registration_limiter.total_tokens
            and hasher.registration_limiter.statistics().tasks_waiting == 3
        ),
        "the registration threads to be busy and three more registrations to queue",
    )

    async with asyncio.timeout(DEADLOCK_GUARD_SECONDS / 2):
        response = await login(client, user.email, user.password)

    assert response.status_code == 200
    assert not any(task.done() for task in burst)  # the registrations were still hashing
    held_registration_hashes.set()
    assert [r.status_code for r in await asyncio.gather(*burst)] == [201] * len(burst)


async def test_registrations_beyond_the_queue_are_refused_at_once_with_503(
    app: Any, client: httpx.AsyncClient, db: asyncpg.Connection, held_registration_hashes: threading.Event
) -> None:
    hasher = app.state.password_hasher
    capacity = int(hasher.registration_limiter.total_tokens) + hasher.registration_queue_max
    queued = [
        asyncio.create_task(client.post("/register", json={"email": unique_email("queued"), "password": PASSWORD}))
        for _ in range(capacity)
    ]
    await until(
        lambda: hasher.registration_limiter.statistics().tasks_waiting == hasher.registration_queue_max,
        "the registration queue to fill",
    )
    email = unique_email("one-too-many")

    refused = await client.post("/register", json={"email": email, "password": PASSWORD})

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert set(refused.json()) == {"error"}
    held_registration_hashes.set()
    assert {r.status_code for r in await asyncio.gather(*queued)} == {201}
    assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 0
