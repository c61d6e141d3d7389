"""Safe edits: GET /{id} gives the ticket's version as its ETag; a PATCH with a stale If-Match
is a 412 that changes nothing; without If-Match a PATCH works as it always did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import Caller

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def ticket(user: Caller, create_ticket: CreateTicket) -> dict[str, Any]:
    return await create_ticket(user, title="Original title")


async def etag_of(client: httpx.AsyncClient, caller: Caller, ticket_id: int) -> str:
    response = await client.get(f"/{ticket_id}", headers=caller.headers)
    assert response.status_code == 200
    return response.headers["etag"]


async def stored_title(db: asyncpg.Connection, ticket_id: int) -> str:
    title: str = await db.fetchval("SELECT title FROM tickets WHERE id = $1", ticket_id)
    return title


@pytest.mark.parametrize("role", ["user", "staff"])
async def test_an_edit_with_the_current_etag_applies_and_answers_the_next_one(
    client: httpx.AsyncClient, request: pytest.FixtureRequest, ticket: dict[str, Any], role: str
) -> None:
    editor: Caller = request.getfixturevalue(role)
    etag = await etag_of(client, editor, ticket["id"])
    assert etag == '"1"'

    response = await client.patch(
        f"/{ticket['id']}", json={"title": "Edited"}, headers=editor.headers | {"If-Match": etag}
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Edited"
    assert response.headers["etag"] == '"2"'
    assert await etag_of(client, editor, ticket["id"]) == '"2"'


async def test_a_stale_etag_is_412_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    """Two people read the ticket; one edits it; the other's edit, made on what they read, is refused."""
    read_by_both = await etag_of(client, user, ticket["id"])
    first = await client.patch(
        f"/{ticket['id']}", json={"title": "Staff's title"}, headers=staff.headers | {"If-Match": read_by_both}
    )
    assert first.status_code == 200

    second = await client.patch(
        f"/{ticket['id']}", json={"title": "Owner's title"}, headers=user.headers | {"If-Match": read_by_both}
    )

    assert second.status_code == 412
    assert set(second.json()) == {"error"}
    assert second.headers["etag"] == first.headers["etag"]  # what to read again
    assert await stored_title(db, ticket["id"]) == "Staff's title"


async def test_a_change_made_elsewhere_moves_the_etag_too(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, ticket: dict[str, Any]
) -> None:
    """S4 writes status, priority and assignment straight into the table; the version follows."""
    before = await etag_of(client, user, ticket["id"])
    await db.execute("UPDATE tickets SET status = 'assigned', assigned_to = 5 WHERE id = $1", ticket["id"])

    response = await client.patch(
        f"/{ticket['id']}", json={"title": "Late edit"}, headers=user.headers | {"If-Match": before}
    )

    assert response.status_code == 412
    assert await stored_title(db, ticket["id"]) == "Original title"


async def test_without_if_match_an_edit_still_applies(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]
) -> None:
    await client.patch(f"/{ticket['id']}", json={"title": "One"}, headers=user.headers)

    response = await client.patch(f"/{ticket['id']}", json={"title": "Two"}, headers=user.headers)

    assert response.status_code == 200
    assert response.json()["title"] == "Two"


@pytest.mark.parametrize("header", ["*", '"7", "1"', ' "1" ', '"1",'])
async def test_if_match_accepts_a_star_and_lists_of_tags(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any], header: str
) -> None:
    response = await client.patch(
        f"/{ticket['id']}", json={"title": "Listed"}, headers=user.headers | {"If-Match": header}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("header", ['W/"1"', '"abc"', '"99"', '"2147483648"'])
async def test_weak_foreign_or_wrong_tags_never_match(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, ticket: dict[str, Any], header: str
) -> None:
    """If-Match compares strongly (RFC 9110): a weak tag matches nothing."""
    response = await client.patch(f"/{ticket['id']}", json={"title": "No"}, headers=user.headers | {"If-Match": header})

    assert response.status_code == 412
    assert await stored_title(db, ticket["id"]) == "Original title"


@pytest.mark.parametrize("header", ["1", "abc", '"1" "2"', '"unterminated', "W/1"])
async def test_a_malformed_if_match_is_400_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, ticket: dict[str, Any], header: str
) -> None:
    response = await client.patch(f"/{ticket['id']}", json={"title": "No"}, headers=user.headers | {"If-Match": header})

    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "If-Match"
    assert await stored_title(db, ticket["id"]) == "Original title"


async def test_someone_elses_ticket_is_still_404_whatever_the_if_match(
    client: httpx.AsyncClient, other_user: Caller, ticket: dict[str, Any]
) -> None:
    for header in ('"1"', '"2"', "*"):
        response = await client.patch(
            f"/{ticket['id']}", json={"title": "Mine"}, headers=other_user.headers | {"If-Match": header}
        )
        assert response.status_code == 404


async def test_a_missing_ticket_with_if_match_is_404(client: httpx.AsyncClient, staff: Caller) -> None:
    response = await client.patch("/2147483647", json={"title": "Ghost"}, headers=staff.headers | {"If-Match": '"1"'})

    assert response.status_code == 404


async def test_a_bad_body_with_a_good_if_match_is_400_and_keeps_the_version(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]
) -> None:
    etag = await etag_of(client, user, ticket["id"])

    response = await client.patch(f"/{ticket['id']}", json={"title": ""}, headers=user.headers | {"If-Match": etag})

    assert response.status_code == 400
    assert await etag_of(client, user, ticket["id"]) == etag


async def test_a_new_ticket_answers_with_its_first_etag(client: httpx.AsyncClient, user: Caller) -> None:
    response = await client.post(
        "/", json={"title": "New", "description": "Fresh.", "category": "bug"}, headers=user.headers
    )

    assert response.status_code == 201
    assert response.headers["etag"] == '"1"'
