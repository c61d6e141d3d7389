"""The analytics data set of `make bench`: tickets, their history and ratings, made in bulk.

Shaped like a year of a busy helpdesk, so that the figures S7 computes are as expensive as they
would be for real: tickets created over the last 365 days (ids rising with time, as identity
columns give them), most of the older ones resolved or closed, the recent ones still spread
over every status; a staff assignment for every ticket that left `new` (its first staff
response) and a `resolved` row for every done one; owner edits (role `user`, which must not
count as a staff response) to make up the history's exact size; ratings by the owners of done
tickets, after their resolution. Everything is written with COPY.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from helpdesk_common.vocabulary import CATEGORIES, PRIORITIES

DAY = 86_400
OWNERS = 20_000
STAFF = 25
FIRST_OWNER_ID = 2_000_000
FIRST_STAFF_ID = 1_000_000
WORDS = (
    "login crash printer invoice password email export report slow timeout error upload "
    "dashboard mobile sync calendar refund billing network vpn license update install"
).split()


@dataclass(frozen=True)
class SeedCounts:
    tickets: int
    history: int
    feedback: int


@dataclass(frozen=True)
class SeedTimes:
    generate_seconds: float
    copy_seconds: float
    vacuum_seconds: float


def _status(rng: random.Random, age_seconds: float) -> str:
    if age_seconds < 14 * DAY:
        return ("new", "assigned", "in_progress", "resolved", "closed")[rng.randrange(5)]
    draw = rng.random()
    if draw < 0.45:
        return "closed"
    if draw < 0.90:
        return "resolved"
    return "in_progress" if draw < 0.95 else "assigned" if draw < 0.98 else "new"


async def seed(conn: asyncpg.Connection, counts: SeedCounts, *, now: datetime | None = None) -> SeedTimes:
    """COPY `counts` rows into tickets, ticket_history and feedback; then VACUUM (ANALYZE) them."""
    rng = random.Random(42)  # noqa: S311 - repeatable sample data, not secrets
    now = now or datetime.now(UTC)
    started = time.monotonic()
    created = sorted(now - timedelta(seconds=rng.randrange(365 * DAY)) for _ in range(counts.tickets))
    first_id = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM tickets")
    tickets = []
    history: list[tuple[int, int, str, str, str | None, str | None, datetime]] = []
    done: list[tuple[int, int, datetime]] = []  # (ticket id, owner, resolved at)
    for offset, created_at in enumerate(created):
        ticket_id = first_id + offset
        owner = FIRST_OWNER_ID + rng.randrange(OWNERS)
        status = _status(rng, (now - created_at).total_seconds())
        assignee = None if status == "new" else FIRST_STAFF_ID + rng.randrange(STAFF)
        title = " ".join(rng.choices(WORDS, k=4)).capitalize()
        description = " ".join(rng.choices(WORDS, k=12))
        category, priority = rng.choice(CATEGORIES), rng.choice(PRIORITIES)
        tickets.append((owner, title, description, category, priority, status, assignee, created_at, created_at))
        if assignee is None:
            continue
        responded = min(now, created_at + timedelta(seconds=rng.randrange(60, 2 * DAY)))
        history.append((ticket_id, assignee, "staff", "assigned_to", None, str(assignee), responded))
        if status in ("resolved", "closed"):
            resolved = min(now, responded + timedelta(seconds=rng.randrange(600, 5 * DAY)))
            history.append((ticket_id, assignee, "staff", "status", "in_progress", "resolved", resolved))
            done.append((ticket_id, owner, resolved))
    del history[counts.history :]
    while len(history) < counts.history:
        # Owner edits: history rows that are not a staff response.
        offset = rng.randrange(counts.tickets)
        owner, title = tickets[offset][0], tickets[offset][1]
        edited = min(now, created[offset] + timedelta(seconds=rng.randrange(60, DAY)))
        history.append((first_id + offset, owner, "user", "title", title, title + " (edited)", edited))
    history.sort(key=lambda row: row[6])
    rated = rng.sample(done, min(counts.feedback, len(done)))
    feedback = []
    for ticket_id, owner, resolved in rated:
        rated_at = min(now, resolved + timedelta(seconds=rng.randrange(600, 3 * DAY)))
        rating = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
        feedback.append((ticket_id, owner, rating, "Thanks" if rating >= 4 else None, rated_at, rated_at))
    feedback.sort(key=lambda row: row[4])
    generated = time.monotonic()
    await conn.copy_records_to_table(
        "tickets",
        records=tickets,
        columns=["user_id", "title", "description", "category", "priority", "status", "assigned_to",
                 "created_at", "updated_at"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "ticket_history",
        records=history,
        columns=["ticket_id", "changed_by", "changed_by_role", "field_name", "old_value", "new_value", "changed_at"],
    )
    await conn.copy_records_to_table(
        "feedback",
        records=feedback,
        columns=["ticket_id", "user_id", "rating", "comment", "created_at", "updated_at"],
    )
    copied = time.monotonic()
    # Vacuum now (visibility map for index-only scans, fresh statistics), or autovacuum does it
    # during the first runs and takes CPU from whatever is measured then.
    await conn.execute("VACUUM (ANALYZE) tickets, ticket_history, feedback")
    return SeedTimes(
        generate_seconds=generated - started, copy_seconds=copied - generated, vacuum_seconds=time.monotonic() - copied
    )
