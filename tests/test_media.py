"""S5 through the gateway, with every service a real process: attachments streamed, sniffed,
authorized, and never half-written."""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from helpdesk_fleet import media_samples
from helpdesk_fleet.fleet import Account, Fleet, poll_until

from .media_helpers import (
    MULTIPART,
    assert_store_matches_table,
    chunks,
    field_part,
    file_head,
    multipart_body,
    new_ticket,
    rows_of_ticket,
    stored_files,
    temporary_files,
    upload,
)

pytestmark = pytest.mark.xdist_group("fleet")

MIB = 1024 * 1024
FILE_KEYS = {"id", "ticket_id", "filename", "original_filename", "mime_type", "file_size", "uploaded_by", "uploaded_at"}


@pytest.fixture(scope="module")
def owner(accounts: dict[str, Account]) -> Account:
    return accounts["user"]


@pytest.fixture
def ticket(fleet: Fleet, owner: Account) -> dict[str, Any]:
    return new_ticket(fleet.client(owner.token))


def disposition_filename(header: str) -> str:
    """The name a client following RFC 6266 takes from Content-Disposition (filename* wins)."""
    match = re.fullmatch(r"attachment; filename=\"([ -~]*)\"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)", header)
    assert match, header
    fallback, encoded = match.groups()
    assert '"' not in fallback and "\\" not in fallback
    return unquote(encoded, errors="strict")


@pytest.mark.parametrize("extension", list(media_samples.ALLOWED_SAMPLES))
def test_every_allowed_type_makes_the_round_trip_byte_for_byte(
    fleet: Fleet, owner: Account, ticket: dict[str, Any], extension: str
) -> None:
    data, mime_type = media_samples.ALLOWED_SAMPLES[extension]
    client = fleet.client(owner.token)
    created = upload(client, ticket["id"], data, filename=f"sample.{extension}")
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == FILE_KEYS
    assert (body["ticket_id"], body["mime_type"], body["file_size"]) == (ticket["id"], mime_type, len(data))
    assert (body["original_filename"], body["uploaded_by"]) == (f"sample.{extension}", owner.id)
    assert re.fullmatch(r"[0-9a-f]{32}\.[a-z]{3,4}", body["filename"])

    listed = client.get(f"/media/ticket/{ticket['id']}")
    assert listed.status_code == 200
    assert listed.json() == {"files": [body], "next_cursor": None}

    download = client.get(f"/media/{body['id']}")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-length"] == str(len(data))
    assert download.headers["content-type"].partition(";")[0] == mime_type
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]
    assert disposition_filename(download.headers["content-disposition"]) == f"sample.{extension}"

    deleted = client.delete(f"/media/{body['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": f"File {body['id']} deleted."}
    assert client.get(f"/media/{body['id']}").status_code == 404
    assert client.get(f"/media/ticket/{ticket['id']}").json()["files"] == []
    assert body["filename"] not in stored_files(fleet.media_dir)
    assert_store_matches_table(fleet)


XLSX = media_samples.ALLOWED_SAMPLES["xlsx"][1]
DISGUISES = [
    ("an executable named .png", media_samples.WINDOWS_EXE, "photo.png", "image/png"),
    ("an executable sent as octet-stream", media_samples.WINDOWS_EXE, "setup.exe", "application/octet-stream"),
    ("an ELF binary named .pdf", media_samples.ELF, "report.pdf", "application/pdf"),
    ("HTML sent as PDF", media_samples.HTML, "invoice.pdf", "application/pdf"),
    ("HTML sent as an image", media_samples.HTML, "cat.jpg", "image/jpeg"),
    ("HTML sent as text", media_samples.HTML, "notes.txt", "text/plain"),
    ("SVG sent as PNG", media_samples.SVG, "logo.png", "image/png"),
    ("SVG as itself", media_samples.SVG, "logo.svg", "image/svg+xml"),
    ("a PNG sent as PDF", media_samples.ALLOWED_SAMPLES["png"][0], "scan.pdf", "application/pdf"),
    ("a PDF named .png without a type", media_samples.ALLOWED_SAMPLES["pdf"][0], "scan.png", None),
    ("a DOCX sent as XLSX", media_samples.ALLOWED_SAMPLES["docx"][0], "a.xlsx", XLSX),
    ("a macro-enabled Word file", media_samples.ooxml("docm"), "a.docm", "application/vnd.ms-word.document.macroEnabled.12"),  # noqa: E501
    ("an MSI installer named .doc", media_samples.msi(), "a.doc", "application/msword"),
    ("a plain zip", b"PK\x03\x04" + bytes(60), "a.zip", "application/zip"),
    ("UTF-16 text (NUL bytes)", "hello".encode("utf-16"), "a.txt", "text/plain"),
    ("Latin-1 text (not UTF-8)", "café".encode("latin-1"), "a.txt", "text/plain"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "filename", "content_type"), [d[1:] for d in DISGUISES], ids=[d[0] for d in DISGUISES]
)
def test_a_disguised_or_unlisted_type_is_refused_with_415_and_leaves_nothing(
    fleet: Fleet, owner: Account, ticket: dict[str, Any], data: bytes, filename: str, content_type: str | None
) -> None:
    response = upload(fleet.client(owner.token), ticket["id"], data, filename=filename, content_type=content_type)
    assert response.status_code == 415, response.text
    assert response.json()["error"]
    assert rows_of_ticket(fleet, ticket["id"]) == []
    assert_store_matches_table(fleet)


