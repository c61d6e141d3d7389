"""`make bench`'s drain scenario: how fast S6 empties a queue of N notifications, per channel.

For each channel in turn, N due notifications arrive at once (COPY into S6's table and the
NOTIFY that wakes its workers, in one transaction: a backlog as an outage or a bulk change
leaves it), and the run lasts until every row is `sent`. The rate is N over the time from that
commit to the last `sent_at` (both on the database's clock). Emails go
to the fleet's local SMTP sink (a real SMTP server writing one .eml file per message), with
their address given (no S1 lookups); SMS to the SMS sink.

Targets (issue #7): email to the local sink >= 200/s, in_app >= 2,000/s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from helpdesk_fleet.fleet import poll_until

TARGETS = {"email": 200.0, "in_app": 2_000.0}
CHANNELS = ("in_app", "email", "sms")


@dataclass
class DrainResult:
    channel: str
    count: int
    seconds: float  # from S6 ready to the last sent_at
    per_second: float
    sending_span_seconds: float  # first to last sent_at


async def _queue(db_url: str, channel: str, count: int) -> datetime:
    """Queue the backlog and wake S6; the database's time just after the commit."""
    now = datetime.now(UTC)
    records = [
        (
            1_000_000 + n % 500,
            "ticket_status_changed",
            channel,
            f"Ticket {n} moved to in_progress.",
            {"email": f"bench-{n % 500}@example.com", "sms": f"+1555{n % 10_000_000:07d}"}.get(channel),
            "bench",
            now,
        )
        for n in range(count)
    ]
    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "notifications",
                records=records,
                columns=["user_id", "type", "channel", "message", "recipient", "sender", "next_attempt_at"],
            )
            await conn.execute("SELECT pg_notify('s6_notifications', $1)", f"queue:{channel}")
        committed: datetime = await conn.fetchval("SELECT clock_timestamp()")
    finally:
        await conn.close()
    return committed


async def _left(db_url: str, channel: str) -> tuple[int, datetime | None, datetime | None]:
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE status <> 'sent') AS left,
                   min(sent_at) AS first, max(sent_at) AS last
              FROM notifications WHERE channel = $1 AND sender = 'bench'
            """,
            channel,
        )
    finally:
        await conn.close()
    assert row is not None
    return row["left"], row["first"], row["last"]


def drain(db_url: str, channel: str, count: int) -> DrainResult:
    committed = asyncio.run(_queue(db_url, channel, count))
    poll_until(
        lambda: asyncio.run(_left(db_url, channel))[0] == 0 or None,
        timeout=600,
        interval=0.2,
        what=f"{count} {channel} notifications to be sent",
    )
    _, first, last = asyncio.run(_left(db_url, channel))
    assert first is not None and last is not None
    seconds = max((last - committed).total_seconds(), 1e-6)
    return DrainResult(
        channel=channel,
        count=count,
        seconds=seconds,
        per_second=count / seconds,
        sending_span_seconds=(last - first).total_seconds(),
    )


def measure_drains(db_url: str, count: int) -> list[DrainResult]:
    results = []
    for channel in CHANNELS:
        result = drain(db_url, channel, count)
        print(f"  drain {count:,} {channel:<8} {result.per_second:8.0f} /s  ({result.seconds:.1f} s)", flush=True)
        results.append(result)
    return results


def print_drains(results: list[DrainResult]) -> None:
    print()
    print(f"{'S6 drain (queued backlog)':<30}{'count':>8}{'seconds':>9}{'per s':>9}   target")
    for r in results:
        target = TARGETS.get(r.channel)
        verdict = "" if target is None else f">= {target:,.0f}  {'met' if r.per_second >= target else 'MISSED'}"
        print(f"{r.channel:<30}{r.count:>8,}{r.seconds:>9.1f}{r.per_second:>9.0f}   {verdict}")
