"""The ticket conversation (issue 10) under wrk, through the gateway:

- GET /tickets/:id/comments?limit=200 and GET /tickets/:id/timeline (the whole thread, 500
  entries plus the ticket's history and files) on a ticket with 500 comments (a tenth of them
  internal notes), as staff: targets p99 <= 30 ms;
- POST /tickets/:id/comments, a staff reply on one of 1,000 tickets at random (each reply: a
  row lock on its ticket, the comment, the counters, two outbox rows for the owner): target
  >= 800 req/s; then how long S2's relay and S6 take to drain what it queued.

Run alone with `make bench ARGS="--only conversation"` (or `python -m tests.bench --only
conversation`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from copy import copy
from typing import Any

import asyncpg

from helpdesk_fleet.fleet import Fleet

THREAD_COMMENTS = 500
POST_TICKETS = 1_000
READ_TARGET_P99_MS = 30
POST_TARGET_RPS = 800


async def _seed(db_url: str, owner_id: int, staff_id: int) -> tuple[int, int]:
    """One ticket with a 500-comment thread, and the first of POST_TICKETS tickets to reply to."""
    conn = await asyncpg.connect(db_url)
    try:
        thread_id: int = await conn.fetchval(
            "INSERT INTO tickets (user_id, title, description, category, assigned_to, status)"
            " VALUES ($1, 'A long conversation', 'Five hundred replies.', 'support', $2, 'in_progress') RETURNING id",
            owner_id,
            staff_id,
        )
        await conn.execute(
            """
            WITH added AS (
                INSERT INTO ticket_comments (ticket_id, author_id, author_role, body, internal, created_at)
                SELECT $1,
                       CASE WHEN n % 2 = 0 THEN $2::integer ELSE $3::integer END,
                       CASE WHEN n % 2 = 0 THEN 'user' ELSE 'staff' END,
                       'Reply number ' || n || ': ' || repeat('the printer still shows the same error ', 4),
                       n % 10 = 5, now() - interval '1 day' + n * interval '1 minute'
                  FROM generate_series(1, $4::integer) AS n
                RETURNING internal, created_at
            )
            UPDATE tickets SET comment_count = (SELECT count(*) FROM added),
                               public_comment_count = (SELECT count(*) FROM added WHERE NOT internal),
                               activity_at = (SELECT max(created_at) FROM added),
                               public_activity_at = (SELECT max(created_at) FROM added WHERE NOT internal)
             WHERE id = $1
            """,
            thread_id,
            owner_id,
            staff_id,
            THREAD_COMMENTS,
        )
        await conn.execute(
            "INSERT INTO tickets (user_id, title, description, category)"
            " SELECT $1, 'Reply target ' || n, 'A ticket the benchmark replies to.', 'support'"
            " FROM generate_series(1, $2) AS n",
            owner_id,
            POST_TICKETS,
        )
        first: int = await conn.fetchval("SELECT min(id) FROM tickets WHERE title LIKE 'Reply target %'")
        await conn.execute("VACUUM (ANALYZE) tickets")
        await conn.execute("VACUUM (ANALYZE) ticket_comments")
        return thread_id, first
    finally:
        await conn.close()


async def _pending(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM tickets_outbox WHERE status = 'pending'")
        return count
    finally:
        await conn.close()


def run_conversation(fleet: Fleet, db_url: str, options: argparse.Namespace, tools: Any) -> dict[str, Any]:
    owner, staff = fleet.new_account("user"), fleet.new_account("staff")
    print(f"seeding a {THREAD_COMMENTS}-comment thread and {POST_TICKETS:,} tickets to reply to ...", flush=True)
    thread_id, first = asyncio.run(_seed(db_url, owner.id, staff.id))
    gateway = fleet.gateway_url
    reads = []
    for connections in sorted({options.conversation_connections, options.connections}):
        narrowed = copy(options)
        narrowed.connections = connections
        for path in (f"/tickets/{thread_id}/comments?limit=200", f"/tickets/{thread_id}/timeline"):
            reads.append(
                tools.measure(
                    f"GET {path.split('?')[0].replace(str(thread_id), ':id')}  {connections} conn",
                    f"{gateway}{path}",
                    "get_path.lua",
                    [staff.token],
                    narrowed,
                )
            )
    post = tools.measure(
        f"POST /tickets/:id/comments  {options.connections} conn",
        f"{gateway}/tickets/",
        "post_comment.lua",
        [staff.token, "/tickets/", str(first), str(POST_TICKETS)],
        options,
    )
    started = time.monotonic()
    while (left := asyncio.run(_pending(db_url))) and time.monotonic() - started < 300:
        time.sleep(0.5)
    drained = time.monotonic() - started
    print(f"  outbox: drained by S2's relay and S6 {drained:.1f} s after the run ({left} left)", flush=True)
    return {"reads": [vars(r) for r in reads], "post": vars(post), "outbox_drain_seconds": drained, "left": left}


def print_conversation(report: dict[str, Any]) -> None:
    print("\nconversation (targets: reads p99 <= 30 ms, posting >= 800 req/s)")
    for read in report["reads"]:
        verdict = "ok" if read["p99_ms"] <= READ_TARGET_P99_MS else "MISSED"
        print(
            f"  {read['scenario']:<48} {read['requests_per_second']:7.0f} req/s  p50 {read['p50_ms']:6.1f} ms"
            f"  p99 {read['p99_ms']:6.1f} ms  errors {read['errors']}  {verdict}"
        )
    post = report["post"]
    verdict = "ok" if post["requests_per_second"] >= POST_TARGET_RPS else "MISSED"
    print(
        f"  {post['scenario']:<48} {post['requests_per_second']:7.0f} req/s  p50 {post['p50_ms']:6.1f} ms"
        f"  p99 {post['p99_ms']:6.1f} ms  errors {post['errors']}  {verdict}"
    )
