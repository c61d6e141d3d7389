"""Who may call what: every route of every service, through the gateway, for every caller.

The routes are read from each service's own OpenAPI document (and the gateway's), so a route
added without a row here fails `test_every_route_has_a_row`. Each row holds the status the
contract (docs/api.md) gives each caller; `test_the_matrix` runs every cell and prints every
cell that differs, then fails if any did.

Callers: anonymous; the owner of the resources (a plain user); another plain user; staff;
admin; the service credential sent to the gateway (which drops it: through the gateway a
service credential is nobody, so its column reads like the anonymous one); and, for every
route that refuses anonymous callers, forged tokens (`test_forged_tokens_are_refused`).

Bodies are chosen so that a cell changes nothing that other tests rely on: where the owner
matters the body is valid (the same value again, or a fresh resource made for that cell), so
"another user" meets the ownership check rather than validation; elsewhere an allowed caller
gets the route's 400 for a body it refuses, which shows that authorization let it through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from helpdesk_fleet.fleet import PASSWORD, Account, Fleet

from .openapi_routes import documented_operations, gateway_path

pytestmark = pytest.mark.xdist_group("fleet")

CALLERS = ("anonymous", "owner", "other", "staff", "admin", "service")
PUBLIC = dict.fromkeys(CALLERS, 200)


def expect(anonymous: int, owner: int, other: int, staff: int, admin: int) -> dict[str, int]:
    # Through the gateway a service credential is dropped: the service caller is anonymous.
    return {
        "anonymous": anonymous,
        "owner": owner,
        "other": other,
        "staff": staff,
        "admin": admin,
        "service": anonymous,
    }


USERS = expect(401, 200, 200, 200, 200)
STAFF = expect(401, 403, 403, 200, 200)
NOBODY = dict.fromkeys(CALLERS, 401)  # a service's own route: the gateway never passes the credential


@dataclass
class World:
    """What the cells act on: the owner's ticket with an attachment, a notification and a
    rating, and ways to make fresh ones for the cells that destroy what they touch."""

    fleet: Fleet
    owner: Account
    other: Account
    staff: Account
    admin: Account
    ticket_id: int = 0
    file_id: int = 0
    notification_id: int = 0
    rated_ticket_id: int = 0
    feedback_id: int = 0
    comment_id: int = 0
    # One client (and its kept-alive connections) for every cell; headers per request.
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.fleet.client()

    def as_owner(self) -> httpx.Client:
        return self.fleet.client(self.owner.token)

    def new_ticket(self) -> int:
        response = self.as_owner().post(
            "/tickets", json={"title": "Matrix", "description": "A ticket for the matrix.", "category": "support"}
        )
        assert response.status_code == 201, response.text
        ticket_id: int = response.json()["id"]
        return ticket_id

    def new_file(self) -> int:
        response = self.as_owner().post(
            "/media/upload",
            files={"ticket_id": (None, str(self.ticket_id)), "file": ("notes.txt", b"plain notes\n", "text/plain")},
        )
        assert response.status_code == 201, response.text
        file_id: int = response.json()["id"]
        return file_id

    def new_comment(self) -> int:
        response = self.as_owner().post(f"/tickets/{self.ticket_id}/comments", json={"body": "A matrix reply."})
        assert response.status_code == 201, response.text
        comment_id: int = response.json()["id"]
        return comment_id

    def new_resolved_ticket(self) -> int:
        ticket_id = self.new_ticket()
        staff = self.fleet.client(self.staff.token)
        for status in ("in_progress", "resolved"):
            moved = staff.patch(f"/workflow/status/{ticket_id}", json={"status": status})
            assert moved.status_code == 200, moved.text
        return ticket_id

    def new_rating(self) -> int:
        response = self.as_owner().post("/feedback", json={"ticket_id": self.new_resolved_ticket(), "rating": 4})
        assert response.status_code == 201, response.text
        feedback_id: int = response.json()["id"]
        return feedback_id


@dataclass(frozen=True)
class Row:
    expected: dict[str, int]
    # The concrete path (the template filled in); called once per cell, so a row whose cells
    # destroy their resource makes a fresh one each time.
    path: Callable[[World, str], str] | None = None
    body: Any = None  # JSON, or a function of the world giving it
    files: dict[str, Any] | None = None
    # Routes whose allowed answer never ends (an event stream): only the refusals are run.
    refusals_only: bool = False
    # A 401 here is about a bearer token (WWW-Authenticate: Bearer), not about credentials in
    # the body (login) or the service credential.
    bearer: bool = True


def _fixed(template: str) -> Callable[[World, str], str]:
    """The template with the world's resources (the owner's, unless it names another)."""

    def fill(world: World, _caller: str) -> str:
        return template.format(
            ticket_id=world.ticket_id,
            file_id=world.file_id,
            notification_id=world.notification_id,
            feedback_id=world.feedback_id,
            comment_id=world.comment_id,
            rated_ticket_id=world.rated_ticket_id,
            user_id=world.owner.id,
            other_id=world.other.id,
        )

    return fill


def _fresh(template: str, make: Callable[[World], int]) -> Callable[[World, str], str]:
    return lambda world, _caller: template.format(make(world))


HEALTH = {"GET /health": Row(PUBLIC), "GET /ready": Row(PUBLIC)}

# (method, path as the service's OpenAPI names it) -> the row, per gateway prefix.
MATRIX: dict[str, dict[str, Row]] = {
    "auth": {
        **HEALTH,
        # Anyone may try; these bodies are refused (400) or the credentials are wrong (401).
        "POST /register": Row(dict.fromkeys(CALLERS, 400), body={"email": "not an email", "password": "x"}),
        # Anyone may log in, whatever token they already hold. (Right credentials: failed logins
        # are throttled per client, and every test of the shared fleet is the same client.)
        "POST /login": Row(
            dict.fromkeys(CALLERS, 200), body=lambda world: {"email": world.owner.email, "password": PASSWORD}
        ),
        # No refresh token in the body or a cookie: nobody's session to refresh or end.
        "POST /refresh": Row(dict.fromkeys(CALLERS, 401), body={}),
        "POST /logout": Row(dict.fromkeys(CALLERS, 401), body={}),
        # Anyone may ask: a malformed address is 400 (a good one would send an email), and a
        # token that is none is 400 for everyone.
        "POST /password-reset": Row(dict.fromkeys(CALLERS, 400), body={"email": "not an email"}),
        "POST /password-reset/confirm": Row(
            dict.fromkeys(CALLERS, 400), body={"token": "not-a-reset-token", "new_password": "long enough password"}
        ),
        "GET /me": Row(USERS),
        "PATCH /me": Row(expect(401, 400, 400, 400, 400), body={"name": 5}),
        "POST /password": Row(
            expect(401, 400, 400, 400, 400), body={"current_password": "whatever it is", "new_password": "short"}
        ),
        "GET /users": Row(STAFF),
        "GET /users/{user_id}": Row(expect(401, 200, 403, 200, 200)),
        # The same role and the same state again: allowed callers change nothing.
        "PATCH /users/{user_id}/role": Row(
            expect(401, 403, 403, 403, 200), path=_fixed("/auth/users/{other_id}/role"), body={"role": "user"}
        ),
        "PATCH /users/{user_id}/active": Row(
            expect(401, 403, 403, 403, 200), path=_fixed("/auth/users/{other_id}/active"), body={"active": True}
        ),
        "GET /token-state": Row(NOBODY, bearer=False),
    },
    "tickets": {
        **HEALTH,
        "GET /": Row(USERS),
        "POST /": Row(expect(401, 400, 400, 400, 400), body={"title": ""}),
        "GET /{ticket_id}": Row(expect(401, 200, 404, 200, 200)),
        "PATCH /{ticket_id}": Row(expect(401, 200, 404, 200, 200), body={"description": "A ticket for the matrix."}),
        # The conversation: the owner's replies and staff's; another user cannot see the ticket.
        "POST /{ticket_id}/comments": Row(expect(401, 201, 404, 201, 201), body={"body": "A matrix reply."}),
        "GET /{ticket_id}/comments": Row(expect(401, 200, 404, 200, 200)),
        "GET /{ticket_id}/timeline": Row(expect(401, 200, 404, 200, 200)),
        # The owner's fresh comment each: its author edits it (15 minutes), nobody else does;
        # an admin may also delete it.
        "PATCH /{ticket_id}/comments/{comment_id}": Row(
            expect(401, 200, 404, 403, 403),
            path=lambda world, _caller: f"/tickets/{world.ticket_id}/comments/{world.new_comment()}",
            body={"body": "Edited."},
        ),
        "DELETE /{ticket_id}/comments/{comment_id}": Row(
            expect(401, 200, 404, 403, 200),
            path=lambda world, _caller: f"/tickets/{world.ticket_id}/comments/{world.new_comment()}",
        ),
        "GET /preferences": Row(USERS),
        "PUT /preferences": Row(USERS, body={"email_replies": True}),
    },
    "workflow": {
        **HEALTH,
        # A fresh ticket each: the owner may only resolve it ("solved for me"), staff anything.
        "PATCH /status/{ticket_id}": Row(
            expect(401, 200, 404, 200, 200),
            path=_fresh("/workflow/status/{}", World.new_ticket),
            body={"status": "resolved"},
        ),
        "PATCH /priority/{ticket_id}": Row(STAFF, body={"priority": "medium"}),
        "PATCH /assign/{ticket_id}": Row(STAFF, body={"assigned_to": None}),
        "POST /auto-priority/{ticket_id}": Row(STAFF),
        "GET /history/{ticket_id}": Row(expect(401, 200, 404, 200, 200)),
        "GET /queue": Row(STAFF),
    },
    "media": {
        **HEALTH,
        "POST /upload": Row(
            expect(401, 201, 404, 201, 201),
            files={"ticket_id": "TICKET", "file": ("matrix.txt", b"matrix\n", "text/plain")},
        ),
        "GET /ticket/{ticket_id}": Row(expect(401, 200, 404, 200, 200)),
        "GET /{file_id}": Row(expect(401, 200, 404, 200, 200)),
        "DELETE /{file_id}": Row(expect(401, 200, 404, 200, 200), path=_fresh("/media/{}", World.new_file)),
    },
    "notifications": {
        **HEALTH,
        # To the owner: the owner may send themselves a test alert, staff anyone anything.
        "POST /notify": Row(
            expect(401, 201, 403, 201, 201),
            body=lambda world: {
                "user_id": world.owner.id,
                "type": "test_alert",
                "channel": "in_app",
                "message": "Matrix.",
            },
        ),
        "POST /notify/batch": Row(NOBODY, body={"notifications": []}, bearer=False),
        "GET /history/{user_id}": Row(expect(401, 200, 403, 200, 200)),
        "GET /queue": Row(STAFF),
        # Only the recipient marks their notification read; anyone else: the 404 of a missing id.
        "PATCH /{notification_id}/read": Row(expect(401, 200, 404, 404, 404)),
        "POST /stream/ticket": Row(expect(401, 201, 201, 201, 201)),
        "GET /stream": Row(USERS, refusals_only=True),
    },
    "analytics": {
        **HEALTH,
        "GET /metrics": Row(STAFF),
        "GET /dashboard": Row(STAFF),
        "GET /tickets/stats": Row(STAFF),
        "GET /feedback/stats": Row(STAFF),
        "POST /refresh": Row(STAFF),
        "GET /export.csv": Row(STAFF),
    },
    "feedback": {
        **HEALTH,
        # Only the ticket's owner rates it; a second rating by them replaces the first (200).
        "POST /": Row(
            expect(401, 200, 404, 403, 403), body=lambda world: {"ticket_id": world.rated_ticket_id, "rating": 5}
        ),
        "GET /ticket/{ticket_id}": Row(
            expect(401, 200, 404, 200, 200), path=_fixed("/feedback/ticket/{rated_ticket_id}")
        ),
        "GET /user/{user_id}": Row(expect(401, 200, 403, 200, 200)),
        "GET /stats": Row(STAFF),
        "DELETE /{feedback_id}": Row(expect(401, 200, 404, 200, 200), path=_fresh("/feedback/{}", World.new_rating)),
    },
}
# The gateway's own routes (not proxied).
GATEWAY: dict[str, Row] = {
    **HEALTH,
    "GET /registry/services": Row(expect(401, 403, 403, 403, 200)),
}


def all_rows() -> dict[str, Row]:
    """Every row by its route's key (`METHOD /prefix/path`, `GATEWAY METHOD /path`)."""
    rows = {
        f"{key.split(' ')[0]} {gateway_path(prefix, key.split(' ')[1])}": row
        for prefix, table in MATRIX.items()
        for key, row in table.items()
    }
    rows.update({f"GATEWAY {key}": row for key, row in GATEWAY.items()})
    return rows


