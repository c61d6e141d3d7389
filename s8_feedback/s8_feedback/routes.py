"""S8 routes, mounted at the root: the gateway maps /feedback to / and /feedback/ticket/7 to /ticket/7.

Routes that ask S2 first take a database connection only after S2 answered (`acquire`), so a
slow S2 never holds the pool. Every change is followed, after the response, by the refresh
signal to S7 (flows.AnalyticsSignal).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import asyncpg.exceptions
from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from pydantic import BaseModel

from helpdesk_common.auth import CallerToken, CurrentUser, StaffUser
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn, acquire
from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.service_client import Services
from helpdesk_common.types import PathId
from s8_feedback import service
from s8_feedback.flows import AnalyticsSignal, fetch_ticket
from s8_feedback.repository import FeedbackRepository
from s8_feedback.schemas import FeedbackCreate, FeedbackRead, FeedbackStats, Message, TicketFeedback, UserFeedback

router = APIRouter(tags=["feedback"])


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    return Response(content=body.model_dump_json(), status_code=status_code, media_type="application/json")


def feedback_list(rows: Sequence[asyncpg.Record]) -> list[FeedbackRead]:
    return [FeedbackRead.model_validate(dict(row)) for row in rows]


def signal_after_response(request: Request, background: BackgroundTasks) -> None:
    signal: AnalyticsSignal = request.app.state.analytics_signal
    background.add_task(signal.request)


@router.post(
    "/",
    status_code=201,
    response_model=FeedbackRead,
    summary="Rate a resolved or closed ticket of yours (201; 200 when it replaces your earlier rating)",
    dependencies=[Depends(require_json_body)],
    responses={200: {"model": FeedbackRead, "description": "Replaced the caller's earlier rating"}},
)
async def rate_ticket(
    body: FeedbackCreate,
    user: CurrentUser,
    token: CallerToken,
    services: Services,
    request: Request,
    background: BackgroundTasks,
) -> Response:
    ticket = await fetch_ticket(services, ticket_id=body.ticket_id, token=token)
    service.check_may_rate(user, ticket)
    async with acquire(request.app.state.pool) as conn:
        try:
            row, inserted = await FeedbackRepository(conn).upsert(
                ticket_id=ticket.id, user_id=user.id, rating=body.rating, comment=body.comment
            )
        except asyncpg.exceptions.ForeignKeyViolationError:
            raise ApiError(404, f"Ticket {ticket.id} not found.") from None  # deleted meanwhile
    signal_after_response(request, background)
    return json_response(FeedbackRead.model_validate(dict(row)), status_code=201 if inserted else 200)


@router.get("/ticket/{ticket_id}", response_model=TicketFeedback, summary="A ticket's ratings (its owner or staff)")
async def ticket_feedback(
    ticket_id: PathId, user: CurrentUser, token: CallerToken, services: Services, request: Request
) -> Response:
    await fetch_ticket(services, ticket_id=ticket_id, token=token)
    async with acquire(request.app.state.pool) as conn:
        rows = await FeedbackRepository(conn).for_ticket(ticket_id=ticket_id)
    ratings = [row["rating"] for row in rows]
    body = TicketFeedback(
        feedback=feedback_list(rows), average_rating=service.average(ratings), total_feedback=len(rows)
    )
    return json_response(body)


@router.get("/user/{user_id}", response_model=UserFeedback, summary="A user's ratings, newest first (self or staff)")
async def user_feedback(
    user_id: PathId, user: CurrentUser, conn: DbConn, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    service.check_may_list(user, user_id)
    rows, next_cursor = await service.page_for_user(
        FeedbackRepository(conn), user_id=user_id, cursor=cursor, limit=limit
    )
    return json_response(UserFeedback(feedback=feedback_list(rows), next_cursor=next_cursor))


@router.get("/stats", response_model=FeedbackStats, summary="Totals over every rating (staff)")
async def feedback_stats(_: StaffUser, conn: DbConn) -> Response:
    totals = await FeedbackRepository(conn).totals()
    body = FeedbackStats(
        total_feedback=totals.total,
        average_rating=round(totals.rating_sum / totals.total, 2) if totals.total else 0.0,
        min_rating=totals.min_rating,
        max_rating=totals.max_rating,
        tickets_with_feedback=totals.tickets,
        users_who_gave_feedback=totals.users,
    )
    return json_response(body)


@router.delete("/{feedback_id}", response_model=Message, summary="Delete a rating (its author or staff)")
async def delete_feedback(
    feedback_id: PathId, user: CurrentUser, conn: DbConn, request: Request, background: BackgroundTasks
) -> Response:
    await service.delete_or_404(FeedbackRepository(conn), user=user, feedback_id=feedback_id)
    signal_after_response(request, background)
    return json_response(Message(message=f"Feedback {feedback_id} deleted."))
