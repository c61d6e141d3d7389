"""Every S6 endpoint x every role, through the gateway (and the service credential straight to
S6, since the gateway strips it from client requests), and bad bodies that change nothing.

"user" is the recipient (and owner) of the notifications; "other" is a second plain user.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpdesk_fleet.fleet import Account, Fleet

pytestmark = pytest.mark.xdist_group("fleet")

ROLES = ["anonymous", "user", "other", "staff", "admin", "service"]


@pytest.fixture(scope="module")
def in_app(fleet: Fleet, accounts: dict[str, Account]) -> dict[str, Any]:
    body = {"user_id": accounts["user"].id, "type": "ticket_assigned", "channel": "in_app", "message": "Roles."}
    response = fleet.client(accounts["staff"].token).post("/notifications/notify", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _headers(fleet: Fleet, accounts: dict[str, Account], role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "service":
        return {"X-Service-Token": fleet.service_token}
    return {"Authorization": f"Bearer {accounts[role].token}"}


def _alert(user_id: int) -> dict[str, Any]:
    return {"user_id": user_id, "type": "test_alert", "channel": "in_app", "message": "Is this thing on?"}


# (method, path, body, expected per role in ROLES order); "service" through the gateway is
# always 401: the gateway drops X-Service-Token, so no client can pass for a service.
MATRIX: list[tuple[str, str, Any, list[int]]] = [
    ("POST", "/notify", "alert to user", [401, 201, 403, 201, 201, 401]),
    ("POST", "/notify", "assignment to user", [401, 403, 403, 201, 201, 401]),
    ("GET", "/history/{user_id}", None, [401, 200, 403, 200, 200, 401]),
    ("GET", "/queue", None, [401, 403, 403, 200, 200, 401]),
    ("PATCH", "/{notification_id}/read", None, [401, 200, 404, 404, 404, 401]),
    ("POST", "/stream/ticket", None, [401, 201, 201, 201, 201, 401]),
    ("GET", "/stream", None, [401, 200, 200, 200, 200, 401]),
]
# The same straight to S6 with the service credential: what S4's relay and other services get.
DIRECT_SERVICE = {
    ("POST", "alert to user"): 201,
    ("POST", "assignment to user"): 201,
    ("GET", "/history/{user_id}"): 401,
    ("GET", "/queue"): 401,
    ("PATCH", "/{notification_id}/read"): 401,
    ("POST", "/stream/ticket"): 401,
    ("GET", "/stream"): 401,
}


def _body(accounts: dict[str, Account], body: Any) -> Any:
    if body == "alert to user":
        return _alert(accounts["user"].id)
    if body == "assignment to user":
        return _alert(accounts["user"].id) | {"type": "ticket_assigned"}
    return body


def _call(client: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    if path.endswith("/stream"):
        # An open stream never ends: read the body of refusals only, then hang up.
        with client.stream(method, path, headers=headers) as response:
            if response.status_code != 200:
                response.read()
            return response
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(
    ("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t} {b or ''}" for m, t, b, _ in MATRIX]
)
@pytest.mark.parametrize("role", ROLES)
def test_who_may_call_what(
    fleet: Fleet,
    accounts: dict[str, Account],
    in_app: dict[str, Any],
    role: str,
    method: str,
    template: str,
    body: Any,
    expected: list[int],
) -> None:
    path = "/notifications" + template.format(user_id=accounts["user"].id, notification_id=in_app["id"])
    with httpx.Client(base_url=fleet.gateway_url, timeout=10) as client:
        response = _call(client, method, path, _body(accounts, body), _headers(fleet, accounts, role))
    want = expected[ROLES.index(role)]
    assert response.status_code == want, response.text if want != 200 or not path.endswith("/stream") else ""
    assert response.headers["x-request-id"]
    if want >= 400:
        assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize(
    ("method", "template", "body", "_expected"), MATRIX, ids=[f"{m} {t} {b or ''}" for m, t, b, _ in MATRIX]
)
def test_the_service_credential_straight_to_s6(
    fleet: Fleet,
    accounts: dict[str, Account],
    in_app: dict[str, Any],
    method: str,
    template: str,
    body: Any,
    _expected: list[int],
) -> None:
    s6 = fleet.processes["s6-notifications"].url
    path = template.format(user_id=accounts["user"].id, notification_id=in_app["id"])
    with httpx.Client(base_url=s6, timeout=10) as client:
        response = _call(client, method, path, _body(accounts, body), {"X-Service-Token": fleet.service_token})
    assert response.status_code == DIRECT_SERVICE[(method, body or template)], response.text


BAD_BODIES: list[tuple[str, bytes]] = [
    ("unknown type", b'{"user_id": %d, "type": "party", "channel": "in_app", "message": "m"}'),
    ("unknown channel", b'{"user_id": %d, "type": "test_alert", "channel": "fax", "message": "m"}'),
    ("missing message", b'{"user_id": %d, "type": "test_alert", "channel": "in_app"}'),
    ("missing type", b'{"user_id": %d, "channel": "in_app", "message": "m"}'),
    ("user_id as a string", b'{"user_id": "%d", "type": "test_alert", "channel": "in_app", "message": "m"}'),
    ("message as a number", b'{"user_id": %d, "type": "test_alert", "channel": "in_app", "message": 7}'),
    ("malformed JSON", b'{"user_id": %d, "type": '),
]


@pytest.mark.parametrize(("why", "template"), BAD_BODIES, ids=[why for why, _ in BAD_BODIES])
@pytest.mark.parametrize("role", ["user", "staff"])
def test_bad_bodies_are_400_and_change_nothing(
    fleet: Fleet, accounts: dict[str, Account], role: str, why: str, template: bytes
) -> None:
    user = accounts["user"]
    before = fleet.client(accounts["staff"].token).get(f"/notifications/history/{user.id}", params={"limit": 200})
    response = fleet.client(accounts[role].token).post(
        "/notifications/notify", content=template % user.id, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, (why, response.text)
    assert isinstance(response.json()["error"], str)
    after = fleet.client(accounts["staff"].token).get(f"/notifications/history/{user.id}", params={"limit": 200})
    assert [n["id"] for n in after.json()["notifications"]] == [n["id"] for n in before.json()["notifications"]]


def test_a_refused_notify_stores_nothing(fleet: Fleet, accounts: dict[str, Account]) -> None:
    other = accounts["other"]
    before = fleet.client(other.token).get(f"/notifications/history/{other.id}").json()["notifications"]
    refused = fleet.client(accounts["user"].token).post("/notifications/notify", json=_alert(other.id))
    assert refused.status_code == 403
    assert fleet.client(other.token).get(f"/notifications/history/{other.id}").json()["notifications"] == before
