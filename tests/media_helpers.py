"""What the S5 system tests share: multipart bodies built by hand, and looks at S5's folder and table."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from helpdesk_fleet.fleet import Fleet

BOUNDARY = "helpdesk-test-boundary-7d1c"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def field_part(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def file_head(filename_param: str, content_type: str | None = "application/octet-stream") -> bytes:
    """The head of the file part; `filename_param` is put between the quotes as it is (raw)."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename_param}"\r\n'
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode("utf-8") + b"\r\n"


def closing() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def multipart_body(
    ticket_id: int | str,
    data: bytes,
    *,
    filename: str = "file.bin",
    content_type: str | None = "application/octet-stream",
    ticket_first: bool = True,
) -> bytes:
    file_part = file_head(filename, content_type) + data + b"\r\n"
    ticket = field_part("ticket_id", str(ticket_id))
    parts = ticket + file_part if ticket_first else file_part + ticket
    return parts + closing()


def upload(
    client: httpx.Client, ticket_id: int, data: bytes, *, filename: str = "file.bin", **options: Any
) -> httpx.Response:
    body = multipart_body(ticket_id, data, filename=filename, **options)
    return client.post("/media/upload", content=body, headers={"Content-Type": MULTIPART})


def chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def new_ticket(client: httpx.Client) -> dict[str, Any]:
    response = client.post(
        "/tickets", json={"title": f"Attachments {uuid.uuid4().hex[:6]}", "description": "d", "category": "support"}
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def stored_files(media_dir: Path) -> set[str]:
    """Names of the files in the store (temporary files apart)."""
    return {p.name for p in media_dir.rglob("*") if p.is_file() and ".incoming" not in p.parts}


def temporary_files(media_dir: Path) -> list[Path]:
    incoming = media_dir / ".incoming"
    return [p for p in incoming.iterdir() if p.is_file() and not p.name.startswith(".ready-")]


def query(fleet: Fleet, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(fleet.db_url)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    return asyncio.run(run())


def rows_of_ticket(fleet: Fleet, ticket_id: int) -> list[asyncpg.Record]:
    return query(fleet, "SELECT * FROM media_files WHERE ticket_id = $1 ORDER BY id", ticket_id)


def assert_store_matches_table(fleet: Fleet) -> None:
    """Every file has its row and every row its file; no temporary file is left."""
    recorded = {row["filename"] for row in query(fleet, "SELECT filename FROM media_files")}
    assert stored_files(fleet.media_dir) == recorded
    assert temporary_files(fleet.media_dir) == []