def test_the_stored_type_is_the_detected_one(fleet: Fleet, owner: Account, ticket: dict[str, Any]) -> None:
    # Sent without a type and with a meaningless extension: the bytes say PNG.
    data = media_samples.ALLOWED_SAMPLES["png"][0]
    response = upload(fleet.client(owner.token), ticket["id"], data, filename="screenshot.dat", content_type=None)
    assert response.status_code == 201, response.text
    assert response.json()["mime_type"] == "image/png"
    assert response.json()["filename"].endswith(".png")


@pytest.mark.parametrize("declared_length", [True, False], ids=["content-length", "chunked"])
def test_an_11_mib_upload_is_refused_with_413_and_leaves_nothing(
    fleet: Fleet, owner: Account, ticket: dict[str, Any], declared_length: bool
) -> None:
    body = multipart_body(ticket["id"], b"a" * (11 * MIB), filename="big.txt", content_type="text/plain")
    client = fleet.client(owner.token)
    content: bytes | Any = body if declared_length else chunks(body)
    try:
        response = client.post("/media/upload", content=content, headers={"Content-Type": MULTIPART})
    except httpx.WriteError:
        pytest.fail("the 413 must reach the client, not a reset connection")
    assert response.status_code == 413, response.text
    assert "too large" in response.json()["error"].lower() or "larger" in response.json()["error"]
    assert rows_of_ticket(fleet, ticket["id"]) == []
    poll_until(lambda: temporary_files(fleet.media_dir) == [], timeout=5, what="the temporary file to go")
    assert_store_matches_table(fleet)


