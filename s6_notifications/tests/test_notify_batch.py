"""POST /notify/batch: the outbox relays' way in. Each item answered as /notify would answer it
alone; one bad item refuses the whole batch with nothing stored; services only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import SignedIn

from .conftest import SERVICE_HEADERS


def item(user_id: int, key: str | None = None, **fields: Any) -> dict[str, Any]:
    notification = {"user_id": user_id, "type": "ticket_reply", "channel": "in_app", "message": "A reply."} | fields
    return {"idempotency_key": key or f"batch-{uuid.uuid4()}", "notification": notification}


async def stored_for(db: asyncpg.Connection, user_id: int) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, type, channel, message, recipient, sender, idempotency_key FROM notifications"
        " WHERE user_id = $1 ORDER BY id",
        user_id,
    )


async def test_a_batch_is_stored_in_order_and_a_resend_stores_nothing_twice(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    items = [
        item(user.id),
        item(user.id, channel="email", user_email="reader@example.com", ticket_id=9),
        item(user.id, type="password_reset", channel="email", message="Reset link"),
    ]
    first = await client.post("/notify/batch", json={"notifications": items}, headers=SERVICE_HEADERS)
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201]
    rows = await stored_for(db, user.id)
    assert [r["id"] for r in rows] == [r["id"] for r in results]
    assert [(r["type"], r["channel"], r["recipient"], r["sender"]) for r in rows] == [
        ("ticket_reply", "in_app", None, "service"),
        ("ticket_reply", "email", "reader@example.com", "service"),
        ("password_reset", "email", None, "service"),
    ]
    assert [r["idempotency_key"] for r in rows] == [i["idempotency_key"] for i in items]

    # The relay heard no answer and sends the batch again, with one row more.
    again = await client.post(
        "/notify/batch", json={"notifications": [*items, item(user.id, message="Later.")]}, headers=SERVICE_HEADERS
    )
    assert [r["status"] for r in again.json()["results"]] == [200, 200, 200, 201]
    assert [r["id"] for r in again.json()["results"][:3]] == [r["id"] for r in results]
    assert len(await stored_for(db, user.id)) == 4


async def test_batch_and_single_requests_share_keys(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    """A row refused in a batch is sent alone through /notify with the same key: the same
    request, the same fingerprint, so a replay either way is a 200, another body a 409."""
    sent = item(user.id)
    batch = await client.post("/notify/batch", json={"notifications": [sent]}, headers=SERVICE_HEADERS)
    stored_id = batch.json()["results"][0]["id"]
    alone = await client.post(
        "/notify", json=sent["notification"], headers=SERVICE_HEADERS | {"Idempotency-Key": sent["idempotency_key"]}
    )
    assert (alone.status_code, alone.json()["id"]) == (200, stored_id)

    changed = item(user.id, key=sent["idempotency_key"], message="Something else.")
    conflict = await client.post("/notify/batch", json={"notifications": [changed]}, headers=SERVICE_HEADERS)
    assert conflict.status_code == 200
    assert conflict.json()["results"] == [
        {"status": 409, "id": stored_id, "error": "This Idempotency-Key was already used with a different request."}
    ]
    assert len(await stored_for(db, user.id)) == 1


def _with_key_of_first(uid: int) -> dict[str, Any]:
    first = item(uid)
    return {"notifications": [first, item(uid, key=first["idempotency_key"], message="Another.")]}


BAD_BATCHES: dict[str, Callable[[int], Any]] = {
    "no notifications": lambda uid: {"notifications": []},
    "not a list": lambda uid: {"notifications": "not a list"},
    "another key": lambda uid: {"items": [item(uid)]},
    "an empty object": lambda uid: {},
    "a list": lambda uid: [item(uid)],
    "101 notifications": lambda uid: {"notifications": [item(uid) for _ in range(101)]},
    "one key twice": _with_key_of_first,
    "one message too long": lambda uid: {"notifications": [item(uid), item(uid, message="x" * 2001)]},
    "one key with a line break": lambda uid: {"notifications": [item(uid), item(uid, key="bad\nkey")]},
    "one item without a key": lambda uid: {"notifications": [item(uid), {"notification": item(uid)["notification"]}]},
    "one user id as a string": lambda uid: {"notifications": [item(uid), item(str(uid))]},  # type: ignore[arg-type]
    "one unknown type": lambda uid: {"notifications": [item(uid), item(uid, type="ticket_deleted")]},
}


@pytest.mark.parametrize("case", BAD_BATCHES)
async def test_a_bad_batch_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn, case: str
) -> None:
    response = await client.post("/notify/batch", json=BAD_BATCHES[case](user.id), headers=SERVICE_HEADERS)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["error"], str)
    assert await stored_for(db, user.id) == []


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/notify/batch", content=b'{"notifications": [', headers=SERVICE_HEADERS | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("caller", ["anonymous", "user", "staff", "admin", "wrong credential"])
async def test_only_services_send_batches(
    client: httpx.AsyncClient, db: asyncpg.Connection, request: pytest.FixtureRequest, user: SignedIn, caller: str
) -> None:
    fixed: dict[str, dict[str, str]] = {"anonymous": {}, "wrong credential": {"X-Service-Token": "not-the-credential"}}
    headers = fixed[caller] if caller in fixed else request.getfixturevalue(caller).headers
    response = await client.post("/notify/batch", json={"notifications": [item(user.id)]}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "A valid service credential is required."}
    assert await stored_for(db, user.id) == []
