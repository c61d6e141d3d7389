"""The queue's delivery, against a real SMTP server and SMS endpoint: sent, retried with backoff,
failed with the error kept; claims that never overlap and that lapse when a worker dies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email import message_from_string, policy
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.errors import ApiError
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import SignedIn
from helpdesk_fleet.sinks import Fault
from s6_notifications import service
from s6_notifications.channels import EmailSender, SmsSender
from s6_notifications.errors import DeliveryError
from s6_notifications.repository import Notification, NotificationsRepository
from s6_notifications.service import ticket_hash
from s6_notifications.settings import Settings
from s6_notifications.worker import retry_delay

from .conftest import SMS_TOKEN, Sinks, row, settled, unique_address, unique_phone

Notify = Callable[..., Awaitable[dict[str, Any]]]


async def test_an_in_app_notification_is_marked_sent_with_a_stream_position(
    db: asyncpg.Connection, notify: Notify, user: SignedIn
) -> None:
    first = await notify(user_id=user.id)
    second = await notify(user_id=user.id)
    done = [await settled(db, first["id"]), await settled(db, second["id"])]
    assert [r["status"] for r in done] == ["sent", "sent"]
    assert all(r["sent_at"] is not None for r in done)
    assert done[0]["stream_seq"] < done[1]["stream_seq"]


async def test_an_email_reaches_the_smtp_server_as_plain_text_and_html(
    db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn
) -> None:
    address = unique_address()
    created = await notify(
        user_id=user.id, ticket_id=42, channel="email", user_email=address, message="Now in progress.\n\nThanks <3"
    )
    stored = await settled(db, created["id"])
    assert (stored["status"], stored["recipient"], stored["retry_count"]) == ("sent", address, 0)

    [summary] = sink.mail_to(address)
    assert summary["subject"] == "[Helpdesk] Ticket #42: status changed"
    message = message_from_string(Path(summary["file"]).read_text(), policy=policy.default)
    assert message["To"] == address
    assert message["X-Helpdesk-Notification-Id"] == str(created["id"])
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].startswith(f"<notification-{created['id']}.")
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and "Now in progress." in plain.get_content()
    assert html is not None and "Thanks &lt;3" in html.get_content()


async def test_an_sms_reaches_the_provider_with_its_json_body_and_credentials(
    db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn
) -> None:
    phone = unique_phone()
    created = await notify(user_id=user.id, channel="sms", user_phone=phone, message="Ticket 7 closed.")
    assert (await settled(db, created["id"]))["status"] == "sent"
    [received] = sink.sms_to(phone)
    assert (received["body"], received["reference"]) == ("Ticket 7 closed.", f"notification-{created['id']}")
    assert received["idempotency_key"] == f"s6-notification-{created['id']}"


async def test_a_server_that_refuses_the_first_attempts_gets_retries_then_sent(
    db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn
) -> None:
    address = unique_address()
    sink.mail_rules.rules[address] = Fault(refuse_first=2, code=451)
    created = await notify(user_id=user.id, channel="email", user_email=address)
    stored = await settled(db, created["id"])
    assert (stored["status"], stored["retry_count"]) == ("sent", 2)
    assert "451" in stored["last_error"]  # the last failure is kept
    assert len(sink.mail_to(address)) == 1
    assert sink.mail_rules.rules[address].seen == 3


async def test_a_server_that_always_refuses_gets_three_retries_then_failed(
    db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn
) -> None:
    address = unique_address()
    sink.mail_rules.rules[address] = Fault(refuse_always=True, code=451)
    created = await notify(user_id=user.id, channel="email", user_email=address)
    stored = await settled(db, created["id"])
    assert (stored["status"], stored["retry_count"], stored["sent_at"]) == ("failed", 3, None)
    assert "451" in stored["last_error"]
    assert sink.mail_rules.rules[address].seen == 4  # the first attempt and three retries
    assert sink.mail_to(address) == []


async def test_a_permanent_refusal_fails_at_once(
    db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn
) -> None:
    address = unique_address()
    sink.mail_rules.rules[address] = Fault(refuse_always=True, code=550)
    created = await notify(user_id=user.id, channel="email", user_email=address)
    stored = await settled(db, created["id"])
    assert (stored["status"], stored["retry_count"]) == ("failed", 0)
    assert sink.mail_rules.rules[address].seen == 1


@pytest.mark.parametrize(("code", "status", "retries"), [(503, "sent", 1), (429, "sent", 1), (400, "failed", 0)])
async def test_sms_provider_errors_are_retried_unless_they_are_the_requests_fault(
    db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn, code: int, status: str, retries: int
) -> None:
    phone = unique_phone()
    sink.sms_rules.rules[phone] = Fault(refuse_first=1, code=code)
    created = await notify(user_id=user.id, channel="sms", user_phone=phone)
    stored = await settled(db, created["id"])
    assert (stored["status"], stored["retry_count"]) == (status, retries)
    assert str(code) in stored["last_error"]


async def test_without_an_address_and_without_s1_the_email_is_retried_then_failed(
    db: asyncpg.Connection, notify: Notify, user: SignedIn
) -> None:
    """This app knows no S1 (no registry): the notify was still stored, and the email waits for
    an address through its retries instead of being refused."""
    created = await notify(user_id=user.id, channel="email")
    assert created["status"] == "pending"
    stored = await settled(db, created["id"], timeout=20)
    assert (stored["status"], stored["retry_count"]) == ("failed", 3)
    assert "S1" in stored["last_error"]


def test_retries_back_off_exponentially_with_jitter_and_a_cap() -> None:
    settings = Settings(retry_base_seconds=10, retry_max_seconds=25)
    for _ in range(50):
        assert 5 <= retry_delay(settings, 1) <= 10
        assert 10 <= retry_delay(settings, 2) <= 20
        assert 12.5 <= retry_delay(settings, 3) <= 25  # capped at 25
    assert len({retry_delay(settings, 1) for _ in range(20)}) > 1


# --- the channels alone -----------------------------------------------------------------------


def _notification(**fields: Any) -> Notification:
    values: dict[str, Any] = {
        "id": 1, "user_id": 1, "ticket_id": None, "type": "test_alert", "channel": "email", "message": "hi",
        "recipient": None, "status": "sending", "retry_count": 0, "next_attempt_at": datetime.now(UTC),
        "claimed_by": "w", "claimed_until": datetime.now(UTC), "last_error": None, "created_at": datetime.now(UTC),
        "sent_at": None, "read_at": None, "stream_seq": None, "sender": "service", "idempotency_key": None,
        "request_fingerprint": None,
    }  # fmt: skip
    return Notification(**(values | fields))


async def test_an_smtp_server_that_is_not_there_is_a_failure_to_retry() -> None:
    sender = EmailSender(Settings(smtp_port=free_port(), smtp_timeout_seconds=1))
    with pytest.raises(DeliveryError) as failure:
        await sender.send(_notification(), recipient="a@example.com")
    assert not failure.value.permanent


async def test_one_smtp_connection_carries_many_messages(sink: Sinks, sinks: tuple[Sinks, int, int]) -> None:
    sender = EmailSender(Settings(smtp_port=sinks[1], smtp_connections=1))
    address = unique_address()
    for n in range(5):
        await sender.send(_notification(id=n + 1), recipient=address)
    assert len(sender._idle) == 1
    connection = sender._idle[0]
    for n in range(5):
        await sender.send(_notification(id=n + 6), recipient=address)
    assert sender._idle == [connection]
    assert len(sink.mail_to(address)) == 10
    await sender.close_idle(older_than=0)
    assert sender._idle == []


async def test_without_an_sms_provider_sms_fail_for_good() -> None:
    async with httpx.AsyncClient() as http:
        sender = SmsSender(Settings(sms_provider_url=None), http)
        with pytest.raises(DeliveryError) as failure:
            await sender.send(_notification(channel="sms"), recipient="+15551234567")
    assert failure.value.permanent


async def test_the_sms_provider_refuses_a_wrong_token_and_that_is_permanent(sinks: tuple[Sinks, int, int]) -> None:
    url = f"http://127.0.0.1:{sinks[2]}/messages"
    async with httpx.AsyncClient() as http:
        sender = SmsSender(Settings(sms_provider_url=url, sms_provider_token="wrong"), http)
        with pytest.raises(DeliveryError) as failure:
            await sender.send(_notification(channel="sms"), recipient=unique_phone())
        assert failure.value.permanent and "401" in failure.value.message
        await SmsSender(Settings(sms_provider_url=url, sms_provider_token=SMS_TOKEN), http).send(
            _notification(channel="sms"), recipient=unique_phone()
        )


# --- claims -----------------------------------------------------------------------------------


async def _insert_due(db: asyncpg.Connection, count: int, channel: str = "email") -> list[int]:
    """Rows of a channel no in-process worker delivers right now: claimed far in the future."""
    ids: list[int] = await db.fetchval(
        """
        WITH made AS (
            INSERT INTO notifications (user_id, type, channel, message, recipient, sender, next_attempt_at)
            SELECT 1, 'test_alert', $2, 'claim test', 'claims@example.com', 'test', now() + interval '1 hour'
              FROM generate_series(1, $1)
            RETURNING id
        ) SELECT array_agg(id) FROM made
        """,
        count,
        channel,
    )
    return ids


async def test_concurrent_claimers_never_get_the_same_row(database_dsn: str, db: asyncpg.Connection) -> None:
    ids = await _insert_due(db, 60)
    # Due now, but only for the claimers below: the app's own worker is raced as well, and must
    # not matter either (it gets rows none of these gets).
    await db.execute("UPDATE notifications SET next_attempt_at = now() WHERE id = ANY($1)", ids)
    connections = [await asyncpg.connect(database_dsn) for _ in range(4)]
    try:

        async def claim(conn: asyncpg.Connection, worker: str) -> list[int]:
            got: list[int] = []
            while batch := await NotificationsRepository(conn).claim(
                channel="email", worker=worker, limit=5, claim_seconds=60
            ):
                got += [n.id for n in batch if n.id in ids]
            return got

        results = await asyncio.gather(*(claim(c, f"claimer-{i}") for i, c in enumerate(connections)))
    finally:
        for conn in connections:
            await conn.close()
    claimed = [i for result in results for i in result]
    assert len(claimed) == len(set(claimed))
    await db.execute("DELETE FROM notifications WHERE id = ANY($1)", ids)


async def test_a_lapsed_claim_is_claimed_again_and_the_old_worker_cannot_overwrite_it(db: asyncpg.Connection) -> None:
    [notification_id] = await _insert_due(db, 1)
    repo = NotificationsRepository(db)
    # A worker claimed the row and died: its claim lapsed (made to lapse now, rather than waited
    # for). In one transaction with the claim, so the app's own worker cannot take it first.
    async with db.transaction():
        await db.execute(
            "UPDATE notifications SET status = 'sending', claimed_by = 'dead', claimed_until = now() - interval '1 s'"
            " WHERE id = $1",
            notification_id,
        )
        reclaimed = await repo.claim(channel="email", worker="alive", limit=100, claim_seconds=60)
    assert notification_id in [n.id for n in reclaimed]
    assert not await repo.mark_sent(notification_id=notification_id, worker="dead", recipient=None)
    assert await repo.mark_sent(notification_id=notification_id, worker="alive", recipient=None)
    assert (await row(db, notification_id))["status"] == "sent"


async def test_a_stream_ticket_opens_one_stream_and_expires(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: SignedIn
) -> None:
    repo = NotificationsRepository(db)
    issued = await client.post("/stream/ticket", headers=user.headers)
    assert issued.status_code == 201
    ticket, expires_in = issued.json()["ticket"], issued.json()["expires_in"]
    assert expires_in == 30 and len(ticket) >= 40
    # Only its hash is stored: the table never holds a usable ticket.
    stored = await db.fetchval(
        "SELECT count(*) FROM notification_stream_tickets WHERE ticket_hash = $1", ticket_hash(ticket)
    )
    assert stored == 1

    holder = await service.redeem_stream_ticket(repo, ticket=ticket)
    assert (holder.id, holder.role, holder.email) == (user.id, "user", user.email)
    with pytest.raises(ApiError) as used:
        await service.redeem_stream_ticket(repo, ticket=ticket)
    assert used.value.status == 401

    late = (await client.post("/stream/ticket", headers=user.headers)).json()["ticket"]
    await db.execute(
        "UPDATE notification_stream_tickets SET expires_at = now() - interval '1 s' WHERE ticket_hash = $1",
        ticket_hash(late),
    )
    with pytest.raises(ApiError):
        await service.redeem_stream_ticket(repo, ticket=late)


async def test_the_stream_refuses_callers_without_a_valid_credential(client: httpx.AsyncClient, user: SignedIn) -> None:
    assert (await client.post("/stream/ticket")).status_code == 401
    assert (await client.get("/stream")).status_code == 401
    assert (await client.get("/stream", params={"ticket": "made-up"})).status_code == 401
    assert (await client.get("/stream", headers={"Authorization": "Bearer nope"})).status_code == 401
    for bad in ("abc", "-1", "1.5", "9" * 20):
        response = await client.get("/stream", headers=user.headers | {"Last-Event-ID": bad})
        assert response.status_code == 400, bad
