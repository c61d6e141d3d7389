"""Password reset by email: the same answer for every well-formed address, throttled per client
and per address, a single-use hashed token that expires, and a confirm that sets the password
and ends every session and token of the account.

The email goes into S1's outbox (delivered by the relay, tested with S6 and a real SMTP sink in
tests/test_password_reset.py); these tests read the link from the outbox row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN
from s1_auth.service import INVALID_RESET_TOKEN, RESET_DONE, RESET_REQUESTED

from .conftest import PASSWORD, Account, bearer, login, random_ip, refresh, unique_email

NewAccount = Callable[..., Awaitable[Account]]
JSON = {"Content-Type": "application/json"}
NEW_PASSWORD = "a-brand-new-passw0rd"
LINK = re.compile(r"http://localhost:5173/reset-password#token=([A-Za-z0-9_-]{43})")
CALLERS = ["anonymous", "user", "other_user", "staff", "admin", "service"]


async def ask_reset(client: httpx.AsyncClient, email: str, *, ip: str | None = None, **headers: str) -> httpx.Response:
    return await client.post(
        "/password-reset", json={"email": email}, headers={"X-Forwarded-For": ip or random_ip(), **headers}
    )


async def confirm(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD, **headers: str
) -> httpx.Response:
    return await client.post(
        "/password-reset/confirm", json={"token": token, "new_password": password}, headers=headers
    )


async def emails_to(db: asyncpg.Connection, email: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT * FROM s1_auth_outbox WHERE recipient_email = $1 ORDER BY id", email
    )
    return rows


async def reset_token(client: httpx.AsyncClient, db: asyncpg.Connection, account: Account) -> str:
    """Ask for a reset of `account` and read the token from the link in its email."""
    before = len(await emails_to(db, account.email))
    assert (await ask_reset(client, account.email)).status_code == 202
    rows = await emails_to(db, account.email)
    assert len(rows) == before + 1
    found = LINK.search(rows[-1]["message"])
    assert found is not None, rows[-1]["message"]
    return found.group(1)


async def caller_headers(caller: str, accounts: dict[str, Account]) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    if caller == "service":
        return {"X-Service-Token": TEST_SERVICE_TOKEN}
    return bearer(accounts[caller].token)


@pytest.fixture
def accounts(user: Account, other_user: Account, staff: Account, admin: Account) -> dict[str, Account]:
    return {"user": user, "other_user": other_user, "staff": staff, "admin": admin}


async def password_hash(db: asyncpg.Connection, user_id: int) -> str:
    value: str = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    return value


# --- asking for a reset ---------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
async def test_anyone_may_ask_and_the_link_goes_to_the_address_asked_for(
    client: httpx.AsyncClient, db: asyncpg.Connection, accounts: dict[str, Account], user: Account, caller: str
) -> None:
    response = await ask_reset(client, user.email.upper(), **await caller_headers(caller, accounts))

    assert response.status_code == 202
    assert response.json() == {"message": RESET_REQUESTED}
    (row,) = await emails_to(db, user.email)
    assert (row["recipient_id"], row["type"], row["channel"], row["status"]) == (
        user.id,
        "password_reset",
        "email",
        "pending",
    )
    assert row["ticket_id"] is None
    found = LINK.search(row["message"])
    assert found is not None
    assert "30 minutes" in row["message"]
    # Only the token's hash is stored, expiring in 30 minutes.
    stored = await db.fetchrow(
        "SELECT token_hash, extract(epoch FROM expires_at - created_at) AS ttl FROM s1_auth_password_resets"
        " WHERE user_id = $1",
        user.id,
    )
    assert stored["token_hash"] == hashlib.sha256(found.group(1).encode()).digest()
    assert stored["ttl"] == 1800
    assert (
        await db.fetchval(
            "SELECT count(*) FROM s1_auth_password_resets WHERE position($1::bytea IN token_hash) > 0",
            found.group(1).encode(),
        )
        == 0
    )


async def test_an_unknown_address_gets_the_same_answer_and_no_email(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    unknown = unique_email("nobody")

    known_answer = await ask_reset(client, user.email)
    unknown_answer = await ask_reset(client, unknown)

    assert (unknown_answer.status_code, unknown_answer.json()) == (known_answer.status_code, known_answer.json())
    assert set(unknown_answer.headers) == set(known_answer.headers)
    assert await emails_to(db, unknown) == []
    assert len(await emails_to(db, user.email)) == 1


async def test_a_deactivated_account_gets_no_email(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    deactivated = await client.patch(f"/users/{user.id}/active", json={"active": False}, headers=admin.headers)
    assert deactivated.status_code == 200

    response = await ask_reset(client, user.email)

    assert (response.status_code, response.json()) == (202, {"message": RESET_REQUESTED})
    assert await emails_to(db, user.email) == []
    assert await db.fetchval("SELECT count(*) FROM s1_auth_password_resets WHERE user_id = $1", user.id) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": None},
        {"email": 5},
        {"email": ["a@example.com"]},
        {"email": "not-an-address"},
        {"email": "a@"},
        {"email": "x" * 400 + "@example.com"},
        {"email": "a\u0000b@example.com"},
        {"email": "a@example.com", "extra": 1},
        [],
        "a@example.com",
    ],
)
async def test_bad_request_bodies_are_400_and_record_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: Any
) -> None:
    requests_before = await db.fetchval("SELECT count(*) FROM s1_auth_reset_requests")
    emails_before = await db.fetchval("SELECT count(*) FROM s1_auth_outbox")

    response = await client.post(
        "/password-reset", content=json.dumps(body), headers=JSON | {"X-Forwarded-For": random_ip()}
    )

    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)
    assert await db.fetchval("SELECT count(*) FROM s1_auth_reset_requests") == requests_before
    assert await db.fetchval("SELECT count(*) FROM s1_auth_outbox") == emails_before


async def test_malformed_json_is_400_and_a_form_415(client: httpx.AsyncClient) -> None:
    assert (await client.post("/password-reset", content=b'{"email": ', headers=JSON)).status_code == 400
    form = await client.post("/password-reset", data={"email": "a@example.com"})
    assert form.status_code == 415


async def test_one_client_is_throttled_with_429(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    ip = random_ip()
    answers = [await ask_reset(client, unique_email("any"), ip=ip) for _ in range(4)]
    assert [a.status_code for a in answers] == [202] * 4

    blocked_address = unique_email("blocked")
    blocked = await ask_reset(client, blocked_address, ip=ip)

    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "error" in blocked.json()
    # Counted only the allowed requests; another client is not held back.
    assert await db.fetchval("SELECT count(*) FROM s1_auth_reset_requests WHERE client_ip = $1", ip) == 4
    assert (await ask_reset(client, blocked_address)).status_code == 202


async def test_one_address_gets_at_most_two_emails_per_window_and_the_same_answer(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    unknown = unique_email("nobody")
    answers = [await ask_reset(client, address) for address in [user.email, unknown] * 3]

    assert {(a.status_code, a.content) for a in answers} == {(202, answers[0].content)}
    assert answers[0].json() == {"message": RESET_REQUESTED}
    assert len(await emails_to(db, user.email)) == 2
    assert await db.fetchval("SELECT count(*) FROM s1_auth_password_resets WHERE user_id = $1", user.id) == 2


async def test_concurrent_requests_for_one_address_send_at_most_the_limit(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    answers = await asyncio.gather(*(ask_reset(client, user.email) for _ in range(6)))

    assert [a.status_code for a in answers] == [202] * 6
    assert len(await emails_to(db, user.email)) <= 2


# --- confirming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
async def test_confirm_sets_the_password_and_ends_every_session_and_token(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    accounts: dict[str, Account],
    new_account: NewAccount,
    caller: str,
) -> None:
    target = await new_account("user")
    sessions = [(await login(client, target.email, target.password)).json() for _ in range(2)]
    version_before = await db.fetchval("SELECT token_version FROM users WHERE id = $1", target.id)
    # A locked-out owner gets back in with the new password.
    for _ in range(3):
        await login(client, target.email, "wrong password")
    token = await reset_token(client, db, target)
    last_session = await db.fetchval("SELECT max(id) FROM s1_auth_sessions WHERE user_id = $1", target.id)

    response = await confirm(client, token, **await caller_headers(caller, accounts))

    assert (response.status_code, response.json()) == (200, {"message": RESET_DONE})
    assert (await login(client, target.email, target.password)).status_code == 401
    assert (await login(client, target.email, NEW_PASSWORD)).status_code == 200
    for session in sessions:
        assert (await refresh(client, session["refresh_token"])).status_code == 401
        assert (await client.get("/me", headers=bearer(session["token"]))).status_code == 401
    assert (await client.get("/me", headers=target.headers)).status_code == 401
    assert await db.fetchval("SELECT token_version FROM users WHERE id = $1", target.id) == version_before + 1
    reasons = await db.fetch(
        "SELECT end_reason FROM s1_auth_sessions WHERE user_id = $1 AND id <= $2", target.id, last_session
    )
    assert [r["end_reason"] for r in reasons] == ["password_reset"] * 3  # new_account's, and the two
    assert await db.fetchval(
        "SELECT used_at IS NOT NULL FROM s1_auth_password_resets WHERE token_hash = $1",
        hashlib.sha256(token.encode()).digest(),
    )


async def test_a_token_works_once(client: httpx.AsyncClient, db: asyncpg.Connection, user: Account) -> None:
    token = await reset_token(client, db, user)
    assert (await confirm(client, token)).status_code == 200
    hash_after = await password_hash(db, user.id)

    again = await confirm(client, token, "yet-another-passw0rd")

    assert (again.status_code, again.json()) == (400, {"error": INVALID_RESET_TOKEN})
    assert await password_hash(db, user.id) == hash_after


async def test_concurrent_confirms_of_one_token_set_one_password(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    token = await reset_token(client, db, user)

    answers = await asyncio.gather(
        confirm(client, token, "first-new-passw0rd"), confirm(client, token, "second-new-passw0rd")
    )

    assert sorted(a.status_code for a in answers) == [200, 400]
    winner = "first-new-passw0rd" if answers[0].status_code == 200 else "second-new-passw0rd"
    assert (await login(client, user.email, winner)).status_code == 200


async def test_an_expired_token_is_refused_like_an_unknown_one(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    token = await reset_token(client, db, user)
    await db.execute(
        "UPDATE s1_auth_password_resets SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        hashlib.sha256(token.encode()).digest(),
    )
    hash_before = await password_hash(db, user.id)

    expired = await confirm(client, token)
    unknown = await confirm(client, "A" * 43)

    assert (expired.status_code, expired.json()) == (400, {"error": INVALID_RESET_TOKEN})
    assert (unknown.status_code, unknown.json()) == (400, {"error": INVALID_RESET_TOKEN})
    assert await password_hash(db, user.id) == hash_before
    assert (await login(client, user.email, PASSWORD)).status_code == 200


async def test_a_deactivated_account_cannot_use_a_link_sent_before(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    token = await reset_token(client, db, user)
    await client.patch(f"/users/{user.id}/active", json={"active": False}, headers=admin.headers)
    hash_before = await password_hash(db, user.id)

    response = await confirm(client, token)

    assert (response.status_code, response.json()) == (400, {"error": INVALID_RESET_TOKEN})
    assert await password_hash(db, user.id) == hash_before


async def test_a_new_password_uses_up_every_other_link(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    first, second = await reset_token(client, db, user), await reset_token(client, db, user)

    assert (await confirm(client, second)).status_code == 200

    assert (await confirm(client, first, "yet-another-passw0rd")).status_code == 400


async def test_a_password_change_uses_up_open_links(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account
) -> None:
    token = await reset_token(client, db, user)
    changed = await client.post(
        "/password",
        json={"current_password": user.password, "new_password": "changed-passw0rd"},
        headers=user.headers | {"X-Forwarded-For": random_ip()},
    )
    assert changed.status_code == 200

    assert (await confirm(client, token)).status_code == 400
    assert (await login(client, user.email, "changed-passw0rd")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"new_password": NEW_PASSWORD},
        {"token": "{token}"},
        {"token": "{token}", "new_password": "short"},
        {"token": "{token}", "new_password": 12345678},
        {"token": 5, "new_password": NEW_PASSWORD},
        {"token": "", "new_password": NEW_PASSWORD},
        {"token": "x" * 300, "new_password": NEW_PASSWORD},
        {"token": "{token}", "new_password": "nul\u0000in-password"},
        {"token": "{token}", "new_password": NEW_PASSWORD, "extra": True},
        [],
    ],
)
async def test_bad_confirm_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, body: Any
) -> None:
    token = await reset_token(client, db, user)
    hash_before = await password_hash(db, user.id)
    text = json.dumps(body).replace("{token}", token)

    response = await client.post("/password-reset/confirm", content=text, headers=JSON)

    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)
    assert await password_hash(db, user.id) == hash_before
    # The link still works.
    assert (await confirm(client, token)).status_code == 200


async def test_a_too_short_password_says_so(client: httpx.AsyncClient, db: asyncpg.Connection, user: Account) -> None:
    token = await reset_token(client, db, user)

    response = await confirm(client, token, "short")

    assert response.status_code == 400
    assert [d["field"] for d in response.json()["details"]] == ["new_password"]


async def test_confirm_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    assert (await client.post("/password-reset/confirm", content=b'{"token": ', headers=JSON)).status_code == 400


@pytest.mark.parametrize("status", ["delivered", "failed"])
async def test_the_outbox_forgets_the_link_once_the_row_is_handed_on(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Account, status: str
) -> None:
    token = await reset_token(client, db, user)
    (row,) = await emails_to(db, user.email)

    await db.execute(
        "UPDATE s1_auth_outbox SET status = $2, delivered_at = CASE WHEN $2 = 'delivered' THEN now() END WHERE id = $1",
        row["id"],
        status,
    )

    (done,) = await emails_to(db, user.email)
    assert token not in done["message"]
    assert "#token=" not in done["message"]
