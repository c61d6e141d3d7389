"""S7 analytics through the gateway, against the fleet's database: exact figures, the cache.

The figures are checked against an independent computation in Python over every row of the
database (the tickets other tests made included): the reference below follows the contract's
definitions (docs/api.md, S7) with plain loops, sorting and linear interpolation, and shares
no code with S7's SQL. A small data set seeded with SQL (tickets with chosen ages and statuses,
staff and owner history rows, ratings) makes every figure non-trivial.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.fleet import Fleet, poll_until
from tests.analytics_support import apply_workflow_migrations, health, signal_idle, sql

pytestmark = pytest.mark.xdist_group("fleet")

DAY = timedelta(days=1)
OPEN = ("new", "assigned", "in_progress")


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def expected_metrics(
    tickets: list[asyncpg.Record],
    history: list[asyncpg.Record],
    feedback: list[asyncpg.Record],
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    def in_period(moment: datetime) -> bool:
        return (start is None or moment >= start) and (end is None or moment < end)

    window_end = end or now
    window_start = start or midnight((window_end - timedelta(microseconds=1)).date() - 29 * DAY)
    period_tickets = [t for t in tickets if in_period(t["created_at"])]
    window_tickets = [t for t in tickets if window_start <= t["created_at"] < window_end]

    first_staff: dict[int, datetime] = {}
    first_resolved: dict[int, datetime] = {}
    for row in history:
        if row["changed_by_role"] in ("staff", "admin"):
            first_staff[row["ticket_id"]] = min(first_staff.get(row["ticket_id"], row["changed_at"]), row["changed_at"])
        if row["field_name"] == "status" and row["new_value"] == "resolved":
            tid = row["ticket_id"]
            first_resolved[tid] = min(first_resolved.get(tid, row["changed_at"]), row["changed_at"])

    def durations(firsts: dict[int, datetime]) -> dict[str, Any]:
        seconds = [
            max((firsts[t["id"]] - t["created_at"]).total_seconds(), 0.0) for t in window_tickets if t["id"] in firsts
        ]
        if not seconds:
            return {"median_seconds": 0.0, "p90_seconds": 0.0, "tickets": 0}
        return {
            "median_seconds": round(percentile(seconds, 0.5), 2),
            "p90_seconds": round(percentile(seconds, 0.9), 2),
            "tickets": len(seconds),
        }

    def csat(ratings: list[int]) -> dict[str, Any]:
        happy = sum(1 for r in ratings if r >= 4)
        return {"percent": round(100 * happy / len(ratings), 2) if ratings else 0.0, "ratings": len(ratings)}

    def per_day(moments: list[datetime], days: list[date]) -> list[int]:
        counts = Counter(m.date() for m in moments)
        return [counts[d] for d in days]

    last_day = (window_end - timedelta(microseconds=1)).date()
    days = [window_start.date() + i * DAY for i in range((last_day - window_start.date()).days + 1)]
    trend_days = [now.date() - i * DAY for i in range(6, -1, -1)]
    resolved_moments = [
        h["changed_at"]
        for h in history
        if h["field_name"] == "status" and h["new_value"] == "resolved" and window_start <= h["changed_at"] < window_end
    ]
    period_ratings = [f["rating"] for f in feedback if in_period(f["updated_at"])]
    loads: dict[int, list[int]] = {}
    for t in period_tickets:
        if t["assigned_to"] is not None:
            loads.setdefault(t["assigned_to"], [0, 0])[0 if t["status"] in OPEN else 1] += 1
    open_ages = [(now - t["created_at"]) for t in tickets if t["status"] in OPEN]
    by_rating = {str(r): period_ratings.count(r) for r in range(1, 6)}
    return {
        "tickets": {
            "total": len(period_tickets),
            "by_status": {s: sum(1 for t in period_tickets if t["status"] == s) for s in (*OPEN, "resolved", "closed")},
            "by_category": {
                c: sum(1 for t in period_tickets if t["category"] == c) for c in ("bug", "feature", "support", "other")
            },
            "by_priority": {
                p: sum(1 for t in period_tickets if t["priority"] == p) for p in ("low", "medium", "high", "urgent")
            },
            "recent_trend": [
                {"date": d.isoformat(), "count": n}
                for d, n in zip(
                    trend_days,
                    per_day([t["created_at"] for t in tickets if t["created_at"] <= now], trend_days),
                    strict=True,
                )
            ],
        },
        "feedback": {
            "total": len(period_ratings),
            "average_rating": round(sum(period_ratings) / len(period_ratings), 2) if period_ratings else 0.0,
            "by_rating": by_rating,
        },
        "first_response": durations(first_staff),
        "resolution": durations(first_resolved),
        "open_by_age": {
            "under_1d": sum(1 for a in open_ages if a < DAY),
            "from_1d_to_3d": sum(1 for a in open_ages if DAY <= a < 3 * DAY),
            "from_3d_to_7d": sum(1 for a in open_ages if 3 * DAY <= a < 7 * DAY),
            "over_7d": sum(1 for a in open_ages if a >= 7 * DAY),
        },
        "by_assignee": [
            {"assignee_id": a, "open": o, "resolved": r}
            for a, (o, r) in sorted(loads.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        ],
        "csat": {
            "overall": csat(period_ratings),
            "last_7d": csat([f["rating"] for f in feedback if f["updated_at"] >= now - 7 * DAY]),
            "last_30d": csat([f["rating"] for f in feedback if f["updated_at"] >= now - 30 * DAY]),
        },
        "daily": [
            {"date": d.isoformat(), "created": c, "resolved": r}
            for d, c, r in zip(
                days,
                per_day([t["created_at"] for t in window_tickets], days),
                per_day(resolved_moments, days),
                strict=True,
            )
        ],
        "active_users": len({t["user_id"] for t in window_tickets}),
        "recent_ids": [
            t["id"] for t in sorted(period_tickets, key=lambda t: (t["created_at"], t["id"]), reverse=True)[:10]
        ],
        "last_24h": sum(1 for t in tickets if now - DAY <= t["created_at"] <= now),
        "last_7d": sum(1 for t in tickets if now - 7 * DAY <= t["created_at"] <= now),
        "last_30d": sum(1 for t in tickets if now - 30 * DAY <= t["created_at"] <= now),
        "ratings": period_ratings,
    }


def everything(fleet: Fleet) -> tuple[list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record]]:
    return (
        sql(fleet, "SELECT id, user_id, category, priority, status, assigned_to, created_at FROM tickets"),
        sql(fleet, "SELECT ticket_id, changed_by_role, field_name, new_value, changed_at FROM ticket_history"),
        sql(fleet, "SELECT ticket_id, user_id, rating, updated_at FROM feedback"),
    )


@pytest.fixture(scope="module")
def seeded(fleet: Fleet) -> dict[str, Any]:
    """Tickets of chosen ages and states, their history and ratings, written with SQL.

    Times are whole minutes away from now and from every window's edge, so the few seconds
    between seeding and computing cannot move a ticket across one."""
    apply_workflow_migrations(fleet)
    now = datetime.now(UTC).replace(microsecond=0)
    owner, staff_a, staff_b = (1_500_000_000 + secrets.randbelow(10_000_000) * 10 + i for i in range(3))
    # (age, status, category, priority, assignee, first staff response after, resolved after, rating)
    plan = [
        (timedelta(hours=2), "new", "bug", "urgent", None, None, None, None),
        (timedelta(hours=30), "assigned", "bug", "high", staff_a, timedelta(minutes=20), None, None),
        (timedelta(days=2, hours=5), "in_progress", "feature", "medium", staff_b, timedelta(hours=3), None, None),
        (timedelta(days=5), "in_progress", "support", "low", staff_a, timedelta(hours=1), None, None),
        (timedelta(days=9), "resolved", "support", "medium", staff_a, timedelta(minutes=45), timedelta(hours=10), 5),
        (timedelta(days=12), "closed", "other", "low", staff_b, timedelta(hours=6), timedelta(days=1), 4),
        (timedelta(days=20), "resolved", "bug", "high", staff_b, timedelta(minutes=5), timedelta(hours=2), 2),
        (timedelta(days=26), "closed", "bug", "urgent", staff_a, timedelta(hours=9), timedelta(days=3), 5),
        (timedelta(days=45), "closed", "feature", "medium", staff_a, timedelta(hours=4), timedelta(days=2), 3),
        (timedelta(days=400), "closed", "support", "low", staff_b, timedelta(hours=1), timedelta(hours=5), 1),
    ]
    ticket_ids = []
    for age, status, category, priority, assignee, responded, resolved, rating in plan:
        created = now - age - timedelta(minutes=7)
        ticket_id = sql(
            fleet,
            "INSERT INTO tickets (user_id, title, description, category, priority, status, assigned_to, created_at,"
            " updated_at) VALUES ($1, 'Seeded', 'For the figures', $2, $3, $4, $5, $6, $6) RETURNING id",
            owner, category, priority, status, assignee, created,
        )[0]["id"]  # fmt: skip
        ticket_ids.append(ticket_id)
        rows: list[tuple[int, str, str, str | None, datetime]] = [
            # An owner's edit before any staff row: not a staff response.
            (owner, "user", "title", "Seeded!", created + timedelta(minutes=3)),
        ]
        if responded is not None:
            rows.append((assignee, "staff", "assigned_to", str(assignee), created + responded))
            rows.append((assignee, "staff", "priority", priority, created + responded + timedelta(minutes=30)))
        if resolved is not None:
            rows.append((assignee, "staff", "status", "resolved", created + resolved))
            # Reopened and resolved again later: the first resolution counts.
            rows.append((assignee, "admin", "status", "resolved", created + resolved + timedelta(hours=1)))
        for changed_by, role, field, value, at in rows:
            sql(
                fleet,
                "INSERT INTO ticket_history (ticket_id, changed_by, changed_by_role, field_name, new_value, changed_at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                ticket_id, changed_by, role, field, value, at,
            )  # fmt: skip
        if rating is not None:
            rated = created + (resolved or timedelta()) + timedelta(hours=2)
            sql(
                fleet,
                "INSERT INTO feedback (ticket_id, user_id, rating, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
                ticket_id, owner, rating, rated,
            )  # fmt: skip
    return {"ticket_ids": ticket_ids, "owner": owner, "now": now}


def staff_client(fleet: Fleet) -> httpx.Client:
    return fleet.client(fleet.admin_token)


def refreshed(fleet: Fleet) -> str:
    response = staff_client(fleet).post("/analytics/refresh")
    assert response.status_code == 200, response.text
    assert response.json()["message"]
    cached_at: str = response.json()["cached_at"]
    return cached_at


def test_the_figures_are_exact_over_the_whole_database(fleet: Fleet, seeded: dict[str, Any]) -> None:
    signal_idle(fleet)
    cached_at = refreshed(fleet)
    dashboard = staff_client(fleet).get("/analytics/dashboard")
    assert dashboard.status_code == 200, dashboard.text
    body = dashboard.json()
    metrics = body["metrics"]
    assert metrics["cached_at"] == body["cached_at"] == body["dashboard_generated_at"] == cached_at
    now = datetime.fromisoformat(cached_at)
    want = expected_metrics(*everything(fleet), now=now)
    for key in ("tickets", "feedback", "first_response", "resolution", "open_by_age", "by_assignee", "csat", "daily"):
        assert metrics[key] == want[key], key
    assert metrics["period"] == {"from": None, "to": None}
    assert body["active_users"] == want["active_users"]
    assert [t["id"] for t in body["recent_tickets"]] == want["recent_ids"]
    # The seed alone makes the response figures non-trivial.
    assert metrics["first_response"]["tickets"] >= 7 and metrics["resolution"]["tickets"] >= 4

    assert staff_client(fleet).get("/analytics/metrics").json() == metrics
    stats = staff_client(fleet).get("/analytics/tickets/stats").json()
    by_status = want["tickets"]["by_status"]
    assert stats == {
        "total": want["tickets"]["total"],
        "last_24h": want["last_24h"],
        "last_7d": want["last_7d"],
        "last_30d": want["last_30d"],
        "new_count": by_status["new"],
        "assigned_count": by_status["assigned"],
        "in_progress_count": by_status["in_progress"],
        "resolved_count": by_status["resolved"],
        "closed_count": by_status["closed"],
        "open_count": sum(by_status[s] for s in OPEN),
        "cached_at": cached_at,
    }
    ratings = want["ratings"]
    feedback_stats = staff_client(fleet).get("/analytics/feedback/stats").json()
    names = {5: "five_star", 4: "four_star", 3: "three_star", 2: "two_star", 1: "one_star"}
    assert feedback_stats == {
        "total": len(ratings),
        "average_rating": round(sum(ratings) / len(ratings), 2),
        "min_rating": min(ratings),
        "max_rating": max(ratings),
        **{names[r]: ratings.count(r) for r in names},
        "csat_percent": want["csat"]["overall"]["percent"],
        "cached_at": cached_at,
    }


def test_a_period_narrows_the_figures_exactly(fleet: Fleet, seeded: dict[str, Any]) -> None:
    now: datetime = seeded["now"]
    start, end = (now - 50 * DAY).date(), (now - 8 * DAY).date()
    response = staff_client(fleet).get(
        "/analytics/dashboard", params={"from": start.isoformat(), "to": end.isoformat()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    metrics = body["metrics"]
    period_start, period_end = midnight(start), midnight(end + DAY)
    assert metrics["period"] == {"from": period_start.isoformat(timespec="microseconds"),
                                 "to": period_end.isoformat(timespec="microseconds")}  # fmt: skip
    want = expected_metrics(
        *everything(fleet), now=datetime.fromisoformat(metrics["cached_at"]), start=period_start, end=period_end
    )
    for key in ("tickets", "feedback", "first_response", "resolution", "open_by_age", "by_assignee", "csat", "daily"):
        assert metrics[key] == want[key], key
    assert len(metrics["daily"]) == (end - start).days + 1
    assert body["active_users"] == want["active_users"]
    assert [t["id"] for t in body["recent_tickets"]] == want["recent_ids"]
    # Only the seed lives that far back: five of its tickets, all five rated.
    assert metrics["tickets"]["total"] == 5 and metrics["feedback"]["total"] == 5


def test_a_period_with_no_data_gives_zeros_never_nulls(fleet: Fleet) -> None:
    params = {"from": "1990-01-01", "to": "1990-01-31"}
    metrics = staff_client(fleet).get("/analytics/metrics", params=params).json()
    assert metrics["tickets"]["total"] == 0 and set(metrics["tickets"]["by_status"].values()) == {0}
    assert metrics["feedback"] == {"total": 0, "average_rating": 0.0, "by_rating": dict.fromkeys("12345", 0)}
    assert (
        metrics["first_response"] == metrics["resolution"] == {"median_seconds": 0.0, "p90_seconds": 0.0, "tickets": 0}
    )
    assert metrics["csat"]["overall"] == {"percent": 0.0, "ratings": 0}
    assert metrics["by_assignee"] == [] and len(metrics["daily"]) == 31
    stats = staff_client(fleet).get("/analytics/feedback/stats", params=params).json()
    assert {k: v for k, v in stats.items() if k != "cached_at"} == dict.fromkeys(
        ("total", "min_rating", "max_rating", "five_star", "four_star", "three_star", "two_star", "one_star"), 0
    ) | {"average_rating": 0.0, "csat_percent": 0.0}

    def no_nulls(value: Any) -> bool:
        if isinstance(value, dict):
            return all(no_nulls(v) for k, v in value.items() if k not in ("from", "to"))
        if isinstance(value, list):
            return all(no_nulls(v) for v in value)
        return value is not None

    assert no_nulls(metrics)


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"from": "2026-13-01"},
        {"to": "2026-11-24T10:00:00"},  # no offset
        {"from": "2026-11-02", "to": "2026-11-01"},
        {"from": "2020-01-01", "to": "2022-01-01"},  # more than 366 days
        {"from": "x" * 41},
    ],
)
def test_a_bad_period_is_a_400(fleet: Fleet, params: dict[str, str]) -> None:
    for path in ("/analytics/metrics", "/analytics/dashboard", "/analytics/tickets/stats", "/analytics/feedback/stats"):
        response = staff_client(fleet).get(path, params=params)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["details"][0]["field"] in ("from", "to")


def feedback_total(fleet: Fleet) -> tuple[int, str]:
    body = staff_client(fleet).get("/analytics/feedback/stats").json()
    return body["total"], body["cached_at"]


def test_figures_are_cached_until_a_refresh_signal_and_the_next_read_is_current(
    fleet: Fleet, seeded: dict[str, Any]
) -> None:
    signal_idle(fleet)
    cached_at = refreshed(fleet)
    total, read_at = feedback_total(fleet)
    assert read_at == cached_at
    ticket_id = seeded["ticket_ids"][0]
    # Written behind S8's back (no signal): the cache does not see it.
    sql(
        fleet,
        "INSERT INTO feedback (ticket_id, user_id, rating) VALUES ($1, $2, 3)",
        ticket_id, seeded["owner"] + 99,
    )  # fmt: skip
    try:
        assert feedback_total(fleet) == (total, cached_at)
        # The refresh signal (S8 sends the same one, with the service credential).
        signalled = httpx.post(
            f"{fleet.processes['s7-analytics'].url}/refresh", headers={"X-Service-Token": fleet.service_token}
        )
        assert signalled.status_code == 200, signalled.text
        new_total, new_cached_at = feedback_total(fleet)
        assert new_total == total + 1 and new_cached_at == signalled.json()["cached_at"] > cached_at
    finally:
        sql(fleet, "DELETE FROM feedback WHERE ticket_id = $1 AND user_id = $2", ticket_id, seeded["owner"] + 99)
        refreshed(fleet)


def cache_counters(fleet: Fleet) -> dict[str, int]:
    counters: dict[str, int] = health(fleet, "s7-analytics")["figures_cache"]
    return counters


class FeedbackLocked:
    """Holds an ACCESS EXCLUSIVE lock on `feedback` from a connection of the test's own, so S7's
    query set stops at its ratings query until the lock is let go: a computation that stays
    under way for as long as a test needs, with nothing simulated."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.release = threading.Event()
        self.locked = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        conn = await asyncpg.connect(self.fleet.db_url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE")
                self.locked.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.01)
        finally:
            await conn.close()

    def __enter__(self) -> FeedbackLocked:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.thread.join(10)


