"""Every S5 endpoint, through the gateway, for every role; and the service credential alone.

"user" owns the ticket; "other" is a second plain user. A refusal carries `{"error"}` and
changes nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpdesk_fleet import media_samples
from helpdesk_fleet.fleet import Account, Fleet

from .media_helpers import MULTIPART, multipart_body, new_ticket, rows_of_ticket, upload

pytestmark = pytest.mark.xdist_group("fleet")

ROLES = ["anonymous", "user", "other", "staff", "admin"]


def _client(fleet: Fleet, accounts: dict[str, Account], role: str) -> httpx.Client:
    return fleet.client(None if role == "anonymous" else accounts[role].token)


@pytest.fixture(scope="module")
def ticket(fleet: Fleet, accounts: dict[str, Account]) -> dict[str, Any]:
    return new_ticket(fleet.client(accounts["user"].token))


def _file(fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any], uploader: str) -> dict[str, Any]:
    response = upload(fleet.client(accounts[uploader].token), ticket["id"], media_samples.text(), filename="r.txt")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _assert_refusal(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    if status >= 400:
        assert isinstance(response.json()["error"], str)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, 201, 404, 201, 201], strict=True)))
def test_upload(fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any], role: str, expected: int) -> None:
    before = len(rows_of_ticket(fleet, ticket["id"]))
    body = multipart_body(ticket["id"], media_samples.text(), filename="u.txt", content_type="text/plain")
    response = _client(fleet, accounts, role).post("/media/upload", content=body, headers={"Content-Type": MULTIPART})
    _assert_refusal(response, expected)
    assert len(rows_of_ticket(fleet, ticket["id"])) == before + (1 if expected == 201 else 0)
    if expected == 201:
        assert response.json()["uploaded_by"] == accounts[role].id


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, 200, 404, 200, 200], strict=True)))
def test_list(fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any], role: str, expected: int) -> None:
    created = _file(fleet, accounts, ticket, "user")
    response = _client(fleet, accounts, role).get(f"/media/ticket/{ticket['id']}", params={"limit": 200})
    _assert_refusal(response, expected)
    if expected == 200:
        assert created["id"] in {f["id"] for f in response.json()["files"]}
    elif expected == 404:
        assert response.json() == {"error": f"Ticket {ticket['id']} not found."}


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, 200, 404, 200, 200], strict=True)))
def test_download(fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any], role: str, expected: int) -> None:
    created = _file(fleet, accounts, ticket, "user")
    response = _client(fleet, accounts, role).get(f"/media/{created['id']}")
    _assert_refusal(response, expected)
    if expected == 200:
        assert response.content == media_samples.text()


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, 200, 404, 200, 200], strict=True)))
def test_delete_a_file_the_owner_uploaded(
    fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any], role: str, expected: int
) -> None:
    created = _file(fleet, accounts, ticket, "user")
    response = _client(fleet, accounts, role).delete(f"/media/{created['id']}")
    _assert_refusal(response, expected)
    still_there = fleet.client(accounts["user"].token).get(f"/media/{created['id']}").status_code
    assert still_there == (404 if expected == 200 else 200)


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, [401, 403, 404, 200, 200], strict=True)))
def test_delete_a_file_staff_uploaded_to_the_owners_ticket(
    fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any], role: str, expected: int
) -> None:
    created = _file(fleet, accounts, ticket, "staff")
    response = _client(fleet, accounts, role).delete(f"/media/{created['id']}")
    _assert_refusal(response, expected)
    if expected == 403:
        assert "uploader or staff" in response.json()["error"]


def test_the_service_credential_alone_is_no_user(
    fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any]
) -> None:
    """Straight to S5 (the gateway would strip the header): every route needs a user's token."""
    created = _file(fleet, accounts, ticket, "user")
    s5 = httpx.Client(base_url=fleet.processes["s5-media"].url, headers={"X-Service-Token": fleet.service_token})
    body = multipart_body(ticket["id"], media_samples.text(), filename="s.txt", content_type="text/plain")
    with s5:
        for response in (
            s5.post("/upload", content=body, headers={"Content-Type": MULTIPART}),
            s5.get(f"/ticket/{ticket['id']}"),
            s5.get(f"/{created['id']}"),
            s5.delete(f"/{created['id']}"),
        ):
            _assert_refusal(response, 401)
    assert fleet.client(accounts["user"].token).get(f"/media/{created['id']}").status_code == 200


def test_a_bad_id_is_a_400_for_everyone(fleet: Fleet, accounts: dict[str, Account]) -> None:
    client = fleet.client(accounts["user"].token)
    for path in ("/media/abc", "/media/ticket/0", "/media/ticket/1.5", "/media/99999999999"):
        assert client.get(path).status_code == 400, path
