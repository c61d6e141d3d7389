"""`make bench --only accounts` (and part of the full run): S1's refresh and S2's requester
names, through the gateway, on the first fleet.

- POST /auth/refresh: sessions made by real logins (OWASP hash cost), then wrk exchanges their
  refresh tokens, each answer's next token going back into the thread's pool (lua/refresh.lua).
  Target >= 1,000 req/s (issue #11). No hashing: a refresh is a SHA-256, one UPDATE ... INSERT
  statement and a JWT.
- The staff ticket list with requester names against the same list without: a user's own 50
  tickets (no `requester`), staff asking for the same 50 (`?user_id=`: the same rows, one
  requester named) and staff's newest 50 of everyone's (50 different named requesters). Target:
  names cost at most 20% (issue #11). S2 asks S1 once per page and caches names for 30 s, so
  a run measures the cached path and, at most twice, a call to S1.

Each scenario reports the CPU each process spent per request (from /proc, like the status
change's), because this machine is shared and req/s alone says little on a loaded one.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from helpdesk_fleet.fleet import PASSWORD, Fleet

NAMED_REQUESTERS = 500
NAMED_TICKETS = 5_000
OWNER_TICKETS = 50
PAGE = 50
TARGET_REFRESH_RPS = 1_000
TARGET_NAMES_COST = 0.20


async def _seed_requesters(db_url: str, owner_id: int) -> None:
    """500 named users (straight into S1's table: no hash needed, they never log in) and the
    newest 5,000 tickets spread over them; 50 tickets for the owner, just older."""
    conn = await asyncpg.connect(db_url)
    try:
        ids = await conn.fetch(
            """
            INSERT INTO users (email, password_hash, name)
            SELECT 'requester-' || i || '@bench.example.com', 'not-a-hash', 'Requester Number ' || i
              FROM generate_series(1, $1) AS i
            RETURNING id
            """,
            NAMED_REQUESTERS,
        )
        first = min(r["id"] for r in ids)
        await conn.execute(
            """
            INSERT INTO tickets (user_id, title, description, category, priority, status, created_at, updated_at)
            SELECT $1 + i % $2, 'Named ticket ' || i, 'Seeded for the requester names benchmark.',
                   'support', 'medium', 'new', now() - i * interval '1 millisecond', now()
              FROM generate_series(1, $3) AS i
            """,
            first,
            NAMED_REQUESTERS,
            NAMED_TICKETS,
        )
        await conn.execute(
            """
            INSERT INTO tickets (user_id, title, description, category, priority, status, created_at, updated_at)
            SELECT $1, 'Own ticket ' || i, 'Seeded for the requester names benchmark.',
                   'bug', 'low', 'new', now() - interval '1 hour' - i * interval '1 second', now()
              FROM generate_series(1, $2) AS i
            """,
            owner_id,
            OWNER_TICKETS,
        )
        await conn.execute("VACUUM (ANALYZE) tickets")
        await conn.execute("VACUUM (ANALYZE) users")
    finally:
        await conn.close()


def _refresh_tokens(fleet: Fleet, email: str, count: int) -> list[str]:
    client = fleet.client()
    tokens = []
    for _ in range(count):
        response = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        tokens.append(response.json()["refresh_token"])
    return tokens


def _with_cpu(fleet: Fleet, tools: Any, run: Any) -> tuple[Any, dict[str, float]]:
    """Run `run()` (a wrk run) and the CPU ms each process spent per request during it."""
    processes = {name: p for name, p in fleet.processes.items() if p.proc is not None}
    before = {name: tools.cpu_seconds(p.proc.pid) for name, p in processes.items()}
    raw = run()
    after = {name: tools.cpu_seconds(p.proc.pid) for name, p in processes.items()}
    requests = max(raw["requests"], 1)
    cpu = {name: round((after[name] - before[name]) * 1000 / requests, 3) for name in after}
    return raw, {name: ms for name, ms in cpu.items() if ms > 0}


def _row(scenario: str, raw: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    row = {
        "scenario": scenario,
        "requests_per_second": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": sum(raw["errors"].values()),
        "cpu_ms_per_request": cpu,
    }
    print(f"  {scenario:<52} {row['requests_per_second']:8.0f} req/s", flush=True)
    print("    CPU ms per request: " + ", ".join(f"{name} {ms}" for name, ms in cpu.items()), flush=True)
    return row


def run_accounts(fleet: Fleet, db_url: str, options: Any, tools: Any) -> dict[str, Any]:
    gateway = fleet.gateway_url
    rows: list[dict[str, Any]] = []

    # --- POST /auth/refresh ---------------------------------------------------------------
    refresher = fleet.new_account("user")
    per_thread = 2 * max(options.connections // options.threads, 1)
    needed = per_thread * options.threads
    print(f"  logging in {2 * needed} sessions for the refresh runs ...", flush=True)
    with tempfile.TemporaryDirectory(dir=tools.bench_dir) as folder:
        for phase in ("warm-up", "run"):
            tokens_file = Path(folder) / f"{phase}.txt"
            tokens_file.write_text("\n".join(_refresh_tokens(fleet, refresher.email, needed)) + "\n")
            args = [str(tokens_file), str(per_thread)]
            seconds = options.warmup if phase == "warm-up" else options.seconds

            def refresh_run(args: list[str] = args, seconds: int = seconds) -> dict[str, Any]:
                raw: dict[str, Any] = tools.run_wrk(
                    f"{gateway}/auth/refresh",
                    "refresh.lua",
                    args,
                    seconds=seconds,
                    connections=options.connections,
                    threads=options.threads,
                )
                return raw

            if phase == "warm-up":
                refresh_run()
            else:
                raw, cpu = _with_cpu(fleet, tools, refresh_run)
                rows.append(_row("POST /auth/refresh  via gateway", raw, cpu))

    # --- requester names ------------------------------------------------------------------
    owner = fleet.new_account("user")
    staff = fleet.new_account("staff")
    asyncio.run(_seed_requesters(db_url, owner.id))
    # The pages hold what they should (and S2's cache is warm for the runs).
    staff_all = httpx.get(
        f"{gateway}/tickets", params={"limit": PAGE}, headers={"Authorization": f"Bearer {staff.token}"}
    ).json()["tickets"]
    assert len({t["user_id"] for t in staff_all}) == PAGE and all(t["requester"]["name"] for t in staff_all)
    lists = [
        ("GET /tickets?limit=50  user's own (no names)", f"{gateway}/tickets?limit={PAGE}", owner.token),
        (
            "GET /tickets?user_id=&limit=50  staff (1 name)",
            f"{gateway}/tickets?user_id={owner.id}&limit={PAGE}",
            staff.token,
        ),
        ("GET /tickets?limit=50  staff, everyone's (50 names)", f"{gateway}/tickets?limit={PAGE}", staff.token),
    ]
    for scenario, url, token in lists:
        tools.warm_up(url, "get_path.lua", [token], options)

        def list_run(url: str = url, token: str = token) -> dict[str, Any]:
            raw: dict[str, Any] = tools.run_wrk(
                url,
                "get_path.lua",
                [token],
                seconds=options.seconds,
                connections=options.connections,
                threads=options.threads,
            )
            return raw

        raw, cpu = _with_cpu(fleet, tools, list_run)
        rows.append(_row(scenario, raw, cpu))
    return {"results": rows}


def print_accounts(report: dict[str, Any]) -> None:
    rows = report["results"]
    print()
    print(f"{'accounts scenario':<54}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in rows:
        print(f"{r['scenario']:<54}{r['requests_per_second']:9.0f}{r['p50_ms']:9.1f}{r['p99_ms']:9.1f}{r['errors']:8d}")
    refresh, own, one_name, all_names = rows
    met = refresh["requests_per_second"] >= TARGET_REFRESH_RPS
    print(f"refresh: {refresh['requests_per_second']:.0f} req/s   target >= {TARGET_REFRESH_RPS}  "
          f"{'met' if met else 'MISSED'}")  # fmt: skip
    for named in (one_name, all_names):
        cost = 1 - named["requests_per_second"] / own["requests_per_second"]
        print(f"names cost ({named['scenario'].split('staff')[-1].strip()}): {cost:.0%} of the unnamed list's req/s"
              f"   target <= {TARGET_NAMES_COST:.0%}  {'met' if cost <= TARGET_NAMES_COST else 'MISSED'}")  # fmt: skip
