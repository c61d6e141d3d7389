"""S5 in-process against a real S2: the upload's rules that the system tests do not reach
cheaply (S2 down, the byte quota, the in-flight limit, slow clients, malformed forms)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest

from helpdesk_fleet import media_samples
from helpdesk_fleet.process import free_port

from .conftest import MULTIPART, AppFactory, Caller, body, files_in, store_of

PNG = media_samples.ALLOWED_SAMPLES["png"][0]
TEXT = media_samples.text()


async def post(client: httpx.AsyncClient, caller: Caller, content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    return await client.post("/upload", content=content, headers={**caller.headers, "Content-Type": MULTIPART})


async def count_rows(database_dsn: str, ticket_id: int) -> int:
    conn = await asyncpg.connect(database_dsn)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM media_files WHERE ticket_id = $1", ticket_id)
        return count
    finally:
        await conn.close()


async def test_with_s2_down_an_upload_is_a_503_and_nothing_is_written(
    media_app: AppFactory, owner: Caller, create_ticket: Callable[[Caller], int], database_dsn: str
) -> None:
    ticket_id = create_ticket(owner)
    client = await media_app(service_urls={"s2-tickets": f"http://127.0.0.1:{free_port()}"})
    for ticket_first in (True, False):
        parts = body(ticket_id, PNG, filename="a.png", content_type="image/png")
        if not ticket_first:
            parts = body(None, PNG, filename="a.png", content_type="image/png")[: -len(b"--s5-test-boundary--\r\n")]
            parts += body(ticket_id, None)
        response = await post(client, owner, parts)
        assert response.status_code == 503, response.text
        assert "s2-tickets" in response.json()["error"]
    assert files_in(store_of(client)) == []
    assert await count_rows(database_dsn, ticket_id) == 0
    listed = await client.get(f"/ticket/{ticket_id}", headers=owner.headers)
    assert listed.status_code == 503


async def test_the_byte_quota_refuses_with_409_before_and_while_streaming(
    media_app: AppFactory, owner: Caller, create_ticket: Callable[[Caller], int], database_dsn: str
) -> None:
    ticket_id = create_ticket(owner)
    client = await media_app(media_ticket_max_bytes=1500)
    assert (await post(client, owner, body(ticket_id, b"a" * 1000))).status_code == 201
    # 1000 + 600 > 1500: cut off once the file passes the room left (ticket_id came first) ...
    refused = await post(client, owner, body(ticket_id, b"b" * 600))
    assert refused.status_code == 409, refused.text
    assert "1500" in refused.json()["error"] or "MiB" in refused.json()["error"]
    # ... and, with ticket_id after the file, when the file is complete (under the lock).
    late = body(None, b"c" * 600)[: -len(b"--s5-test-boundary--\r\n")] + body(ticket_id, None)
    assert (await post(client, owner, late)).status_code == 409
    assert (await post(client, owner, body(ticket_id, b"d" * 500))).status_code == 201
    assert await count_rows(database_dsn, ticket_id) == 2
    assert len(files_in(store_of(client))) == 2


async def test_the_file_count_quota_holds_under_concurrent_uploads(
    media_app: AppFactory, owner: Caller, create_ticket: Callable[[Caller], int], database_dsn: str
) -> None:
    ticket_id = create_ticket(owner)
    client = await media_app(media_ticket_max_files=3)
    answers = await asyncio.gather(*(post(client, owner, body(ticket_id, TEXT)) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 5
    assert await count_rows(database_dsn, ticket_id) == 3
    assert len(files_in(store_of(client))) == 3


async def test_uploads_beyond_the_in_flight_limit_get_503_with_retry_after(
    media_app: AppFactory, owner: Caller, create_ticket: Callable[[Caller], int]
) -> None:
    ticket_id = create_ticket(owner)
    client = await media_app(media_max_uploads_in_flight=1, media_retry_after_seconds=3)
    release = asyncio.Event()

    async def held_open() -> AsyncIterator[bytes]:
        whole = body(ticket_id, TEXT)
        yield whole[:50]
        await release.wait()
        yield whole[50:]

    first = asyncio.ensure_future(post(client, owner, held_open()))
    gate = client._transport.app.state.upload_gate  # type: ignore[attr-defined]
    for _ in range(200):
        if gate.in_flight:
            break
        await asyncio.sleep(0.01)
    second = await post(client, owner, body(ticket_id, TEXT))
    assert second.status_code == 503
    assert second.headers["retry-after"] == "3"
    release.set()
    assert (await first).status_code == 201
    assert (await post(client, owner, body(ticket_id, TEXT))).status_code == 201


async def test_a_client_slower_than_the_minimum_rate_is_cut_off_with_408(
    media_app: AppFactory, owner: Caller, create_ticket: Callable[[Caller], int], database_dsn: str
) -> None:
    ticket_id = create_ticket(owner)
    client = await media_app(
        media_upload_min_bytes_per_second=100_000, media_upload_rate_grace_seconds=0.2, media_upload_idle_seconds=5
    )
    whole = body(ticket_id, b"s" * 200_000)

    async def trickle() -> AsyncIterator[bytes]:
        for start in range(0, len(whole), 1000):
            # A slow client is the condition under test: 1 kB every 50 ms, 20 kB/s.
            await asyncio.sleep(0.05)
            yield whole[start : start + 1000]

    response = await post(client, owner, trickle())
    assert response.status_code == 408, response.text
    assert "too slow" in response.json()["error"]
    assert files_in(store_of(client)) == []
    assert await count_rows(database_dsn, ticket_id) == 0


async def test_a_silent_client_is_cut_off_after_the_idle_limit(
    media_app: AppFactory, owner: Caller, create_ticket: Callable[[Caller], int]
) -> None:
    ticket_id = create_ticket(owner)
    client = await media_app(media_upload_rate_grace_seconds=60, media_upload_idle_seconds=0.3)
    whole = body(ticket_id, TEXT)

    async def stalls() -> AsyncIterator[bytes]:
        yield whole[:100]
        await asyncio.sleep(5)  # silent for longer than the idle limit (the condition under test)
        yield whole[100:]

    response = await post(client, owner, stalls())
    assert response.status_code == 408
    assert files_in(store_of(client)) == []


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (body(None, TEXT), 400, "ticket_id"),
        (body(1, None), 400, "file"),
        (body("abc", TEXT), 400, "ticket_id"),
        (body("0", TEXT), 400, "ticket_id"),
        (body("99999999999", TEXT), 400, "ticket_id"),
        (body(1, b""), 400, "empty"),
        (b"--s5-test-boundary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nxx", 400, "malformed|ended"),
        (b"not a multipart body at all", 400, "ended|malformed"),
    ],
    ids=["no ticket_id", "no file", "ticket_id not a number", "ticket_id zero", "ticket_id too big", "empty file",
         "cut short", "garbage"],
)  # fmt: skip
async def test_a_malformed_form_is_a_400(
    client: httpx.AsyncClient, owner: Caller, create_ticket: Callable[[Caller], int], content: bytes, status: int,
    words: str,
) -> None:  # fmt: skip
    ticket_id = create_ticket(owner)
    content = content.replace(b'name="ticket_id"\r\n\r\n1\r\n', f'name="ticket_id"\r\n\r\n{ticket_id}\r\n'.encode())
    response = await post(client, owner, content)
    assert response.status_code == status, response.text
    assert re.search(words, response.json()["error"]), response.json()
    assert files_in(store_of(client)) == [] or all(".incoming" not in p.parts for p in files_in(store_of(client)))


async def test_two_files_in_one_upload_are_a_400(
    client: httpx.AsyncClient, owner: Caller, create_ticket: Callable[[Caller], int]
) -> None:
    ticket_id = create_ticket(owner)
    two = body(ticket_id, TEXT)[: -len(b"--s5-test-boundary--\r\n")] + body(None, TEXT)
    response = await post(client, owner, two)
    assert response.status_code == 400
    assert "one file" in response.json()["error"]


async def test_a_body_that_is_not_multipart_is_a_415(client: httpx.AsyncClient, owner: Caller) -> None:
    response = await client.post("/upload", json={"ticket_id": 1}, headers=owner.headers)
    assert response.status_code == 415


async def test_a_declared_length_over_the_limit_is_refused_unread(client: httpx.AsyncClient, owner: Caller) -> None:
    response = await client.post(
        "/upload",
        content=b"x" * 10,
        headers={**owner.headers, "Content-Type": MULTIPART, "Content-Length": str(11 * 1024 * 1024)},
    )
    assert response.status_code == 413
