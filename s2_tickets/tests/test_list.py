"""GET /: newest first, keyset-paginated, own tickets for users and all for staff, with filters."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import TICKET_KEYS, Caller

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]


def marker() -> str:
    """A word no other ticket contains, for narrowing a staff listing to one test's tickets."""
    return "mk" + uuid.uuid4().hex[:12]


async def list_ids(client: httpx.AsyncClient, caller: Caller, **params: Any) -> list[int]:
    response = await client.get("/", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    return [ticket["id"] for ticket in response.json()["tickets"]]


async def all_pages(client: httpx.AsyncClient, caller: Caller, **params: Any) -> tuple[list[int], int]:
    """Follow next_cursor to the end; returns the ids in order and the number of pages."""
    ids: list[int] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get("/", params=query, headers=caller.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        ids += [ticket["id"] for ticket in body["tickets"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages
        assert isinstance(cursor, str)
        assert pages < 100, "pagination does not end"


async def set_columns(db: asyncpg.Connection, ticket_id: int, **columns: Any) -> None:
    """Change what only S4 changes (status, priority, assignment), straight in the table."""
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await db.execute(f"UPDATE tickets SET {assignments} WHERE id = $1", ticket_id, *columns.values())


async def test_the_answer_keeps_the_original_shape(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    ticket = await create_ticket(user)
    response = await client.get("/", headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"tickets", "next_cursor"}
    assert body["tickets"] == [ticket]
    assert set(body["tickets"][0]) == TICKET_KEYS
    assert body["next_cursor"] is None


async def test_a_new_user_has_an_empty_list(client: httpx.AsyncClient, user: Caller) -> None:
    response = await client.get("/", headers=user.headers)
    assert response.json() == {"tickets": [], "next_cursor": None}


async def test_users_see_only_their_own_tickets_and_staff_see_everyone_s(
    client: httpx.AsyncClient,
    user: Caller,
    other_user: Caller,
    staff: Caller,
    admin: Caller,
    create_ticket: CreateTicket,
) -> None:
    mine = await create_ticket(user)
    theirs = await create_ticket(other_user)

    assert await list_ids(client, user) == [mine["id"]]
    assert await list_ids(client, other_user) == [theirs["id"]]
    for reader in (staff, admin):
        # Staff lists hold everyone's tickets: check ours are there, newest first.
        ids = await list_ids(client, reader, limit=200)
        assert ids.index(theirs["id"]) < ids.index(mine["id"])


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 401


async def test_pages_give_every_ticket_once_newest_first(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    created = [(await create_ticket(user, title=f"Ticket {n}"))["id"] for n in range(5)]

    first = (await client.get("/", params={"limit": 2}, headers=user.headers)).json()
    assert [t["id"] for t in first["tickets"]] == created[::-1][:2]
    assert first["next_cursor"] is not None

    ids, pages = await all_pages(client, user, limit=2)
    assert ids == created[::-1]
    assert pages == 3


async def test_an_exactly_full_last_page_ends_the_list(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    created = [(await create_ticket(user))["id"] for _ in range(4)]
    ids, pages = await all_pages(client, user, limit=2)
    assert ids == created[::-1]
    assert pages == 2


async def test_staff_pages_through_everyone_s_tickets_with_a_filter(
    client: httpx.AsyncClient, user: Caller, other_user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    word = marker()
    created = [(await create_ticket(owner, title=f"About {word}"))["id"] for owner in (user, other_user) * 3]
    ids, pages = await all_pages(client, staff, limit=2, q=word)
    assert ids == created[::-1]
    assert pages == 3


async def test_tickets_created_between_pages_neither_repeat_nor_shift_the_pages(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    created = [(await create_ticket(user))["id"] for _ in range(4)]
    first = (await client.get("/", params={"limit": 2}, headers=user.headers)).json()
    await create_ticket(user)  # newer than everything: belongs before page one, not in page two
    second = (await client.get("/", params={"limit": 2, "cursor": first["next_cursor"]}, headers=user.headers)).json()
    assert [t["id"] for t in first["tickets"] + second["tickets"]] == created[::-1]


async def test_tickets_created_in_the_same_instant_are_ordered_by_id(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller
) -> None:
    # One INSERT: every row gets the same now(), so only the id breaks the tie.
    ids = [
        row["id"]
        for row in await db.fetch(
            "INSERT INTO tickets (user_id, title, description, category)"
            " SELECT $1, 'Same instant', 'Tie', 'other' FROM generate_series(1, 3) RETURNING id",
            user.id,
        )
    ]
    paged, pages = await all_pages(client, user, limit=1)
    assert paged == sorted(ids, reverse=True)
    assert pages == 3


async def test_the_default_page_is_50_and_at_most_200_can_be_asked(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller
) -> None:
    await db.execute(
        "INSERT INTO tickets (user_id, title, description, category, created_at)"
        " SELECT $1, 'Bulk', 'Row ' || i, 'other', now() - i * interval '1 second' FROM generate_series(1, 201) AS i",
        user.id,
    )
    default_page = (await client.get("/", headers=user.headers)).json()
    assert len(default_page["tickets"]) == 50
    assert default_page["next_cursor"] is not None
    largest_page = (await client.get("/", params={"limit": 200}, headers=user.headers)).json()
    assert len(largest_page["tickets"]) == 200
    rest = (
        await client.get("/", params={"limit": 200, "cursor": largest_page["next_cursor"]}, headers=user.headers)
    ).json()
    assert len(rest["tickets"]) == 1
    assert rest["next_cursor"] is None


# --- filters -----------------------------------------------------------------------------------


async def test_each_filter_narrows_the_list(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    user: Caller,
    staff: Caller,
    create_ticket: CreateTicket,
) -> None:
    plain = await create_ticket(user, category="bug", priority="low")
    feature = await create_ticket(user, category="feature", priority="urgent")
    assigned = await create_ticket(user, category="support", priority="low")
    await set_columns(db, assigned["id"], status="assigned", assigned_to=staff.id)
    resolved = await create_ticket(user, category="bug", priority="high")
    await set_columns(db, resolved["id"], status="resolved")

    assert await list_ids(client, user, status="new") == [feature["id"], plain["id"]]
    assert await list_ids(client, user, status="resolved") == [resolved["id"]]
    assert await list_ids(client, user, status="closed") == []
    assert await list_ids(client, user, priority="low") == [assigned["id"], plain["id"]]
    assert await list_ids(client, user, priority="urgent") == [feature["id"]]
    assert await list_ids(client, user, category="bug") == [resolved["id"], plain["id"]]
    assert await list_ids(client, user, category="FEATURE") == [feature["id"]]
    assert await list_ids(client, user, assigned_to=staff.id) == [assigned["id"]]
    # Filters combine with AND.
    assert await list_ids(client, user, category="bug", priority="low") == [plain["id"]]
    assert await list_ids(client, user, category="bug", status="new", priority="high") == []
    # Staff filtering by assignee see that ticket even though it is not theirs.
    assert await list_ids(client, staff, assigned_to=staff.id) == [assigned["id"]]


async def test_filters_combine_with_pagination(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    bugs = []
    for n in range(6):
        ticket = await create_ticket(user, category="bug" if n % 2 == 0 else "other")
        if n % 2 == 0:
            bugs.append(ticket["id"])
    ids, pages = await all_pages(client, user, category="bug", limit=2)
    assert ids == bugs[::-1]
    assert pages == 2


async def test_search_finds_a_title_word_and_a_stemmed_description_word(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    by_title = await create_ticket(user, title="Printer jammed", description="Paper everywhere.")
    by_description = await create_ticket(user, title="Login broken", description="The app will crash on start.")
    await create_ticket(user, title="Unrelated", description="Nothing to see.")

    assert await list_ids(client, user, q="printer") == [by_title["id"]]
    assert await list_ids(client, user, q="crashes") == [by_description["id"]]  # crashes -> crash
    assert await list_ids(client, user, q="JAMMING") == [by_title["id"]]
    assert await list_ids(client, user, q="printer OR crash") == [by_description["id"], by_title["id"]]
    assert await list_ids(client, user, q='"login broken"') == [by_description["id"]]
    assert await list_ids(client, user, q="printer -paper") == []
    assert await list_ids(client, user, q="elephant") == []


async def test_search_never_reaches_other_users_tickets_but_staff_search_everything(
    client: httpx.AsyncClient, user: Caller, other_user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    word = marker()
    theirs = await create_ticket(other_user, description=f"Secret {word}")
    assert await list_ids(client, user, q=word) == []
    assert await list_ids(client, staff, q=word) == [theirs["id"]]


async def test_search_text_is_never_a_syntax_error(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    await create_ticket(user, title="Quotes and symbols")
    for q in ['"unclosed', "a & b | !c", "(((", "' OR 1=1 --", "the", "-", ":*", "%_\\"]:
        response = await client.get("/", params={"q": q}, headers=user.headers)
        assert response.status_code == 200, (q, response.text)


async def test_an_empty_search_means_no_search(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    ticket = await create_ticket(user)
    assert await list_ids(client, user, q="") == [ticket["id"]]
    assert await list_ids(client, user, q="   ") == [ticket["id"]]


async def test_a_search_of_200_characters_is_accepted(client: httpx.AsyncClient, user: Caller) -> None:
    response = await client.get("/", params={"q": "word " * 40}, headers=user.headers)
    assert response.status_code == 200


def _cursor(raw: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


BAD_QUERIES: dict[str, tuple[dict[str, str], str]] = {
    "status unknown": ({"status": "open"}, "status"),
    "priority unknown": ({"priority": "critical"}, "priority"),
    "category unknown": ({"category": "hardware"}, "category"),
    "status empty": ({"status": ""}, "status"),
    "assigned_to zero": ({"assigned_to": "0"}, "assigned_to"),
    "assigned_to negative": ({"assigned_to": "-3"}, "assigned_to"),
    "assigned_to not a number": ({"assigned_to": "bob"}, "assigned_to"),
    "assigned_to too large": ({"assigned_to": "2147483648"}, "assigned_to"),
    "limit zero": ({"limit": "0"}, "limit"),
    "limit 201": ({"limit": "201"}, "limit"),
    "limit negative": ({"limit": "-1"}, "limit"),
    "limit not a number": ({"limit": "ten"}, "limit"),
    "q too long": ({"q": "x" * 201}, "q"),
    "q with NUL": ({"q": "a\x00b"}, "q"),
    "cursor garbage": ({"cursor": "not a cursor!"}, "cursor"),
    "cursor too long": ({"cursor": "A" * 600}, "cursor"),
    "cursor wrong arity": ({"cursor": _cursor(["2026-01-01T00:00:00+00:00"])}, "cursor"),
    "cursor an object": ({"cursor": _cursor({"id": 1})}, "cursor"),
    "cursor naive time": ({"cursor": _cursor(["2026-01-01T00:00:00", 5])}, "cursor"),
    "cursor bad time": ({"cursor": _cursor(["yesterday", 5])}, "cursor"),
    "cursor id a string": ({"cursor": _cursor(["2026-01-01T00:00:00+00:00", "5"])}, "cursor"),
    "cursor id too large": ({"cursor": _cursor(["2026-01-01T00:00:00+00:00", 2**40])}, "cursor"),
    "cursor id zero": ({"cursor": _cursor(["2026-01-01T00:00:00+00:00", 0])}, "cursor"),
    "cursor after year 9999 in UTC": ({"cursor": _cursor(["9999-12-31T23:59:59-01:00", 1])}, "cursor"),
    "cursor before year 1 in UTC": ({"cursor": _cursor(["0001-01-01T00:00:00+01:00", 1])}, "cursor"),
}


@pytest.mark.parametrize(("params", "field"), BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
async def test_bad_query_parameters_are_400(
    client: httpx.AsyncClient, staff: Caller, params: dict[str, str], field: str
) -> None:
    response = await client.get("/", params=params, headers=staff.headers)
    assert response.status_code == 400, response.text
    assert field in [detail["field"] for detail in response.json()["details"]]


async def test_a_cursor_from_far_in_the_past_or_future_is_just_a_position(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    ticket = await create_ticket(user)
    future = _cursor(["9999-12-31T23:59:59+00:00", 1])
    past = _cursor(["0001-01-01T00:00:00+00:00", 1])
    assert await list_ids(client, user, cursor=future) == [ticket["id"]]
    assert await list_ids(client, user, cursor=past) == []
