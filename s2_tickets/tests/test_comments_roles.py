"""Every conversation route x every caller: anonymous, the owner, another user, staff, admin,
and the service credential alone (a comment always has a person as its author)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN

from .conftest import Caller, new_caller

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]
ROLES = ["anonymous", "service", "owner", "other_user", "staff", "admin"]


def headers_of(role: str, owner: Caller, staff_author: Caller) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "service":
        return {"X-Service-Token": TEST_SERVICE_TOKEN}
    if role == "owner":
        return owner.headers
    return new_caller({"other_user": "user", "staff": "staff", "admin": "admin"}[role]).headers


# route -> expected status per role. The comment written by the setup is the owner's own
# public reply (so only the owner is its author; admins may delete it).
EXPECTED: dict[str, dict[str, int]] = {
    "post reply": {"anonymous": 401, "service": 401, "owner": 201, "other_user": 404, "staff": 201, "admin": 201},
    "post note": {"anonymous": 401, "service": 401, "owner": 403, "other_user": 404, "staff": 201, "admin": 201},
    "list": {"anonymous": 401, "service": 401, "owner": 200, "other_user": 404, "staff": 200, "admin": 200},
    "timeline": {"anonymous": 401, "service": 401, "owner": 200, "other_user": 404, "staff": 200, "admin": 200},
    "edit": {"anonymous": 401, "service": 401, "owner": 200, "other_user": 404, "staff": 403, "admin": 403},
    "delete": {"anonymous": 401, "service": 401, "owner": 200, "other_user": 404, "staff": 403, "admin": 200},
    "get preferences": {"anonymous": 401, "service": 401, "owner": 200, "other_user": 200, "staff": 200, "admin": 200},
    "put preferences": {"anonymous": 401, "service": 401, "owner": 200, "other_user": 200, "staff": 200, "admin": 200},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list(EXPECTED))
async def test_route_by_role(
    client: httpx.AsyncClient, create_ticket: CreateTicket, user: Caller, staff: Caller, route: str, role: str
) -> None:
    ticket = await create_ticket(user)
    setup = await client.post(f"/{ticket['id']}/comments", json={"body": "Mine"}, headers=user.headers)
    assert setup.status_code == 201
    comment_id = setup.json()["id"]
    headers = headers_of(role, user, staff)
    base = f"/{ticket['id']}"
    requests: dict[str, tuple[str, str, Any]] = {
        "post reply": ("POST", f"{base}/comments", {"body": "Reply"}),
        "post note": ("POST", f"{base}/comments", {"body": "Note", "internal": True}),
        "list": ("GET", f"{base}/comments", None),
        "timeline": ("GET", f"{base}/timeline", None),
        "edit": ("PATCH", f"{base}/comments/{comment_id}", {"body": "Edited"}),
        "delete": ("DELETE", f"{base}/comments/{comment_id}", None),
        "get preferences": ("GET", "/preferences", None),
        "put preferences": ("PUT", "/preferences", {"email_replies": True}),
    }
    method, path, body = requests[route]

    response = await client.request(method, path, json=body, headers=headers)

    assert response.status_code == EXPECTED[route][role], response.text
    assert set(response.json()) >= ({"error"} if response.status_code >= 400 else set())
    # Whatever was refused left the thread as it was.
    thread = await client.get(f"{base}/comments", headers=staff.headers)
    comments = thread.json()["comments"]
    if response.status_code >= 400:
        assert [(c["id"], c["body"]) for c in comments] == [(comment_id, "Mine")]