@pytest.fixture(scope="module")
def world(fleet: Fleet, accounts: dict[str, Account]) -> World:
    world = World(fleet, accounts["user"], accounts["other"], accounts["staff"], accounts["admin"])
    world.ticket_id = world.new_ticket()
    world.file_id = world.new_file()
    alert = world.as_owner().post(
        "/notifications/notify",
        json={"user_id": world.owner.id, "type": "test_alert", "channel": "in_app", "message": "Matrix."},
    )
    assert alert.status_code == 201, alert.text
    world.notification_id = alert.json()["id"]
    rating = world.as_owner().post("/feedback", json={"ticket_id": world.new_resolved_ticket(), "rating": 5})
    assert rating.status_code == 201, rating.text
    world.rated_ticket_id = rating.json()["ticket_id"]
    world.feedback_id = rating.json()["id"]
    world.comment_id = world.new_comment()
    return world


def _headers(world: World, caller: str) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    if caller == "service":
        return {"X-Service-Token": world.fleet.service_token}
    account = {"owner": world.owner, "other": world.other, "staff": world.staff, "admin": world.admin}[caller]
    return {"Authorization": f"Bearer {account.token}"}


def _request_args(world: World, row: Row, caller: str) -> dict[str, Any]:
    if row.files is not None:
        files = {k: (None, str(world.ticket_id)) if v == "TICKET" else v for k, v in row.files.items()}
        return {"files": files}
    if callable(row.body):
        return {"json": row.body(world)}
    return {} if row.body is None else {"json": row.body}


