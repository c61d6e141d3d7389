"""All of S5's SQL: the `media_files` table, reached through one asyncpg connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

MEDIA_COLUMNS = "id, ticket_id, filename, original_filename, mime_type, file_size, uploaded_by, uploaded_at"
# The first key of the two-key advisory lock that serialises uploads to one ticket (the second
# is the ticket id), so two uploads cannot both pass the quota. "S5" in ASCII.
QUOTA_LOCK_CLASS = 0x5335


@dataclass(frozen=True, slots=True)
class TicketUsage:
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class PagePosition:
    uploaded_at: datetime
    id: int


class MediaRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_ticket(self, *, ticket_id: int) -> None:
        """Until the transaction ends, no other upload to this ticket passes its quota check."""
        await self.conn.execute("SELECT pg_advisory_xact_lock($1, $2)", QUOTA_LOCK_CLASS, ticket_id)

    async def usage(self, *, ticket_id: int) -> TicketUsage:
        row = await self.conn.fetchrow(
            "SELECT count(*) AS files, coalesce(sum(file_size), 0)::bigint AS bytes FROM media_files "
            "WHERE ticket_id = $1",
            ticket_id,
        )
        assert row is not None
        return TicketUsage(files=row["files"], bytes=row["bytes"])

    async def create(
        self,
        *,
        ticket_id: int,
        filename: str,
        original_filename: str,
        mime_type: str,
        file_size: int,
        uploaded_by: int,
    ) -> asyncpg.Record:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO media_files (ticket_id, filename, original_filename, mime_type, file_size, uploaded_by)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING {MEDIA_COLUMNS}
            """,
            ticket_id,
            filename,
            original_filename,
            mime_type,
            file_size,
            uploaded_by,
        )
        assert row is not None
        return row

    async def get(self, *, file_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {MEDIA_COLUMNS} FROM media_files WHERE id = $1", file_id
        )
        return row

    async def list_for_ticket(self, *, ticket_id: int, after: PagePosition | None, limit: int) -> list[asyncpg.Record]:
        """Newest first; one index range scan (media_files_ticket_uploaded_idx)."""
        if after is None:
            rows: list[asyncpg.Record] = await self.conn.fetch(
                f"SELECT {MEDIA_COLUMNS} FROM media_files WHERE ticket_id = $1 "
                "ORDER BY uploaded_at DESC, id DESC LIMIT $2",
                ticket_id,
                limit,
            )
            return rows
        rows = await self.conn.fetch(
            f"SELECT {MEDIA_COLUMNS} FROM media_files WHERE ticket_id = $1 AND (uploaded_at, id) < ($2, $3) "
            "ORDER BY uploaded_at DESC, id DESC LIMIT $4",
            ticket_id,
            after.uploaded_at,
            after.id,
            limit,
        )
        return rows

    async def delete(self, *, file_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"DELETE FROM media_files WHERE id = $1 RETURNING {MEDIA_COLUMNS}", file_id
        )
        return row

    async def all_filenames(self) -> set[str]:
        """Every stored name (the orphan sweep compares them with the store)."""
        rows = await self.conn.fetch("SELECT filename FROM media_files")
        return {row["filename"] for row in rows}

    async def delete_by_filenames(self, *, filenames: list[str]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"DELETE FROM media_files WHERE filename = ANY($1::text[]) RETURNING {MEDIA_COLUMNS}", filenames
        )
        return rows
