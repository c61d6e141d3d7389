"""Request and response bodies of S8.

Inputs are strict: a rating is a whole number 1-5 (`3.5`, `"3"`, `true` are 400s, never
coerced), a comment is at most 2,000 characters after trimming (blank means no comment) and
holds no control characters but tabs and line breaks.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from helpdesk_common.text import multiline_text
from helpdesk_common.types import Id, Timestamp

RATING_MIN, RATING_MAX = 1, 5
COMMENT_MAX = 2_000


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Rating = Annotated[int, Field(ge=RATING_MIN, le=RATING_MAX, strict=True)]
Comment = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX),
    AfterValidator(multiline_text),
]


class FeedbackCreate(BaseModel):
    """POST /. Other keys (user_id, created_at, ...) are ignored: the rating is always the caller's."""

    model_config = ConfigDict(strict=True, extra="ignore")

    ticket_id: Id
    rating: Rating
    comment: Annotated[Comment | None, BeforeValidator(_blank_is_none)] = None


class FeedbackRead(BaseModel):
    id: int
    ticket_id: int
    user_id: int
    rating: int
    comment: str | None
    created_at: Timestamp
    updated_at: Timestamp = Field(description="When the rating was last given (a second rating replaces the first)")


class TicketFeedback(BaseModel):
    feedback: list[FeedbackRead]
    average_rating: float
    total_feedback: int


class UserFeedback(BaseModel):
    feedback: list[FeedbackRead]
    next_cursor: str | None


class FeedbackStats(BaseModel):
    total_feedback: int
    average_rating: float
    min_rating: int
    max_rating: int
    tickets_with_feedback: int
    users_who_gave_feedback: int


class Message(BaseModel):
    message: str
