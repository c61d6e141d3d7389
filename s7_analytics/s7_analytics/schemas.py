"""S7's answers. Every count is an int and every average, median or share a float rounded to
2 decimals; with no data they are 0, never null. `Figures` is what one query set computes; the
endpoints are views of it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from helpdesk_common.types import Timestamp


class DayCount(BaseModel):
    date: date
    count: int


class TicketFigures(BaseModel):
    total: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    by_priority: dict[str, int]
    recent_trend: list[DayCount] = Field(description="Tickets created on each of the last 7 UTC days, oldest first")


class FeedbackFigures(BaseModel):
    total: int
    average_rating: float
    by_rating: dict[str, int] = Field(description='Ratings per value, "1" to "5"')


class Durations(BaseModel):
    median_seconds: float
    p90_seconds: float
    tickets: int = Field(description="How many tickets the median and p90 cover")


class OpenByAge(BaseModel):
    under_1d: int
    from_1d_to_3d: int
    from_3d_to_7d: int
    over_7d: int


class AssigneeLoad(BaseModel):
    assignee_id: int
    open: int
    resolved: int = Field(description="resolved or closed")


class Csat(BaseModel):
    percent: float = Field(description="Share of ratings that are 4 or 5, in percent")
    ratings: int


class CsatFigures(BaseModel):
    overall: Csat
    last_7d: Csat
    last_30d: Csat


class DayFlow(BaseModel):
    date: date
    created: int
    resolved: int


class Range(BaseModel):
    from_: Timestamp | None = Field(serialization_alias="from")
    to: Timestamp | None


class Metrics(BaseModel):
    tickets: TicketFigures
    feedback: FeedbackFigures
    first_response: Durations = Field(description="Created -> first history row by staff, over the trailing window")
    resolution: Durations = Field(description="Created -> first change to resolved, over the trailing window")
    open_by_age: OpenByAge
    by_assignee: list[AssigneeLoad]
    csat: CsatFigures
    daily: list[DayFlow] = Field(description="Created and resolved per UTC day of the trailing window")
    period: Range = Field(description="What ?from=&to= narrowed (null: unbounded)")
    trailing_window: Range = Field(description="The window of first_response, resolution, daily, active_users")
    cached_at: Timestamp


class TicketSummary(BaseModel):
    id: int
    user_id: int
    title: str
    category: str
    status: str
    priority: str
    assigned_to: int | None
    created_at: Timestamp
    updated_at: Timestamp


class Dashboard(BaseModel):
    metrics: Metrics
    active_users: int = Field(description="Distinct owners of tickets created in the trailing window")
    recent_tickets: list[TicketSummary]
    dashboard_generated_at: Timestamp = Field(description="When these figures were computed (= cached_at)")
    cached_at: Timestamp


class TicketStats(BaseModel):
    total: int
    last_24h: int
    last_7d: int
    last_30d: int
    new_count: int
    assigned_count: int
    in_progress_count: int
    resolved_count: int
    closed_count: int
    open_count: int
    cached_at: Timestamp


class FeedbackStats(BaseModel):
    total: int
    average_rating: float
    min_rating: int
    max_rating: int
    five_star: int
    four_star: int
    three_star: int
    two_star: int
    one_star: int
    csat_percent: float
    cached_at: Timestamp


class Refreshed(BaseModel):
    message: str
    cached_at: Timestamp


class Figures(BaseModel):
    """Everything one query set computes, for one period."""

    metrics: Metrics
    dashboard: Dashboard
    ticket_stats: TicketStats
    feedback_stats: FeedbackStats
