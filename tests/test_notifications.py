"""S6 through the gateway, with the fleet as real processes: in-app rows pushed on the SSE stream,
email received by the local SMTP sink (a real SMTP server, its own process), SMS by the SMS sink,
retries against a server that refuses, and a SIGKILL in the middle of a backlog.

Fault rules are set on the sinks per recipient (helpdesk_fleet.sinks), so they touch only the
test that set them; each test clears what it set.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until

pytestmark = pytest.mark.xdist_group("fleet")


@dataclass
class Event:
    id: str | None
    event: str | None
    data: Any


@dataclass
class EventStream:
    """An SSE client of the test: reads the stream in a thread and keeps what arrived."""

    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        current: dict[str, str] = {}
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line == "":
                    if "data" in current:
                        self.events.append(Event(current.get("id"), current.get("event"), json.loads(current["data"])))
                    current = {}
                else:
                    name, _, value = line.partition(":")
                    current[name] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass  # closed by the test
        finally:
            self.done.set()

    def notification_ids(self) -> list[int]:
        return [e.data["id"] for e in self.events if e.event == "notification"]


@contextmanager
def event_stream(
    fleet: Fleet, *, headers: dict[str, str], params: dict[str, str] | None = None
) -> Iterator[EventStream]:
    # The read timeout is longer than the ping interval: a stream that went quiet would fail it.
    with (
        httpx.Client(base_url=fleet.gateway_url, timeout=httpx.Timeout(10.0)) as client,
        client.stream("GET", "/notifications/stream", headers=headers, params=params) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        reader = threading.Thread(target=stream.read, daemon=True)
        reader.start()
        poll_until(lambda: "stream open" in stream.comments, timeout=10, what="the stream to open")
        try:
            yield stream
        finally:
            response.close()
            reader.join(5)


def bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


def notify(fleet: Fleet, sender: Account, **body: Any) -> dict[str, Any]:
    body = {"type": "ticket_status_changed", "channel": "in_app", "message": "Your ticket moved."} | body
    response = fleet.client(sender.token).post("/notifications/notify", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def history(fleet: Fleet, reader: Account, user_id: int) -> dict[int, dict[str, Any]]:
    response = fleet.client(reader.token).get(f"/notifications/history/{user_id}", params={"limit": 200})
    assert response.status_code == 200, response.text
    return {n["id"]: n for n in response.json()["notifications"]}


def settled(fleet: Fleet, staff: Account, user_id: int, notification_id: int, timeout: float = 15) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        found = history(fleet, staff, user_id).get(notification_id)
        return found if found and found["status"] in ("sent", "failed") else None

    result: dict[str, Any] = poll_until(done, timeout=timeout, what=f"notification {notification_id} to settle")
    return result


def mail_to(fleet: Fleet, address: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = httpx.get(
        f"{fleet.mail_sink_url}/messages", params={"to": address, "limit": 1000}
    ).json()["messages"]
    return messages


def sms_to(fleet: Fleet, phone: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = httpx.get(
        f"{fleet.sms_sink_url}/messages", params={"to": phone, "limit": 1000}
    ).json()["messages"]
    return messages


@contextmanager
def fault(sink_url: str, **rule: Any) -> Iterator[None]:
    assert httpx.post(f"{sink_url}/faults", json=rule).status_code == 201
    try:
        yield
    finally:
        httpx.delete(f"{sink_url}/faults")


def new_address() -> str:
    return f"mail-{uuid.uuid4().hex[:10]}@example.com"


def new_phone() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


# --- in-app and the stream ------------------------------------------------------------------


def test_an_in_app_notification_is_stored_sent_and_pushed_to_its_recipients_stream(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    user, other, staff = accounts["user"], accounts["other"], accounts["staff"]
    with (
        event_stream(fleet, headers=bearer(user)) as mine,
        event_stream(fleet, headers=bearer(other)) as theirs,
    ):
        created = notify(fleet, staff, user_id=user.id, ticket_id=5, message="Assigned to you.")
        poll_until(lambda: created["id"] in mine.notification_ids(), timeout=10, what="the event on the stream")
        [event] = [e for e in mine.events if e.data["id"] == created["id"]]
        assert event.event == "notification" and event.id is not None and event.id.isdigit()
        assert event.data["message"] == "Assigned to you." and event.data["status"] == "sent"
        assert "last_error" not in event.data
        # Keep-alive comments come well within the gateway's read timeout.
        poll_until(lambda: any(c.startswith("ping") for c in mine.comments), timeout=5, what="a ping")
        assert created["id"] not in theirs.notification_ids()
    stored = history(fleet, user, user.id)[created["id"]]
    assert stored["status"] == "sent" and stored["sent_at"] is not None and stored["read_at"] is None


def test_a_reconnecting_client_gets_what_it_missed_with_last_event_id(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    user, staff = accounts["user"], accounts["staff"]
    with event_stream(fleet, headers=bearer(user)) as first:
        seen = notify(fleet, staff, user_id=user.id, message="first")
        poll_until(lambda: seen["id"] in first.notification_ids(), timeout=10, what="the first event")
        last_id = first.events[-1].id
    assert last_id is not None
    missed = [notify(fleet, staff, user_id=user.id, message=f"missed {n}")["id"] for n in range(3)]
    for notification_id in missed:
        settled(fleet, staff, user.id, notification_id)

    with event_stream(fleet, headers=bearer(user) | {"Last-Event-ID": last_id}) as again:
        poll_until(lambda: len(again.notification_ids()) >= 3, timeout=10, what="the missed events")
        assert again.notification_ids() == missed  # in order, and not the one already seen
    # A new stream without Last-Event-ID starts now: nothing old is sent again.
    with event_stream(fleet, headers=bearer(user)) as fresh:
        latest = notify(fleet, staff, user_id=user.id, message="latest")
        poll_until(lambda: fresh.notification_ids(), timeout=10, what="the latest event")
        assert fresh.notification_ids() == [latest["id"]]


def test_a_browser_opens_the_stream_with_a_single_use_ticket(fleet: Fleet, accounts: dict[str, Account]) -> None:
    user, staff = accounts["user"], accounts["staff"]
    issued = fleet.client(user.token).post("/notifications/stream/ticket")
    assert issued.status_code == 201, issued.text
    ticket = issued.json()["ticket"]
    # No Authorization header: what EventSource can do.
    with event_stream(fleet, headers={}, params={"ticket": ticket}) as stream:
        created = notify(fleet, staff, user_id=user.id, message="via ticket")
        poll_until(lambda: created["id"] in stream.notification_ids(), timeout=10, what="the event")
    again = fleet.client().get("/notifications/stream", params={"ticket": ticket})
    assert again.status_code == 401
    assert "ticket" in again.json()["error"]


# --- email and sms ---------------------------------------------------------------------------


def test_an_email_goes_to_the_address_s1_has_and_arrives_at_the_smtp_sink(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    user, staff = accounts["user"], accounts["staff"]
    created = notify(fleet, staff, user_id=user.id, ticket_id=9, channel="email", message="Your ticket was resolved.")
    stored = settled(fleet, staff, user.id, created["id"])
    assert (stored["status"], stored["retry_count"]) == ("sent", 0)

    [message] = [m for m in mail_to(fleet, user.email) if f"notification-{created['id']}." in m["message_id"]]
    assert message["subject"] == "[Helpdesk] Ticket #9: status changed"
    raw = httpx.get(f"{fleet.mail_sink_url}/messages/{message['id']}").text
    assert "Your ticket was resolved." in raw and "text/html" in raw


def test_a_user_without_an_account_fails_at_once_with_a_clear_error(fleet: Fleet, accounts: dict[str, Account]) -> None:
    staff = accounts["staff"]
    created = notify(fleet, staff, user_id=2_000_000_000, channel="email")
    stored = settled(fleet, staff, 2_000_000_000, created["id"])
    assert (stored["status"], stored["retry_count"]) == ("failed", 0)
    assert "does not exist" in stored["last_error"]


def test_an_sms_reaches_the_provider_sink(fleet: Fleet, accounts: dict[str, Account]) -> None:
    user, staff = accounts["user"], accounts["staff"]
    phone = new_phone()
    created = notify(fleet, staff, user_id=user.id, channel="sms", user_phone=phone, message="Ticket 3 closed.")
    assert settled(fleet, staff, user.id, created["id"])["status"] == "sent"
    [received] = sms_to(fleet, phone)
    assert (received["body"], received["reference"]) == ("Ticket 3 closed.", f"notification-{created['id']}")


def test_an_smtp_server_that_refuses_the_first_attempts_leads_to_retries_then_sent(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    user, staff = accounts["user"], accounts["staff"]
    address = new_address()
    with fault(fleet.mail_sink_url, recipient=address, refuse_first=2, code=451):
        created = notify(fleet, staff, user_id=user.id, channel="email", user_email=address)
        stored = settled(fleet, staff, user.id, created["id"])
    assert (stored["status"], stored["retry_count"]) == ("sent", 2)
    assert "451" in stored["last_error"]
    assert len(mail_to(fleet, address)) == 1


def test_an_smtp_server_that_always_refuses_leads_to_failed_after_three_retries(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    user, staff = accounts["user"], accounts["staff"]
    address = new_address()
    with fault(fleet.mail_sink_url, recipient=address, refuse_always=True, code=451):
        created = notify(fleet, staff, user_id=user.id, channel="email", user_email=address)
        stored = settled(fleet, staff, user.id, created["id"])
        rule = httpx.get(f"{fleet.mail_sink_url}/faults").json()["rules"][address]
    assert (stored["status"], stored["retry_count"], stored["sent_at"]) == ("failed", 3, None)
    assert "451" in stored["last_error"]
    assert rule["seen"] == 4  # the first attempt and three retries
    assert mail_to(fleet, address) == []


# --- a crash in the middle of a backlog ------------------------------------------------------


def test_s6_killed_mid_backlog_then_restarted_leaves_nothing_stuck_and_sends_nothing_twice(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    """The sinks accept the first 5 deliveries to each address, then hold every later one
    unanswered: S6 is killed while it waits on them, with 5 of each channel sent and recorded
    (so the kill cannot fall between a server's acceptance and its record, the one window where
    a resend is unavoidable). After the restart, every notification is sent exactly once."""
    user, staff = accounts["user"], accounts["staff"]
    address, phone = new_address(), new_phone()
    s6 = fleet.processes["s6-notifications"]
    count, accepted_before_kill = 20, 5
    with (
        fault(fleet.mail_sink_url, recipient=address, hold_after=accepted_before_kill),
        fault(fleet.sms_sink_url, recipient=phone, hold_after=accepted_before_kill),
    ):
        ids = [
            notify(fleet, staff, user_id=user.id, channel=channel, message=f"backlog {n}", user_email=address,
                   user_phone=phone)["id"]
            for n in range(count)
            for channel in ("email", "sms")
        ]  # fmt: skip

        def waiting_on_the_sinks() -> bool:
            rows = history(fleet, staff, user.id)
            sent = sum(1 for i in ids if rows[i]["status"] == "sent")
            holding = all(
                httpx.get(f"{url}/faults").json()["rules"][key]["holding"] > 0
                for url, key in ((fleet.mail_sink_url, address), (fleet.sms_sink_url, phone))
            )
            return holding and sent == 2 * accepted_before_kill

        poll_until(waiting_on_the_sinks, timeout=20, what="S6 to be waiting on held deliveries")
        s6.kill()
    s6.start()
    s6.wait_ready(timeout=30)

    statuses: dict[str, int] = {}

    def all_sent() -> dict[int, dict[str, Any]] | None:
        try:
            rows = history(fleet, staff, user.id)
        except (AssertionError, httpx.HTTPError):
            return None  # the gateway may not route to the new process yet
        statuses.clear()
        for i in ids:
            statuses[rows[i]["status"]] = statuses.get(rows[i]["status"], 0) + 1
        return rows if statuses == {"sent": len(ids)} else None

    try:
        rows = poll_until(all_sent, timeout=30, what="the whole backlog to be sent after the restart")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; statuses then: {statuses}") from None
    assert {rows[i]["status"] for i in ids} == {"sent"}
    mails = mail_to(fleet, address)
    texts = sms_to(fleet, phone)
    assert len(mails) == count and len({m["message_id"] for m in mails}) == count
    assert len(texts) == count and len({t["reference"] for t in texts}) == count
