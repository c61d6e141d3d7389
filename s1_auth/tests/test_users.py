"""GET /me, GET /users (staff) and GET /users/{id} (staff, or self), for every kind of caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
