"""Every conversation route x every role, through the gateway: anonymous, the owner, another
user, staff, admin; and bad bodies, which are 400 and write nothing."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk_fleet.fleet import Account, Fleet

pytestmark = pytest.mark.xdist_group("fleet")

ROLES = ["anonymous", "owner", "other", "staff", "admin"]
# The comment each case works on is the owner's own fresh reply.
EXPECTED: dict[str, dict[str, int]] = {
    "post reply": {"anonymous": 401, "owner": 201, "other": 404, "staff": 201, "admin": 201},
    "post note": {"anonymous": 401, "owner": 403, "other": 404, "staff": 201, "admin": 201},
    "list": {"anonymous": 401, "owner": 200, "other": 404, "staff": 200, "admin": 200},
    "timeline": {"anonymous": 401, "owner": 200, "other": 404, "staff": 200, "admin": 200},
    "edit": {"anonymous": 401, "owner": 200, "other": 404, "staff": 403, "admin": 403},
    "delete": {"anonymous": 401, "owner": 200, "other": 404, "staff": 403, "admin": 200},
}


@pytest.fixture(scope="module")
def owned(fleet: Fleet, accounts: dict[str, Account]) -> int:
    created = fleet.client(accounts["user"].token).post(
        "/tickets", json={"title": "Roles", "description": "A ticket for the matrix.", "category": "other"}
    )
    assert created.status_code == 201, created.text
    ticket_id: int = created.json()["id"]
    return ticket_id


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list(EXPECTED))
def test_route_by_role(fleet: Fleet, accounts: dict[str, Account], owned: int, route: str, role: str) -> None:
    owner = fleet.client(accounts["user"].token)
    setup = owner.post(f"/tickets/{owned}/comments", json={"body": f"{route} {role}"})
    assert setup.status_code == 201, setup.text
    comment_id = setup.json()["id"]
    caller = fleet.client(None if role == "anonymous" else accounts["user" if role == "owner" else role].token)
    base = f"/tickets/{owned}"
    requests: dict[str, tuple[str, str, Any]] = {
        "post reply": ("POST", f"{base}/comments", {"body": "Reply"}),
        "post note": ("POST", f"{base}/comments", {"body": "Note", "internal": True}),
        "list": ("GET", f"{base}/comments", None),
        "timeline": ("GET", f"{base}/timeline", None),
        "edit": ("PATCH", f"{base}/comments/{comment_id}", {"body": "Edited"}),
        "delete": ("DELETE", f"{base}/comments/{comment_id}", None),
    }
    method, path, body = requests[route]

    response = caller.request(method, path, json=body)

    assert response.status_code == EXPECTED[route][role], response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}
        stored = [c for c in owner.get(f"{base}/comments", params={"limit": 200}).json()["comments"]]
        assert [(c["id"], c["body"]) for c in stored if c["id"] == comment_id] == [(comment_id, f"{route} {role}")]


@pytest.mark.parametrize(
    "content",
    [
        b'{"body": ""}',
        ('{"body": "' + "x" * 20_001 + '"}').encode(),
        b'{"body": 7}',
        b'{"body": "a", "internal": "yes"}',
        b'{"body": "a"',
        b"[]",
    ],
    ids=["empty", "20001", "number", "internal-string", "malformed", "array"],
)
def test_bad_bodies_are_400_and_nothing_is_written(
    fleet: Fleet, accounts: dict[str, Account], owned: int, content: bytes
) -> None:
    staff = fleet.client(accounts["staff"].token)
    before = staff.get(f"/tickets/{owned}").json()["comment_count"]

    response = staff.post(f"/tickets/{owned}/comments", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert staff.get(f"/tickets/{owned}").json()["comment_count"] == before
