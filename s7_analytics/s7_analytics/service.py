"""The figures: one query set per period, run on three connections at once, summed into the
answers of every endpoint.

The queries are split over three connections because the machine has two cores and the largest
query (tickets by state, ~100 ms at a million tickets) would otherwise be followed by all the
others; together they take about as long as that one. They run in separate READ ONLY
transactions, so a ticket created in between may be counted by one query and not the next: the
figures are each exact as of `cached_at`, within milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg

from helpdesk_common.db import acquire
from helpdesk_common.vocabulary import CATEGORIES, OPEN_STATUSES, PRIORITIES, STATUSES
from s7_analytics import periods
from s7_analytics.periods import Period, Window
from s7_analytics.repository import (
    AnalyticsRepository,
    Durations,
    OpenAges,
    RatingCount,
    RecentCreated,
    Sources,
    StateCount,
)
from s7_analytics.schemas import (
    AssigneeLoad,
    Csat,
    CsatFigures,
    Dashboard,
    DayCount,
    DayFlow,
    FeedbackFigures,
    FeedbackStats,
    Figures,
    Metrics,
    OpenByAge,
    Range,
    TicketFigures,
    TicketStats,
    TicketSummary,
)
from s7_analytics.schemas import Durations as DurationsOut

RATINGS = (1, 2, 3, 4, 5)
SATISFIED = frozenset({4, 5})
RECENT_TICKETS = 10
TREND_DAYS = 7
DAY = timedelta(days=1)


def rounded(value: float | None) -> float:
    return 0.0 if value is None else round(value, 2)


def share_percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


NO_DURATIONS = Durations(tickets=0, median=None, p90=None)


async def _by_state(pool: asyncpg.Pool, sources: Sources, period: Period) -> list[StateCount]:
    if not sources.tickets:
        return []
    async with acquire(pool) as conn:
        return await AnalyticsRepository(conn).state_counts(period.start, period.end)


@dataclass
class _HistoryAndRatings:
    response: Durations = NO_DURATIONS
    resolution: Durations = NO_DURATIONS
    resolved_per_day: dict[int, int] = field(default_factory=dict)
    ratings: list[RatingCount] = field(default_factory=list)
    recent_ratings: list[RatingCount] = field(default_factory=list)


async def _history_and_ratings(
    pool: asyncpg.Pool, sources: Sources, period: Period, window: Window, now: datetime
) -> _HistoryAndRatings:
    out = _HistoryAndRatings()
    if not (sources.milestones or sources.history or sources.feedback):
        return out
    async with acquire(pool) as conn:
        repo = AnalyticsRepository(conn)
        if sources.milestones:
            out.response, out.resolution = await repo.response_times(window.start, window.end)
        if sources.history:
            out.resolved_per_day = await repo.resolved_per_day(
                window.start, window.end, periods.midnight(window.first_day)
            )
        if sources.feedback:
            out.ratings = await repo.ratings(period.start, period.end)
            out.recent_ratings = await repo.recent_ratings(since_30d=now - 30 * DAY, since_7d=now - 7 * DAY)
    return out


@dataclass
class _RecentTickets:
    recent: RecentCreated = field(default_factory=lambda: RecentCreated(0, 0, 0))
    open_ages: OpenAges = field(default_factory=lambda: OpenAges(0, 0, 0, 0))
    created_per_day: dict[int, int] = field(default_factory=dict)
    trend_per_day: dict[int, int] = field(default_factory=dict)
    active_users: int = 0
    latest: list[asyncpg.Record] = field(default_factory=list)


def trend_window(now: datetime) -> Window:
    return Window(periods.midnight(now.date() - timedelta(days=TREND_DAYS - 1)), now)


async def _recent_tickets(
    pool: asyncpg.Pool, sources: Sources, period: Period, window: Window, now: datetime
) -> _RecentTickets:
    out = _RecentTickets()
    if not sources.tickets:
        return out
    trend = trend_window(now)
    async with acquire(pool) as conn:
        repo = AnalyticsRepository(conn)
        out.recent = await repo.recent_created(
            since_30d=now - 30 * DAY, since_7d=now - 7 * DAY, since_24h=now - DAY, now=now
        )
        out.open_ages = await repo.open_ages(since_1d=now - DAY, since_3d=now - 3 * DAY, since_7d=now - 7 * DAY)
        out.created_per_day = await repo.created_per_day(window.start, window.end, periods.midnight(window.first_day))
        if window.start <= trend.start and window.end >= trend.end:
            # The trailing window holds the last 7 days already (always so without ?from=&to=).
            shift = (trend.first_day - window.first_day).days
            out.trend_per_day = {day - shift: n for day, n in out.created_per_day.items() if day >= shift}
        else:
            out.trend_per_day = await repo.created_per_day(trend.start, trend.end, periods.midnight(trend.first_day))
        out.active_users = await repo.active_users(window.start, window.end)
        out.latest = await repo.recent_tickets(period.start, period.end, RECENT_TICKETS)
    return out


async def compute(pool: asyncpg.Pool, period: Period) -> Figures:
    """One query set: every figure of every endpoint for `period`, as of now."""
    now = datetime.now(UTC)
    window = periods.trailing_window(period, now)
    async with acquire(pool) as conn:
        sources = await AnalyticsRepository(conn).sources()
    state, history, recent = await asyncio.gather(
        _by_state(pool, sources, period),
        _history_and_ratings(pool, sources, period, window, now),
        _recent_tickets(pool, sources, period, window, now),
    )
    return build_figures(period=period, window=window, now=now, state=state, history=history, recent=recent)


def _counts(keys: Iterable[str], pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    counts = dict.fromkeys(keys, 0)
    for key, n in pairs:
        counts[key] = counts.get(key, 0) + n
    return counts


def _series(days: list[date], per_day: Mapping[int, int]) -> list[int]:
    return [per_day.get(i, 0) for i in range(len(days))]


def _durations(durations: Durations) -> DurationsOut:
    return DurationsOut(
        median_seconds=rounded(durations.median), p90_seconds=rounded(durations.p90), tickets=durations.tickets
    )


def _csat(ratings: Iterable[tuple[int, int]]) -> Csat:
    total = satisfied = 0
    for rating, n in ratings:
        total += n
        satisfied += n if rating in SATISFIED else 0
    return Csat(percent=share_percent(satisfied, total), ratings=total)


def build_figures(
    *,
    period: Period,
    window: Window,
    now: datetime,
    state: list[StateCount],
    history: _HistoryAndRatings,
    recent: _RecentTickets,
) -> Figures:
    by_status = _counts(STATUSES, ((row.status, row.tickets) for row in state))
    loads: dict[int, list[int]] = {}
    for row in state:
        if row.assigned_to is not None:
            load = loads.setdefault(row.assigned_to, [0, 0])
            # Every status is open or done: [open, resolved or closed].
            load[0 if row.status in OPEN_STATUSES else 1] += row.tickets
    by_rating = _counts((str(r) for r in RATINGS), ((str(row.rating), row.ratings) for row in history.ratings))
    rating_total = sum(by_rating.values())
    rating_sum = sum(int(rating) * n for rating, n in by_rating.items())
    average = round(rating_sum / rating_total, 2) if rating_total else 0.0
    present = [int(rating) for rating, n in by_rating.items() if n]
    days = window.days
    created, resolved = _series(days, recent.created_per_day), _series(days, history.resolved_per_day)
    trend_days = trend_window(now).days
    ages = recent.open_ages
    metrics = Metrics(
        tickets=TicketFigures(
            total=sum(by_status.values()),
            by_status=by_status,
            by_category=_counts(CATEGORIES, ((row.category, row.tickets) for row in state)),
            by_priority=_counts(PRIORITIES, ((row.priority, row.tickets) for row in state)),
            recent_trend=[
                DayCount(date=day, count=n)
                for day, n in zip(trend_days, _series(trend_days, recent.trend_per_day), strict=True)
            ],
        ),
        feedback=FeedbackFigures(total=rating_total, average_rating=average, by_rating=by_rating),
        first_response=_durations(history.response),
        resolution=_durations(history.resolution),
        open_by_age=OpenByAge(
            under_1d=ages.under_1d,
            from_1d_to_3d=ages.under_3d - ages.under_1d,
            from_3d_to_7d=ages.under_7d - ages.under_3d,
            over_7d=ages.open - ages.under_7d,
        ),
        by_assignee=[
            AssigneeLoad(assignee_id=assignee, open=load[0], resolved=load[1])
            for assignee, load in sorted(loads.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        ],
        csat=CsatFigures(
            overall=_csat((row.rating, row.ratings) for row in history.ratings),
            last_7d=_csat((row.rating, row.last_7d) for row in history.recent_ratings),
            last_30d=_csat((row.rating, row.ratings) for row in history.recent_ratings),
        ),
        daily=[DayFlow(date=day, created=c, resolved=r) for day, c, r in zip(days, created, resolved, strict=True)],
        period=Range(from_=period.start, to=period.end),
        trailing_window=Range(from_=window.start, to=window.end),
        cached_at=now,
    )
    dashboard = Dashboard(
        metrics=metrics,
        active_users=recent.active_users,
        recent_tickets=[TicketSummary.model_validate(dict(row)) for row in recent.latest],
        dashboard_generated_at=now,
        cached_at=now,
    )
    ticket_stats = TicketStats(
        total=metrics.tickets.total,
        last_24h=recent.recent.last_24h,
        last_7d=recent.recent.last_7d,
        last_30d=recent.recent.last_30d,
        new_count=by_status["new"],
        assigned_count=by_status["assigned"],
        in_progress_count=by_status["in_progress"],
        resolved_count=by_status["resolved"],
        closed_count=by_status["closed"],
        open_count=sum(by_status[s] for s in OPEN_STATUSES),
        cached_at=now,
    )
    feedback_stats = FeedbackStats(
        total=rating_total,
        average_rating=average,
        min_rating=min(present, default=0),
        max_rating=max(present, default=0),
        five_star=by_rating["5"],
        four_star=by_rating["4"],
        three_star=by_rating["3"],
        two_star=by_rating["2"],
        one_star=by_rating["1"],
        csat_percent=metrics.csat.overall.percent,
        cached_at=now,
    )
    return Figures(metrics=metrics, dashboard=dashboard, ticket_stats=ticket_stats, feedback_stats=feedback_stats)
