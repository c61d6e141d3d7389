"""S2's accounts-era features through the gateway, with the real S1: ETag and If-Match (and
the CORS header that lets the web client read the ETag), search by prefix and by ticket number,
staff's ?user_id= filter, and requester names asked from S1."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from helpdesk_fleet.fleet import Account, Fleet
from tests.conftest import WEBCLIENT_ORIGIN

pytestmark = pytest.mark.xdist_group("fleet")


@pytest.fixture(scope="module")
def requester(fleet: Fleet) -> Account:
    account = fleet.new_account("user")
    named = fleet.client(account.token).patch("/auth/me", json={"name": "Grace Hopper"})
    assert named.status_code == 200, named.text
    return account


@pytest.fixture(scope="module")
def marker() -> str:
    return "zq" + uuid.uuid4().hex[:8] + "printer"


@pytest.fixture(scope="module")
def ticket(fleet: Fleet, requester: Account, marker: str) -> dict[str, Any]:
    response = fleet.client(requester.token).post(
        "/tickets", json={"title": f"The {marker} jams", "description": "Paper everywhere.", "category": "support"}
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    body: dict[str, Any] = response.json()
    return body


def test_a_stale_if_match_is_412_through_the_gateway_and_changes_nothing(
    fleet: Fleet, accounts: dict[str, Account], requester: Account, ticket: dict[str, Any]
) -> None:
    owner, staff = fleet.client(requester.token), fleet.client(accounts["staff"].token)
    read = owner.get(f"/tickets/{ticket['id']}")
    etag = read.headers["etag"]

    first = staff.patch(
        f"/tickets/{ticket['id']}", json={"description": "Staff wrote this."}, headers={"If-Match": etag}
    )
    second = owner.patch(
        f"/tickets/{ticket['id']}", json={"description": "Owner wrote this."}, headers={"If-Match": etag}
    )

    assert first.status_code == 200, first.text
    assert second.status_code == 412, second.text
    assert set(second.json()) == {"error"}
    assert second.headers["etag"] == first.headers["etag"] != etag
    assert owner.get(f"/tickets/{ticket['id']}").json()["description"] == "Staff wrote this."
    # Without If-Match (the original clients) the edit still applies.
    plain = owner.patch(f"/tickets/{ticket['id']}", json={"description": "Owner wrote this."})
    assert plain.status_code == 200


def test_a_workflow_change_moves_the_etag(
    fleet: Fleet, accounts: dict[str, Account], requester: Account, ticket: dict[str, Any]
) -> None:
    owner = fleet.client(requester.token)
    before = owner.get(f"/tickets/{ticket['id']}").headers["etag"]
    moved = fleet.client(accounts["staff"].token).patch(
        f"/workflow/priority/{ticket['id']}", json={"priority": "urgent"}
    )
    assert moved.status_code == 200, moved.text

    late = owner.patch(f"/tickets/{ticket['id']}", json={"title": "Late"}, headers={"If-Match": before})

    assert late.status_code == 412


def test_the_web_client_may_read_the_etag(fleet: Fleet, requester: Account, ticket: dict[str, Any]) -> None:
    response = fleet.client(requester.token).get(f"/tickets/{ticket['id']}", headers={"Origin": WEBCLIENT_ORIGIN})

    assert "etag" in response.headers.get("access-control-expose-headers", "").lower()


def test_search_by_prefix_and_by_number(
    fleet: Fleet, accounts: dict[str, Account], requester: Account, ticket: dict[str, Any], marker: str
) -> None:
    owner, other = fleet.client(requester.token), fleet.client(accounts["other"].token)

    def found(client: Any, q: str) -> list[int]:
        response = client.get("/tickets", params={"q": q})
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["tickets"]]

    assert found(owner, marker[:-2]) == [ticket["id"]]  # the word being typed
    assert ticket["id"] in found(owner, f"#{ticket['id']}")
    assert found(other, f"#{ticket['id']}") == []  # not theirs to see


def test_staff_see_the_requester_named_by_s1_and_filter_by_requester(
    fleet: Fleet, accounts: dict[str, Account], requester: Account, ticket: dict[str, Any]
) -> None:
    staff = fleet.client(accounts["staff"].token)

    listing = staff.get("/tickets", params={"user_id": requester.id})
    one = staff.get(f"/tickets/{ticket['id']}")
    own = fleet.client(requester.token).get("/tickets")

    assert listing.status_code == 200, listing.text
    assert {t["user_id"] for t in listing.json()["tickets"]} == {requester.id}
    expected = {"name": "Grace Hopper", "email": requester.email, "lookup": "ok"}
    assert listing.json()["tickets"][0]["requester"] == expected
    assert one.json()["requester"] == expected
    assert all("requester" not in t for t in own.json()["tickets"])


def test_a_user_asking_for_someone_elses_tickets_gets_none(
    fleet: Fleet, accounts: dict[str, Account], requester: Account, ticket: dict[str, Any]
) -> None:
    response = fleet.client(accounts["other"].token).get("/tickets", params={"user_id": requester.id})

    assert response.status_code == 200
    assert response.json() == {"tickets": [], "next_cursor": None}
