"""`password_reset` (S1's reset email): from a service only, by email only, and its message
(a live reset link) is not kept once sent or failed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email import message_from_string, policy
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import SignedIn
from helpdesk_fleet.sinks import Fault

from .conftest import SERVICE_HEADERS, Sinks, settled, unique_address

Notify = Callable[..., Awaitable[dict[str, Any]]]
LINK = "http://localhost:5173/reset-password#token=abcDEF123_-abcDEF123_-abcDEF123_-abcDEF1234"
MESSAGE = f"Open this link to choose a new password:\n{LINK}"


async def test_the_email_carries_the_link_and_the_row_keeps_it_no_longer(
    client: httpx.AsyncClient, db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn
) -> None:
    address = unique_address()
    created = await notify(user_id=user.id, type="password_reset", channel="email", user_email=address, message=MESSAGE)

    stored = await settled(db, created["id"])

    assert stored["status"] == "sent"
    [summary] = sink.mail_to(address)
    assert summary["subject"] == "[Helpdesk] Reset your password"
    plain = message_from_string(Path(summary["file"]).read_text(), policy=policy.default).get_body(("plain",))
    assert plain is not None and LINK in plain.get_content()
    assert "#token=" not in stored["message"]
    history = await client.get(f"/history/{user.id}", headers=user.headers)
    assert [n["message"] for n in history.json()["notifications"]] == [stored["message"]]


async def test_a_failed_one_keeps_it_no_longer_either(
    db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn
) -> None:
    address = unique_address()
    sink.mail_rules.rules[address] = Fault(refuse_always=True, code=550)
    created = await notify(user_id=user.id, type="password_reset", channel="email", user_email=address, message=MESSAGE)

    stored = await settled(db, created["id"])

    assert stored["status"] == "failed"
    assert "#token=" not in stored["message"]


@pytest.mark.parametrize("who", ["user", "staff", "admin"])
async def test_only_a_service_sends_it(
    client: httpx.AsyncClient, db: asyncpg.Connection, who: str, user: SignedIn, staff: SignedIn, admin: SignedIn
) -> None:
    caller = {"user": user, "staff": staff, "admin": admin}[who]
    before = await db.fetchval("SELECT count(*) FROM notifications WHERE type = 'password_reset'")

    response = await client.post(
        "/notify",
        json={"user_id": caller.id, "type": "password_reset", "channel": "email", "message": MESSAGE},
        headers=caller.headers,
    )

    assert response.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE type = 'password_reset'") == before


@pytest.mark.parametrize("channel", ["in_app", "sms"])
async def test_only_by_email(client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn, channel: str) -> None:
    response = await client.post(
        "/notify",
        json={
            "user_id": user.id,
            "type": "password_reset",
            "channel": channel,
            "message": MESSAGE,
            "user_phone": "+15551234567",
        },
        headers=SERVICE_HEADERS,
    )

    assert response.status_code == 400
    assert "email" in response.json()["error"]
