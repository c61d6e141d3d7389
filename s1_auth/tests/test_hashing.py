"""Password hashing: argon2id at OWASP cost by default, always in a worker thread, bounded."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from s1_auth.service import PasswordHasher
from s1_auth.settings import Settings

from .conftest import FAST_HASH, Account, login, register, unique_email

# Long enough never to fire on a healthy run; only there so a broken build fails instead of hanging.
DEADLOCK_GUARD_SECONDS = 10


def test_the_default_hash_is_argon2id_at_owasp_cost() -> None:
    hasher = PasswordHasher.from_settings(Settings())

    digest = hasher.context.hash("a-password")

    assert digest.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.limiter.total_tokens == 2


async def test_hashing_runs_in_a_worker_thread_never_on_the_event_loop(
    app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = app.state.password_hasher.context
    loop_thread = threading.get_ident()
    threads: list[int] = []
    real_hash, real_verify = context.hash, context.verify_and_update

    def spy_hash(secret: str) -> str:
        threads.append(threading.get_ident())
        digest: str = real_hash(secret)
        return digest

    def spy_verify(secret: str, stored: str) -> tuple[bool, str | None]:
        threads.append(threading.get_ident())
        result: tuple[bool, str | None] = real_verify(secret, stored)
        return result

    monkeypatch.setattr(context, "hash", spy_hash)
    monkeypatch.setattr(context, "verify_and_update", spy_verify)
    email = unique_email()

    await register(client, email)  # hash
    await login(client, email, "s3cret-passw0rd")  # verify
    await login(client, unique_email("nobody"), "s3cret-passw0rd")  # verify against the dummy

    assert len(threads) == 3
    assert loop_thread not in threads


async def test_the_service_answers_while_a_login_is_hashing(
    app: Any, client: httpx.AsyncClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verification held open in its thread: /health and /me still answer meanwhile."""
    context = app.state.password_hasher.context
    real_verify = context.verify_and_update
    hashing = threading.Event()
    release = threading.Event()
    released_by_the_test: list[bool] = []

    def slow_verify(secret: str, stored: str) -> tuple[bool, str | None]:
        hashing.set()
        # On the event loop this would block the test itself, and only the guard would end it.
        released_by_the_test.append(release.wait(DEADLOCK_GUARD_SECONDS))
        result: tuple[bool, str | None] = real_verify(secret, stored)
        return result

    monkeypatch.setattr(context, "verify_and_update", slow_verify)

    pending_login = asyncio.create_task(login(client, user.email, user.password))
    try:
        assert await asyncio.to_thread(hashing.wait, DEADLOCK_GUARD_SECONDS)
        health = await client.get("/health")
        me = await client.get("/me", headers=user.headers)
        assert health.status_code == 200
        assert me.status_code == 200
        assert not pending_login.done()  # the login was still hashing while they answered
    finally:
        release.set()
    assert (await pending_login).status_code == 200
    assert released_by_the_test == [True]


async def test_no_more_than_hash_concurrency_hashes_run_at_once() -> None:
    hasher = PasswordHasher(concurrency=2, **_fast_parameters())
    real_hash = hasher.context.hash
    started = threading.Semaphore(0)
    release = threading.Event()
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def blocking_hash(secret: str) -> str:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        started.release()
        release.wait(DEADLOCK_GUARD_SECONDS)
        with lock:
            in_flight -= 1
        digest: str = real_hash(secret)
        return digest

    hasher.context.hash = blocking_hash  # type: ignore[method-assign]
    tasks = [asyncio.create_task(hasher.hash(f"password-{n}")) for n in range(5)]
    try:
        for _ in range(2):
            assert await asyncio.to_thread(started.acquire, True, DEADLOCK_GUARD_SECONDS)
        # The other three are queued on the limiter, not running. Yield until they got there.
        for _ in range(1000):
            if hasher.limiter.statistics().tasks_waiting == 3:
                break
            await asyncio.sleep(0)
        assert hasher.limiter.statistics().tasks_waiting == 3
        assert hasher.limiter.borrowed_tokens == 2
        assert most_in_flight == 2
    finally:
        release.set()
    digests = await asyncio.gather(*tasks)

    assert len(set(digests)) == 5
    assert most_in_flight == 2


def _fast_parameters() -> dict[str, int]:
    return {
        "memory_cost_kib": FAST_HASH["argon2_memory_cost_kib"],
        "time_cost": FAST_HASH["argon2_time_cost"],
        "parallelism": FAST_HASH["argon2_parallelism"],
    }


async def test_verify_says_no_for_an_unknown_account_even_with_the_dummy_password() -> None:
    hasher = PasswordHasher(concurrency=1, **_fast_parameters())
    await hasher.prepare()

    assert await hasher.verify("anything", None) == (False, None)
    good = await hasher.hash("right-password")
    assert await hasher.verify("right-password", good) == (True, None)
    assert await hasher.verify("wrong-password", good) == (False, None)