def waiting_on_the_lock(fleet: Fleet) -> list[int]:
    rows = sql(
        fleet,
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM feedback%'"
        " AND datname = current_database()",
    )
    return [r["pid"] for r in rows]


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16) as executor:
        yield executor


def test_concurrent_reads_share_one_query_set(fleet: Fleet, pool: ThreadPoolExecutor) -> None:
    # A period no one asked for yet: nothing cached, every read needs the figures.
    day = date(2001, 1, 1) + timedelta(days=secrets.randbelow(3000))
    params = {"from": day.isoformat(), "to": (day + 6 * DAY).isoformat()}
    before = cache_counters(fleet)
    with FeedbackLocked(fleet):
        reads = [pool.submit(staff_client(fleet).get, "/analytics/dashboard", params=params) for _ in range(12)]
        poll_until(
            lambda: cache_counters(fleet)["joined"] - before["joined"] >= 11,
            timeout=20,
            what="every read to join the one computation",
        )
        assert len(waiting_on_the_lock(fleet)) == 1
    answers = [r.result(timeout=20) for r in reads]
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["cached_at"] for a in answers}) == 1
    after = cache_counters(fleet)
    assert after["computations"] - before["computations"] == 1


def test_reads_during_a_refresh_wait_for_it_and_share_it(fleet: Fleet, pool: ThreadPoolExecutor) -> None:
    signal_idle(fleet)
    old = refreshed(fleet)
    before = cache_counters(fleet)
    with FeedbackLocked(fleet):
        refresh = pool.submit(staff_client(fleet).post, "/analytics/refresh")
        poll_until(lambda: waiting_on_the_lock(fleet), timeout=20, what="the refresh to start its query set")
        reads = [pool.submit(staff_client(fleet).get, "/analytics/metrics") for _ in range(8)]
        poll_until(
            lambda: cache_counters(fleet)["joined"] - before["joined"] >= 8, timeout=20, what="the reads to join"
        )
    new = refresh.result(timeout=20).json()["cached_at"]
    assert new > old
    assert {r.result(timeout=20).json()["cached_at"] for r in reads} == {new}
    assert cache_counters(fleet)["computations"] - before["computations"] == 1


