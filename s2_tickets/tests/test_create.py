"""POST /: any signed-in user opens a ticket; every bad input is a 400 that writes nothing."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import TICKET_KEYS, Caller, as_staff_see_it, count_tickets

CONTRACT_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
VALID = {"title": "Application crashes on login", "description": "It crashes immediately.", "category": "bug"}


@pytest.mark.parametrize("role", ["user", "other_user", "staff", "admin"])
async def test_every_role_creates_a_new_unassigned_ticket_of_its_own(
    client: httpx.AsyncClient, request: pytest.FixtureRequest, role: str
) -> None:
    caller: Caller = request.getfixturevalue(role)

    response = await client.post("/", json=VALID, headers=caller.headers)

    assert response.status_code == 201
    ticket = response.json()
    assert set(ticket) == TICKET_KEYS
    assert isinstance(ticket["id"], int) and ticket["id"] > 0
    assert ticket["user_id"] == caller.id
    assert (ticket["title"], ticket["description"], ticket["category"]) == (
        VALID["title"],
        VALID["description"],
        "bug",
    )
    assert (ticket["status"], ticket["priority"], ticket["assigned_to"]) == ("new", "medium", None)
    assert CONTRACT_TIMESTAMP.match(ticket["created_at"])
    assert ticket["updated_at"] == ticket["created_at"]
    assert response.headers["content-type"] == "application/json"
    # What was answered is what was stored.
    stored = await client.get(f"/{ticket['id']}", headers=caller.headers)
    assert stored.json() == (as_staff_see_it(ticket) if role in ("staff", "admin") else ticket)


async def test_the_original_curl_example_still_works(client: httpx.AsyncClient, user: Caller) -> None:
    response = await client.post(
        "/",
        content=b'{"title": "Application crashes on login",'
        b' "description": "When I try to login, the app crashes immediately", "category": "bug"}',
        headers=user.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert response.json()["status"] == "new"


@pytest.mark.parametrize("priority", ["low", "medium", "high", "urgent"])
async def test_priority_can_be_chosen(client: httpx.AsyncClient, user: Caller, priority: str) -> None:
    response = await client.post("/", json=VALID | {"priority": priority}, headers=user.headers)
    assert response.status_code == 201
    assert response.json()["priority"] == priority


@pytest.mark.parametrize("category", ["bug", "feature", "support", "other"])
async def test_every_category_is_accepted(client: httpx.AsyncClient, user: Caller, category: str) -> None:
    response = await client.post("/", json=VALID | {"category": category}, headers=user.headers)
    assert response.status_code == 201
    assert response.json()["category"] == category


async def test_category_and_priority_are_case_insensitive_and_stored_lower_case(
    client: httpx.AsyncClient, user: Caller
) -> None:
    response = await client.post(
        "/", json=VALID | {"category": " FeAture ", "priority": "URGENT"}, headers=user.headers
    )
    assert response.status_code == 201
    assert (response.json()["category"], response.json()["priority"]) == ("feature", "urgent")


async def test_whitespace_around_text_is_trimmed(client: httpx.AsyncClient, user: Caller) -> None:
    body = VALID | {"title": "  Padded title \n", "description": "\n  Line one\n\tline two  \n"}
    response = await client.post("/", json=body, headers=user.headers)
    assert response.status_code == 201
    assert response.json()["title"] == "Padded title"
    assert response.json()["description"] == "Line one\n\tline two"


async def test_status_assignment_and_owner_in_the_body_are_ignored(client: httpx.AsyncClient, user: Caller) -> None:
    body = VALID | {
        "status": "closed",
        "assigned_to": 7,
        "user_id": 1,
        "id": 1,
        "created_at": "2000-01-01T00:00:00+00:00",
    }
    response = await client.post("/", json=body, headers=user.headers)
    assert response.status_code == 201
    ticket = response.json()
    assert (ticket["status"], ticket["assigned_to"], ticket["user_id"]) == ("new", None, user.id)
    assert not ticket["created_at"].startswith("2000")


@pytest.mark.parametrize(
    ("field", "length"), [("title", 1), ("title", 200), ("description", 1), ("description", 20_000)]
)
async def test_text_at_its_length_limits_is_accepted(
    client: httpx.AsyncClient, user: Caller, field: str, length: int
) -> None:
    response = await client.post("/", json=VALID | {field: "é" * length}, headers=user.headers)
    assert response.status_code == 201
    assert response.json()[field] == "é" * length


BAD_BODIES: dict[str, tuple[Any, str]] = {
    # name: (body, the field the error names)
    "title missing": ({"description": "d", "category": "bug"}, "title"),
    "description missing": ({"title": "t", "category": "bug"}, "description"),
    "category missing": ({"title": "t", "description": "d"}, "category"),
    "title empty": (VALID | {"title": ""}, "title"),
    "title blank": (VALID | {"title": "   \t "}, "title"),
    "title too long": (VALID | {"title": "x" * 201}, "title"),
    "title too long after trimming": (VALID | {"title": " " + "x" * 201 + " "}, "title"),
    "description empty": (VALID | {"description": ""}, "description"),
    "description blank": (VALID | {"description": " \n "}, "description"),
    "description too long": (VALID | {"description": "x" * 20_001}, "description"),
    "title a number": (VALID | {"title": 5}, "title"),
    "title a boolean": (VALID | {"title": True}, "title"),
    "title null": (VALID | {"title": None}, "title"),
    "title a list": (VALID | {"title": ["a"]}, "title"),
    "description a number": (VALID | {"description": 12}, "description"),
    "description an object": (VALID | {"description": {"a": 1}}, "description"),
    "category unknown": (VALID | {"category": "hardware"}, "category"),
    "category empty": (VALID | {"category": ""}, "category"),
    "category a number": (VALID | {"category": 1}, "category"),
    "category null": (VALID | {"category": None}, "category"),
    "priority unknown": (VALID | {"priority": "critical"}, "priority"),
    "priority a number": (VALID | {"priority": 3}, "priority"),
    "priority null": (VALID | {"priority": None}, "priority"),
    "title with a newline": (VALID | {"title": "two\nlines"}, "title"),
    "title with NUL": (VALID | {"title": "nul\x00"}, "title"),
    "description with NUL": (VALID | {"description": "nul\x00byte"}, "description"),
    "a JSON array": ([VALID], "body"),
    "a JSON string": ("title", "body"),
}


@pytest.mark.parametrize(("body", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_invalid_body_is_400_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, body: Any, field: str
) -> None:
    rows_before = await count_tickets(db)

    response = await client.post("/", json=body, headers=user.headers)

    assert response.status_code == 400, response.text
    error = response.json()
    assert isinstance(error["error"], str) and error["error"]
    assert field in [detail["field"] for detail in error["details"]]
    assert await count_tickets(db) == rows_before


RAW_BODIES: dict[str, bytes] = {
    "malformed JSON": b'{"title": "t", ',
    "not JSON at all": b"title=t&description=d",
    "empty body": b"",
    "JSON null": b"null",
    "a JSON number": b"42",
    "a lone surrogate": b'{"title": "t", "description": "\\ud800", "category": "bug"}',
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
async def test_unreadable_json_is_400_and_writes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, raw: bytes
) -> None:
    rows_before = await count_tickets(db)
    response = await client.post("/", content=raw, headers=user.headers | {"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "error" in response.json()
    assert await count_tickets(db) == rows_before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_a_body_that_is_not_json_is_415(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, content_type: str
) -> None:
    rows_before = await count_tickets(db)
    response = await client.post(
        "/",
        content=b'{"title":"t","description":"d","category":"bug"}',
        headers=user.headers | {"Content-Type": content_type},
    )
    assert response.status_code == 415
    assert "error" in response.json()
    assert await count_tickets(db) == rows_before


async def test_json_with_a_charset_parameter_is_fine(client: httpx.AsyncClient, user: Caller) -> None:
    response = await client.post(
        "/",
        content=b'{"title":"t","description":"d","category":"bug"}',
        headers=user.headers | {"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201
