"""PATCH /assign/{id}: the assignee is checked with S1 before anything is written; assigning a
new ticket makes it assigned, unassigning an assigned one makes it new again; the owner and
the assignee are told."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import SignedIn, signed_in

from .conftest import CreateTicket, history_rows, outbox_rows, set_columns, ticket_row
from .peers import AuthPeer


async def test_assigning_a_new_ticket_makes_it_assigned_and_tells_owner_and_assignee(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    assignee: SignedIn,
) -> None:
    ticket = await create_ticket(owner, title="Printer on fire", category="bug", priority="high")
    response = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": assignee.id}, headers=staff.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["assigned_to"], response.json()["status"]) == (assignee.id, "assigned")
    history = await history_rows(db, ticket["id"])
    assert {(h["field_name"], h["old_value"], h["new_value"]) for h in history} == {
        ("assigned_to", None, str(assignee.id)),
        ("status", "new", "assigned"),
    }
    assert {h["changed_at"] for h in history} == {(await ticket_row(db, ticket["id"]))["updated_at"]}
    rows = await outbox_rows(db, ticket["id"])
    assert [(r["recipient_id"], r["recipient_email"], r["type"], r["channel"]) for r in rows] == [
        (owner.id, None, "ticket_assigned", "email"),
        (owner.id, None, "ticket_assigned", "in_app"),
        (assignee.id, assignee.email, "ticket_assigned", "email"),
        (assignee.id, assignee.email, "ticket_assigned", "in_app"),
    ]
    assert rows[0]["message"] == (
        f"Your ticket #{ticket['id']} 'Printer on fire' has been assigned to a member of our support team."
    )
    assert (
        rows[2]["message"] == f"Ticket #{ticket['id']} 'Printer on fire' (bug, high priority) has been assigned to you."
    )


async def test_reassigning_keeps_the_status_and_an_admin_may_be_the_assignee(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    auth_peer: AuthPeer,
    owner: SignedIn,
    staff: SignedIn,
    assignee: SignedIn,
) -> None:
    ticket = await create_ticket(owner)
    await set_columns(db, ticket["id"], status="in_progress", assigned_to=assignee.id)
    admin = signed_in("admin")
    auth_peer.add(admin.id, "admin")
    response = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": admin.id}, headers=staff.headers)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["assigned_to"]) == ("in_progress", admin.id)
    [row] = await history_rows(db, ticket["id"])
    assert (row["field_name"], row["old_value"], row["new_value"]) == ("assigned_to", str(assignee.id), str(admin.id))
    assert {r["recipient_id"] for r in await outbox_rows(db, ticket["id"])} == {owner.id, admin.id}


async def test_assigning_a_ticket_to_its_own_owner_tells_them_once(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, assignee: SignedIn
) -> None:
    ticket = await create_ticket(assignee)  # a staff member's own ticket
    response = await client.patch(
        f"/assign/{ticket['id']}", json={"assigned_to": assignee.id}, headers=assignee.headers
    )
    assert response.status_code == 200
    rows = await outbox_rows(db, ticket["id"])
    assert [(r["recipient_id"], r["channel"]) for r in rows] == [(assignee.id, "email"), (assignee.id, "in_app")]
    assert "assigned to you" in rows[0]["message"]


async def test_unassigning_an_assigned_ticket_puts_it_back_to_new_and_tells_nobody(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    assignee: SignedIn,
    auth_peer: AuthPeer,
) -> None:
    ticket = await create_ticket(owner)
    await set_columns(db, ticket["id"], status="assigned", assigned_to=assignee.id)
    calls = auth_peer.calls
    response = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": None}, headers=staff.headers)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["assigned_to"]) == ("new", None)
    assert auth_peer.calls == calls  # nobody to check
    assert {(h["field_name"], h["new_value"]) for h in await history_rows(db, ticket["id"])} == {
        ("assigned_to", None),
        ("status", "new"),
    }
    assert await outbox_rows(db, ticket["id"]) == []


async def test_unassigning_a_ticket_in_progress_keeps_its_status(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner)
    await set_columns(db, ticket["id"], status="in_progress", assigned_to=5)
    response = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": None}, headers=staff.headers)
    assert (response.json()["status"], response.json()["assigned_to"]) == ("in_progress", None)


@pytest.mark.parametrize("again", ["the same assignee", "unassigned again"])
async def test_an_assignment_that_changes_nothing_writes_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    assignee: SignedIn,
    again: str,
) -> None:
    ticket = await create_ticket(owner)
    target = assignee.id if again == "the same assignee" else None
    if target is not None:
        await set_columns(db, ticket["id"], status="assigned", assigned_to=target)
    before = await ticket_row(db, ticket["id"])
    response = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": target}, headers=staff.headers)
    assert response.status_code == 200
    assert response.json()["assigned_to"] == target
    assert await ticket_row(db, ticket["id"]) == before
    assert await history_rows(db, ticket["id"]) == []
    assert await outbox_rows(db, ticket["id"]) == []


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("a plain user", "User {id} is not staff: tickets can only be assigned to staff or admin users."),
        ("nobody S1 knows", "User {id} does not exist."),
    ],
)
async def test_an_assignee_who_is_not_staff_is_a_400_naming_the_user(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    auth_peer: AuthPeer,
    owner: SignedIn,
    staff: SignedIn,
    who: str,
    error: str,
) -> None:
    ticket = await create_ticket(owner)
    candidate = signed_in("user")
    if who == "a plain user":
        auth_peer.add(candidate.id, "user")
    before = await ticket_row(db, ticket["id"])
    response = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": candidate.id}, headers=staff.headers)
    assert response.status_code == 400
    message = error.format(id=candidate.id)
    assert response.json() == {"error": message, "details": [{"field": "assigned_to", "message": message}]}
    assert await ticket_row(db, ticket["id"]) == before
    assert await history_rows(db, ticket["id"]) == []


@pytest.mark.parametrize("how", ["S1 refuses connections", "S1 answers 503"])
async def test_s1_down_is_a_503_and_nothing_is_written(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    auth_peer: AuthPeer,
    owner: SignedIn,
    staff: SignedIn,
    assignee: SignedIn,
    how: str,
) -> None:
    ticket = await create_ticket(owner)
    before = await ticket_row(db, ticket["id"])
    if how == "S1 refuses connections":
        await auth_peer.stop()
    else:
        auth_peer.answer_503 = True
    try:
        response = await client.patch(
            f"/assign/{ticket['id']}", json={"assigned_to": assignee.id}, headers=staff.headers
        )
    finally:
        auth_peer.answer_503 = False
        if how == "S1 refuses connections":
            await auth_peer.start()
    assert response.status_code == 503
    assert response.json() == {
        "error": f"Cannot check user {assignee.id}: the accounts service is not available right now; "
        "nothing was changed."
    }
    assert await ticket_row(db, ticket["id"]) == before
    assert await history_rows(db, ticket["id"]) == []
    assert await outbox_rows(db, ticket["id"]) == []
    # And with S1 back, the same request goes through.
    again = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": assignee.id}, headers=staff.headers)
    assert again.status_code == 200


async def test_a_closed_ticket_keeps_its_assignment(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    assignee: SignedIn,
) -> None:
    ticket = await create_ticket(owner)
    await set_columns(db, ticket["id"], status="closed")
    response = await client.patch(f"/assign/{ticket['id']}", json={"assigned_to": assignee.id}, headers=staff.headers)
    assert response.status_code == 400
    assert response.json()["error"] == (
        f"Ticket {ticket['id']} is closed, and a closed ticket is final: its assignment cannot change."
    )
    assert (await ticket_row(db, ticket["id"]))["assigned_to"] is None


async def test_an_unknown_ticket_is_a_404_after_the_assignee_is_checked(
    client: httpx.AsyncClient, staff: SignedIn, assignee: SignedIn
) -> None:
    response = await client.patch("/assign/2147483646", json={"assigned_to": assignee.id}, headers=staff.headers)
    assert response.status_code == 404
