"""PATCH /{id}: the owner or staff edit title, description and category; nothing else, and
status, priority and assignment are pointed to /workflow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from .conftest import Caller

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def ticket(user: Caller, create_ticket: CreateTicket) -> dict[str, Any]:
    return await create_ticket(user, title="Old title", description="Old description", category="bug")


async def fetch(client: httpx.AsyncClient, ticket_id: int, caller: Caller) -> dict[str, Any]:
    response = await client.get(f"/{ticket_id}", headers=caller.headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("role", ["user", "staff", "admin"])
async def test_owner_and_staff_edit_the_ticket(
    client: httpx.AsyncClient, request: pytest.FixtureRequest, user: Caller, ticket: dict[str, Any], role: str
) -> None:
    editor: Caller = request.getfixturevalue(role)

    response = await client.patch(f"/{ticket['id']}", json={"title": "  New title  "}, headers=editor.headers)

    assert response.status_code == 200
    edited = response.json()
    assert edited["title"] == "New title"
    assert edited["updated_at"] > ticket["updated_at"]
    assert edited["last_activity_at"] == edited["updated_at"]  # an edit is activity
    moved = ("title", "updated_at", "last_activity_at")
    unchanged = {k: v for k, v in ticket.items() if k not in moved}
    assert {k: v for k, v in edited.items() if k not in moved} == unchanged
    assert edited["user_id"] == user.id  # staff editing does not take the ticket over
    assert await fetch(client, ticket["id"], user) == edited


async def test_every_editable_field_at_once(client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]) -> None:
    body = {"title": "T", "description": "D", "category": "SUPPORT"}
    response = await client.patch(f"/{ticket['id']}", json=body, headers=user.headers)
    assert response.status_code == 200
    edited = response.json()
    assert (edited["title"], edited["description"], edited["category"]) == ("T", "D", "support")


async def test_an_edit_is_searchable_at_once(client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]) -> None:
    await client.patch(f"/{ticket['id']}", json={"description": "The scanner overheats"}, headers=user.headers)
    found = (await client.get("/", params={"q": "scanners overheat"}, headers=user.headers)).json()
    assert [t["id"] for t in found["tickets"]] == [ticket["id"]]


async def test_another_user_gets_404_and_changes_nothing(
    client: httpx.AsyncClient, user: Caller, other_user: Caller, ticket: dict[str, Any]
) -> None:
    response = await client.patch(f"/{ticket['id']}", json={"title": "Mine now"}, headers=other_user.headers)
    assert response.status_code == 404
    assert response.json() == {"error": f"Ticket {ticket['id']} not found."}
    assert await fetch(client, ticket["id"], user) == ticket


async def test_anonymous_is_401(client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]) -> None:
    response = await client.patch(f"/{ticket['id']}", json={"title": "Anonymous"})
    assert response.status_code == 401
    assert await fetch(client, ticket["id"], user) == ticket


async def test_a_missing_ticket_is_404(client: httpx.AsyncClient, staff: Caller) -> None:
    response = await client.patch("/2147483647", json={"title": "Ghost"}, headers=staff.headers)
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["user", "staff", "admin"])
@pytest.mark.parametrize(
    "body",
    [
        {"status": "closed"},
        {"priority": "urgent"},
        {"assigned_to": 7},
        {"assigned_to": None},
        {"title": "Sneaky", "status": "resolved"},
    ],
)
async def test_workflow_fields_are_refused_pointing_to_workflow(
    client: httpx.AsyncClient,
    request: pytest.FixtureRequest,
    user: Caller,
    ticket: dict[str, Any],
    role: str,
    body: dict[str, Any],
) -> None:
    editor: Caller = request.getfixturevalue(role)
    response = await client.patch(f"/{ticket['id']}", json=body, headers=editor.headers)
    assert response.status_code == 400
    assert "/workflow" in response.json()["error"]
    assert await fetch(client, ticket["id"], user) == ticket


BAD_EDITS: dict[str, tuple[Any, str]] = {
    "nothing to change": ({}, "body"),
    "an unknown field": ({"title": "t", "owner": 5}, "owner"),
    "user_id": ({"user_id": 1}, "user_id"),
    "title null": ({"title": None}, "body"),
    "category null": ({"category": None}, "body"),
    "title empty": ({"title": ""}, "title"),
    "title blank": ({"title": "   "}, "title"),
    "title too long": ({"title": "x" * 201}, "title"),
    "title a number": ({"title": 5}, "title"),
    "description empty": ({"description": ""}, "description"),
    "description too long": ({"description": "x" * 20_001}, "description"),
    "description a list": ({"description": ["d"]}, "description"),
    "category unknown": ({"category": "hardware"}, "category"),
    "category a number": ({"category": 2}, "category"),
    "a JSON array": ([{"title": "t"}], "body"),
    "a JSON string": ("t", "body"),
}


@pytest.mark.parametrize(("body", "field"), BAD_EDITS.values(), ids=BAD_EDITS.keys())
async def test_invalid_edits_are_400_and_change_nothing(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any], body: Any, field: str
) -> None:
    response = await client.patch(f"/{ticket['id']}", json=body, headers=user.headers)
    assert response.status_code == 400, response.text
    assert field in [detail["field"] for detail in response.json()["details"]]
    assert await fetch(client, ticket["id"], user) == ticket


@pytest.mark.parametrize(("field", "length"), [("title", 200), ("description", 20_000)])
async def test_text_at_its_length_limit_is_accepted(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any], field: str, length: int
) -> None:
    response = await client.patch(f"/{ticket['id']}", json={field: "y" * length}, headers=user.headers)
    assert response.status_code == 200
    assert response.json()[field] == "y" * length


@pytest.mark.parametrize("raw", [b'{"title": ', b"", b"null"], ids=["malformed", "empty", "null"])
async def test_unreadable_json_is_400(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any], raw: bytes
) -> None:
    response = await client.patch(
        f"/{ticket['id']}", content=raw, headers=user.headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert await fetch(client, ticket["id"], user) == ticket


async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]) -> None:
    response = await client.patch(
        f"/{ticket['id']}", content=b'{"title": "t"}', headers=user.headers | {"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert await fetch(client, ticket["id"], user) == ticket


@pytest.mark.parametrize("bad_id", ["abc", "0", "-5", "2147483648", "12345678901234567890"])
async def test_an_id_that_is_not_a_positive_integer_is_400(
    client: httpx.AsyncClient, user: Caller, bad_id: str
) -> None:
    response = await client.patch(f"/{bad_id}", json={"title": "t"}, headers=user.headers)
    assert response.status_code == 400
