"""GET /history/:userId, PATCH /:id/read and GET /queue: who sees what, pagination, counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import SignedIn
from helpdesk_fleet.sinks import Fault

from .conftest import SERVICE_HEADERS, Sinks, settled, unique_address

Notify = Callable[..., Awaitable[dict[str, Any]]]


async def test_history_is_newest_first_and_keyset_paginated(
    client: httpx.AsyncClient, notify: Notify, user: SignedIn
) -> None:
    made = [(await notify(user_id=user.id, message=f"number {n}"))["id"] for n in range(5)]

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"/history/{user.id}", params=params, headers=user.headers)
        assert response.status_code == 200
        page = response.json()
        assert len(page["notifications"]) <= 2
        seen += [n["id"] for n in page["notifications"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


async def test_a_user_sees_only_their_own_history_and_staff_see_anyones(
    client: httpx.AsyncClient, notify: Notify, user: SignedIn, other_user: SignedIn, staff: SignedIn, admin: SignedIn
) -> None:
    mine = await notify(user_id=user.id)
    assert (await client.get(f"/history/{user.id}", headers=other_user.headers)).status_code == 403
    assert (await client.get(f"/history/{user.id}")).status_code == 401
    # The service credential is no user: the contract says self or staff.
    assert (await client.get(f"/history/{user.id}", headers=SERVICE_HEADERS)).status_code == 401
    for reader in (user, staff, admin):
        response = await client.get(f"/history/{user.id}", headers=reader.headers)
        assert response.status_code == 200
        assert [n["id"] for n in response.json()["notifications"]] == [mine["id"]]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"cursor": "nonsense"}, {"limit": "x"}])
async def test_bad_paging_parameters_are_400(client: httpx.AsyncClient, user: SignedIn, params: dict[str, Any]) -> None:
    response = await client.get(f"/history/{user.id}", params=params, headers=user.headers)
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/history/abc", "/history/0", "/history/1.5", "/abc/read", "/0/read"])
async def test_ids_that_are_not_positive_integers_are_400(client: httpx.AsyncClient, user: SignedIn, path: str) -> None:
    method = "PATCH" if path.endswith("/read") else "GET"
    response = await client.request(method, path, headers=user.headers)
    assert response.status_code == 400


async def test_last_errors_are_shown_to_staff_not_to_the_recipient(
    client: httpx.AsyncClient, db: asyncpg.Connection, notify: Notify, sink: Sinks, user: SignedIn, staff: SignedIn
) -> None:
    """A permanent refusal (550) fails at once; its reason names the mail server's answer."""
    address = unique_address()
    sink.mail_rules.rules[address] = Fault(refuse_always=True, code=550)
    failed = await notify(user_id=user.id, channel="email", user_email=address)
    assert (await settled(db, failed["id"]))["status"] == "failed"
    by_user = (await client.get(f"/history/{user.id}", headers=user.headers)).json()["notifications"][0]
    by_staff = (await client.get(f"/history/{user.id}", headers=staff.headers)).json()["notifications"][0]
    assert by_user["status"] == by_staff["status"] == "failed"
    assert by_user["last_error"] is None
    assert "550" in by_staff["last_error"]


# --- PATCH /:id/read --------------------------------------------------------------------------


async def test_the_recipient_marks_an_in_app_notification_read_once(
    client: httpx.AsyncClient, notify: Notify, user: SignedIn
) -> None:
    created = await notify(user_id=user.id)
    first = await client.patch(f"/{created['id']}/read", headers=user.headers)
    again = await client.patch(f"/{created['id']}/read", headers=user.headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["read_at"] is not None
    assert again.json()["read_at"] == first.json()["read_at"]  # idempotent: the first time is kept


async def test_nobody_but_the_recipient_marks_it_read_and_they_learn_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    notify: Notify,
    user: SignedIn,
    other_user: SignedIn,
    staff: SignedIn,
) -> None:
    created = await notify(user_id=user.id)
    missing = await client.patch("/2147483647/read", headers=other_user.headers)
    for caller in (other_user, staff):
        response = await client.patch(f"/{created['id']}/read", headers=caller.headers)
        assert response.status_code == 404
        assert response.json()["error"].replace(str(created["id"]), "N") == missing.json()["error"].replace(
            "2147483647", "N"
        )
    assert (await client.patch(f"/{created['id']}/read")).status_code == 401
    assert (await client.patch(f"/{created['id']}/read", headers=SERVICE_HEADERS)).status_code == 401
    assert await db.fetchval("SELECT read_at FROM notifications WHERE id = $1", created["id"]) is None


async def test_only_in_app_notifications_can_be_marked_read(
    client: httpx.AsyncClient, db: asyncpg.Connection, notify: Notify, user: SignedIn
) -> None:
    email = await notify(user_id=user.id, channel="email", user_email=unique_address())
    response = await client.patch(f"/{email['id']}/read", headers=user.headers)
    assert response.status_code == 400
    assert await db.fetchval("SELECT read_at FROM notifications WHERE id = $1", email["id"]) is None


# --- GET /queue ---------------------------------------------------------------------------------


async def test_the_queue_counts_every_status_as_numbers_for_staff(
    client: httpx.AsyncClient, db: asyncpg.Connection, staff: SignedIn, admin: SignedIn
) -> None:
    for caller in (staff, admin):
        response = await client.get("/queue", headers=caller.headers)
        assert response.status_code == 200
        body = response.json()
        assert [s["status"] for s in body["stats"]] == ["pending", "sending", "sent", "failed"]
        assert all(isinstance(s["count"], int) and not isinstance(s["count"], bool) for s in body["stats"])
        assert isinstance(body["queue_length"], int)
        counts = {s["status"]: s["count"] for s in body["stats"]}
        assert body["queue_length"] == counts["pending"] + counts["sending"]
    # Nothing is added meanwhile (delivery only moves rows between statuses): the counts add up.
    assert sum(s["count"] for s in body["stats"]) == await db.fetchval("SELECT count(*) FROM notifications")


async def test_the_queue_is_for_staff_only(client: httpx.AsyncClient, user: SignedIn) -> None:
    assert (await client.get("/queue")).status_code == 401
    assert (await client.get("/queue", headers=user.headers)).status_code == 403
    assert (await client.get("/queue", headers=SERVICE_HEADERS)).status_code == 401