def _run_cell(world: World, route: str, row: Row, caller: str) -> tuple[int, str | None]:
    """(status, what is wrong with the answer besides its status, if anything)."""
    method, gateway_path = route.removeprefix("GATEWAY ").split(" ", 1)
    path = (row.path or _fixed(gateway_path))(world, caller)
    response = world.client.request(method, path, headers=_headers(world, caller), **_request_args(world, row, caller))
    problem = None
    if not response.headers.get("x-request-id"):
        problem = "no X-Request-ID"
    elif response.status_code >= 400:
        try:
            error = response.json().get("error")
        except ValueError:
            error = None
        if not isinstance(error, str) or not error:
            problem = f"not an {{'error'}} body: {response.text[:120]!r}"
        elif response.status_code == 401 and row.bearer and response.headers.get("www-authenticate") != "Bearer":
            problem = "401 without WWW-Authenticate: Bearer"
    return response.status_code, problem


def test_every_route_has_a_row(fleet: Fleet) -> None:
    documented = {operation.key for operation in documented_operations(fleet)}
    rows = set(all_rows())
    missing, stale = sorted(documented - rows), sorted(rows - documented)
    assert not missing and not stale, f"routes without a row: {missing}; rows without a route: {stale}"


def test_the_matrix(world: World) -> None:
    wrong = []
    cells = 0
    for route, row in all_rows().items():
        for caller in CALLERS:
            want = row.expected[caller]
            if row.refusals_only and want < 400:
                continue
            got, problem = _run_cell(world, route, row, caller)
            cells += 1
            if got != want or problem:
                wrong.append(f"{route} as {caller}: expected {want}, got {got}" + (f" ({problem})" if problem else ""))
    print(f"\nauthorization matrix: {cells} cells run, {len(wrong)} wrong")
    assert not wrong, "cells that differ from the contract:\n" + "\n".join(wrong)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    return signing_input + "." + _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def forged_tokens(real: str) -> dict[str, str]:
    """Tokens an attacker can make from a real one without the signing key: each must be a 401."""
    header_b64, payload_b64, signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    admin_claims = claims | {"role": "admin"}
    tampered_payload = _b64(json.dumps(admin_claims).encode())
    expired = claims | {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}
    return {
        "alg none": _forge({"alg": "none", "typ": "JWT"}, admin_claims, None),
        "alg None": _forge({"alg": "None", "typ": "JWT"}, admin_claims, None),
        "payload changed, signature kept": f"{header_b64}.{tampered_payload}.{signature}",
        "signature removed": f"{header_b64}.{payload_b64}.",
        "HS256 with a key of our own": _forge({"alg": "HS256", "typ": "JWT"}, admin_claims, uuid.uuid4().bytes * 2),
        "HS256 with an empty key": _forge({"alg": "HS256", "typ": "JWT"}, admin_claims, b""),
        "HS256 with a short key": _forge({"alg": "HS256", "typ": "JWT"}, admin_claims, b"secret"),
        "expired, re-signed with a key of our own": _forge({"alg": "HS256", "typ": "JWT"}, expired, b"k" * 32),
        "not a JWT": "not-a-token",
        "no token after the scheme": "",
    }


def test_forged_tokens_are_refused(world: World) -> None:
    """Every route that refuses an anonymous caller refuses each forged token the same way."""
    forged = forged_tokens(world.owner.token)
    wrong = []
    cells = 0
    for route, row in all_rows().items():
        if row.expected["anonymous"] != 401 or row.expected == NOBODY:
            continue
        method, gateway_path = route.removeprefix("GATEWAY ").split(" ", 1)
        # The world's own resources, never fresh ones: a forged token must reach nothing.
        path = _fixed(gateway_path)(world, "forged")
        for name, token in forged.items():
            response = world.client.request(
                method,
                path,
                headers={"Authorization": f"Bearer {token}" if token else "Bearer"},
                **_request_args(world, row, "owner"),
            )
            cells += 1
            if response.status_code != 401 or not isinstance(response.json().get("error"), str):
                wrong.append(f"{route} with {name}: {response.status_code} {response.text[:100]}")
    print(f"\nforged tokens: {cells} cells run, {len(wrong)} wrong")
    assert not wrong, "\n".join(wrong)