def test_a_failed_refresh_keeps_serving_the_last_good_figures(fleet: Fleet, pool: ThreadPoolExecutor) -> None:
    signal_idle(fleet)
    good = staff_client(fleet).get("/analytics/metrics").json()
    failures = cache_counters(fleet)["failures"]
    with FeedbackLocked(fleet):
        refresh = pool.submit(staff_client(fleet).post, "/analytics/refresh")
        pids = poll_until(lambda: waiting_on_the_lock(fleet), timeout=20, what="the refresh to start")
        # S7's connection is cut in the middle of its query set: the computation fails for real.
        sql(fleet, "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
        failed = refresh.result(timeout=20)
    assert failed.status_code == 503, failed.text
    assert "still served" in failed.json()["error"]
    assert cache_counters(fleet)["failures"] == failures + 1
    served = staff_client(fleet).get("/analytics/metrics")
    assert served.status_code == 200
    assert served.json() == good  # the same figures, with their own cached_at
    # The next refresh works again (the pool replaced the connection).
    assert refreshed(fleet) > good["cached_at"]


def test_the_export_streams_one_row_of_facts_per_ticket(fleet: Fleet, seeded: dict[str, Any]) -> None:
    now: datetime = seeded["now"]
    params = {"from": (now - 50 * DAY).date().isoformat(), "to": (now - 8 * DAY).date().isoformat()}
    with staff_client(fleet).stream("GET", "/analytics/export.csv", params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"].startswith("attachment; filename=")
        text = "".join(response.iter_text())
    rows = list(csv.DictReader(io.StringIO(text)))
    seeded_ids = seeded["ticket_ids"]
    assert [int(r["ticket_id"]) for r in rows] == sorted(seeded_ids[4:9])
    tickets, history, feedback = everything(fleet)
    by_id = {r["ticket_id"]: r for r in rows}
    for ticket in (t for t in tickets if t["id"] in seeded_ids[4:9]):
        row = by_id[str(ticket["id"])]
        staff_rows = [
            h["changed_at"] for h in history if h["ticket_id"] == ticket["id"] and h["changed_by_role"] != "user"
        ]
        resolved = [h["changed_at"] for h in history if h["ticket_id"] == ticket["id"] and h["new_value"] == "resolved"]
        assert row["status"] == ticket["status"] and row["user_id"] == str(ticket["user_id"])
        assert datetime.fromisoformat(row["created_at"]) == ticket["created_at"]
        assert datetime.fromisoformat(row["first_response_at"]) == min(staff_rows)
        assert float(row["first_response_seconds"]) == (min(staff_rows) - ticket["created_at"]).total_seconds()
        assert float(row["resolution_seconds"]) == (min(resolved) - ticket["created_at"]).total_seconds()
        rating = [f["rating"] for f in feedback if f["ticket_id"] == ticket["id"]]
        assert row["rating"] == str(rating[0])
