"""Search the way people type: the last word by prefix, a ticket by its number, phrases and
-word as before; and staff filter by requester."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from s2_tickets.repository import TicketSearch
from s2_tickets.service import parse_search

from .conftest import Caller

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]


async def ids(client: httpx.AsyncClient, caller: Caller, **params: Any) -> list[int]:
    response = await client.get("/", params=params | {"limit": 200}, headers=caller.headers)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["tickets"]]


def word() -> str:
    return "qx" + uuid.uuid4().hex[:10]


async def test_a_word_being_typed_matches_by_prefix(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    printer = await create_ticket(user, title="Printer jammed", description="Paper everywhere.")
    await create_ticket(user, title="Scanner", description="Works fine.")

    for typed in ("pr", "printe", "PRINTER", "printers", "jamm", "paper ever"):
        assert await ids(client, user, q=typed) == [printer["id"]], typed


async def test_only_the_last_word_is_a_prefix(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    ticket = await create_ticket(user, title="Printer jammed")

    assert await ids(client, user, q="printe jammed") == []  # "printe" is finished: no such word
    assert await ids(client, user, q="printer jam") == [ticket["id"]]


async def test_phrases_negation_and_or_keep_working(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    jam = await create_ticket(user, title="Printer jammed", description="Paper everywhere.")
    crash = await create_ticket(user, title="Login broken", description="The app will crash on start.")

    assert await ids(client, user, q='"login broken"') == [crash["id"]]
    assert await ids(client, user, q='"printer jam') == [jam["id"]]  # an open phrase is a phrase
    assert await ids(client, user, q="printer -paper") == []
    # A negated word is whole, never a prefix: -pap excludes only the word "pap".
    assert await ids(client, user, q="printer -pap") == [jam["id"]]
    assert await ids(client, user, q="login or print") == [crash["id"], jam["id"]]
    assert await ids(client, user, q="crash or") == [crash["id"]]


@pytest.mark.parametrize("form", ["{id}", "#{id}", " #{id} "])
async def test_a_ticket_number_finds_that_ticket(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket, form: str
) -> None:
    ticket = await create_ticket(user, title="Nothing numeric here")

    assert await ids(client, user, q=form.format(id=ticket["id"])) == [ticket["id"]]


async def test_a_number_also_finds_tickets_that_mention_it(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    target = await create_ticket(user, title="First")
    mention = await create_ticket(user, title="See also", description=f"Like ticket {target['id']}.")

    assert await ids(client, user, q=str(target["id"])) == [mention["id"], target["id"]]


async def test_a_ticket_number_finds_only_what_the_caller_may_see(
    client: httpx.AsyncClient, user: Caller, other_user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    theirs = await create_ticket(other_user, title="Private")

    assert await ids(client, user, q=f"#{theirs['id']}") == []
    assert await ids(client, staff, q=f"#{theirs['id']}") == [theirs["id"]]


async def test_a_number_beyond_any_id_is_just_text(client: httpx.AsyncClient, user: Caller) -> None:
    assert await ids(client, user, q="99999999999") == []
    assert await ids(client, user, q="#0") == []


@pytest.mark.parametrize("q", ["x²", "٣٤", "ǅemal", "a:*", "pr!nt", "foo&", "naïve", "日本語", "--", "#", "#-1", '"'])
async def test_odd_text_is_never_an_error(client: httpx.AsyncClient, user: Caller, q: str) -> None:
    response = await client.get("/", params={"q": q}, headers=user.headers)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("printe", TicketSearch(prefix="printe")),
        ("paper jam", TicketSearch(websearch="paper", prefix="jam")),
        ("paper or jam", TicketSearch(websearch="paper", prefix="jam", prefix_joins_with_or=True)),
        ("paper -jam", TicketSearch(websearch="paper -jam")),
        ('"paper jam"', TicketSearch(websearch='"paper jam"')),
        ('"paper jam', TicketSearch(websearch='"paper jam')),
        ("paper j", TicketSearch(websearch="paper j")),
        ("e-mail", TicketSearch(websearch="e-mail")),
        ("#42", TicketSearch(websearch="42", ticket_id=42)),
        ("42", TicketSearch(websearch="42", ticket_id=42)),
        ("   ", None),
    ],
)
def test_what_the_search_box_means(q: str, expected: TicketSearch | None) -> None:
    assert parse_search(q) == expected


# --- ?user_id= -------------------------------------------------------------------------------


async def test_staff_filter_by_requester(
    client: httpx.AsyncClient, user: Caller, other_user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    mine = [await create_ticket(user) for _ in range(2)]
    await create_ticket(other_user)

    assert await ids(client, staff, user_id=user.id) == [t["id"] for t in reversed(mine)]
    marker = word()
    tagged = await create_ticket(user, title=f"About {marker}")
    assert await ids(client, staff, user_id=user.id, q=marker) == [tagged["id"]]


async def test_a_user_filtering_by_someone_else_sees_nothing_and_by_themselves_their_own(
    client: httpx.AsyncClient, user: Caller, other_user: Caller, create_ticket: CreateTicket
) -> None:
    mine = await create_ticket(user)
    await create_ticket(other_user)

    assert await ids(client, user, user_id=other_user.id) == []
    assert await ids(client, user, user_id=user.id) == [mine["id"]]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2147483648", "1.5"])
async def test_a_bad_user_id_is_400(client: httpx.AsyncClient, staff: Caller, value: str) -> None:
    response = await client.get("/", params={"user_id": value}, headers=staff.headers)

    assert response.status_code == 400
    assert "user_id" in {d["field"] for d in response.json()["details"]}
