"""POST / bodies: a whole rating 1-5, a comment of at most 2,000 characters, strictly typed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from s8_feedback.schemas import FeedbackCreate


@pytest.mark.parametrize(
    "body",
    [
        {"ticket_id": 1, "rating": 0},
        {"ticket_id": 1, "rating": 6},
        {"ticket_id": 1, "rating": 3.5},
        {"ticket_id": 1, "rating": 4.0},
        {"ticket_id": 1, "rating": "4"},
        {"ticket_id": 1, "rating": True},
        {"ticket_id": 1, "rating": None},
        {"ticket_id": 1},
        {"ticket_id": "1", "rating": 4},
        {"ticket_id": 0, "rating": 4},
        {"ticket_id": 2_147_483_648, "rating": 4},
        {"ticket_id": 1, "rating": 4, "comment": "x" * 2001},
        {"ticket_id": 1, "rating": 4, "comment": "bell\x07"},
        {"ticket_id": 1, "rating": 4, "comment": "\ud800"},
        {"ticket_id": 1, "rating": 4, "comment": ["a"]},
    ],
)
def test_bad_bodies_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FeedbackCreate.model_validate(body)


def test_a_comment_is_trimmed_and_a_blank_one_is_no_comment() -> None:
    assert FeedbackCreate.model_validate({"ticket_id": 1, "rating": 5, "comment": "  ok\n\tthanks  "}).comment == (
        "ok\n\tthanks"
    )
    assert FeedbackCreate.model_validate({"ticket_id": 1, "rating": 5, "comment": "   "}).comment is None
    assert FeedbackCreate.model_validate({"ticket_id": 1, "rating": 1, "comment": "y" * 2000}).comment == "y" * 2000


def test_other_keys_are_ignored() -> None:
    body = FeedbackCreate.model_validate({"ticket_id": 1, "rating": 5, "user_id": 99})
    assert body.model_dump() == {"ticket_id": 1, "rating": 5, "comment": None}
