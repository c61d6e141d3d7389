"""S5's rules: who may upload, list, download and delete; what an upload must be; the quotas;
and the orphan sweep.

Who may: uploading, listing and downloading need the ticket to be visible to the caller, which
S2 decides (flows.py); a ticket the caller cannot see is a 404, exactly as S2 answers, and a file
of such a ticket is a 404 like a file that does not exist. Deleting is for the uploader or
staff (a ticket owner who did not upload the file gets a 403).

An upload, in order (nothing is written to the table before the file is complete and in place):
1. `ticket_id` sent before the file: S2 is asked and the quota checked *before* the file is
   read, so a refused upload costs no more than its first part. Sent after the file, the same
   checks run once the file has arrived (and a refusal removes it).
2. The file streams into a temporary file in the store, counted: past the size limit (or the
   ticket's remaining quota) the upload is cut off at once with 413 (409), unread.
3. The type is judged from the bytes (filetypes.py) and compared with the declared one (415).
4. Under a per-ticket lock: the quota again, the file moved into place, the row inserted, commit.
Every failure on the way removes the temporary file; a failure after the move removes the file.
A crash between the move and the commit leaves a file without a row, which the sweep removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from helpdesk_common.db import acquire
from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser
from helpdesk_common.service_client import ServiceClient
from helpdesk_common.types import MAX_ID
from s5_media import filetypes
from s5_media.filenames import normalize_filename
from s5_media.flows import require_ticket, ticket_not_found, ticket_visible
from s5_media.forms import BodyTooLarge, FieldPart, FormError, FormReader, TooSlow, boundary_of, paced
from s5_media.repository import MediaRepository, PagePosition, TicketUsage
from s5_media.settings import Settings
from s5_media.storage import (
    MissingObject,
    StagedObject,
    Storage,
    StoredStream,
    age_seconds,
    is_valid_key,
    key_for,
    new_stored_name,
)

logger = logging.getLogger("helpdesk.media")

FILE_FIELD = "file"
TICKET_FIELD = "ticket_id"
ALLOWED_NAMES = "JPEG, PNG, GIF, WebP, PDF, plain text (UTF-8), Word (.doc, .docx) or Excel (.xls, .xlsx)"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def file_not_found(file_id: int) -> ApiError:
    return ApiError(404, f"File {file_id} not found.")


# --- limits that protect the service ------------------------------------------------------------


class UploadGate:
    """At most `limit` uploads in flight in this instance; one more is a 503 with Retry-After."""

    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        self.limit = limit
        self.retry_after = str(retry_after_seconds)
        self.in_flight = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise ApiError(
                503, "Too many uploads are in progress; try again shortly.", headers={"Retry-After": self.retry_after}
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


class FileTooLarge(Exception):
    def __init__(self, read: int) -> None:
        self.read = read


class QuotaExceeded(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Media:
    """What an S5 request works with (built from the app's state)."""

    settings: Settings
    storage: Storage
    pool: asyncpg.Pool
    services: ServiceClient


def check_quota(settings: Settings, usage: TicketUsage, *, incoming: int) -> None:
    """409 if one more file of `incoming` bytes would pass the ticket's limits."""
    if usage.files + 1 > settings.media_ticket_max_files:
        raise ApiError(
            409, f"This ticket already has {usage.files} files, the most one ticket may have; delete one first."
        )
    if usage.bytes + incoming > settings.media_ticket_max_bytes or usage.bytes >= settings.media_ticket_max_bytes:
        raise ApiError(
            409,
            f"This ticket's files would take more than its {_mib(settings.media_ticket_max_bytes)} "
            f"({_mib(usage.bytes)} used); delete some first.",
        )


async def _usage(pool: asyncpg.Pool, ticket_id: int) -> TicketUsage:
    async with acquire(pool) as conn:
        return await MediaRepository(conn).usage(ticket_id=ticket_id)


def _parse_ticket_id(value: bytes) -> int:
    text = value.decode("ascii", errors="replace").strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise ApiError(
            400,
            "Invalid ticket_id: must be a positive integer id.",
            details=[{"field": TICKET_FIELD, "message": "must be a positive integer id"}],
        )
    return int(text)


def _missing(field: str) -> ApiError:
    return ApiError(400, f"Invalid {field}: field required.", details=[{"field": field, "message": "field required"}])


async def _counted(
    chunks: AsyncIterator[bytes], text: filetypes.TextCheck, *, max_bytes: int, room: int | None
) -> AsyncIterator[bytes]:
    """The file's data, counted as it streams: cut off past the size limit or the quota's room."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLarge(size)
        if room is not None and size > room:
            raise QuotaExceeded
        text.feed(chunk)
        yield chunk


def _detect(staged: StagedObject, *, text: bool) -> filetypes.Verdict:
    with staged.open_for_reading() as file:
        return filetypes.detect(file, text=text)


async def upload(
    media: Media,
    *,
    user: TokenUser,
    token: str,
    content_type: str | None,
    content_length: int | None,
    body: AsyncIterator[bytes],
) -> asyncpg.Record:
    settings = media.settings
    boundary = boundary_of(content_type)
    if boundary is None:
        raise ApiError(415, "Send the upload as multipart/form-data, with the fields ticket_id and file.")
    limit = settings.media_max_file_bytes
    if content_length is not None and content_length > settings.media_max_body_bytes:
        logger.info("upload refused: declared too large", extra={"content_length": content_length, "bytes_read": 0})
        raise ApiError(413, f"The file is larger than the {_mib(limit)} limit.")
    reader = FormReader(
        paced(
            body,
            min_bytes_per_second=settings.media_upload_min_bytes_per_second,
            grace_seconds=settings.media_upload_rate_grace_seconds,
            idle_seconds=settings.media_upload_idle_seconds,
        ),
        boundary,
        max_body_bytes=settings.media_max_body_bytes,
    )
    try:
        return await _receive(media, reader, user=user, token=token)
    except (BodyTooLarge, FileTooLarge):
        logger.info("upload refused: too large", extra={"bytes_read": reader.bytes_read, "limit": limit})
        raise ApiError(413, f"The file is larger than the {_mib(limit)} limit.") from None
    except QuotaExceeded:
        quota = _mib(settings.media_ticket_max_bytes)
        raise ApiError(409, f"This ticket's files would take more than its {quota}; delete some first.") from None
    except TooSlow as exc:
        logger.info("upload cut off: too slow", extra={"bytes_read": exc.read, "seconds": round(exc.elapsed, 1)})
        raise ApiError(
            408,
            f"The upload was too slow (at least {settings.media_upload_min_bytes_per_second} bytes per second "
            "are needed); try again on a better connection.",
        ) from None
    except FormError as exc:
        raise ApiError(400, str(exc)) from None


async def _receive(media: Media, reader: FormReader, *, user: TokenUser, token: str) -> asyncpg.Record:
    settings, storage = media.settings, media.storage
    ticket_id: int | None = None
    authorized = False
    room: int | None = None
    staged: StagedObject | None = None
    original_filename = ""
    declared: str | None = None
    text = filetypes.TextCheck()
    placed_key: str | None = None
    try:
        while (part := await reader.next_part()) is not None:
            if isinstance(part, FieldPart):
                if part.name != TICKET_FIELD:
                    continue  # other fields are ignored, like unknown keys of a JSON body
                if ticket_id is not None:
                    raise ApiError(400, "Send ticket_id once.")
                ticket_id = _parse_ticket_id(part.value)
                if staged is None:
                    # The answer is known before the file is read: refuse without reading it.
                    await require_ticket(media.services, ticket_id=ticket_id, token=token)
                    authorized = True
                    usage = await _usage(media.pool, ticket_id)
                    check_quota(settings, usage, incoming=0)
                    room = settings.media_ticket_max_bytes - usage.bytes
                continue
            if part.name != FILE_FIELD:
                raise ApiError(400, f"Send the file in the form field named {FILE_FIELD!r}.")
            if staged is not None:
                raise ApiError(400, "Send one file per upload.")
            original_filename = normalize_filename(part.filename)
            declared = filetypes.declared_type(part.content_type, original_filename)
            staged = await storage.put_stream(
                _counted(reader.file_data(), text, max_bytes=settings.media_max_file_bytes, room=room)
            )
        if staged is None:
            raise _missing(FILE_FIELD)
        if ticket_id is None:
            raise _missing(TICKET_FIELD)
        if not authorized:
            await require_ticket(media.services, ticket_id=ticket_id, token=token)
        if staged.size == 0:
            raise ApiError(400, "The file is empty.")

        verdict = await asyncio.to_thread(_detect, staged, text=text.finish())
        if verdict.mime_type is None:
            raise ApiError(
                415, f"This type of file is not allowed (it looks like {verdict.seen}); send {ALLOWED_NAMES}."
            )
        if not filetypes.agrees(verdict.mime_type, declared):
            raise ApiError(
                415, f"The file's content is {verdict.mime_type}, but it was sent as {declared}; the two must agree."
            )

        stored_name = new_stored_name(filetypes.ALLOWED[verdict.mime_type])
        key = key_for(stored_name)
        async with acquire(media.pool) as conn, conn.transaction():
            repo = MediaRepository(conn)
            await repo.lock_ticket(ticket_id=ticket_id)
            check_quota(settings, await repo.usage(ticket_id=ticket_id), incoming=staged.size)
            await staged.commit(key)
            placed_key = key
            try:
                row = await repo.create(
                    ticket_id=ticket_id,
                    filename=stored_name,
                    original_filename=original_filename,
                    mime_type=verdict.mime_type,
                    file_size=staged.size,
                    uploaded_by=user.id,
                )
            except asyncpg.ForeignKeyViolationError:
                raise ticket_not_found(ticket_id) from None
        placed_key = None  # committed together with its row
        logger.info(
            "file stored",
            extra={"file_id": row["id"], "ticket_id": ticket_id, "mime_type": row["mime_type"], "size": staged.size},
        )
        return row
    finally:
        # Shielded: a client that leaves (a cancellation) must not interrupt the clean-up.
        if staged is not None:
            await asyncio.shield(staged.discard())  # a no-op once committed
        if placed_key is not None:
            await asyncio.shield(storage.delete(placed_key))
            logger.warning("file removed: its row was not committed", extra={"key": placed_key})


# --- list, download, delete ---------------------------------------------------------------------


def _decode_position(cursor: str | None) -> PagePosition | None:
    if cursor is None:
        return None
    uploaded_at, file_id = decode_cursor(cursor, kinds=(datetime, int))
    if not 0 < file_id <= MAX_ID:
        raise ApiError(400, "Invalid cursor.", details=[{"field": "cursor", "message": "not a valid cursor"}])
    try:
        uploaded_at = uploaded_at.astimezone(UTC)
    except OverflowError:
        raise ApiError(400, "Invalid cursor.", details=[{"field": "cursor", "message": "not a valid cursor"}]) from None
    return PagePosition(uploaded_at=uploaded_at, id=file_id)


async def list_page(
    media: Media, *, ticket_id: int, token: str, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    after = _decode_position(cursor)
    await require_ticket(media.services, ticket_id=ticket_id, token=token)
    async with acquire(media.pool) as conn:
        rows = await MediaRepository(conn).list_for_ticket(ticket_id=ticket_id, after=after, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1]["uploaded_at"], page[-1]["id"])


async def _get(media: Media, file_id: int) -> asyncpg.Record | None:
    async with acquire(media.pool) as conn:
        return await MediaRepository(conn).get(file_id=file_id)


async def open_download(media: Media, *, file_id: int, token: str) -> tuple[asyncpg.Record, StoredStream]:
    row = await _get(media, file_id)
    if row is None or not await ticket_visible(media.services, ticket_id=row["ticket_id"], token=token):
        raise file_not_found(file_id)
    try:
        stream = await media.storage.open_stream(key_for(row["filename"]))
    except MissingObject:
        logger.error("file missing from the store", extra={"file_id": file_id, "stored_name": row["filename"]})
        raise ApiError(404, f"File {file_id} is recorded but its content is missing from storage.") from None
    if stream.size != row["file_size"]:
        logger.error(
            "stored file has another size than recorded",
            extra={"file_id": file_id, "recorded": row["file_size"], "stored": stream.size},
        )
    return row, stream


async def delete(media: Media, *, file_id: int, user: TokenUser, token: str) -> None:
    row = await _get(media, file_id)
    if row is None:
        raise file_not_found(file_id)
    if not (user.is_staff or row["uploaded_by"] == user.id):
        if await ticket_visible(media.services, ticket_id=row["ticket_id"], token=token):
            raise ApiError(403, "Only the uploader or staff can delete this file.")
        raise file_not_found(file_id)
    async with acquire(media.pool) as conn, conn.transaction():
        deleted = await MediaRepository(conn).delete(file_id=file_id)
    if deleted is None:
        raise file_not_found(file_id)  # deleted meanwhile by someone else
    # The row first, then the file: a crash in between leaves a file without a row, which the
    # sweep removes; the other order would leave a row that answers 404.
    if not await media.storage.delete(key_for(deleted["filename"])):
        logger.warning("deleted file was already missing from the store", extra={"file_id": file_id})
    logger.info("file deleted", extra={"file_id": file_id, "ticket_id": deleted["ticket_id"], "by": user.id})


# --- the orphan sweep ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepReport:
    files_removed: int
    rows_removed: int
    staged_removed: int


async def sweep_orphans(storage: Storage, pool: asyncpg.Pool, *, grace_seconds: float) -> SweepReport:
    """Remove files without rows and rows without files (and stale temporary files), logging each.

    Rows are read before the store is listed: a row is inserted only after its file is in
    place, so every row read then has its file listed afterwards unless it really is missing.
    Files and temporary files younger than `grace_seconds` are left alone (another instance may
    be between moving a file into place and committing its row, or still receiving one).
    """
    async with acquire(pool) as conn:
        recorded = await MediaRepository(conn).all_filenames()
    objects = await storage.list_objects()
    stored: set[str] = set()
    files_removed = 0
    for obj in objects:
        if not is_valid_key(obj.key):
            logger.warning("sweep: a file the store did not write; left alone", extra={"key": obj.key})
            continue
        name = obj.key.rsplit("/", 1)[-1]
        stored.add(name)
        if name not in recorded and age_seconds(obj) >= grace_seconds and await storage.delete(obj.key):
            files_removed += 1
            logger.warning("sweep: removed a file without a row", extra={"key": obj.key})
    rows_removed = 0
    missing = sorted(recorded - stored)
    if missing and not stored:
        # Every file gone at once is a store that is not there (an unmounted volume, a wrong
        # MEDIA_DIR), not lost files: removing every row would make it permanent.
        logger.error(
            "sweep: the store holds no file at all but rows exist; is MEDIA_DIR right? No row removed.",
            extra={"rows": len(recorded)},
        )
    elif missing:
        async with acquire(pool) as conn, conn.transaction():
            for row in await MediaRepository(conn).delete_by_filenames(filenames=missing):
                rows_removed += 1
                logger.warning(
                    "sweep: removed a row whose file is missing",
                    extra={"file_id": row["id"], "ticket_id": row["ticket_id"], "stored_name": row["filename"]},
                )
    staged_removed = 0
    for obj in await storage.list_staged():
        if age_seconds(obj) >= grace_seconds and await storage.delete_staged(obj.key):
            staged_removed += 1
            logger.warning("sweep: removed an abandoned temporary file", extra={"key": obj.key})
    report = SweepReport(files_removed=files_removed, rows_removed=rows_removed, staged_removed=staged_removed)
    logger.info(
        "orphan sweep done",
        extra={"files_removed": files_removed, "rows_removed": rows_removed, "staged_removed": staged_removed},
    )
    return report
