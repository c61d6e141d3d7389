"""`make bench`, analytics part: S7's figures at 1,000,000 tickets, 2,000,000 history rows and
200,000 ratings (issue #9's targets: uncached /dashboard and /tickets/stats under 300 ms,
cached under 5 ms).

A fleet of its own on a fresh database: the data set is seeded with COPY (seconds reported),
then, through the gateway with a staff token:

- uncached: S7 restarted with ANALYTICS_CACHE_SECONDS=0, so every read runs the query set;
  sequential requests, p50 and p99;
- cached: S7 restarted with the default 60 s; sequential requests (p50, p99: the latency one
  reader sees) and wrk at 32 connections (req/s, p50, p99);

and S7's peak RSS. S4 does not run yet: its migrations (the history table and the milestones
rollup its trigger keeps) are applied here, as S4 itself would at start.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from helpdesk_common.migrations import run_migrations
from helpdesk_fleet.fleet import Fleet, poll_until
from tests.bench.analytics_data import SeedCounts, seed

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_MIGRATIONS = REPO_ROOT / "s4_workflow" / "s4_workflow" / "migrations"
PATHS = ("/analytics/dashboard", "/analytics/tickets/stats", "/analytics/feedback/stats")
UNCACHED_TARGET_MS = 300
CACHED_TARGET_MS = 5


@dataclass
class Latency:
    scenario: str
    requests: int
    p50_ms: float
    p99_ms: float


def quantile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def sequential(client: httpx.Client, path: str, count: int, scenario: str) -> Latency:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return Latency(scenario, count, statistics.median(times), quantile(times, 0.99))


async def seed_analytics(db_url: str, counts: SeedCounts) -> dict[str, float]:
    conn = await asyncpg.connect(db_url)
    try:
        await run_migrations(conn, owner="s4_workflow", directory=WORKFLOW_MIGRATIONS)
        times = await seed(conn, counts)
    finally:
        await conn.close()
    return asdict(times)


def restart_analytics(fleet: Fleet, cache_seconds: str, peak_rss: Any) -> float:
    """Restart S7 with another cache lifetime; returns the peak RSS of the process it stopped."""
    process = fleet.processes["s7-analytics"]
    rss = float(peak_rss(process.proc.pid)) if process.proc is not None else 0.0
    process.stop()
    process.env = {**process.env, "ANALYTICS_CACHE_SECONDS": cache_seconds}
    process.start()
    process.wait_ready(timeout=60)
    poll_until(lambda: "s7-analytics" in fleet.registered_names(), timeout=30, what="S7 to register again")
    return rss


def run_analytics(fleet: Fleet, db_url: str, options: argparse.Namespace, tools: Any) -> dict[str, Any]:
    counts = SeedCounts(options.analytics_tickets, options.analytics_history, options.analytics_feedback)
    print(f"seeding {counts.tickets:,} tickets, {counts.history:,} history rows, {counts.feedback:,} ratings ...",
          flush=True)  # fmt: skip
    started = time.monotonic()
    seed_times = asyncio.run(seed_analytics(db_url, counts))
    seed_seconds = time.monotonic() - started
    print(f"  seeded in {seed_seconds:.0f} s ({', '.join(f'{k} {v:.0f}' for k, v in seed_times.items())})", flush=True)

    staff = fleet.client(fleet.admin_token)
    rss = [restart_analytics(fleet, "0", tools.peak_rss_mib)]
    for path in PATHS:
        staff.get(path)  # warm: connections opened, pages in the cache
    uncached = [sequential(staff, path, options.uncached_requests, f"GET {path}  uncached") for path in PATHS]
    uncached.append(
        sequential(staff, "/feedback/stats", options.uncached_requests, "GET /feedback/stats  (S8, never cached)")
    )
    for result in uncached:
        print(f"  {result.scenario:<52} p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms", flush=True)

    rss.append(restart_analytics(fleet, "60", tools.peak_rss_mib))
    cached_sequential = []
    cached_wrk = []
    gateway = fleet.gateway_url
    for path in PATHS:
        staff.get(path)
        cached_sequential.append(sequential(staff, path, 500, f"GET {path}  cached, one reader"))
        cached_wrk.append(tools.measure(f"GET {path}  cached, 32 connections", f"{gateway}{path}", "get_path.lua",
                                        [fleet.admin_token], options))  # fmt: skip
    process = fleet.processes["s7-analytics"]
    rss.append(tools.peak_rss_mib(process.proc.pid) if process.proc is not None else 0.0)
    return {
        "counts": asdict(counts),
        "seed_seconds": seed_seconds,
        "seed_phases_seconds": seed_times,
        "uncached": [asdict(r) for r in uncached],
        "cached_one_reader": [asdict(r) for r in cached_sequential],
        "cached_32_connections": [asdict(r) for r in cached_wrk],
        "s7_peak_rss_mib": max(rss),
        "cache": httpx.get(f"{process.url}/health", timeout=5).json().get("figures_cache"),
    }


def print_analytics(report: dict[str, Any]) -> None:
    counts = report["counts"]
    print()
    print(f"analytics at {counts['tickets']:,} tickets, {counts['history']:,} history rows, "
          f"{counts['feedback']:,} ratings (seeded with COPY in {report['seed_seconds']:.0f} s)")  # fmt: skip
    print(f"{'scenario':<56}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for r in report["uncached"] + report["cached_one_reader"]:
        print(f"{r['scenario']:<56}{'':>9}{r['p50_ms']:9.1f}{r['p99_ms']:9.1f}")
    for r in report["cached_32_connections"]:
        print(f"{r['scenario']:<56}{r['requests_per_second']:9.0f}{r['p50_ms']:9.1f}{r['p99_ms']:9.1f}")
    print(f"S7 peak RSS: {report['s7_peak_rss_mib']:.0f} MiB")
    for r in report["uncached"][:2]:
        verdict = "met" if r["p50_ms"] < UNCACHED_TARGET_MS else "MISSED"
        print(f"{r['scenario']}: p50 {r['p50_ms']:.0f} ms  target < {UNCACHED_TARGET_MS} ms  {verdict}")
    for r in report["cached_one_reader"]:
        verdict = "met" if r["p50_ms"] < CACHED_TARGET_MS else "MISSED"
        print(f"{r['scenario']}: p50 {r['p50_ms']:.1f} ms  target < {CACHED_TARGET_MS} ms  {verdict}")
