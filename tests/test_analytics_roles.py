"""Every S7 and S8 endpoint, for every role: through the gateway as anonymous, the ticket's
owner, another user, staff and admin, and straight to the service with the service credential
(the gateway strips that header from clients, so through it a service credential is nobody).
A refused call writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpdesk_fleet.fleet import Account, Fleet
from tests.analytics_support import apply_workflow_migrations, feedback_rows, ticket_in_status

pytestmark = pytest.mark.xdist_group("fleet")

ROLES = ["anonymous", "user", "other", "staff", "admin", "service"]
UPSTREAM = {"analytics": "s7-analytics", "feedback": "s8-feedback"}


@pytest.fixture(scope="module")
def rated(fleet: Fleet, accounts: dict[str, Account]) -> dict[str, Any]:
    """A resolved ticket of "user", rated by them."""
    apply_workflow_migrations(fleet)
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    response = fleet.client(accounts["user"].token).post("/feedback", json={"ticket_id": ticket["id"], "rating": 4})
    assert response.status_code == 201, response.text
    return {"ticket": ticket, "feedback": response.json()}


def call(
    fleet: Fleet, accounts: dict[str, Account], role: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    if role == "service":
        prefix, _, rest = path.lstrip("/").partition("/")
        url = f"{fleet.processes[UPSTREAM[prefix]].url}/{rest}"
        return httpx.request(method, url, json=body, headers={"X-Service-Token": fleet.service_token}, timeout=10)
    token = None if role == "anonymous" else accounts[role].token
    return fleet.client(token).request(method, path, json=body)


# (method, path template, expected status per role in ROLES order)
READS: list[tuple[str, str, list[int]]] = [
    ("GET", "/analytics/metrics", [401, 403, 403, 200, 200, 401]),
    ("GET", "/analytics/dashboard", [401, 403, 403, 200, 200, 401]),
    ("GET", "/analytics/tickets/stats", [401, 403, 403, 200, 200, 401]),
    ("GET", "/analytics/feedback/stats", [401, 403, 403, 200, 200, 401]),
    ("GET", "/analytics/export.csv?from=2001-01-01&to=2001-01-02", [401, 403, 403, 200, 200, 401]),
    ("POST", "/analytics/refresh", [401, 403, 403, 200, 200, 200]),
    ("GET", "/feedback/ticket/{ticket_id}", [401, 200, 404, 200, 200, 401]),
    ("GET", "/feedback/user/{user_id}", [401, 200, 403, 200, 200, 401]),
    ("GET", "/feedback/stats", [401, 403, 403, 200, 200, 401]),
]


@pytest.mark.parametrize(("method", "template", "expected"), READS, ids=[f"{m} {t}" for m, t, _ in READS])
@pytest.mark.parametrize("role", ROLES)
def test_who_may_read_what(
    fleet: Fleet,
    accounts: dict[str, Account],
    rated: dict[str, Any],
    role: str,
    method: str,
    template: str,
    expected: list[int],
) -> None:
    path = template.format(ticket_id=rated["ticket"]["id"], user_id=accounts["user"].id)
    response = call(fleet, accounts, role, method, path)
    want = expected[ROLES.index(role)]
    assert response.status_code == want, response.text
    if want >= 400:
        assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize(("role", "want"), list(zip(ROLES, [401, 201, 404, 403, 403, 401], strict=True)))
def test_who_may_rate(fleet: Fleet, accounts: dict[str, Account], role: str, want: int) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    response = call(fleet, accounts, role, "POST", "/feedback/", {"ticket_id": ticket["id"], "rating": 5})
    assert response.status_code == want, response.text
    assert len(feedback_rows(fleet, ticket["id"])) == (1 if want == 201 else 0)


@pytest.mark.parametrize(("role", "want"), list(zip(ROLES, [401, 200, 404, 200, 200, 401], strict=True)))
def test_who_may_delete_a_rating(fleet: Fleet, accounts: dict[str, Account], role: str, want: int) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    created = fleet.client(accounts["user"].token).post("/feedback", json={"ticket_id": ticket["id"], "rating": 2})
    feedback_id = created.json()["id"]
    response = call(fleet, accounts, role, "DELETE", f"/feedback/{feedback_id}")
    assert response.status_code == want, response.text
    assert len(feedback_rows(fleet, ticket["id"])) == (0 if want == 200 else 1)


@pytest.mark.parametrize("path", ["/analytics/refresh", "/feedback/stats"])
def test_a_service_credential_sent_through_the_gateway_counts_for_nothing(fleet: Fleet, path: str) -> None:
    method = "POST" if path.endswith("refresh") else "GET"
    response = fleet.client().request(method, path, headers={"X-Service-Token": fleet.service_token})
    assert response.status_code == 401, response.text
