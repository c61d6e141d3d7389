"""Every endpoint for every caller (anonymous, the owner, another user, staff, admin, a service
credential alone), and bad bodies: each refusal has the `{"error"}` body and changes nothing."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN, SignedIn

from .conftest import CreateTicket, history_rows, outbox_rows, ticket_row

ROLES = ["anonymous", "owner", "other", "staff", "admin", "service"]

# (method, path, body, expected status per role in ROLES order). A service credential alone
# is no person: S4 records who made every change, so it answers 401 like anonymous.
MATRIX: list[tuple[str, str, dict[str, Any] | None, list[int]]] = [
    ("PATCH", "/status/{id}", {"status": "in_progress"}, [401, 403, 403, 200, 200, 401]),
    ("PATCH", "/priority/{id}", {"priority": "urgent"}, [401, 403, 403, 200, 200, 401]),
    ("PATCH", "/assign/{id}", {"assigned_to": "assignee"}, [401, 403, 403, 200, 200, 401]),
    ("POST", "/auto-priority/{id}", None, [401, 403, 403, 200, 200, 401]),
    ("GET", "/history/{id}", None, [401, 200, 404, 200, 200, 401]),
    ("GET", "/queue", None, [401, 403, 403, 200, 200, 401]),
]


def _headers(role: str, callers: dict[str, SignedIn]) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "service":
        return {"X-Service-Token": TEST_SERVICE_TOKEN}
    return callers[role].headers


async def _state(db: asyncpg.Connection, ticket_id: int) -> tuple[Any, ...]:
    return await ticket_row(db, ticket_id), await history_rows(db, ticket_id), await outbox_rows(db, ticket_id)


@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
@pytest.mark.parametrize("role", ROLES)
async def test_who_may_call_what(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    other_user: SignedIn,
    staff: SignedIn,
    admin: SignedIn,
    assignee: SignedIn,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: list[int],
) -> None:
    ticket = await create_ticket(owner, category="other")
    if body == {"assigned_to": "assignee"}:
        body = {"assigned_to": assignee.id}
    callers = {"owner": owner, "other": other_user, "staff": staff, "admin": admin}
    before = await _state(db, ticket["id"])

    response = await client.request(method, path.format(id=ticket["id"]), json=body, headers=_headers(role, callers))

    want = expected[ROLES.index(role)]
    assert response.status_code == want, response.text
    if want >= 400:
        assert isinstance(response.json()["error"], str)
        assert await _state(db, ticket["id"]) == before
    if want == 401:
        assert response.headers["www-authenticate"] == "Bearer"


PATCHES = ["/status/{id}", "/priority/{id}", "/assign/{id}"]
# (what, raw body or JSON, the field the 400 names)
BAD_BODIES: list[tuple[str, Any, str]] = [
    ("unknown status", {"status": "reopened"}, "status"),
    ("unknown priority", {"priority": "critical"}, "priority"),
    ("status in capitals", {"status": "RESOLVED"}, "status"),
    ("status as a number", {"status": 3}, "status"),
    ("priority as a list", {"priority": ["high"]}, "priority"),
    ("assignee as a string", {"assigned_to": "5"}, "assigned_to"),
    ("assignee as a float", {"assigned_to": 5.0}, "assigned_to"),
    ("assignee as a bool", {"assigned_to": True}, "assigned_to"),
    ("assignee zero", {"assigned_to": 0}, "assigned_to"),
    ("assignee beyond integer", {"assigned_to": 2**31}, "assigned_to"),
    ("null status", {"status": None}, "status"),
    ("an empty object", {}, "*"),
    ("a list", [{"status": "resolved"}], "body"),
    ("an unknown key", {"status": "resolved", "priority": "high", "assigned_to": None, "user_id": 1}, "*"),
    ("malformed JSON", b'{"status": "resolved"', "body"),
]


@pytest.mark.parametrize("path", PATCHES)
@pytest.mark.parametrize(("what", "body", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_a_bad_body_is_a_400_and_changes_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    owner: SignedIn,
    staff: SignedIn,
    path: str,
    what: str,
    body: Any,
    field: str,
) -> None:
    ticket = await create_ticket(owner)
    before = await _state(db, ticket["id"])
    url = path.format(id=ticket["id"])
    headers = staff.headers | {"Content-Type": "application/json"}
    if isinstance(body, bytes):
        response = await client.patch(url, content=body, headers=headers)
    else:
        response = await client.patch(url, json=body, headers=headers)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert isinstance(answer["error"], str) and answer["details"]
    fields = {d["field"] for d in answer["details"]}
    if field != "*":
        own_field = path.split("/")[1].replace("assign", "assigned_to")
        if field in ("status", "priority", "assigned_to") and field != own_field:
            # Another endpoint's field: refused as an unknown key, and this one's as missing.
            assert fields, answer
        else:
            assert field in fields, answer
    assert await _state(db, ticket["id"]) == before


@pytest.mark.parametrize("path", PATCHES)
async def test_a_body_that_is_not_json_is_a_415(
    client: httpx.AsyncClient, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn, path: str
) -> None:
    ticket = await create_ticket(owner)
    response = await client.patch(
        path.format(id=ticket["id"]), content=b"status=resolved", headers=staff.headers | {"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"]


@pytest.mark.parametrize("ticket_id", ["abc", "0", "-1", "1.0", "2147483648"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/status/{id}", {"status": "resolved"}),
        ("PATCH", "/priority/{id}", {"priority": "low"}),
        ("PATCH", "/assign/{id}", {"assigned_to": None}),
        ("POST", "/auto-priority/{id}", None),
        ("GET", "/history/{id}", None),
    ],
)
async def test_a_bad_ticket_id_is_a_400(
    client: httpx.AsyncClient, staff: SignedIn, method: str, path: str, body: Any, ticket_id: str
) -> None:
    response = await client.request(method, path.format(id=ticket_id), json=body, headers=staff.headers)
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "ticket_id"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"cursor": "x" * 600}])
async def test_bad_page_parameters_are_a_400(client: httpx.AsyncClient, staff: SignedIn, params: Any) -> None:
    response = await client.get("/queue", params=params, headers=staff.headers)
    assert response.status_code == 400
