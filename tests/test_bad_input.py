"""Bad input through the gateway: a clear 4xx `{"error"}` and nothing written.

The services' own suites try every field in detail; here each kind of bad input crosses the
real gateway and the real processes, and the database is counted before and after.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import asyncpg
import pytest
from jose import jwt

from helpdesk_fleet.fleet import Account, Fleet
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET

pytestmark = pytest.mark.xdist_group("fleet")


def _counts(fleet: Fleet) -> tuple[int, int]:
    async def count() -> tuple[int, int]:
        conn = await asyncpg.connect(fleet.db_url)
        try:
            return (
                await conn.fetchval("SELECT count(*) FROM users"),
                await conn.fetchval("SELECT count(*) FROM tickets"),
            )
        finally:
            await conn.close()

    return asyncio.run(count())


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(account: Account, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": str(account.id),
        "role": account.role,
        "email": account.email,
        "iat": now,
        "exp": now + 600,
    } | changes


def _bad_tokens(account: Account) -> dict[str, str]:
    return {
        "wrong signature": jwt.encode(_claims(account), "not-the-secret", algorithm="HS256"),
        "expired": jwt.encode(_claims(account, exp=int(time.time()) - 60), TEST_JWT_SECRET, algorithm="HS256"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(account))}.",
        "forged role": (lambda t: f"{t.split('.')[0]}.{_b64(_claims(account, role='admin'))}.{t.split('.')[2]}")(
            jwt.encode(_claims(account), TEST_JWT_SECRET, algorithm="HS256")
        ),
        "other algorithm": jwt.encode(_claims(account), TEST_JWT_SECRET, algorithm="HS512"),
        "garbage": "not.a.token",
        "no sub": jwt.encode({k: v for k, v in _claims(account).items() if k != "sub"}, TEST_JWT_SECRET, "HS256"),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/auth/me"),
        ("GET", "/tickets"),
        ("POST", "/tickets"),
        ("GET", "/auth/users"),
        ("GET", "/registry/services"),
    ],
)
def test_forged_expired_and_alg_none_tokens_are_401(
    fleet: Fleet, accounts: dict[str, Account], method: str, path: str
) -> None:
    before = _counts(fleet)
    for name, token in _bad_tokens(accounts["admin"]).items():
        body = {"title": "t", "description": "d", "category": "bug"} if method == "POST" else None
        response = fleet.client(token).request(method, path, json=body)
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"]
    assert _counts(fleet) == before


def test_other_authorization_schemes_are_401(fleet: Fleet, accounts: dict[str, Account]) -> None:
    for header in (f"Token {accounts['user'].token}", "Bearer", "Basic dXNlcjpwYXNz", "Bearer x y"):
        response = fleet.client().get("/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]


BAD_TICKETS: list[tuple[str, Any]] = [
    ("missing title", {"description": "d", "category": "bug"}),
    ("title wrong type", {"title": 5, "description": "d", "category": "bug"}),
    ("title too long", {"title": "x" * 201, "description": "d", "category": "bug"}),
    ("blank title", {"title": "   ", "description": "d", "category": "bug"}),
    ("description too long", {"title": "t", "description": "x" * 20001, "category": "bug"}),
    ("unknown category", {"title": "t", "description": "d", "category": "gossip"}),
    ("unknown priority", {"title": "t", "description": "d", "category": "bug", "priority": "whenever"}),
    ("null category", {"title": "t", "description": "d", "category": None}),
    ("a list, not an object", [{"title": "t", "description": "d", "category": "bug"}]),
]


@pytest.mark.parametrize(("case", "body"), BAD_TICKETS, ids=[c for c, _ in BAD_TICKETS])
def test_bad_tickets_are_400_and_not_written(fleet: Fleet, accounts: dict[str, Account], case: str, body: Any) -> None:
    before = _counts(fleet)
    response = fleet.client(accounts["user"].token).post("/tickets", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert _counts(fleet) == before


@pytest.mark.parametrize(
    ("path", "content", "content_type", "status"),
    [
        ("/tickets", b'{"title": "t", "description": ', "application/json", 400),
        ("/tickets", b"title=t&description=d&category=bug", "application/x-www-form-urlencoded", 415),
        ("/auth/register", b'{"email": "a@example.com", "password": "long-enough"', "application/json", 400),
        ("/auth/register", b"\xff\xfe{}", "application/json", 400),
        ("/auth/login", b"email=a@example.com", "application/x-www-form-urlencoded", 415),
    ],
)
def test_malformed_and_non_json_bodies(
    fleet: Fleet, accounts: dict[str, Account], path: str, content: bytes, content_type: str, status: int
) -> None:
    before = _counts(fleet)
    response = fleet.client(accounts["user"].token).post(path, content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert _counts(fleet) == before


BAD_REGISTRATIONS: list[tuple[str, Any]] = [
    ("invalid email", {"email": "not-an-email", "password": "long-enough-pw"}),
    ("short password", {"email": "short@example.com", "password": "test123"}),
    ("missing password", {"email": "nopw@example.com"}),
    ("email wrong type", {"email": ["a@example.com"], "password": "long-enough-pw"}),
    ("email too long", {"email": "a" * 320 + "@example.com", "password": "long-enough-pw"}),
]


@pytest.mark.parametrize(("case", "body"), BAD_REGISTRATIONS, ids=[c for c, _ in BAD_REGISTRATIONS])
def test_bad_registrations_are_400_and_not_written(fleet: Fleet, case: str, body: Any) -> None:
    before = _counts(fleet)
    response = fleet.client().post("/auth/register", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert _counts(fleet) == before


def test_a_taken_email_is_409_in_any_case(fleet: Fleet, accounts: dict[str, Account]) -> None:
    before = _counts(fleet)
    response = fleet.client().post(
        "/auth/register", json={"email": f"  {accounts['user'].email.upper()} ", "password": "long-enough-pw"}
    )
    assert response.status_code == 409
    assert response.json()["error"]
    assert _counts(fleet) == before


@pytest.mark.parametrize("bad_id", ["abc", "1.0", "-1", "0", "99999999999999999999", "1e3", "%201"])
@pytest.mark.parametrize("template", ["/tickets/{}", "/auth/users/{}", "/auth/users/{}/role"])
def test_non_integer_ids_are_400(fleet: Fleet, accounts: dict[str, Account], template: str, bad_id: str) -> None:
    path = template.format(bad_id)
    client = fleet.client(accounts["admin"].token)
    response = client.patch(path, json={"role": "user"}) if path.endswith("/role") else client.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["error"]


@pytest.mark.parametrize("template", ["/tickets/{}", "/auth/users/{}"])
def test_unknown_ids_are_404(fleet: Fleet, accounts: dict[str, Account], template: str) -> None:
    response = fleet.client(accounts["admin"].token).get(template.format(2_000_000_000))
    assert response.status_code == 404
    assert response.json()["error"]


def test_wrong_password_and_unknown_email_answer_alike(fleet: Fleet, accounts: dict[str, Account]) -> None:
    wrong = fleet.client().post("/auth/login", json={"email": accounts["other"].email, "password": "wrong-password"})
    unknown = fleet.client().post("/auth/login", json={"email": "nobody@example.com", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
