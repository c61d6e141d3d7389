"""The periods figures cover: `?from=&to=`, and the windows that end now.

- The *period* (`from`, `to`, both optional) narrows the tickets counted by their creation time
  and the ratings by the time they were given: `from` inclusive, `to` exclusive; a date
  (`2026-11-01`) means that UTC day's midnight for `from`, and the whole day for `to`
  (`to=2026-11-30` counts November 30th). A date-time needs its offset (`Z` or `+01:00`).
- The *trailing window* is the period when `from` is given, else the 30 UTC days ending on
  `to`'s day (or today): response times, the daily series and active users cover it. Without
  any parameter that is the last 30 days, which is what a support lead reads first, and what
  stays cheap at a million tickets.
- Fixed windows (last 24 hours, 7 days, 30 days; open tickets by age) always end now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from helpdesk_common.errors import ApiError

DAY = timedelta(days=1)
TRAILING_DAYS = 30
MAX_DAYS = 366
# Enough for "2026-11-24T10:30:00.000000+00:00" and then some; longer is not a time.
MAX_BOUND_LENGTH = 40


@dataclass(frozen=True, slots=True)
class Period:
    """What `?from=&to=` asked for, in UTC; both None means everything (the default figures)."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_all_time(self) -> bool:
        return self.start is None and self.end is None


ALL_TIME = Period()


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [start, end) and the UTC days it touches (for daily series)."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def days(self) -> list[date]:
        last = (self.end - timedelta(microseconds=1)).date()
        count = (last - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(max(count, 0))]


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def trailing_window(period: Period, now: datetime) -> Window:
    end = period.end or now
    if period.start is not None:
        return Window(period.start, end)
    last_day = (end - timedelta(microseconds=1)).date()
    return Window(midnight(last_day - timedelta(days=TRAILING_DAYS - 1)), end)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, f"Invalid {field}: {message}.", details=[{"field": field, "message": message}])


def parse_bound(value: str, *, field: str, is_end: bool) -> datetime:
    text = value.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise _invalid(field, "not a date (YYYY-MM-DD) or a date-time with an offset") from None
        # `to=2026-11-30` includes that whole day.
        return midnight(day + DAY) if is_end else midnight(day)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(field, "not a date (YYYY-MM-DD) or a date-time with an offset") from None
    if moment.tzinfo is None:
        raise _invalid(field, "a date-time needs its offset, e.g. 2026-11-24T10:30:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise _invalid(field, "out of range") from None


def parse_period(start: str | None, end: str | None, *, now: datetime) -> Period:
    period = Period(
        start=parse_bound(start, field="from", is_end=False) if start else None,
        end=parse_bound(end, field="to", is_end=True) if end else None,
    )
    if period.start is not None and period.end is not None and period.start >= period.end:
        raise _invalid("to", "must be after from")
    if period.start is not None:
        window = trailing_window(period, now)
        if window.end - window.start > timedelta(days=MAX_DAYS):
            raise _invalid("from", f"a period covers at most {MAX_DAYS} days")
        if window.start >= window.end:
            raise _invalid("from", "must be in the past")
    return period
