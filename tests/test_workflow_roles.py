"""Every S4 endpoint through the gateway for every caller: anonymous, the ticket's owner,
another user, staff, admin, and a client presenting the service credential (the gateway strips
it, so it is anonymous). Refusals carry `{"error"}` and change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk_fleet.fleet import Account, Fleet

pytestmark = pytest.mark.xdist_group("fleet")

ROLES = ["anonymous", "user", "other", "staff", "admin", "service"]

MATRIX: list[tuple[str, str, dict[str, Any] | None, list[int]]] = [
    ("PATCH", "/workflow/status/{id}", {"status": "in_progress"}, [401, 403, 403, 200, 200, 401]),
    ("PATCH", "/workflow/priority/{id}", {"priority": "urgent"}, [401, 403, 403, 200, 200, 401]),
    ("PATCH", "/workflow/assign/{id}", {"assigned_to": "staff"}, [401, 403, 403, 200, 200, 401]),
    ("POST", "/workflow/auto-priority/{id}", None, [401, 403, 403, 200, 200, 401]),
    ("GET", "/workflow/history/{id}", None, [401, 200, 404, 200, 200, 401]),
    ("GET", "/workflow/queue", None, [401, 403, 403, 200, 200, 401]),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
@pytest.mark.parametrize("role", ROLES)
def test_who_may_call_what_in_the_workflow(
    fleet: Fleet,
    accounts: dict[str, Account],
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: list[int],
) -> None:
    owner = accounts["user"]
    created = fleet.client(owner.token).post(
        "/tickets", json={"title": "Roles", "description": "d", "category": "other"}
    )
    ticket = created.json()
    if body == {"assigned_to": "staff"}:
        body = {"assigned_to": accounts["staff"].id}
    token = None if role in ("anonymous", "service") else accounts[role].token
    client = fleet.client(token)
    headers = {"X-Service-Token": fleet.service_token} if role == "service" else {}

    response = client.request(method, path.format(id=ticket["id"]), json=body, headers=headers)

    want = expected[ROLES.index(role)]
    assert response.status_code == want, response.text
    if want >= 400:
        assert isinstance(response.json()["error"], str)
        after = fleet.client(owner.token).get(f"/tickets/{ticket['id']}").json()
        assert after == ticket
        history = fleet.client(owner.token).get(f"/workflow/history/{ticket['id']}").json()["history"]
        assert history == []
