"""POST /notify: who may notify whom, what is stored, idempotency, and bad bodies (400, nothing stored)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import SignedIn

from .conftest import NOTIFICATION_KEYS, SERVICE_HEADERS, unique_address, unique_phone

CONTRACT_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def body_for(user_id: int, **fields: Any) -> dict[str, Any]:
    return {"user_id": user_id, "type": "ticket_assigned", "channel": "in_app", "message": "Assigned to Ana."} | fields


async def count_for(db: asyncpg.Connection, user_id: int) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1", user_id)
    return count


async def test_a_service_notifies_anyone_and_gets_the_stored_pending_notification(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    response = await client.post("/notify", json=body_for(user.id, ticket_id=12), headers=SERVICE_HEADERS)

    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == NOTIFICATION_KEYS
    assert (created["user_id"], created["ticket_id"], created["type"], created["channel"]) == (
        user.id,
        12,
        "ticket_assigned",
        "in_app",
    )
    assert (created["status"], created["retry_count"], created["sent_at"], created["read_at"]) == (
        "pending",
        0,
        None,
        None,
    )
    assert CONTRACT_TIMESTAMP.match(created["created_at"])
    stored = await db.fetchrow("SELECT sender, idempotency_key FROM notifications WHERE id = $1", created["id"])
    assert (stored["sender"], stored["idempotency_key"]) == ("service", None)


@pytest.mark.parametrize("role", ["staff", "admin"])
@pytest.mark.parametrize("channel", ["in_app", "email", "sms"])
async def test_staff_notify_any_user_on_any_channel(
    client: httpx.AsyncClient, request: pytest.FixtureRequest, user: SignedIn, role: str, channel: str
) -> None:
    caller: SignedIn = request.getfixturevalue(role)
    body = body_for(user.id, channel=channel, user_email=unique_address(), user_phone=unique_phone())
    response = await client.post("/notify", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    assert response.json()["channel"] == channel


@pytest.mark.parametrize("channel", ["in_app", "email"])
async def test_a_user_may_send_a_test_alert_to_themselves(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn, channel: str
) -> None:
    body = body_for(user.id, type="test_alert", channel=channel)
    response = await client.post("/notify", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    stored = await db.fetchrow("SELECT sender, recipient FROM notifications WHERE id = $1", response.json()["id"])
    assert stored["sender"] == f"user:{user.id}"
    # An email goes to the address in the user's own token, nowhere else.
    assert stored["recipient"] == (user.email if channel == "email" else None)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"type": "ticket_assigned"}, "another type than test_alert"),
        ({"type": "test_alert", "to_other": True}, "another user"),
        ({"type": "test_alert", "user_email": "someone.else@example.com", "channel": "email"}, "another address"),
        ({"type": "test_alert", "channel": "sms", "user_phone": "+15551234567"}, "by SMS"),
    ],
)
async def test_a_user_may_not_notify_anyone_else_or_anything_else(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    user: SignedIn,
    other_user: SignedIn,
    fields: dict[str, Any],
    why: str,
) -> None:
    fields = dict(fields)
    target = other_user.id if fields.pop("to_other", False) else user.id
    response = await client.post("/notify", json=body_for(target, **fields), headers=user.headers)
    assert response.status_code == 403, why
    assert isinstance(response.json()["error"], str)
    assert await count_for(db, target) == 0


async def test_without_credentials_it_is_a_401_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    for headers in ({}, {"X-Service-Token": "not-the-token"}, {"Authorization": "Bearer not.a.jwt"}):
        response = await client.post("/notify", json=body_for(user.id), headers=headers)
        assert response.status_code == 401, headers
    assert await count_for(db, user.id) == 0


BAD_BODIES: list[tuple[str, Any]] = [
    ("unknown type", {"type": "ticket_exploded"}),
    ("unknown channel", {"channel": "pigeon"}),
    ("missing user_id", {"user_id": None}),
    ("missing type", {"type": None}),
    ("missing channel", {"channel": None}),
    ("missing message", {"message": None}),
    ("user_id as a string", {"user_id": "5"}),
    ("user_id zero", {"user_id": 0}),
    ("user_id too large", {"user_id": 2**31}),
    ("ticket_id as a string", {"ticket_id": "12"}),
    ("ticket_id negative", {"ticket_id": -1}),
    ("message as a number", {"message": 5}),
    ("blank message", {"message": "   "}),
    ("message too long", {"message": "x" * 2001}),
    ("message with NUL", {"message": "a\x00b"}),
    ("message with a lone surrogate", {"message": "a\ud800b"}),
    ("bad email", {"channel": "email", "user_email": "not-an-address"}),
    ("sms without a phone", {"channel": "sms"}),
    ("bad phone", {"channel": "sms", "user_phone": "555-1234"}),
    ("unknown field", {"ticketId": 5}),
    ("type as a list", {"type": ["test_alert"]}),
]


@pytest.mark.parametrize(("why", "change"), BAD_BODIES, ids=[why for why, _ in BAD_BODIES])
async def test_bad_bodies_are_400_with_details_and_store_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn, why: str, change: dict[str, Any]
) -> None:
    body = body_for(user.id) | change
    body = {key: value for key, value in body.items() if value is not None}
    user_id = body.get("user_id") if isinstance(body.get("user_id"), int) and 0 < body["user_id"] < 2**31 else user.id
    # json.dumps escapes a lone surrogate as \ud800, as a client could send it.
    response = await client.post(
        "/notify", content=json.dumps(body), headers=SERVICE_HEADERS | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400, (why, response.text)
    error = response.json()
    assert isinstance(error["error"], str) and error["details"]
    assert await count_for(db, user_id) == 0


@pytest.mark.parametrize(
    "raw", [b"{", b"[]", b'"text"', b"null", b'{"user_id": 1,}'], ids=["truncated", "array", "string", "null", "comma"]
)
async def test_malformed_json_is_a_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/notify", content=raw, headers=SERVICE_HEADERS | {"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["error"], str)


async def test_a_body_that_is_not_json_is_a_415(client: httpx.AsyncClient, user: SignedIn) -> None:
    response = await client.post(
        "/notify", content=b"user_id=1", headers=SERVICE_HEADERS | {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415


# --- Idempotency-Key --------------------------------------------------------------------------


async def test_a_repeated_key_answers_200_with_the_first_notification_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    headers = SERVICE_HEADERS | {"Idempotency-Key": f"outbox-{uuid.uuid4()}"}
    first = await client.post("/notify", json=body_for(user.id), headers=headers)
    again = await client.post("/notify", json=body_for(user.id), headers=headers)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await count_for(db, user.id) == 1


async def test_keys_are_scoped_to_their_sender(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn, staff: SignedIn
) -> None:
    """A user cannot use up a key the service will send: each sender has keys of its own."""
    key = f"shared-{uuid.uuid4()}"
    alert = body_for(user.id, type="test_alert")
    by_user = await client.post("/notify", json=alert, headers=user.headers | {"Idempotency-Key": key})
    by_service = await client.post("/notify", json=alert, headers=SERVICE_HEADERS | {"Idempotency-Key": key})
    by_staff = await client.post("/notify", json=alert, headers=staff.headers | {"Idempotency-Key": key})

    assert [r.status_code for r in (by_user, by_service, by_staff)] == [201, 201, 201]
    assert len({r.json()["id"] for r in (by_user, by_service, by_staff)}) == 3
    assert await count_for(db, user.id) == 3


async def test_a_key_reused_with_another_body_is_a_409_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    headers = SERVICE_HEADERS | {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    assert (await client.post("/notify", json=body_for(user.id), headers=headers)).status_code == 201
    other = await client.post("/notify", json=body_for(user.id, message="Something else."), headers=headers)
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["error"]
    assert await count_for(db, user.id) == 1


async def test_concurrent_repeats_of_one_key_store_one_row(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    headers = SERVICE_HEADERS | {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(client.post("/notify", json=body_for(user.id), headers=headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_for(db, user.id) == 1


@pytest.mark.parametrize(
    "key", [b"", b"x" * 201, "caf\u00e9".encode(), b"tab\there"], ids=["empty", "too long", "non-ascii", "control"]
)
async def test_a_bad_idempotency_key_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn, key: bytes
) -> None:
    headers: dict[str, str | bytes] = {**SERVICE_HEADERS, "Idempotency-Key": key}
    response = await client.post("/notify", json=body_for(user.id), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "Idempotency-Key"
    assert await count_for(db, user.id) == 0
