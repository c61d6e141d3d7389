"""S8's rules: who may rate what, see whose ratings, delete which.

- Only the ticket's owner rates it, and only once it is resolved or closed: staff see the
  ticket (S2 shows it to them) but its satisfaction is the customer's to give (403); a user who
  may not see the ticket gets the same 404 as for one that does not exist; an open ticket is a
  400 naming its status.
- A user reads their own ratings, staff anyone's; another user's list is a 403 (as S1's
  /users/:id). A rating is deleted by its author or staff; anyone else gets a 404, so rating
  ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser
from helpdesk_common.types import MAX_ID
from helpdesk_common.vocabulary import DONE_STATUSES
from s8_feedback.flows import TicketView
from s8_feedback.repository import FeedbackRepository, PagePosition


def check_may_rate(user: TokenUser, ticket: TicketView) -> None:
    if ticket.user_id != user.id:
        raise ApiError(403, "Only the ticket's owner can rate it.")
    if ticket.status not in DONE_STATUSES:
        raise ApiError(
            400,
            f"Ticket {ticket.id} is {ticket.status}; only a resolved or closed ticket can be rated.",
            details=[{"field": "ticket_id", "message": f"the ticket is {ticket.status}, not resolved or closed"}],
        )


def check_may_list(user: TokenUser, user_id: int) -> None:
    if not user.is_staff and user.id != user_id:
        raise ApiError(403, "You can only see your own ratings.")


def average(ratings: Sequence[int]) -> float:
    return round(sum(ratings) / len(ratings), 2) if ratings else 0.0


def not_found(feedback_id: int) -> ApiError:
    return ApiError(404, f"Feedback {feedback_id} not found.")


async def delete_or_404(repo: FeedbackRepository, *, user: TokenUser, feedback_id: int) -> None:
    row = await repo.get(feedback_id=feedback_id)
    if row is None or not (user.is_staff or row["user_id"] == user.id):
        raise not_found(feedback_id)
    if not await repo.delete(feedback_id=feedback_id):
        raise not_found(feedback_id)  # deleted by someone else in between


def _invalid_cursor() -> ApiError:
    return ApiError(400, "Invalid cursor.", details=[{"field": "cursor", "message": "not a valid cursor"}])


def decode_position(cursor: str | None) -> PagePosition | None:
    if cursor is None:
        return None
    created_at, feedback_id = decode_cursor(cursor, kinds=(datetime, int))
    if not 0 < feedback_id <= MAX_ID:
        raise _invalid_cursor()
    try:
        created_at = created_at.astimezone(UTC)
    except OverflowError:
        raise _invalid_cursor() from None
    return PagePosition(created_at=created_at, id=feedback_id)


async def page_for_user(
    repo: FeedbackRepository, *, user_id: int, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    rows = await repo.page_for_user(user_id=user_id, after=decode_position(cursor), limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1]["created_at"], page[-1]["id"])
