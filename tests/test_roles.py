"""Every endpoint of S1, S2 and the gateway, through the gateway, for every role.

"user" owns the ticket and is the subject of /auth/users/:id; "other" is a second plain user.
Refusals must carry the `{"error"}` body, and a refused write must change nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until

pytestmark = pytest.mark.xdist_group("fleet")

ROLES = ["anonymous", "user", "other", "staff", "admin"]


@pytest.fixture(scope="module")
def ticket(fleet: Fleet, accounts: dict[str, Account]) -> dict[str, Any]:
    response = fleet.client(accounts["user"].token).post(
        "/tickets", json={"title": "Printer on fire", "description": "It is on fire.", "category": "support"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _token(accounts: dict[str, Account], role: str) -> str | None:
    return None if role == "anonymous" else accounts[role].token


# (method, path template, json body, expected status per role in ROLES order)
MATRIX: list[tuple[str, str, dict[str, Any] | None, list[int]]] = [
    ("GET", "/auth/me", None, [401, 200, 200, 200, 200]),
    ("GET", "/auth/users", None, [401, 403, 403, 200, 200]),
    ("GET", "/auth/users/{user_id}", None, [401, 200, 403, 200, 200]),
    ("PATCH", "/auth/users/{other_id}/role", {"role": "user"}, [401, 403, 403, 403, 200]),
    ("GET", "/tickets", None, [401, 200, 200, 200, 200]),
    ("GET", "/tickets/{ticket_id}", None, [401, 200, 404, 200, 200]),
    ("PATCH", "/tickets/{ticket_id}", {"description": "Still on fire."}, [401, 200, 404, 200, 200]),
    ("GET", "/registry/services", None, [401, 403, 403, 403, 200]),
]


@pytest.mark.parametrize(("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX])
@pytest.mark.parametrize("role", ROLES)
def test_who_may_call_what(
    fleet: Fleet,
    accounts: dict[str, Account],
    ticket: dict[str, Any],
    role: str,
    method: str,
    template: str,
    body: dict[str, Any] | None,
    expected: list[int],
) -> None:
    path = template.format(user_id=accounts["user"].id, other_id=accounts["other"].id, ticket_id=ticket["id"])
    response = fleet.client(_token(accounts, role)).request(method, path, json=body)
    want = expected[ROLES.index(role)]
    assert response.status_code == want, response.text
    assert response.headers["x-request-id"]
    if want >= 400:
        assert isinstance(response.json()["error"], str)
    if want == 401:
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("role", ROLES)
def test_anyone_may_register_and_is_always_a_plain_user(fleet: Fleet, accounts: dict[str, Account], role: str) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    response = fleet.client(_token(accounts, role)).post(
        "/auth/register", json={"email": email, "password": "long-enough-pw", "role": "admin"}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "id": response.json()["id"],
        "email": email,
        "role": "user",
        "name": None,
        "active": True,
    }


@pytest.mark.parametrize("role", ROLES)
def test_anyone_may_create_a_ticket_only_when_signed_in(fleet: Fleet, accounts: dict[str, Account], role: str) -> None:
    title = f"ticket by {role} {uuid.uuid4().hex[:6]}"
    response = fleet.client(_token(accounts, role)).post(
        "/tickets", json={"title": title, "description": "d", "category": "Feature"}
    )
    if role == "anonymous":
        assert response.status_code == 401
        found = fleet.client(fleet.admin_token).get("/tickets", params={"q": title.split()[-1]})
        assert found.json()["tickets"] == []
        return
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["user_id"] == accounts[role].id
    assert created["category"] == "feature"
    assert (created["status"], created["priority"], created["assigned_to"]) == ("new", "medium", None)


def test_a_user_lists_only_own_tickets_and_staff_list_all(
    fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any]
) -> None:
    other_ticket = (
        fleet.client(accounts["other"].token)
        .post("/tickets", json={"title": "Other's", "description": "d", "category": "bug"})
        .json()
    )

    def listed(role: str) -> set[int]:
        response = fleet.client(accounts[role].token).get("/tickets", params={"limit": 200})
        assert response.status_code == 200
        return {t["id"] for t in response.json()["tickets"]}

    assert ticket["id"] in listed("user") and other_ticket["id"] not in listed("user")
    assert other_ticket["id"] in listed("other") and ticket["id"] not in listed("other")
    for role in ("staff", "admin"):
        assert {ticket["id"], other_ticket["id"]} <= listed(role)


def test_a_refused_edit_changes_nothing(fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any]) -> None:
    before = fleet.client(accounts["user"].token).get(f"/tickets/{ticket['id']}").json()
    refused = fleet.client(accounts["other"].token).patch(f"/tickets/{ticket['id']}", json={"title": "Hijacked"})
    assert refused.status_code == 404
    workflow_field = fleet.client(accounts["user"].token).patch(f"/tickets/{ticket['id']}", json={"status": "closed"})
    assert workflow_field.status_code == 400
    after = fleet.client(accounts["user"].token).get(f"/tickets/{ticket['id']}").json()
    assert after == before


def test_only_an_admin_changes_roles_and_the_change_reaches_new_tokens(fleet: Fleet) -> None:
    promoted = fleet.new_account("user")
    staff = fleet.new_account("staff")
    refused = fleet.client(staff.token).patch(f"/auth/users/{promoted.id}/role", json={"role": "admin"})
    assert refused.status_code == 403
    granted = fleet.client(fleet.admin_token).patch(f"/auth/users/{promoted.id}/role", json={"role": "staff"})
    assert granted.json() == {"id": promoted.id, "email": promoted.email, "role": "staff", "name": None, "active": True}
    fresh_token = fleet.login(promoted.email)
    me = fleet.client(fresh_token).get("/auth/me").json()
    assert me == {"user": {"sub": promoted.id, "role": "staff", "email": promoted.email, "name": None}}
    assert fleet.client(fresh_token).get("/auth/users").status_code == 200
    # The token issued before the change stops working everywhere (S1's token-state feed).
    poll_until(
        lambda: fleet.client(promoted.token).get("/tickets").status_code == 401,
        what="S2 to refuse the token issued before the role change",
    )


def test_the_registry_listing_shows_the_fleet_to_admins(fleet: Fleet, accounts: dict[str, Account]) -> None:
    response = fleet.client(accounts["admin"].token).get("/registry/services")
    assert response.status_code == 200
    body = response.json()
    names = {s["name"] for s in body["services"]}
    assert {"s1-auth", "s2-tickets"} <= names
    assert body["count"] == len(body["services"])
