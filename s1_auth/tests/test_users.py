"""GET /me, GET /users (staff) and GET /users/{id} (staff, or self), for every kind of caller."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.pagination import encode_cursor
from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN

from .conftest import Account

NewAccount = Callable[..., Awaitable[Account]]


# --- /me ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["user", "staff", "admin"])
async def test_me_describes_the_caller_from_the_token(
    client: httpx.AsyncClient, user: Account, staff: Account, admin: Account, who: str
) -> None:
    caller = {"user": user, "staff": staff, "admin": admin}[who]

    response = await client.get("/me", headers=caller.headers)

    assert response.status_code == 200
    assert response.json() == {"user": {"sub": caller.id, "role": who, "email": caller.email, "name": None}}
    assert isinstance(response.json()["user"]["sub"], int)


async def test_me_is_401_anonymously(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")

    assert response.status_code == 401
    assert set(response.json()) == {"error"}


# --- /users ---------------------------------------------------------------------------------


async def _all_pages(client: httpx.AsyncClient, caller: Account, **params: Any) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = dict(params) | ({"cursor": cursor} if cursor else {})
        response = await client.get("/users", params=query, headers=caller.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        users.extend(page["users"])
        cursor = page["next_cursor"]
        if cursor is None:
            return users


@pytest.mark.parametrize("who", ["staff", "admin"])
async def test_staff_list_users(
    client: httpx.AsyncClient, user: Account, staff: Account, admin: Account, who: str
) -> None:
    caller = staff if who == "staff" else admin

    response = await client.get("/users", headers=caller.headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"users", "next_cursor"}
    for listed in body["users"]:
        assert set(listed) == {"id", "email", "role", "name", "active"}
    everyone = await _all_pages(client, caller)
    by_id = {u["id"]: u for u in everyone}
    assert by_id[user.id] == {"id": user.id, "email": user.email, "role": "user", "name": None, "active": True}
    assert by_id[staff.id]["role"] == "staff"
    assert by_id[admin.id]["role"] == "admin"
    ids = [u["id"] for u in everyone]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


async def test_a_user_may_not_list_users(client: httpx.AsyncClient, user: Account) -> None:
    response = await client.get("/users", headers=user.headers)

    assert response.status_code == 403
    assert set(response.json()) == {"error"}


async def test_listing_is_401_anonymously(client: httpx.AsyncClient) -> None:
    assert (await client.get("/users")).status_code == 401


@pytest.mark.parametrize("role", ["user", "staff", "admin"])
async def test_the_role_filter(
    client: httpx.AsyncClient, user: Account, staff: Account, admin: Account, role: str
) -> None:
    listed = await _all_pages(client, staff, role=role)

    assert listed and all(u["role"] == role for u in listed)
    assert {"user": user.id, "staff": staff.id, "admin": admin.id}[role] in {u["id"] for u in listed}


async def test_pages_follow_each_other_without_gaps_or_repeats(
    client: httpx.AsyncClient, staff: Account, new_account: NewAccount
) -> None:
    mine = {(await new_account("user")).id for _ in range(5)}

    whole = await _all_pages(client, staff)
    paged = await _all_pages(client, staff, limit=2)

    assert [u["id"] for u in paged] == [u["id"] for u in whole]
    assert mine <= {u["id"] for u in paged}


async def test_the_default_page_is_50(client: httpx.AsyncClient, staff: Account, new_account: NewAccount) -> None:
    while len(await _all_pages(client, staff)) <= 50:
        await new_account("user")

    response = await client.get("/users", headers=staff.headers)

    assert len(response.json()["users"]) == 50
    assert response.json()["next_cursor"] is not None


@pytest.mark.parametrize(
    "params",
    [
        {"role": "superuser"},
        {"role": "ADMIN"},
        {"role": ""},
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": encode_cursor("abc")},
        {"cursor": encode_cursor(1, 2)},
        {"cursor": encode_cursor(2**40)},
        {"cursor": encode_cursor(-5)},
        {"cursor": "x" * 600},
    ],
    ids=lambda p: "-".join(f"{k}={str(v)[:12]}" for k, v in p.items()),
)
async def test_bad_query_parameters_are_400(client: httpx.AsyncClient, staff: Account, params: dict[str, str]) -> None:
    response = await client.get("/users", params=params, headers=staff.headers)

    assert response.status_code == 400
    assert "error" in response.json()


# --- /users/{id} ----------------------------------------------------------------------------


async def test_a_user_may_read_themselves(client: httpx.AsyncClient, user: Account) -> None:
    response = await client.get(f"/users/{user.id}", headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {"id": user.id, "email": user.email, "role": "user", "name": None, "active": True}


async def test_a_user_may_not_read_another_user(client: httpx.AsyncClient, user: Account, other_user: Account) -> None:
    response = await client.get(f"/users/{other_user.id}", headers=user.headers)

    assert response.status_code == 403
    assert set(response.json()) == {"error"}


async def test_a_user_asking_for_an_unknown_id_gets_403_not_404(client: httpx.AsyncClient, user: Account) -> None:
    """404 would tell a user which ids exist."""
    response = await client.get("/users/2147483647", headers=user.headers)

    assert response.status_code == 403


@pytest.mark.parametrize("who", ["staff", "admin"])
async def test_staff_read_anyone(
    client: httpx.AsyncClient, user: Account, staff: Account, admin: Account, who: str
) -> None:
    caller = staff if who == "staff" else admin

    response = await client.get(f"/users/{user.id}", headers=caller.headers)

    assert response.status_code == 200
    assert response.json() == {"id": user.id, "email": user.email, "role": "user", "name": None, "active": True}


async def test_an_unknown_id_is_404_for_staff(client: httpx.AsyncClient, staff: Account) -> None:
    response = await client.get("/users/2147483647", headers=staff.headers)

    assert response.status_code == 404
    assert set(response.json()) == {"error"}


async def test_reading_a_user_is_401_anonymously(client: httpx.AsyncClient, user: Account) -> None:
    assert (await client.get(f"/users/{user.id}")).status_code == 401


async def test_another_service_reads_a_user_with_the_service_credential(
    client: httpx.AsyncClient, user: Account
) -> None:
    """S4 checks an assignee's role and S6 finds a recipient's address this way."""
    response = await client.get(f"/users/{user.id}", headers={"X-Service-Token": TEST_SERVICE_TOKEN})
    assert response.status_code == 200
    assert response.json() == {"id": user.id, "email": user.email, "role": "user", "name": None, "active": True}
    missing = await client.get("/users/2147483647", headers={"X-Service-Token": TEST_SERVICE_TOKEN})
    assert missing.status_code == 404


async def test_a_wrong_service_credential_is_401(client: httpx.AsyncClient, user: Account) -> None:
    response = await client.get(f"/users/{user.id}", headers={"X-Service-Token": "not-the-credential"})
    assert response.status_code == 401


BAD_IDS = ["abc", "0", "-1", "1.5", "2147483648", "99999999999999999999999", "1e3", "%20"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("who", ["user", "staff"])
async def test_a_bad_id_is_400(client: httpx.AsyncClient, user: Account, staff: Account, bad_id: str, who: str) -> None:
    caller = user if who == "user" else staff

    response = await client.get(f"/users/{bad_id}", headers=caller.headers)

    assert response.status_code == 400
    assert "error" in response.json()


# --- search, filters and the batch lookup -------------------------------------------------------


async def named(client: httpx.AsyncClient, name: str | None, email_prefix: str = "person") -> dict[str, Any]:
    email = f"{email_prefix}-{uuid.uuid4().hex[:10]}@{uuid.uuid4().hex[:6]}.example.com"
    response = await client.post("/register", json={"email": email, "password": "long-enough", "name": name})
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def found(client: httpx.AsyncClient, caller: Account, **params: Any) -> list[int]:
    return [u["id"] for u in await _all_pages(client, caller, **params)]


async def test_search_matches_the_beginnings_of_words_of_the_name_or_the_address(
    client: httpx.AsyncClient, staff: Account
) -> None:
    marker = "zq" + uuid.uuid4().hex[:8]
    ada = await named(client, f"Ada {marker}ova")
    grace = await named(client, f"Grace {marker}er", email_prefix=f"{marker}hop")
    await named(client, "Someone Else")

    assert await found(client, staff, q=marker) == [ada["id"], grace["id"]]
    assert await found(client, staff, q=f"ada {marker}") == [ada["id"]]
    assert await found(client, staff, q=f"{marker.upper()}HOP") == [grace["id"]]  # the address, any case
    domain = grace["email"].split("@")[1].split(".")[0]
    assert await found(client, staff, q=domain) == [grace["id"]]
    assert await found(client, staff, q=grace["email"]) == [grace["id"]]  # a whole address too
    assert await found(client, staff, q=f"{marker} nobodyatall") == []


async def test_search_combines_with_the_role_and_active_filters_and_pages(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: Account
) -> None:
    marker = "zr" + uuid.uuid4().hex[:8]
    people = [await named(client, f"{marker} {n}") for n in range(5)]
    await client.patch(f"/users/{people[0]['id']}/role", json={"role": "staff"}, headers=admin.headers)
    await client.patch(f"/users/{people[1]['id']}/active", json={"active": False}, headers=admin.headers)

    assert await found(client, admin, q=marker, role="staff") == [people[0]["id"]]
    assert await found(client, admin, q=marker, active="false") == [people[1]["id"]]
    assert await found(client, admin, q=marker, active="true", limit=2) == [
        p["id"] for p in people if p is not people[1]
    ]


@pytest.mark.parametrize("q", ["", "   ", "@", "&|!():*'\\", "a" * 100])
async def test_search_text_is_never_an_error(client: httpx.AsyncClient, staff: Account, q: str) -> None:
    response = await client.get("/users", params={"q": q}, headers=staff.headers)

    assert response.status_code == 200


@pytest.mark.parametrize("q", ["a\x00b", "line\nbreak", "\x7f"])
async def test_search_text_with_control_characters_is_a_400(client: httpx.AsyncClient, staff: Account, q: str) -> None:
    response = await client.get("/users", params={"q": q}, headers=staff.headers)

    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "q"


@pytest.mark.parametrize("who", ["staff", "service"])
async def test_a_batch_of_ids_in_one_call(
    client: httpx.AsyncClient, user: Account, other_user: Account, staff: Account, who: str
) -> None:
    """S2 names the requesters of a page of tickets with one such call."""
    headers = staff.headers if who == "staff" else {"X-Service-Token": TEST_SERVICE_TOKEN}
    ids = f"{other_user.id},{user.id},2147483647,{user.id}"

    response = await client.get("/users", params={"ids": ids, "limit": 200}, headers=headers)

    assert response.status_code == 200
    assert [u["id"] for u in response.json()["users"]] == sorted([user.id, other_user.id])
    assert response.json()["next_cursor"] is None


async def test_200_ids_at_once_are_accepted(client: httpx.AsyncClient, staff: Account) -> None:
    ids = ",".join(str(i) for i in range(1, 201))

    assert (await client.get("/users", params={"ids": ids, "limit": 200}, headers=staff.headers)).status_code == 200


@pytest.mark.parametrize(
    "ids", ["", "a", "1,,2", "1;2", "0", "-1", "1.5", "2147483648", ",".join(["1"] * 201), " "], ids=repr
)
async def test_bad_ids_are_400(client: httpx.AsyncClient, staff: Account, ids: str) -> None:
    response = await client.get("/users", params={"ids": ids}, headers=staff.headers)

    assert response.status_code == 400
    assert "ids" in {d["field"] for d in response.json()["details"]}


@pytest.mark.parametrize("params", [{"active": "maybe"}, {"q": "x" * 101}])
async def test_other_bad_filters_are_400(client: httpx.AsyncClient, staff: Account, params: dict[str, str]) -> None:
    assert (await client.get("/users", params=params, headers=staff.headers)).status_code == 400


async def test_the_service_credential_lists_users_but_a_user_may_not(client: httpx.AsyncClient, user: Account) -> None:
    assert (await client.get("/users", headers={"X-Service-Token": TEST_SERVICE_TOKEN})).status_code == 200
    assert (await client.get("/users", params={"ids": str(user.id)}, headers=user.headers)).status_code == 403
