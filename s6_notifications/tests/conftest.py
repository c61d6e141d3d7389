"""S6 test fixtures: the app (real lifespan, real PostgreSQL, its delivery jobs running) against a
real SMTP server and SMS endpoint in the test process (the local sinks of helpdesk_fleet), and
tokens.

Every caller gets a fresh random user id and every test its own addresses, so tests never see
each other's notifications, and the sinks' fault rules apply to one test's recipients only.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.smtp import SMTP

from helpdesk_fleet.fleet import apoll_until
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN, SignedIn, signed_in
from helpdesk_fleet.sinks import FaultRules, serve_http
from helpdesk_fleet.sinks import mail as mail_sink
from helpdesk_fleet.sinks import sms as sms_sink
from s6_notifications.main import build_app
from s6_notifications.settings import Settings

NOTIFICATION_KEYS = {
    "id",
    "user_id",
    "ticket_id",
    "type",
    "channel",
    "message",
    "status",
    "retry_count",
    "created_at",
    "sent_at",
    "read_at",
    "last_error",
}
SERVICE_HEADERS = {"X-Service-Token": TEST_SERVICE_TOKEN}
SMS_TOKEN = "sms-provider-token-for-tests"


def unique_address() -> str:
    return f"r-{uuid.uuid4().hex[:12]}@example.com"


def unique_phone() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


@dataclass
class Sinks:
    mailbox: mail_sink.Mailbox
    mail_rules: FaultRules
    outbox: sms_sink.Outbox
    sms_rules: FaultRules

    def mail_to(self, address: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.mailbox.listing(to=address, limit=1000)["messages"]
        return messages

    def sms_to(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.outbox.messages if m["to"] == phone]


@pytest.fixture(scope="session")
async def sinks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Sinks, int, int]]:
    """A real SMTP server (aiosmtpd) and the SMS endpoint, in this process, on free ports."""
    folder = tmp_path_factory.mktemp("sinks")
    mailbox = mail_sink.Mailbox(Path(folder / "mail"))
    mailbox.load()
    mail_rules, sms_rules = FaultRules(), FaultRules()
    handler = mail_sink.SinkHandler(mailbox, mail_rules)
    smtp_port, sms_port = free_port(), free_port()
    smtp_server = await asyncio.get_running_loop().create_server(lambda: SMTP(handler), "127.0.0.1", smtp_port)
    outbox = sms_sink.Outbox(Path(folder / "sms.jsonl"))
    runner = await serve_http(sms_sink.http_app(outbox, sms_rules, SMS_TOKEN), "127.0.0.1", sms_port)
    yield Sinks(mailbox, mail_rules, outbox, sms_rules), smtp_port, sms_port
    smtp_server.close()
    await runner.cleanup()


# Fast retries and claims, so the delivery tests take tenths of a second, not minutes.
FAST_DELIVERY = {
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.2,
    "poll_interval_seconds": 0.5,
    "claim_seconds": 3.0,
    "smtp_timeout_seconds": 0.5,
    "stream_ping_seconds": 0.5,
    "sms_timeout_seconds": 1.0,
}


@pytest.fixture(scope="session")
async def client(
    make_app_client: Callable[..., Awaitable[httpx.AsyncClient]], sinks: tuple[Sinks, int, int]
) -> httpx.AsyncClient:
    _, smtp_port, sms_port = sinks
    return await make_app_client(
        build_app,
        Settings,
        smtp_port=smtp_port,
        sms_provider_url=f"http://127.0.0.1:{sms_port}/messages",
        sms_provider_token=SMS_TOKEN,
        **FAST_DELIVERY,
    )


@pytest.fixture
def sink(sinks: tuple[Sinks, int, int]) -> Sinks:
    return sinks[0]


@pytest.fixture
def user() -> SignedIn:
    return signed_in("user")


@pytest.fixture
def other_user() -> SignedIn:
    return signed_in("user")


@pytest.fixture
def staff() -> SignedIn:
    return signed_in("staff")


@pytest.fixture
def admin() -> SignedIn:
    return signed_in("admin")


@pytest.fixture
def notify(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """`await notify(user_id=..., channel=..., ...)` as a service: assert 201, return the row."""

    async def send(**fields: Any) -> dict[str, Any]:
        body = {"type": "ticket_status_changed", "channel": "in_app", "message": "Your ticket moved."} | fields
        response = await client.post("/notify", json=body, headers=SERVICE_HEADERS)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return send


async def row(db: asyncpg.Connection, notification_id: int) -> asyncpg.Record:
    record: asyncpg.Record = await db.fetchrow("SELECT * FROM notifications WHERE id = $1", notification_id)
    return record


async def settled(db: asyncpg.Connection, notification_id: int, *, timeout: float = 10.0) -> asyncpg.Record:
    """The row once it is sent or failed."""

    async def done() -> asyncpg.Record | None:
        record = await row(db, notification_id)
        return record if record["status"] in ("sent", "failed") else None

    result: asyncpg.Record = await apoll_until(done, timeout=timeout, what=f"notification {notification_id} to settle")
    return result
