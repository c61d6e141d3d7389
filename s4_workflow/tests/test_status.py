"""PATCH /status/{id}: the allowed moves, what a move writes (the ticket, one history row, two
notifications to the owner) and what a refused one leaves (nothing)."""

from __future__ import annotations

import re

import asyncpg
import httpx
import pytest

from helpdesk_common.vocabulary import STATUSES
from helpdesk_fleet.pytest_plugin import SignedIn

from .conftest import TICKET_KEYS, CreateTicket, history_rows, outbox_rows, set_columns, ticket_row

# The rules, written out: every move but staying put, closing what is not resolved, and leaving
# closed; `assigned` only with an assignee and `new` only without one.
ALLOWED_UNASSIGNED = {
    "new": {"in_progress", "resolved"},
    "in_progress": {"new", "resolved"},
    "resolved": {"new", "in_progress", "closed"},
    "closed": set(),
}
ALLOWED_ASSIGNED = {
    "assigned": {"in_progress", "resolved"},
    "in_progress": {"assigned", "resolved"},
    "resolved": {"assigned", "in_progress", "closed"},
    "closed": set(),
}
CASES = [
    (assigned, current, target, target in table[current])
    for assigned, table in ((False, ALLOWED_UNASSIGNED), (True, ALLOWED_ASSIGNED))
    for current in table
    for target in STATUSES
]


@pytest.mark.parametrize(
    ("has_assignee", "current", "target", "allowed"),
    CASES,
    ids=[f"{'assigned' if a else 'unassigned'} {c}->{t}" for a, c, t, _ in CASES],
)
async def test_every_move_is_allowed_or_refused_as_the_rules_say(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    has_assignee: bool,
    current: str,
    target: str,
    allowed: bool,
) -> None:
    ticket = await create_ticket(owner)
    await set_columns(db, ticket["id"], status=current, assigned_to=77 if has_assignee else None)
    before = await ticket_row(db, ticket["id"])

    response = await client.patch(f"/status/{ticket['id']}", json={"status": target}, headers=staff.headers)

    if allowed:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
        [row] = await history_rows(db, ticket["id"])
        assert (row["field_name"], row["old_value"], row["new_value"]) == ("status", current, target)
        assert len(await outbox_rows(db, ticket["id"])) == 2
        return
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["details"] == [{"field": "status", "message": body["error"]}]
    table = ALLOWED_ASSIGNED if has_assignee else ALLOWED_UNASSIGNED
    if table[current]:
        named = re.search(r"it can move to: ([a-z_, ]+)\.", body["error"])
        assert named is not None, body["error"]
        assert set(named.group(1).split(", ")) == table[current]
    else:
        assert "final" in body["error"]
    assert await ticket_row(db, ticket["id"]) == before
    assert await history_rows(db, ticket["id"]) == []
    assert await outbox_rows(db, ticket["id"]) == []


async def test_the_same_status_again_is_a_400_naming_the_allowed_moves(
    client: httpx.AsyncClient, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner)
    response = await client.patch(f"/status/{ticket['id']}", json={"status": "new"}, headers=staff.headers)
    assert response.status_code == 400
    assert response.json()["error"] == (
        f"Ticket {ticket['id']} is already new; from new it can move to: in_progress, resolved."
    )


async def test_a_move_answers_the_ticket_and_records_who_made_it(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, admin: SignedIn
) -> None:
    ticket = await create_ticket(owner, title="VPN drops")
    response = await client.patch(f"/status/{ticket['id']}", json={"status": "in_progress"}, headers=admin.headers)
    assert response.status_code == 200
    answered = response.json()
    assert set(answered) == TICKET_KEYS
    # S4 answers the ticket's own fields (S2's TicketRead); S2's own views add the conversation.
    own_fields = {k: v for k, v in ticket.items() if k in TICKET_KEYS}
    assert answered | {"status": "new", "updated_at": ticket["updated_at"]} == own_fields
    assert answered["updated_at"] > ticket["updated_at"]
    [row] = await history_rows(db, ticket["id"])
    assert (row["changed_by"], row["changed_by_role"]) == (admin.id, "admin")
    # The history row and the ticket carry the same instant: the change is one.
    stored = await ticket_row(db, ticket["id"])
    assert row["changed_at"] == stored["updated_at"]


async def test_a_move_tells_the_owner_by_email_and_in_app_in_words_a_customer_understands(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner, title="Printer on fire")
    await client.patch(f"/status/{ticket['id']}", json={"status": "resolved"}, headers=staff.headers)
    rows = await outbox_rows(db, ticket["id"])
    assert [(r["recipient_id"], r["recipient_email"], r["type"], r["channel"], r["status"]) for r in rows] == [
        (owner.id, None, "ticket_status_changed", "email", "pending"),
        (owner.id, None, "ticket_status_changed", "in_app", "pending"),
    ]
    assert {r["message"] for r in rows} == {f"Your ticket #{ticket['id']} 'Printer on fire' is now resolved."}


@pytest.mark.parametrize(
    ("current", "target", "kind", "words"),
    [
        ("resolved", "closed", "ticket_closed", "is now closed."),
        ("resolved", "in_progress", "ticket_status_changed", "has been reopened and is being worked on."),
        ("new", "in_progress", "ticket_status_changed", "is being worked on."),
        ("in_progress", "new", "ticket_status_changed", "is waiting for a member of our support team."),
    ],
)
async def test_each_move_has_its_own_message(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    current: str,
    target: str,
    kind: str,
    words: str,
) -> None:
    ticket = await create_ticket(owner, title="Mail")
    await set_columns(db, ticket["id"], status=current)
    response = await client.patch(f"/status/{ticket['id']}", json={"status": target}, headers=staff.headers)
    assert response.status_code == 200, response.text
    rows = await outbox_rows(db, ticket["id"])
    assert {(r["type"], r["message"]) for r in rows} == {(kind, f"Your ticket #{ticket['id']} 'Mail' {words}")}


async def test_an_unknown_ticket_is_a_404(client: httpx.AsyncClient, staff: SignedIn) -> None:
    response = await client.patch("/status/2147483647", json={"status": "resolved"}, headers=staff.headers)
    assert response.status_code == 404
    assert response.json() == {"error": "Ticket 2147483647 not found."}
