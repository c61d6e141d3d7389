"""PATCH /status/{id} by the ticket's owner: "solved for me". The owner (a plain user) may move
their own ticket to `resolved` wherever the rules allow it, and nothing else; the history
records the owner as the one who changed it, the assignee is told, and the row is no staff
response for S7's rollup (`ticket_milestones`)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.vocabulary import STATUSES
from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN, SignedIn

from .conftest import TICKET_KEYS, CreateTicket, history_rows, outbox_rows, set_columns, ticket_row
from .test_status import ALLOWED_ASSIGNED, ALLOWED_UNASSIGNED

RESOLVE = {"status": "resolved"}
ASSIGNEE_ID = 77


async def _state(db: asyncpg.Connection, ticket_id: int) -> tuple[Any, ...]:
    return await ticket_row(db, ticket_id), await history_rows(db, ticket_id), await outbox_rows(db, ticket_id)


async def _milestones(db: asyncpg.Connection, ticket_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT first_response_at, first_resolved_at FROM ticket_milestones WHERE ticket_id = $1", ticket_id
    )


CASES = [
    (has_assignee, current)
    for has_assignee, table in ((False, ALLOWED_UNASSIGNED), (True, ALLOWED_ASSIGNED))
    for current in table
]


@pytest.mark.parametrize(
    ("has_assignee", "current"), CASES, ids=[f"{'assigned' if a else 'unassigned'} {c}" for a, c in CASES]
)
async def test_the_owner_resolves_wherever_the_rules_allow_and_gets_the_staff_refusal_elsewhere(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    has_assignee: bool,
    current: str,
) -> None:
    ticket = await create_ticket(owner)
    await set_columns(db, ticket["id"], status=current, assigned_to=ASSIGNEE_ID if has_assignee else None)
    before = await _state(db, ticket["id"])

    response = await client.patch(f"/status/{ticket['id']}", json=RESOLVE, headers=owner.headers)

    table = ALLOWED_ASSIGNED if has_assignee else ALLOWED_UNASSIGNED
    if "resolved" not in table[current]:
        assert response.status_code == 400, response.text
        assert await _state(db, ticket["id"]) == before
        # Word for word what staff are told for the same move of the same ticket.
        by_staff = await client.patch(f"/status/{ticket['id']}", json=RESOLVE, headers=staff.headers)
        assert (by_staff.status_code, by_staff.json()) == (400, response.json())
        return
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == TICKET_KEYS
    assert answer["status"] == "resolved"
    assert answer["assigned_to"] == (ASSIGNEE_ID if has_assignee else None)
    [row] = await history_rows(db, ticket["id"])
    assert (row["changed_by"], row["changed_by_role"]) == (owner.id, "user")
    assert (row["field_name"], row["old_value"], row["new_value"]) == ("status", current, "resolved")
    assert row["changed_at"] == (await ticket_row(db, ticket["id"]))["updated_at"]
    notices = await outbox_rows(db, ticket["id"])
    if not has_assignee:
        assert notices == []  # the owner did it themselves; no one else has the ticket
        return
    assert {(n["recipient_id"], n["channel"]) for n in notices} == {(ASSIGNEE_ID, "email"), (ASSIGNEE_ID, "in_app")}
    for notice in notices:
        assert notice["type"] == "ticket_status_changed"
        assert notice["recipient_email"] is None  # S6 asks S1
        assert notice["message"] == f"Ticket #{ticket['id']} 'Printer on fire' has been marked resolved by its owner."


async def test_the_owners_change_is_no_staff_response_in_the_milestones(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    ticket = await create_ticket(owner)

    response = await client.patch(f"/status/{ticket['id']}", json=RESOLVE, headers=owner.headers)
    assert response.status_code == 200, response.text

    [resolved] = await history_rows(db, ticket["id"])
    milestones = await _milestones(db, ticket["id"])
    assert milestones is not None
    assert milestones["first_resolved_at"] == resolved["changed_at"]
    assert milestones["first_response_at"] is None
    # Staff reopening it afterwards is the first response.
    response = await client.patch(f"/status/{ticket['id']}", json={"status": "in_progress"}, headers=staff.headers)
    assert response.status_code == 200, response.text
    reopened = (await history_rows(db, ticket["id"]))[-1]
    milestones = await _milestones(db, ticket["id"])
    assert milestones is not None
    assert milestones["first_response_at"] == reopened["changed_at"]
    assert milestones["first_resolved_at"] == resolved["changed_at"]


@pytest.mark.parametrize("target", [s for s in STATUSES if s != "resolved"])
@pytest.mark.parametrize("current", ["new", "resolved"])
async def test_any_other_status_from_the_owner_is_a_403_and_changes_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    current: str,
    target: str,
) -> None:
    ticket = await create_ticket(owner)
    await set_columns(db, ticket["id"], status=current)
    before = await _state(db, ticket["id"])

    response = await client.patch(f"/status/{ticket['id']}", json={"status": target}, headers=owner.headers)

    assert response.status_code == 403, response.text
    assert response.json() == {
        "error": f"Only staff can move a ticket to {target}; the ticket's owner may only mark it resolved."
    }
    assert await _state(db, ticket["id"]) == before


async def test_another_users_ticket_is_a_404_like_s2s_and_like_a_missing_one(
    client: httpx.AsyncClient,
    tickets_client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    other_user: SignedIn,
) -> None:
    ticket = await create_ticket(owner)
    before = await _state(db, ticket["id"])

    response = await client.patch(f"/status/{ticket['id']}", json=RESOLVE, headers=other_user.headers)

    assert response.status_code == 404, response.text
    from_s2 = await tickets_client.get(f"/{ticket['id']}", headers=other_user.headers)
    assert (from_s2.status_code, from_s2.json()) == (404, response.json())
    assert await _state(db, ticket["id"]) == before
    missing_id = await db.fetchval("SELECT coalesce(max(id), 0) + 1000 FROM tickets")
    missing = await client.patch(f"/status/{missing_id}", json=RESOLVE, headers=other_user.headers)
    assert missing.status_code == 404
    assert missing.json() == {"error": f"Ticket {missing_id} not found."}
    assert response.json() == {"error": f"Ticket {ticket['id']} not found."}


ROLES = ["anonymous", "owner", "other", "staff", "admin", "service"]
EXPECTED = [401, 200, 404, 200, 200, 401]


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, EXPECTED, strict=True)))
async def test_who_may_resolve_a_ticket(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    other_user: SignedIn,
    staff: SignedIn,
    admin: SignedIn,
    role: str,
    expected: int,
) -> None:
    ticket = await create_ticket(owner)
    callers = {"owner": owner, "other": other_user, "staff": staff, "admin": admin}
    headers = {"X-Service-Token": TEST_SERVICE_TOKEN} if role == "service" else {}
    if role in callers:
        headers = callers[role].headers
    before = await _state(db, ticket["id"])

    response = await client.patch(f"/status/{ticket['id']}", json=RESOLVE, headers=headers)

    assert response.status_code == expected, response.text
    if expected >= 400:
        assert isinstance(response.json()["error"], str)
        assert await _state(db, ticket["id"]) == before
        return
    [row] = await history_rows(db, ticket["id"])
    caller = callers[role]
    assert (row["changed_by"], row["changed_by_role"]) == (caller.id, caller.role)
    # Staff tell the owner; the owner, with no assignee, tells no one.
    recipients = {n["recipient_id"] for n in await outbox_rows(db, ticket["id"])}
    assert recipients == (set() if role == "owner" else {owner.id})


@pytest.mark.parametrize(
    ("what", "body"),
    [
        ("status in capitals", {"status": "RESOLVED"}),
        ("status as a number", {"status": 3}),
        ("null status", {"status": None}),
        ("an empty object", {}),
        ("an unknown key", {"status": "resolved", "priority": "low"}),
        ("a list", [RESOLVE]),
        ("malformed JSON", b'{"status": "resolved"'),
    ],
)
async def test_a_bad_body_from_the_owner_is_a_400_and_changes_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    what: str,
    body: Any,
) -> None:
    ticket = await create_ticket(owner)
    before = await _state(db, ticket["id"])
    url = f"/status/{ticket['id']}"
    headers = owner.headers | {"Content-Type": "application/json"}
    if isinstance(body, bytes):
        response = await client.patch(url, content=body, headers=headers)
    else:
        response = await client.patch(url, json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["error"], str) and response.json()["details"]
    assert await _state(db, ticket["id"]) == before
    not_json = await client.patch(
        url, content=b"status=resolved", headers=owner.headers | {"Content-Type": "text/plain"}
    )
    assert not_json.status_code == 415
    assert await _state(db, ticket["id"]) == before
