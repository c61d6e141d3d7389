"""Staff views name each ticket's requester, asked from S1 (here `FakeAuth`) a page at a time;
users' views never carry it; S1 down or failing: the tickets still come, without names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from s2_tickets.flows import RequesterDirectory

from .conftest import Caller, FakeAuth, new_caller

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def directory(app: FastAPI) -> Iterator[RequesterDirectory]:
    """A directory with an empty cache and a fresh call count for this test (restored after),
    so a test that takes S1 down never leaves names missing for the next one."""
    kept: RequesterDirectory = app.state.requesters
    fresh = RequesterDirectory(
        kept.services, ttl_seconds=kept.ttl_seconds, max_entries=kept.max_entries, timeout_seconds=1.0
    )
    app.state.requesters = fresh
    yield fresh
    app.state.requesters = kept


@pytest.fixture
def auth_down(fake_auth: FakeAuth) -> Iterator[FakeAuth]:
    fake_auth.down = True
    yield fake_auth
    fake_auth.down = False


def requester_of(listing: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    (ticket,) = [t for t in listing["tickets"] if t["id"] == ticket_id]
    requester: dict[str, Any] = ticket["requester"]
    return requester


@pytest.mark.usefixtures("directory")
async def test_staff_see_the_requesters_name_and_email(
    client: httpx.AsyncClient, fake_auth: FakeAuth, user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    fake_auth.add(user.id, name="Ada Lovelace", email=f"ada{user.id}@example.com")
    ticket = await create_ticket(user)
    named = {"name": "Ada Lovelace", "email": f"ada{user.id}@example.com", "lookup": "ok"}

    listing = await client.get("/", params={"user_id": user.id}, headers=staff.headers)
    one = await client.get(f"/{ticket['id']}", headers=staff.headers)

    assert listing.status_code == 200
    assert requester_of(listing.json(), ticket["id"]) == named
    assert one.json()["requester"] == named


async def test_users_views_carry_no_requester(
    client: httpx.AsyncClient, fake_auth: FakeAuth, user: Caller, create_ticket: CreateTicket
) -> None:
    fake_auth.add(user.id, name="Ada")
    ticket = await create_ticket(user)

    listing = await client.get("/", headers=user.headers)
    one = await client.get(f"/{ticket['id']}", headers=user.headers)

    assert all("requester" not in t for t in listing.json()["tickets"])
    assert "requester" not in one.json()


async def test_a_page_costs_s1_one_call_and_a_reload_none(
    client: httpx.AsyncClient,
    fake_auth: FakeAuth,
    directory: RequesterDirectory,
    staff: Caller,
    create_ticket: CreateTicket,
) -> None:
    requesters = [new_caller("user") for _ in range(5)]
    for number, caller in enumerate(requesters):
        fake_auth.add(caller.id, name=f"Requester {number}")
        await create_ticket(caller)

    first = await client.get("/", params={"limit": 100}, headers=staff.headers)
    asked = fake_auth.asked[-1]
    again = await client.get("/", params={"limit": 100}, headers=staff.headers)

    assert first.status_code == again.status_code == 200
    assert directory.calls == 1
    assert {c.id for c in requesters} <= set(asked)
    for number, caller in enumerate(requesters):
        (ticket,) = [t for t in again.json()["tickets"] if t["user_id"] == caller.id]
        assert ticket["requester"]["name"] == f"Requester {number}"


@pytest.mark.usefixtures("directory")
async def test_a_user_s1_does_not_know_is_unknown(
    client: httpx.AsyncClient, user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    ticket = await create_ticket(user)

    one = await client.get(f"/{ticket['id']}", headers=staff.headers)

    assert one.json()["requester"] == {"name": None, "email": None, "lookup": "unknown"}


async def test_s1_down_staff_still_get_their_tickets_without_names(
    client: httpx.AsyncClient,
    auth_down: FakeAuth,
    directory: RequesterDirectory,
    user: Caller,
    staff: Caller,
    create_ticket: CreateTicket,
) -> None:
    ticket = await create_ticket(user)
    unavailable = {"name": None, "email": None, "lookup": "unavailable"}

    listing = await client.get("/", headers=staff.headers)
    one = await client.get(f"/{ticket['id']}", headers=staff.headers)

    assert listing.status_code == one.status_code == 200
    assert requester_of(listing.json(), ticket["id"]) == unavailable
    assert one.json()["requester"] == unavailable
    # After the failure S1 is left alone for a while: the second view did not ask again.
    assert directory.calls == 1


async def test_names_known_before_s1_went_down_are_still_shown(fake_auth: FakeAuth, app: FastAPI) -> None:
    now = [1000.0]
    directory = RequesterDirectory(
        app.state.requesters.services, ttl_seconds=30, max_entries=10, timeout_seconds=1.0, clock=lambda: now[0]
    )
    fake_auth.add(424242, name="Grace")
    assert (await directory.lookup([424242]))[424242].name == "Grace"

    now[0] += 60  # the entry is stale
    fake_auth.down = True
    try:
        found = await directory.lookup([424242, 434343])
    finally:
        fake_auth.down = False

    assert found[424242].name == "Grace"
    assert found[434343].lookup == "unavailable"
    assert directory.calls == 2


async def test_the_cache_is_bounded(fake_auth: FakeAuth, app: FastAPI) -> None:
    directory = RequesterDirectory(app.state.requesters.services, ttl_seconds=30, max_entries=3, timeout_seconds=1.0)
    for user_id in range(515151, 515161):
        fake_auth.add(user_id, name=f"U{user_id}")

    await directory.lookup(range(515151, 515161))

    assert len(directory._entries) == 3
