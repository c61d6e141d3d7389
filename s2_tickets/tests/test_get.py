"""GET /{id}: the owner and staff see a ticket; anyone else gets the same 404 as for a missing id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from .conftest import Caller, as_staff_see_it

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]


@pytest.mark.parametrize("role", ["user", "staff", "admin"])
async def test_owner_and_staff_see_the_ticket(
    client: httpx.AsyncClient, request: pytest.FixtureRequest, user: Caller, create_ticket: CreateTicket, role: str
) -> None:
    ticket = await create_ticket(user)
    reader: Caller = request.getfixturevalue(role)

    response = await client.get(f"/{ticket['id']}", headers=reader.headers)

    assert response.status_code == 200
    assert response.json() == (ticket if role == "user" else as_staff_see_it(ticket))


async def test_staff_ticket_is_not_visible_to_a_user(
    client: httpx.AsyncClient, user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    ticket = await create_ticket(staff)
    response = await client.get(f"/{ticket['id']}", headers=user.headers)
    assert response.status_code == 404


async def test_someone_elses_ticket_looks_exactly_like_a_missing_one(
    client: httpx.AsyncClient, user: Caller, other_user: Caller, create_ticket: CreateTicket
) -> None:
    ticket = await create_ticket(user)
    missing_id = 2_147_483_647

    hidden = await client.get(f"/{ticket['id']}", headers=other_user.headers)
    missing = await client.get(f"/{missing_id}", headers=other_user.headers)

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {"error": f"Ticket {ticket['id']} not found."}
    assert missing.json() == {"error": f"Ticket {missing_id} not found."}
    assert hidden.headers["content-type"] == missing.headers["content-type"]


async def test_anonymous_is_401(client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket) -> None:
    ticket = await create_ticket(user)
    response = await client.get(f"/{ticket['id']}")
    assert response.status_code == 401


@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", "1.5", "1e3", "2147483648", "99999999999999999999999999", "%20"])
async def test_an_id_that_is_not_a_positive_integer_is_400(
    client: httpx.AsyncClient, user: Caller, bad_id: str
) -> None:
    response = await client.get(f"/{bad_id}", headers=user.headers)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "ticket_id"


async def test_the_request_id_is_echoed(client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket) -> None:
    ticket = await create_ticket(user)
    response = await client.get(f"/{ticket['id']}", headers=user.headers | {"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
