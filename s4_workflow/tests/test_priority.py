"""PATCH /priority/{id} and POST /auto-priority/{id}: history when the priority changes, nothing
otherwise; priority is triage, so nobody is told."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import SignedIn

from .conftest import CreateTicket, history_rows, outbox_rows, set_columns, ticket_row


async def test_a_priority_change_is_recorded_and_tells_nobody(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner, priority="low")
    response = await client.patch(f"/priority/{ticket['id']}", json={"priority": "urgent"}, headers=staff.headers)
    assert response.status_code == 200
    assert (response.json()["priority"], response.json()["status"]) == ("urgent", "new")
    [row] = await history_rows(db, ticket["id"])
    assert (row["field_name"], row["old_value"], row["new_value"], row["changed_by"]) == (
        "priority",
        "low",
        "urgent",
        staff.id,
    )
    assert await outbox_rows(db, ticket["id"]) == []


async def test_the_same_priority_again_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner, priority="high")
    before = await ticket_row(db, ticket["id"])
    response = await client.patch(f"/priority/{ticket['id']}", json={"priority": "high"}, headers=staff.headers)
    assert response.status_code == 200
    assert await ticket_row(db, ticket["id"]) == before
    assert await history_rows(db, ticket["id"]) == []


@pytest.mark.parametrize(
    ("category", "priority"), [("bug", "high"), ("feature", "medium"), ("support", "medium"), ("other", "low")]
)
async def test_auto_priority_follows_the_category(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    category: str,
    priority: str,
) -> None:
    ticket = await create_ticket(owner, category=category, priority="urgent")
    response = await client.post(f"/auto-priority/{ticket['id']}", headers=staff.headers)
    assert response.status_code == 200
    assert response.json() == {"ticketId": ticket["id"], "priority": priority}
    assert (await ticket_row(db, ticket["id"]))["priority"] == priority
    [row] = await history_rows(db, ticket["id"])
    assert (row["field_name"], row["old_value"], row["new_value"]) == ("priority", "urgent", priority)


async def test_auto_priority_writes_nothing_when_the_priority_is_already_right(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner, category="bug", priority="high")
    response = await client.post(f"/auto-priority/{ticket['id']}", headers=staff.headers)
    assert response.json() == {"ticketId": ticket["id"], "priority": "high"}
    assert await history_rows(db, ticket["id"]) == []


@pytest.mark.parametrize("path", ["/priority/{id}", "/auto-priority/{id}"])
async def test_a_closed_tickets_priority_is_final(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    path: str,
) -> None:
    ticket = await create_ticket(owner, category="bug", priority="low")
    await set_columns(db, ticket["id"], status="closed")
    url = path.format(id=ticket["id"])
    if path.startswith("/priority"):
        response = await client.patch(url, json={"priority": "urgent"}, headers=staff.headers)
    else:
        response = await client.post(url, headers=staff.headers)
    assert response.status_code == 400
    assert "closed ticket is final" in response.json()["error"]
    assert (await ticket_row(db, ticket["id"]))["priority"] == "low"


async def test_auto_priority_of_an_unknown_ticket_is_a_404(client: httpx.AsyncClient, staff: SignedIn) -> None:
    response = await client.post("/auto-priority/2147483647", headers=staff.headers)
    assert response.status_code == 404