def test_exactly_10_mib_is_accepted(fleet: Fleet, owner: Account, ticket: dict[str, Any]) -> None:
    data = b"0123456789abcdef\n" * (10 * MIB // 17) + b"x" * (10 * MIB % 17)
    assert len(data) == 10 * MIB
    client = fleet.client(owner.token)
    response = upload(client, ticket["id"], data, filename="ten.txt", content_type="text/plain")
    assert response.status_code == 201, response.text
    download = client.get(f"/media/{response.json()['id']}")
    assert download.content == data


HOSTILE_NAMES = [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system32\\cmd.txt", "cmd.txt"),
    ('quote"and;semi.txt', 'quote"and;semi.txt'),
    # A raw CR LF ends the part's header line: what is left of the name is `"crlf`, the rest an
    # unknown part header; nothing of it reaches a response header unencoded.
    ("crlf\r\nSet-Cookie: a=b.txt", '"crlf'),
    ("nul\x00byte.txt", "nulbyte.txt"),
    ("résumé \u2013 日本語.txt", "résumé \u2013 日本語.txt"),
    ("rtl\u202etxt.exe", "rtltxt.exe"),
    ("..", "attachment"),
    ("x" * 300 + ".txt", "x" * 251 + ".txt"),
]


@pytest.mark.parametrize(("raw", "expected"), HOSTILE_NAMES, ids=[repr(raw[:20]) for raw, _ in HOSTILE_NAMES])
def test_a_hostile_filename_is_stored_safely_and_echoed_safely(
    fleet: Fleet, owner: Account, ticket: dict[str, Any], raw: str, expected: str
) -> None:
    # Sent the way a raw client could: quotes escaped as the multipart grammar wants, the rest as is.
    param = raw.replace("\\", "\\\\").replace('"', '\\"')
    body = (
        field_part("ticket_id", str(ticket["id"]))
        + file_head(param, "text/plain")
        + media_samples.text()
        + b"\r\n"
        + f"--{MULTIPART.rpartition('=')[2]}--\r\n".encode()
    )
    client = fleet.client(owner.token)
    response = client.post("/media/upload", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["original_filename"] == expected
    # The generated name is the only one that reaches the disk.
    assert re.fullmatch(r"[0-9a-f]{32}\.txt", created["filename"])
    assert created["filename"] in stored_files(fleet.media_dir)
    download = client.get(f"/media/{created['id']}")
    assert download.status_code == 200
    assert "set-cookie" not in download.headers
    header = download.headers["content-disposition"]
    assert "\r" not in header and "\n" not in header
    assert disposition_filename(header) == expected


def test_a_name_encoded_as_browsers_and_httpx_do_is_kept_as_sent(
    fleet: Fleet, owner: Account, ticket: dict[str, Any]
) -> None:
    # The HTML standard (and httpx) send CR, LF and the quote as %0D, %0A and %22.
    client = fleet.client(owner.token)
    response = client.post(
        "/media/upload",
        data={"ticket_id": str(ticket["id"])},
        files={"file": ('crlf\r\nSet-Cookie: a=b "q".txt', media_samples.text(), "text/plain")},
    )
    assert response.status_code == 201, response.text
    name = response.json()["original_filename"]
    assert name == "crlf%0D%0ASet-Cookie: a=b %22q%22.txt"
    download = client.get(f"/media/{response.json()['id']}")
    assert "set-cookie" not in download.headers
    assert disposition_filename(download.headers["content-disposition"]) == name


def test_the_ticket_id_may_come_after_the_file(fleet: Fleet, owner: Account, ticket: dict[str, Any]) -> None:
    data = media_samples.ALLOWED_SAMPLES["gif"][0]
    body = multipart_body(ticket["id"], data, filename="a.gif", content_type="image/gif", ticket_first=False)
    response = fleet.client(owner.token).post("/media/upload", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 201, response.text
    assert response.json()["ticket_id"] == ticket["id"]


@pytest.mark.parametrize("ticket_first", [True, False], ids=["ticket-first", "ticket-last"])
def test_another_users_ticket_is_a_404_and_nothing_is_written(
    fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any], ticket_first: bool
) -> None:
    data = media_samples.ALLOWED_SAMPLES["png"][0] + b"\0" * MIB
    body = multipart_body(ticket["id"], data, filename="a.png", content_type="image/png", ticket_first=ticket_first)
    response = fleet.client(accounts["other"].token).post(
        "/media/upload", content=body, headers={"Content-Type": MULTIPART}
    )
    assert response.status_code == 404
    assert response.json() == {"error": f"Ticket {ticket['id']} not found."}
    assert rows_of_ticket(fleet, ticket["id"]) == []
    assert_store_matches_table(fleet)


def _gateway_address(fleet: Fleet) -> tuple[str, int]:
    return "127.0.0.1", fleet.processes["gateway"].port


def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    fleet: Fleet, owner: Account, ticket: dict[str, Any]
) -> None:
    head = field_part("ticket_id", str(ticket["id"])) + file_head("half.txt", "text/plain")
    request = (
        f"POST /media/upload HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {owner.token}\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {5 * MIB}\r\n\r\n"
    ).encode()
    with socket.create_connection(_gateway_address(fleet), timeout=10) as sock:
        sock.sendall(request + head + b"a" * MIB)
        # The upload is under way: its temporary file exists (and grows) in the store.
        poll_until(lambda: temporary_files(fleet.media_dir), timeout=10, what="the upload's temporary file")
    poll_until(lambda: temporary_files(fleet.media_dir) == [], timeout=10, what="the temporary file to be removed")
    assert rows_of_ticket(fleet, ticket["id"]) == []
    assert_store_matches_table(fleet)
    # And the service still works.
    ok = upload(fleet.client(owner.token), ticket["id"], media_samples.text(), filename="a.txt")
    assert ok.status_code == 201, ok.text


def test_the_orphan_sweep_at_start_up_removes_files_without_rows_and_rows_without_files(
    fleet: Fleet, owner: Account, ticket: dict[str, Any]
) -> None:
    client = fleet.client(owner.token)
    kept = upload(client, ticket["id"], media_samples.text(), filename="kept.txt").json()
    lost = upload(client, ticket["id"], media_samples.text(), filename="lost.txt").json()
    media = fleet.media_dir
    # What a crash between moving a file into place and committing its row leaves, what a lost
    # disk block leaves, and an upload abandoned mid-way (all older than the grace period), plus
    # a fresh file without a row, which another instance may be about to commit.
    old = time.time() - 2 * 3600
    orphan_name = f"{uuid.uuid4().hex}.pdf"
    orphan = media / orphan_name[:2] / orphan_name[2:4] / orphan_name
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(media_samples.pdf())
    os.utime(orphan, (old, old))
    fresh_name = f"{uuid.uuid4().hex}.pdf"
    fresh = media / fresh_name[:2] / fresh_name[2:4] / fresh_name
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(media_samples.pdf())
    abandoned = media / ".incoming" / f"{uuid.uuid4().hex}.part"
    abandoned.write_bytes(b"half an upload")
    os.utime(abandoned, (old, old))
    lost_path = next(media.rglob(lost["filename"]))
    lost_path.unlink()

    # The row whose file is missing answers 404 with a clear error (and is logged).
    missing = client.get(f"/media/{lost['id']}")
    assert missing.status_code == 404
    assert "missing from storage" in missing.json()["error"]

    s5 = fleet.processes["s5-media"]
    s5.stop()
    s5.start()
    s5.wait_ready(timeout=30)

    assert not orphan.exists()
    assert fresh.exists()
    assert not abandoned.exists()
    assert [row["id"] for row in rows_of_ticket(fleet, ticket["id"])] == [kept["id"]]
    log = s5.log_path.read_text() if s5.log_path else ""
    assert "removed a file without a row" in log and orphan_name in log
    assert "removed a row whose file is missing" in log and lost["filename"] in log
    assert "removed an abandoned temporary file" in log
    assert client.get(f"/media/{kept['id']}").content == media_samples.text()
    fresh.unlink()
    poll_until(lambda: "s5-media" in fleet.registered_names() or None, timeout=20, what="S5 to register again")
    assert_store_matches_table(fleet)


def test_a_ticket_holds_at_most_50_files(fleet: Fleet, owner: Account, ticket: dict[str, Any]) -> None:
    client = fleet.client(owner.token)
    data = media_samples.text()
    for number in range(50):
        response = upload(client, ticket["id"], data, filename=f"{number}.txt")
        assert response.status_code == 201, response.text
    refused = upload(client, ticket["id"], data, filename="51.txt")
    assert refused.status_code == 409
    assert "50 files" in refused.json()["error"]
    assert len(rows_of_ticket(fleet, ticket["id"])) == 50
    assert_store_matches_table(fleet)
    # A page of the list, then the next one.
    first = client.get(f"/media/ticket/{ticket['id']}", params={"limit": 30}).json()
    second = client.get(f"/media/ticket/{ticket['id']}", params={"limit": 30, "cursor": first["next_cursor"]}).json()
    assert len(first["files"]) == 30 and len(second["files"]) == 20 and second["next_cursor"] is None
    ids = [f["id"] for f in first["files"] + second["files"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 50
    # Room again once one is deleted.
    assert client.delete(f"/media/{ids[0]}").status_code == 200
    assert upload(client, ticket["id"], data, filename="51.txt").status_code == 201


def test_downloads_of_a_row_count_in_the_access_of_its_ticket_not_its_id(
    fleet: Fleet, accounts: dict[str, Account], ticket: dict[str, Any]
) -> None:
    created = upload(fleet.client(accounts["user"].token), ticket["id"], media_samples.text(), filename="a.txt")
    file_id = created.json()["id"]
    refused = fleet.client(accounts["other"].token).get(f"/media/{file_id}")
    nonexistent = fleet.client(accounts["other"].token).get("/media/2147483647")
    assert refused.status_code == nonexistent.status_code == 404
    assert refused.json()["error"] == f"File {file_id} not found."
