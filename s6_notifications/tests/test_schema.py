"""The table agrees with the shared vocabulary, and the hot queries use their indexes."""

from __future__ import annotations

import re

import asyncpg
import httpx

from helpdesk_common.vocabulary import NOTIFICATION_CHANNELS, NOTIFICATION_TYPES
from s6_notifications.schemas import STATUSES


async def _allowed(db: asyncpg.Connection, constraint: str) -> set[str]:
    definition: str = await db.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1", constraint
    )
    return set(re.findall(r"'([a-z_]+)'::text", definition))


async def test_check_constraints_allow_exactly_the_shared_vocabulary(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    assert await _allowed(db, "notifications_type_valid") == set(NOTIFICATION_TYPES)
    assert await _allowed(db, "notifications_channel_valid") == set(NOTIFICATION_CHANNELS)
    assert await _allowed(db, "notifications_status_valid") == set(STATUSES)


async def _plan(db: asyncpg.Connection, sql: str, *args: object) -> str:
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        rows = await db.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def test_the_claim_the_history_and_the_stream_use_their_indexes(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute("ANALYZE notifications")
    due = await _plan(
        db,
        "SELECT id FROM notifications WHERE status = 'pending' AND channel = $1 AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT 100",
        "email",
    )
    assert "notifications_due_idx" in due
    lapsed = await _plan(
        db,
        "SELECT id FROM notifications WHERE status = 'sending' AND channel = $1 AND claimed_until <= now()"
        " ORDER BY claimed_until LIMIT 100",
        "email",
    )
    assert "notifications_claimed_idx" in lapsed
    history = await _plan(
        db, "SELECT id FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 50", 7
    )
    assert "notifications_user_created_idx" in history
    stream = await _plan(
        db, "SELECT id FROM notifications WHERE user_id = $1 AND stream_seq > $2 ORDER BY stream_seq LIMIT 100", 7, 0
    )
    assert "notifications_user_stream_idx" in stream
