"""Pure parts of S5: names, the text check, type judgement, the store, the sweep's guard."""

from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path

import httpx
import pytest

from helpdesk_fleet import media_samples
from s5_media import filetypes
from s5_media.filenames import content_disposition, normalize_filename
from s5_media.service import sweep_orphans
from s5_media.storage import LocalStorage, key_for, new_stored_name

from .conftest import store_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a\x00b\r\nc.txt", "ab c.txt"),
        ("  spaced\t\tout .txt  ", "spaced out .txt"),
        ("...", "attachment"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("Cafe\u0301.txt", "Café.txt"),  # NFC
        ("y" * 400, "y" * 255),
        ("z" * 400 + ".xlsx", "z" * 250 + ".xlsx"),
    ],
)
def test_a_filename_is_normalised(raw: str, expected: str) -> None:
    assert normalize_filename(raw) == expected


def test_content_disposition_cannot_be_broken_out_of() -> None:
    header = content_disposition('a"b;c\\d é 日.txt')
    assert header == (
        "attachment; filename=\"a_b;c_d e _.txt\"; filename*=UTF-8''a%22b%3Bc%5Cd%20%C3%A9%20%E6%97%A5.txt"
    )
    header.encode("ascii")  # a header value must be ASCII


def test_the_text_check_follows_a_character_split_between_chunks() -> None:
    data = "é".encode()
    check = filetypes.TextCheck()
    check.feed(data[:1])
    check.feed(data[1:])
    assert check.finish()
    truncated = filetypes.TextCheck()
    truncated.feed(data[:1])
    assert not truncated.finish()


def test_a_large_pdf_with_binary_content_is_still_a_pdf() -> None:
    data = media_samples.pdf(padding=2 * 1024 * 1024)
    assert filetypes.detect(io.BytesIO(data), text=False).mime_type == filetypes.PDF


@pytest.mark.parametrize(
    ("detected", "content_type", "filename", "agrees"),
    [
        (filetypes.JPEG, "image/jpg", "a.jpg", True),
        (filetypes.PNG, "application/octet-stream", "a.png", True),
        (filetypes.PNG, "application/octet-stream", "a.jpg", False),
        (filetypes.PNG, None, "noextension", True),
        (filetypes.TEXT, "text/csv; charset=utf-8", "a.csv", True),
        (filetypes.TEXT, "text/html", "a.html", False),
        (filetypes.TEXT, None, "page.html", False),
        (filetypes.XLS, "application/vnd.ms-excel", "a.xls", True),
    ],
)
def test_the_declared_type_must_agree(detected: str, content_type: str | None, filename: str, agrees: bool) -> None:
    assert filetypes.agrees(detected, filetypes.declared_type(content_type, filename)) is agrees


async def test_a_refused_stream_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.prepare()

    async def breaks() -> object:
        yield b"some bytes"
        raise RuntimeError("client gone")

    with pytest.raises(RuntimeError):
        await storage.put_stream(breaks())  # type: ignore[arg-type]
    assert list(storage.incoming.iterdir()) == []


async def test_a_stored_object_streams_back_and_is_deleted(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.prepare()

    async def parts() -> object:
        for _ in range(3):
            yield os.urandom(100_000)

    staged = await storage.put_stream(parts())  # type: ignore[arg-type]
    with staged.open_for_reading() as f:
        written = f.read()
    key = key_for(new_stored_name("bin"))
    await staged.commit(key)
    stream = await storage.open_stream(key)
    assert stream.size == 300_000
    assert b"".join([chunk async for chunk in stream]) == written
    assert await storage.delete(key)
    assert not await storage.delete(key)


async def test_the_sweep_removes_no_row_when_the_whole_store_looks_empty(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    conn = app.state.pool
    ticket = await conn.fetchval(
        "INSERT INTO tickets (user_id, title, description, category) VALUES (1, 't', 'd', 'bug') RETURNING id"
    )
    name = new_stored_name("txt")
    await conn.execute(
        "INSERT INTO media_files (ticket_id, filename, original_filename, mime_type, file_size, uploaded_by)"
        " VALUES ($1, $2, 'x.txt', 'text/plain', 1, 1)",
        ticket,
        name,
    )
    empty = LocalStorage(store_of(client).parent / f"empty-{time.time_ns()}")
    empty.prepare()
    with caplog.at_level(logging.ERROR, logger="helpdesk.media"):
        report = await sweep_orphans(empty, conn, grace_seconds=0)
    assert report.rows_removed == 0
    assert "is MEDIA_DIR right" in caplog.text
    assert await conn.fetchval("SELECT count(*) FROM media_files WHERE filename = $1", name) == 1
    await conn.execute("DELETE FROM media_files WHERE filename = $1", name)
