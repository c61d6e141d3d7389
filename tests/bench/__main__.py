"""`make bench`: the fleet under wrk, gateway against direct, in one run.

Starts its own fleet as real processes (production settings: real hash cost, access logs on)
against a fresh database (the embedded PostgreSQL under `.bench/`, or the server in
`BENCH_DB_URL`), seeds 100,000 tickets with COPY, then runs wrk (2 threads, 32 connections,
15 s each, after a short warm-up) on:

- GET /tickets/:id through the gateway, and the same straight to S2 (random ids, staff token),
  in alternating runs (3 each by default; the median is kept),
- GET /tickets for a user who has 50 tickets, through the gateway,
- POST /tickets through the gateway,
- PATCH /workflow/status/:id through the gateway (S4: row lock, history, two outbox rows per
  change; every request a move the rules allow), with the CPU each process spent per request
  and what became of the outbox (drained by S6 when the fleet has it, else left pending),
- GET /workflow/queue (first page) through the gateway, after topping the table up to
  1,000,000 tickets with INSERT ... SELECT generate_series (the seconds it took are reported),
- the ticket conversation (tests/bench/conversation.py): reading a 500-comment thread and its
  timeline, and posting replies,
- S6 draining a backlog of 10,000 queued notifications per channel (tests/bench/drain.py,
  after the wrk scenarios; `--drain N`),
- S1's POST /auth/refresh and S2's staff ticket list with requester names against the same
  list without (tests/bench/accounts.py),
- S5 (tests/bench/media.py, first): 20 concurrent 10 MiB uploads and downloads through the
  gateway, MiB/s and S5's and the gateway's memory growth, and where an 11 MiB upload stops,

and prints req/s, p50, p99, errors, each service's peak RSS and the gateway/direct ratio
against the targets (>= 1,900 req/s, >= 80% of direct). Then, on a second fleet and database,
S7's figures at 1,000,000 tickets (tests/bench/analytics.py). Results also go to
`.bench/last-run.json`. Not part of `make test`: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from helpdesk_fleet.fleet import Fleet, running_fleet
from helpdesk_fleet.postgres import create_scratch_database, start_embedded, with_database
from tests.bench.accounts import print_accounts, run_accounts
from tests.bench.analytics import print_analytics, run_analytics
from tests.bench.conversation import print_conversation, run_conversation
from tests.bench.drain import DrainResult, measure_drains, print_drains
from tests.bench.media import run_media

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / ".bench"
LUA_DIR = Path(__file__).parent / "lua"

ORIGINAL_GATEWAY_RPS = 953  # the Node.js system on this machine kind (docs/performance.md)
TARGET_RPS = 1_900
TARGET_RATIO = 0.80
# S4 (issue #7): a status change, notification included, and the queue's first page.
STATUS_TARGET_RPS = 800
STATUS_TARGET_P99_MS = 60
QUEUE_TARGET_P99_MS = 50

WORDS = (
    "login crash printer invoice password email export report slow timeout error upload "
    "dashboard mobile sync calendar refund billing network vpn license update install"
).split()


@dataclass
class Result:
    scenario: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


async def seed_tickets(db_url: str, total: int, owner_id: int, owner_count: int) -> None:
    """`total` tickets: `owner_count` of them for `owner_id`, the rest spread over 2,000 other ids."""
    rng = random.Random(42)  # noqa: S311 - repeatable sample data, not secrets
    now = datetime.now(UTC)
    categories = ("bug", "feature", "support", "other")
    priorities = ("low", "medium", "high", "urgent")
    statuses = ("new", "assigned", "in_progress", "resolved", "closed")
    records = []
    for i in range(total):
        user_id = owner_id if i < owner_count else 1_000_000 + rng.randrange(2_000)
        title = " ".join(rng.choices(WORDS, k=4)).capitalize()
        description = " ".join(rng.choices(WORDS, k=30))
        created = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        records.append(
            (
                user_id,
                title,
                description,
                rng.choice(categories),
                rng.choice(priorities),
                rng.choice(statuses),
                created,
                created,
            )
        )
    conn = await asyncpg.connect(db_url)
    try:
        await conn.copy_records_to_table(
            "tickets",
            records=records,
            columns=["user_id", "title", "description", "category", "priority", "status", "created_at", "updated_at"],
        )
        # Vacuum now, or autovacuum does it during the first runs (100,000 fresh rows) and
        # takes CPU from whatever is measured then.
        await conn.execute("VACUUM (ANALYZE) tickets")
    finally:
        await conn.close()


def run_wrk(url: str, script: str, args: list[str], *, seconds: int, connections: int, threads: int) -> dict[str, Any]:
    lua = (LUA_DIR / script).read_text() + "\n" + (LUA_DIR / "report.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=BENCH_DIR) as script_file:
        script_file.write(lua)
        script_file.flush()
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            script_file.name,
        ]
        output = subprocess.run(
            [*command, url, "--", *args], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return report


def one_run(scenario: str, url: str, script: str, args: list[str], options: argparse.Namespace) -> Result:
    raw = run_wrk(url, script, args, seconds=options.seconds, connections=options.connections, threads=options.threads)
    return Result(
        scenario=scenario,
        requests_per_second=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=sum(raw["errors"].values()),
    )


def warm_up(url: str, script: str, args: list[str], options: argparse.Namespace) -> None:
    """Connections opened, pools filled, caches warm; not counted."""
    run_wrk(url, script, args, seconds=options.warmup, connections=options.connections, threads=options.threads)


def median_run(runs: list[Result]) -> Result:
    """The run with the median req/s (its own p50/p99), errors summed over all runs."""
    middle = sorted(runs, key=lambda r: r.requests_per_second)[len(runs) // 2]
    return Result(
        scenario=middle.scenario,
        requests_per_second=middle.requests_per_second,
        p50_ms=middle.p50_ms,
        p99_ms=middle.p99_ms,
        errors=sum(r.errors for r in runs),
    )


def measure(scenario: str, url: str, script: str, args: list[str], options: argparse.Namespace) -> Result:
    warm_up(url, script, args, options)
    result = one_run(scenario, url, script, args, options)
    print(f"  {result.scenario:<44} {result.requests_per_second:8.0f} req/s", flush=True)
    return result


def measure_alternating(
    pair: list[tuple[str, str, list[str]]], script: str, options: argparse.Namespace
) -> list[Result]:
    """Runs of each (scenario, url, args) in turn, `options.rounds` times, so that both sides of a
    ratio see the same machine (this one is noisy: one 15 s window can be 30% off the next)."""
    for _, url, args in pair:
        warm_up(url, script, args, options)
    runs: dict[str, list[Result]] = {scenario: [] for scenario, _, _ in pair}
    for round_number in range(1, options.rounds + 1):
        for scenario, url, args in pair:
            result = one_run(scenario, url, script, args, options)
            runs[scenario].append(result)
            print(f"  {scenario:<44} {result.requests_per_second:8.0f} req/s  (round {round_number})", flush=True)
    return [median_run(runs[scenario]) for scenario, _, _ in pair]


def cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every process in a service's process group, in seconds."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue  # the process went away while we looked
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pgid: int) -> float:
    """Sum of the peak RSS (VmHWM) of every process in a service's process group (granian's
    supervisor and its worker)."""
    total_kib = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process went away while we looked
    return total_kib / 1024


def print_report(results: list[Result], rss: dict[str, float], options: argparse.Namespace) -> dict[str, float]:
    print()
    print(
        f"wrk: {options.threads} threads, {options.connections} connections, {options.seconds} s per run; "
        f"GET /tickets/:id: median of {options.rounds} alternating runs"
    )
    print(f"{'scenario':<46}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in results:
        print(f"{r.scenario:<46}{r.requests_per_second:9.0f}{r.p50_ms:9.1f}{r.p99_ms:9.1f}{r.errors:8d}")
    print()
    print("peak RSS (MiB): " + ", ".join(f"{name} {mib:.0f}" for name, mib in rss.items()))
    summary: dict[str, float] = {}
    if not options.only_workflow:
        summary = print_s2_targets(results)
    print_workflow_targets(results)
    return summary


def print_s2_targets(results: list[Result]) -> dict[str, float]:
    gateway, direct = results[0].requests_per_second, results[1].requests_per_second
    ratio = gateway / direct
    print()
    print(f"gateway / direct (GET /tickets/:id):  {ratio:.2f}   target >= {TARGET_RATIO:.2f}  "
          f"{'met' if ratio >= TARGET_RATIO else 'MISSED'}")  # fmt: skip
    print(f"through the gateway: {gateway:.0f} req/s   target >= {TARGET_RPS}  "
          f"{'met' if gateway >= TARGET_RPS else 'MISSED'}"
          f"   ({gateway / ORIGINAL_GATEWAY_RPS:.1f}x the original's {ORIGINAL_GATEWAY_RPS})")  # fmt: skip
    return {"gateway_over_direct": ratio, "gateway_over_original": gateway / ORIGINAL_GATEWAY_RPS}


def print_workflow_targets(results: list[Result]) -> None:
    by_name = {r.scenario: r for r in results}
    status = by_name.get("PATCH /workflow/status/:id  via gateway")
    if status is not None:
        met = status.requests_per_second >= STATUS_TARGET_RPS and status.p99_ms <= STATUS_TARGET_P99_MS
        print(f"status change through the gateway: {status.requests_per_second:.0f} req/s, p99 {status.p99_ms:.1f} ms"
              f"   target >= {STATUS_TARGET_RPS} req/s, p99 <= {STATUS_TARGET_P99_MS} ms  "
              f"{'met' if met else 'MISSED'}")  # fmt: skip
    queue = by_name.get("GET /workflow/queue (1M tickets)  via gateway")
    if queue is not None:
        print(f"queue first page, 1M tickets: p99 {queue.p99_ms:.1f} ms   target <= {QUEUE_TARGET_P99_MS} ms  "
              f"{'met' if queue.p99_ms <= QUEUE_TARGET_P99_MS else 'MISSED'}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating gateway/direct runs of GET /tickets/:id (median kept)"
    )
    parser.add_argument(
        "--only-workflow", action="store_true", help="only S4's scenarios (status change, queue with 1M tickets)"
    )
    parser.add_argument("--analytics-tickets", type=int, default=1_000_000)
    parser.add_argument("--analytics-history", type=int, default=2_000_000)
    parser.add_argument("--analytics-feedback", type=int, default=200_000)
    parser.add_argument("--uncached-requests", type=int, default=20, help="sequential uncached reads per endpoint")
    parser.add_argument("--drain", type=int, default=10_000, help="notifications queued per channel for S6's drain")
    parser.add_argument(
        "--only",
        choices=("tickets", "media", "drain", "accounts", "analytics", "conversation"),
        help="run one part of the benchmark",
    )
    parser.add_argument(
        "--conversation-connections", type=int, default=8, help="wrk connections of the conversation's read runs"
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None and options.only not in ("media", "drain"):
        print("make bench needs wrk: sudo apt-get install wrk", file=sys.stderr)
        return 2
    BENCH_DIR.mkdir(exist_ok=True)
    admin_dsn = os.environ.get("BENCH_DB_URL") or start_embedded(BENCH_DIR / "postgres")
    admin = ("bench-admin@example.com", secrets.token_urlsafe(16))
    env = {
        # Production settings: real secrets, OWASP hash cost, one JSON access line per request.
        "ENVIRONMENT": "production",
        "JWT_SECRET": secrets.token_urlsafe(32),
        "SERVICE_TOKEN": secrets.token_urlsafe(32),
        "LOG_LEVEL": "INFO",
        "ACCESS_LOG": "true",
    }
    log_dir = BENCH_DIR / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    results: list[Result] = []
    rss: dict[str, float] = {}
    report: dict[str, Any] = {"options": vars(options)}
    drains: list[DrainResult] = []
    if options.only in (None, "tickets", "media", "drain", "accounts", "conversation"):
        db_url = asyncio.run(create_scratch_database(admin_dsn, prefix="bench"))
        try:
            with running_fleet(db_url, log_dir, env=env, admin=admin) as fleet:
                if options.only in (None, "media"):
                    # First, while the services are fresh: the RSS growth is measured against their idle.
                    report["media"] = run_media(fleet)
                if options.only in (None, "accounts"):
                    # Before the tickets scenarios: its pages are the newest tickets.
                    print("S1 refresh and S2 requester names ...", flush=True)
                    accounts_tools = SimpleNamespace(
                        run_wrk=run_wrk, warm_up=warm_up, cpu_seconds=cpu_seconds, bench_dir=BENCH_DIR
                    )
                    report["accounts"] = run_accounts(fleet, db_url, options, accounts_tools)
                if options.only in (None, "tickets"):
                    results, rss = run_scenarios(fleet, db_url, options)
                if options.only in (None, "conversation"):
                    tools = SimpleNamespace(measure=measure)
                    report["conversation"] = run_conversation(fleet, db_url, options, tools)
                if options.only in (None, "drain") and "s6-notifications" in fleet.processes:
                    print(f"S6 draining {options.drain:,} queued notifications per channel ...", flush=True)
                    drains = measure_drains(db_url, options.drain)
        finally:
            asyncio.run(drop_database(admin_dsn, db_url))
        if options.only in (None, "tickets"):
            report |= {"results": [asdict(r) for r in results], "peak_rss_mib": rss}
            report |= print_report(results, rss, options)
        if "accounts" in report:
            print_accounts(report["accounts"])
        if drains:
            report["drains"] = [asdict(d) for d in drains]
            print_drains(drains)
        if "conversation" in report:
            print_conversation(report["conversation"])
    if options.only in (None, "analytics"):
        analytics_db = asyncio.run(create_scratch_database(admin_dsn, prefix="bench_analytics"))
        tools = SimpleNamespace(measure=measure, peak_rss_mib=peak_rss_mib)
        try:
            with running_fleet(analytics_db, log_dir / "analytics", env=env, admin=admin) as fleet:
                report["analytics"] = run_analytics(fleet, analytics_db, options, tools)
        finally:
            asyncio.run(drop_database(admin_dsn, analytics_db))
        print_analytics(report["analytics"])
    (BENCH_DIR / "last-run.json").write_text(json.dumps(report, indent=2))
    analytics_errors = sum(r["errors"] for r in report.get("analytics", {}).get("cached_32_connections", []))
    accounts_errors = sum(r["errors"] for r in report.get("accounts", {}).get("results", []))
    return 1 if analytics_errors or accounts_errors or any(r.errors for r in results) else 0


def run_scenarios(fleet: Fleet, db_url: str, options: argparse.Namespace) -> tuple[list[Result], dict[str, float]]:
    owner = fleet.new_account("user")
    poster = fleet.new_account("user")
    print(f"seeding {options.tickets:,} tickets ...", flush=True)
    asyncio.run(seed_tickets(db_url, options.tickets, owner.id, owner_count=50))
    gateway = fleet.gateway_url
    tickets_direct = fleet.processes["s2-tickets"].url
    max_id = str(options.tickets)
    by_id = (
        []
        if options.only_workflow
        else measure_alternating(
            [
                ("GET /tickets/:id  via gateway", f"{gateway}/tickets/", [fleet.admin_token, "/tickets/", max_id]),
                ("GET /tickets/:id  direct to S2", f"{tickets_direct}/", [fleet.admin_token, "/", max_id]),
            ],
            "get_by_id.lua",
            options,
        )
    )
    results = [] if options.only_workflow else [
        *by_id,
        measure("GET /tickets (user with 50)  via gateway", f"{gateway}/tickets", "get_path.lua",
                [owner.token], options),
        measure("POST /tickets  via gateway", f"{gateway}/tickets", "post_ticket.lua", [poster.token], options),
    ]  # fmt: skip
    if "s4-workflow" in fleet.processes:
        results += workflow_scenarios(fleet, db_url, options)
    rss = {name: peak_rss_mib(p.proc.pid) for name, p in fleet.processes.items() if p.proc is not None}
    return results, rss


# Ticket ids the status scenario moves (all set to in_progress first): a block per wrk thread
# for the warm-up, then a fresh block per thread for the measured run.
STATUS_WARMUP_PER_THREAD = 5_000
STATUS_RUN_PER_THREAD = 20_000
QUEUE_TICKETS = 1_000_000


def _sql(db_url: str, sql: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(db_url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def workflow_scenarios(fleet: Fleet, db_url: str, options: argparse.Namespace) -> list[Result]:
    gateway = fleet.gateway_url
    warmup_ids = options.threads * STATUS_WARMUP_PER_THREAD
    run_ids = options.threads * STATUS_RUN_PER_THREAD
    _sql(
        db_url,
        "UPDATE tickets SET status = 'in_progress', assigned_to = NULL WHERE id BETWEEN 1 AND $1",
        warmup_ids + run_ids,
    )
    _sql(db_url, "VACUUM (ANALYZE) tickets")
    url, script, prefix = f"{gateway}/workflow/status/", "patch_status.lua", "/workflow/status/"
    run_wrk(url, script, [fleet.admin_token, prefix, "1", str(STATUS_WARMUP_PER_THREAD)],
            seconds=options.warmup, connections=options.connections, threads=options.threads)  # fmt: skip
    before = {name: cpu_seconds(p.proc.pid) for name, p in fleet.processes.items() if p.proc is not None}
    raw = run_wrk(url, script, [fleet.admin_token, prefix, str(warmup_ids + 1), str(STATUS_RUN_PER_THREAD)],
                  seconds=options.seconds, connections=options.connections, threads=options.threads)  # fmt: skip
    after = {name: cpu_seconds(p.proc.pid) for name, p in fleet.processes.items() if p.proc is not None}
    status = Result(
        scenario="PATCH /workflow/status/:id  via gateway",
        requests_per_second=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=sum(raw["errors"].values()),
    )
    print(f"  {status.scenario:<44} {status.requests_per_second:8.0f} req/s", flush=True)
    if raw["requests"] >= run_ids:
        print("  (the run went past its block of tickets: raise STATUS_RUN_PER_THREAD)", flush=True)
    cpu = {name: round((after[name] - before[name]) * 1000 / max(raw["requests"], 1), 3) for name in after}
    print("  CPU ms per status change: " + ", ".join(f"{name} {ms}" for name, ms in cpu.items()), flush=True)
    report_outbox(fleet, db_url)

    started = time.monotonic()
    top_up = QUEUE_TICKETS - _sql(db_url, "SELECT count(*) FROM tickets")
    if top_up > 0:
        _sql(
            db_url,
            """
            INSERT INTO tickets (user_id, title, description, category, status, priority, created_at, updated_at)
            SELECT 2000000 + i % 5000, 'Queue ticket ' || i, 'Seeded for the queue benchmark.',
                   (ARRAY['bug', 'feature', 'support', 'other'])[i % 4 + 1],
                   -- Like a real helpdesk: most tickets are done, a fifth are still open.
                   (ARRAY['new', 'assigned', 'in_progress', 'resolved', 'closed',
                          'closed', 'closed', 'closed', 'resolved', 'closed',
                          'closed', 'closed', 'closed', 'resolved', 'closed'])[i % 15 + 1],
                   (ARRAY['low', 'medium', 'high', 'urgent'])[i % 4 + 1],
                   now() - i * interval '1 second', now() - i * interval '1 second'
              FROM generate_series(1, $1) AS i
            """,
            top_up,
        )
        _sql(db_url, "VACUUM (ANALYZE) tickets")
    print(f"  topped up to {QUEUE_TICKETS:,} tickets in {time.monotonic() - started:.1f} s", flush=True)
    queue = measure("GET /workflow/queue (1M tickets)  via gateway", f"{gateway}/workflow/queue", "get_path.lua",
                    [fleet.admin_token], options)  # fmt: skip
    return [status, queue]


def report_outbox(fleet: Fleet, db_url: str) -> None:
    """Notifications included: with S6 in the fleet, how long until the outbox is drained."""
    pending = "SELECT count(*) FROM workflow_outbox WHERE status = 'pending'"
    if "s6-notifications" not in fleet.processes:
        print(f"  outbox: {_sql(db_url, pending):,} rows pending (no S6 in this fleet)", flush=True)
        return
    started = time.monotonic()
    while (left := _sql(db_url, pending)) and time.monotonic() - started < 300:
        time.sleep(0.5)
    print(f"  outbox: drained by S6 {time.monotonic() - started:.1f} s after the run ({left} left)", flush=True)


async def drop_database(admin_dsn: str, db_url: str) -> None:
    name = urlsplit(db_url).path.lstrip("/")
    conn = await asyncpg.connect(with_database(admin_dsn, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
