"""Issue 10's conversation through the gateway, with the fleet as real processes: a customer
and staff talk on a ticket, each reply reaching the other side (in-app in S6's history, email
at the real SMTP sink); internal notes stay invisible to the owner everywhere; closed and
resolved tickets behave."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until

pytestmark = pytest.mark.xdist_group("fleet")


def open_ticket(fleet: Fleet, owner: Account, title: str = "Printer on fire") -> int:
    created = fleet.client(owner.token).post(
        "/tickets", json={"title": title, "description": "It smokes.", "category": "bug"}
    )
    assert created.status_code == 201, created.text
    ticket_id: int = created.json()["id"]
    return ticket_id


def reply(fleet: Fleet, author: Account, ticket_id: int, body: str, *, internal: bool = False) -> dict[str, Any]:
    response = fleet.client(author.token).post(
        f"/tickets/{ticket_id}/comments", json={"body": body} | ({"internal": True} if internal else {})
    )
    assert response.status_code == 201, response.text
    comment: dict[str, Any] = response.json()
    return comment


def notifications(fleet: Fleet, account: Account, ticket_id: int) -> list[dict[str, Any]]:
    response = fleet.client(account.token).get(f"/notifications/history/{account.id}", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [n for n in response.json()["notifications"] if n["ticket_id"] == ticket_id]


def wait_for_notices(fleet: Fleet, account: Account, ticket_id: int, type_: str, text: str) -> list[dict[str, Any]]:
    """Both notices (in-app and email) of one reply, once S6 has stored and sent them."""

    def arrived() -> list[dict[str, Any]] | None:
        found = [
            n
            for n in notifications(fleet, account, ticket_id)
            if n["type"] == type_ and text in n["message"] and n["status"] == "sent"
        ]
        return found if len(found) == 2 else None

    notices: list[dict[str, Any]] = poll_until(arrived, timeout=20, what=f"{type_} notices for {account.email}")
    assert {n["channel"] for n in notices} == {"in_app", "email"}
    return notices


def mail_containing(fleet: Fleet, address: str, text: str) -> str:
    def found() -> str | None:
        listed = httpx.get(f"{fleet.mail_sink_url}/messages", params={"to": address, "limit": 1000}).json()
        for message in listed["messages"]:
            raw = httpx.get(f"{fleet.mail_sink_url}/messages/{message['id']}").text
            if text in raw:
                return raw
        return None

    raw: str = poll_until(found, timeout=20, what=f"a mail to {address} quoting the reply")
    return raw


def test_a_customer_and_staff_talk_and_each_reply_reaches_the_other_side(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    owner, staff = fleet.new_account("user"), accounts["staff"]
    assignee = fleet.new_account("staff")
    ticket_id = open_ticket(fleet, owner)

    answer_text = f"Unplug it and wait {uuid.uuid4().hex[:8]}."
    answer = reply(fleet, staff, ticket_id, answer_text)
    wait_for_notices(fleet, owner, ticket_id, "ticket_reply", answer_text)
    assert answer_text in mail_containing(fleet, owner.email, answer_text)

    assigned = fleet.client(staff.token).patch(f"/workflow/assign/{ticket_id}", json={"assigned_to": assignee.id})
    assert assigned.status_code == 200, assigned.text
    question_text = f"Done, it still smokes {uuid.uuid4().hex[:8]}."
    question = reply(fleet, owner, ticket_id, question_text)
    wait_for_notices(fleet, assignee, ticket_id, "ticket_reply", question_text)
    mail_containing(fleet, assignee.email, question_text)

    for reader in (owner, staff, assignee):
        thread = fleet.client(reader.token).get(f"/tickets/{ticket_id}/comments").json()
        assert [c["id"] for c in thread["comments"]] == [answer["id"], question["id"]]
    ticket = fleet.client(owner.token).get(f"/tickets/{ticket_id}").json()
    assert (ticket["comment_count"], ticket["last_activity_at"]) == (2, question["created_at"])
    # Nobody is told of their own reply.
    assert [n for n in notifications(fleet, staff, ticket_id) if n["type"] == "ticket_reply"] == []


def test_internal_notes_are_invisible_to_the_owner_everywhere(fleet: Fleet, accounts: dict[str, Account]) -> None:
    owner, staff = fleet.new_account("user"), accounts["staff"]
    assignee = fleet.new_account("staff")
    ticket_id = open_ticket(fleet, owner)
    assert (
        fleet.client(staff.token).patch(f"/workflow/assign/{ticket_id}", json={"assigned_to": assignee.id}).is_success
    )
    secret = "sec" + uuid.uuid4().hex[:10]
    public = reply(fleet, staff, ticket_id, "We are looking at it.")
    note = reply(fleet, staff, ticket_id, f"Between us: {secret}", internal=True)

    # The assignee hears of the note (and only the assignee) ...
    wait_for_notices(fleet, assignee, ticket_id, "ticket_internal_note", secret)
    wait_for_notices(fleet, owner, ticket_id, "ticket_reply", "We are looking at it.")
    mine = fleet.client(owner.token)
    # ... the owner, nowhere: thread, timeline, search, counts, activity, notifications.
    assert [c["id"] for c in mine.get(f"/tickets/{ticket_id}/comments").json()["comments"]] == [public["id"]]
    timeline = mine.get(f"/tickets/{ticket_id}/timeline").json()["entries"]
    assert note["id"] not in [e["comment"]["id"] for e in timeline if e["kind"] == "comment"]
    assert secret not in str(timeline)
    assert mine.get("/tickets", params={"q": secret}).json()["tickets"] == []
    ticket = mine.get(f"/tickets/{ticket_id}").json()
    assert (ticket["comment_count"], ticket["last_activity_at"]) == (1, public["created_at"])
    listed = mine.get("/tickets", params={"sort": "activity"}).json()["tickets"]
    assert [(t["comment_count"], t["last_activity_at"]) for t in listed if t["id"] == ticket_id] == [
        (1, public["created_at"])
    ]
    assert all(secret not in n["message"] for n in notifications(fleet, owner, ticket_id))
    assert not [
        m
        for m in httpx.get(f"{fleet.mail_sink_url}/messages", params={"to": owner.email}).json()["messages"]
        if secret in m.get("subject", "")
    ]
    # Staff see all of it.
    theirs = fleet.client(staff.token)
    assert [t["id"] for t in theirs.get("/tickets", params={"q": secret}).json()["tickets"]] == [ticket_id]
    assert theirs.get(f"/tickets/{ticket_id}").json()["comment_count"] == 2


def test_a_resolved_ticket_reopens_on_the_customer_s_reply_and_a_closed_one_is_read_only(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    owner, staff = fleet.new_account("user"), accounts["staff"]
    assignee = fleet.new_account("staff")
    ticket_id = open_ticket(fleet, owner)
    staff_client, mine = fleet.client(staff.token), fleet.client(owner.token)
    assert staff_client.patch(f"/workflow/assign/{ticket_id}", json={"assigned_to": assignee.id}).is_success
    assert staff_client.patch(f"/workflow/status/{ticket_id}", json={"status": "resolved"}).is_success

    reply(fleet, owner, ticket_id, "Sorry, it is back.")

    assert mine.get(f"/tickets/{ticket_id}").json()["status"] == "in_progress"
    newest = mine.get(f"/workflow/history/{ticket_id}").json()["history"][0]
    assert (newest["changed_by"], newest["changed_by_role"]) == (owner.id, "user")
    assert (newest["field_name"], newest["old_value"], newest["new_value"]) == ("status", "resolved", "in_progress")
    wait_for_notices(fleet, assignee, ticket_id, "ticket_status_changed", "has been reopened by its owner")
    kinds = [e["kind"] for e in mine.get(f"/tickets/{ticket_id}/timeline").json()["entries"]]
    assert kinds.count("change") >= 3 and kinds[-2:] == ["comment", "change"]  # the reply, then its reopening

    assert staff_client.patch(f"/workflow/status/{ticket_id}", json={"status": "resolved"}).is_success
    assert staff_client.patch(f"/workflow/status/{ticket_id}", json={"status": "closed"}).is_success
    for author in (mine, staff_client):
        refused = author.post(f"/tickets/{ticket_id}/comments", json={"body": "Anything?"})
        assert (refused.status_code, refused.json()) == (409, {"error": "Closed tickets are read-only."})
    assert len(mine.get(f"/tickets/{ticket_id}/comments").json()["comments"]) == 1
