"""Password reset through the gateway, with the fleet as real processes: S1 writes the email to
its outbox, its relay hands it to S6, S6 sends it to the SMTP sink (a real SMTP server, its own
process); the link in the email sets a new password and ends every session.

An unknown address gets the same answer and no email.
"""

from __future__ import annotations

import re
import uuid
from email import message_from_string, policy
from typing import Any

import httpx
import pytest

from helpdesk_fleet.fleet import PASSWORD, Fleet, poll_until

pytestmark = pytest.mark.xdist_group("fleet")

SUBJECT = "[Helpdesk] Reset your password"
LINK = re.compile(r"http://localhost:5173/reset-password#token=([A-Za-z0-9_-]{43})\b")
NEW_PASSWORD = "reset-by-email-passw0rd"


def reset_emails(fleet: Fleet, address: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = httpx.get(
        f"{fleet.mail_sink_url}/messages", params={"to": address, "limit": 1000}
    ).json()["messages"]
    return [m for m in messages if m["subject"] == SUBJECT]


def link_token(fleet: Fleet, message: dict[str, Any]) -> str:
    raw = httpx.get(f"{fleet.mail_sink_url}/messages/{message['id']}").text
    plain = message_from_string(raw, policy=policy.default).get_body(("plain",))
    assert plain is not None
    found = LINK.search(plain.get_content())
    assert found is not None, plain.get_content()
    return found.group(1)


def test_a_reset_link_by_email_sets_the_password_and_ends_every_session(fleet: Fleet) -> None:
    client = fleet.client()
    email = f"reset-{uuid.uuid4().hex[:10]}@example.com"
    assert client.post("/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    signed_in = client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
    unknown = f"nobody-{uuid.uuid4().hex[:10]}@example.com"

    unknown_answer = client.post("/auth/password-reset", json={"email": unknown})
    known_answer = client.post("/auth/password-reset", json={"email": email.upper()})

    assert known_answer.status_code == 202
    assert (unknown_answer.status_code, unknown_answer.json()) == (known_answer.status_code, known_answer.json())
    [message] = poll_until(lambda: reset_emails(fleet, email), timeout=15, what="the reset email")
    token = link_token(fleet, message)

    confirmed = client.post("/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})

    assert confirmed.status_code == 200, confirmed.text
    assert "message" in confirmed.json()
    assert client.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
    new_login = client.post("/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert new_login.status_code == 200
    assert client.post("/auth/refresh", json={"refresh_token": signed_in["refresh_token"]}).status_code == 401
    assert fleet.client(signed_in["token"]).get("/auth/me").status_code == 401
    # Single use.
    again = client.post("/auth/password-reset/confirm", json={"token": token, "new_password": "another-passw0rd"})
    assert again.status_code == 400
    # Nothing went to the unknown address (its request was answered first).
    assert httpx.get(f"{fleet.mail_sink_url}/messages", params={"to": unknown}).json()["messages"] == []
    # S6's history keeps the email, but not the link.
    me = fleet.client(new_login.json()["token"])
    user_id = me.get("/auth/me").json()["user"]["sub"]
    history = me.get(f"/notifications/history/{user_id}").json()["notifications"]
    [kept] = [n for n in history if n["type"] == "password_reset"]
    assert kept["status"] == "sent"
    assert token not in kept["message"]
    # S1's relay says what it did.
    health = httpx.get(f"{fleet.processes['s1-auth'].url}/health").json()
    assert health["outbox"]["relay"] == "running"
    assert health["outbox"]["delivered_since_start"] >= 1


def test_a_malformed_address_is_400_through_the_gateway(fleet: Fleet) -> None:
    response = fleet.client().post("/auth/password-reset", json={"email": "not an address"})
    assert response.status_code == 400
    assert "error" in response.json()
