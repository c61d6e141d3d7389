from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from helpdesk_common.errors import ApiError
from s7_analytics.periods import Period, parse_period, trailing_window

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def test_dates_mean_whole_utc_days_and_to_includes_its_day() -> None:
    period = parse_period("2026-11-01", "2026-11-30", now=NOW)
    assert period == Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert len(trailing_window(period, NOW).days) == 30


def test_date_times_keep_their_instant_in_utc() -> None:
    period = parse_period("2026-11-01T10:00:00+02:00", "2026-11-01T12:00:00Z", now=NOW)
    assert period.start == datetime(2026, 11, 1, 8, tzinfo=UTC) and period.end == datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_without_from_the_trailing_window_is_the_30_utc_days_ending_today() -> None:
    window = trailing_window(Period(), NOW)
    assert window.start == datetime(2026, 10, 26, tzinfo=UTC) and window.end == NOW
    assert window.days[0] == date(2026, 10, 26) and window.days[-1] == date(2026, 11, 24) and len(window.days) == 30


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("nope", None, "from"),
        (None, "2026-02-30", "to"),
        ("2026-11-01T10:00:00", None, "from"),
        ("2026-11-02", "2026-11-01", "to"),
        ("2025-01-01", "2026-11-01", "from"),
        ("2026-12-01", None, "from"),
    ],
)
def test_bad_periods_are_400_naming_the_field(start: str | None, end: str | None, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_period(start, end, now=NOW)
    assert caught.value.status == 400 and caught.value.details == [caught.value.details[0]]
    assert caught.value.details[0]["field"] == field
