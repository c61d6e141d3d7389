"""S7 routes, mounted at the root: the gateway maps /analytics/metrics to /metrics.

Every figure endpoint is staff only and answers from the figures cache (cache.py): a cached
answer is a dictionary lookup and bytes rendered once per computation. `POST /refresh` also
takes the service credential: S8 calls it after every change.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from helpdesk_common.auth import ServiceOrStaff, StaffUser
from helpdesk_common.db import acquire
from helpdesk_common.errors import ApiError
from s7_analytics import service
from s7_analytics.cache import Entry, SingleFlightCache
from s7_analytics.periods import ALL_TIME, MAX_BOUND_LENGTH, Period, parse_period
from s7_analytics.repository import EXPORT_COLUMNS, AnalyticsRepository, export_query
from s7_analytics.schemas import Dashboard, FeedbackStats, Figures, Metrics, Refreshed, TicketStats

router = APIRouter(tags=["analytics"])

FiguresCache = SingleFlightCache[Period, Figures]
EXPORT_BATCH_ROWS = 2_000

FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=MAX_BOUND_LENGTH,
        description="Start (inclusive): YYYY-MM-DD (UTC midnight) or a date-time with its offset",
    ),
]
ToParam = Annotated[
    str | None,
    Query(max_length=MAX_BOUND_LENGTH, description="End (exclusive; a date counts that whole day)"),
]


async def get_period(from_: FromParam = None, to: ToParam = None) -> Period:
    return parse_period(from_, to, now=datetime.now(UTC))


PeriodParam = Annotated[Period, Depends(get_period)]


def figures_cache(request: Request) -> FiguresCache:
    cache: FiguresCache = request.app.state.figures
    return cache


def _computer(request: Request, period: Period) -> Callable[[], Awaitable[Figures]]:
    pool = request.app.state.pool
    return lambda: service.compute(pool, period)


async def figures(request: Request, period: Period) -> Entry[Figures]:
    try:
        return await figures_cache(request).get(period, _computer(request, period))
    except ApiError:
        raise
    except Exception as exc:  # logged by the cache; no good figures to fall back on
        raise ApiError(503, "The figures cannot be computed right now; try again shortly.") from exc


async def render(request: Request, period: Period, name: str, pick: Callable[[Figures], BaseModel]) -> Response:
    entry = await figures(request, period)
    body = entry.rendered.get(name)
    if body is None:
        body = entry.rendered[name] = pick(entry.value).model_dump_json(by_alias=True).encode()
    return Response(content=body, media_type="application/json")


@router.get("/metrics", response_model=Metrics, summary="Ticket and rating figures (cached 60 s)")
async def get_metrics(request: Request, _: StaffUser, period: PeriodParam) -> Response:
    return await render(request, period, "metrics", lambda f: f.metrics)


@router.get("/dashboard", response_model=Dashboard, summary="The metrics, active users and the newest tickets")
async def get_dashboard(request: Request, _: StaffUser, period: PeriodParam) -> Response:
    return await render(request, period, "dashboard", lambda f: f.dashboard)


@router.get("/tickets/stats", response_model=TicketStats, summary="Ticket counts by status and recent windows")
async def get_ticket_stats(request: Request, _: StaffUser, period: PeriodParam) -> Response:
    return await render(request, period, "ticket_stats", lambda f: f.ticket_stats)


@router.get("/feedback/stats", response_model=FeedbackStats, summary="Rating counts, average, CSAT")
async def get_feedback_stats(request: Request, _: StaffUser, period: PeriodParam) -> Response:
    return await render(request, period, "feedback_stats", lambda f: f.feedback_stats)


@router.post("/refresh", response_model=Refreshed, summary="Recompute now (staff, or S8 with the service credential)")
async def refresh(request: Request, _: ServiceOrStaff) -> Response:
    cache = figures_cache(request)
    try:
        entry = await cache.refresh(ALL_TIME, _computer(request, ALL_TIME))
    except Exception as exc:
        raise ApiError(503, "The figures could not be refreshed; the last ones computed are still served.") from exc
    body = Refreshed(message="Figures refreshed.", cached_at=entry.value.metrics.cached_at)
    return Response(content=body.model_dump_json(), media_type="application/json")


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _seconds(start: datetime, end: datetime | None) -> str:
    return "" if end is None else f"{max((end - start).total_seconds(), 0.0):.2f}"


@router.get(
    "/export.csv",
    summary="Per-ticket facts behind the figures, as CSV (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_csv(request: Request, _: StaffUser, period: PeriodParam) -> StreamingResponse:
    pool = request.app.state.pool
    # Asked before the response starts, so a database that is down is a 503, not a cut stream.
    async with acquire(pool) as conn:
        sources = await AnalyticsRepository(conn).sources()
    if not sources.tickets:
        raise ApiError(503, "There are no tickets to export yet (the tickets table does not exist).")
    sql, args = export_query(sources, period.start, period.end)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        async with acquire(pool) as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            count = 0
            async for row in conn.cursor(sql, *args, prefetch=EXPORT_BATCH_ROWS):
                created, responded, resolved = row[6], row[7], row[8]
                writer.writerow(
                    (
                        row[0], row[1], row[2], row[3], row[4], "" if row[5] is None else row[5],
                        _iso(created), _iso(responded), _seconds(created, responded),
                        _iso(resolved), _seconds(created, resolved),
                        "" if row[9] is None else row[9], _iso(row[10]),
                    )
                )  # fmt: skip
                count += 1
                if count % EXPORT_BATCH_ROWS == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    filename = f"tickets-{datetime.now(UTC).date().isoformat()}.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
