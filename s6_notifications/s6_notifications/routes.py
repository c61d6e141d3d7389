"""S6 routes, mounted at the root: the gateway maps /notifications/notify to /notify.

Every JSON answer is a Response built from one `model_dump_json` (as in S2): `response_model`
stays for the OpenAPI document, FastAPI does not serialize the body a second time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from helpdesk_common.auth import Caller, CurrentUser, ServiceOrUser, StaffUser, require_service, user_from_request
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn, DbTransaction, acquire
from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.security import TokenUser
from helpdesk_common.types import PathId
from s6_notifications import service, stream
from s6_notifications.repository import Notification, NotificationsRepository
from s6_notifications.schemas import (
    STATUSES,
    BatchResults,
    NotificationBatch,
    NotificationCreate,
    NotificationList,
    NotificationRead,
    QueueStats,
    StatusCount,
    StreamTicket,
)
from s6_notifications.settings import Settings

router = APIRouter(tags=["notifications"])

# A stream position (SSE event id): a non-negative bigint written in digits.
_POSITION_MAX = 2**63 - 1


async def get_repository(conn: DbConn) -> NotificationsRepository:
    return NotificationsRepository(conn)


async def get_transaction_repository(conn: DbTransaction) -> NotificationsRepository:
    return NotificationsRepository(conn)


Repository = Annotated[NotificationsRepository, Depends(get_repository)]
TransactionRepository = Annotated[NotificationsRepository, Depends(get_transaction_repository)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def json_response(body: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=body.model_dump_json(), status_code=status_code, media_type="application/json", headers=headers
    )


def notification_read(notification: Notification, *, with_errors: bool) -> NotificationRead:
    body = NotificationRead.model_validate(notification, from_attributes=True)
    if not with_errors:
        body.last_error = None
    return body


@router.post(
    "/notify",
    status_code=201,
    response_model=NotificationRead,
    summary="Queue a notification (staff or a service; a user: a test_alert to themselves)",
    responses={200: {"description": "A repeat of an Idempotency-Key: the notification stored the first time"}},
    dependencies=[Depends(require_json_body)],
)
async def notify(
    body: NotificationCreate,
    caller: ServiceOrUser,
    repo: TransactionRepository,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    key = service.check_idempotency_key(idempotency_key)
    notification, created = await service.create(repo, caller=caller, body=body, idempotency_key=key)
    answer = notification_read(notification, with_errors=service.may_see_errors(caller))
    if created:
        return json_response(answer, status_code=201)
    return json_response(answer, headers={"Idempotent-Replayed": "true"})


@router.post(
    "/notify/batch",
    response_model=BatchResults,
    summary="Queue up to 100 notifications in one request (services: the outbox relays)",
    dependencies=[Depends(require_service), Depends(require_json_body)],
)
async def notify_batch(body: NotificationBatch, repo: TransactionRepository) -> Response:
    """Each item answered as `POST /notify` would have answered it alone (201, 200 for a key
    stored before, 409 for a key used with another notification), all stored in one
    transaction. A batch with any invalid item is a 400 as a whole and stores nothing: the
    relay then sends its rows one by one, so only the bad one is refused."""
    results = await service.create_batch(repo, caller=Caller(user=None, is_service=True), batch=body)
    return json_response(BatchResults(results=results))


@router.get(
    "/history/{user_id}",
    response_model=NotificationList,
    summary="A user's notifications, newest first (the user themselves, or staff)",
)
async def history(
    user_id: PathId, user: CurrentUser, repo: Repository, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    rows, next_cursor = await service.history_page(repo, user=user, user_id=user_id, cursor=cursor, limit=limit)
    with_errors = service.may_see_errors(user)
    return json_response(
        NotificationList(
            notifications=[notification_read(n, with_errors=with_errors) for n in rows], next_cursor=next_cursor
        )
    )


@router.get("/queue", response_model=QueueStats, summary="How many notifications are in each state (staff)")
async def queue(_staff: StaffUser, repo: Repository) -> Response:
    counts = await repo.count_by_status()
    return json_response(
        QueueStats(
            queue_length=counts.get("pending", 0) + counts.get("sending", 0),
            stats=[StatusCount(status=status, count=counts.get(status, 0)) for status in STATUSES],
        )
    )


@router.patch(
    "/{notification_id}/read",
    response_model=NotificationRead,
    summary="Mark an in-app notification read (its recipient only; idempotent)",
)
async def mark_read(notification_id: PathId, user: CurrentUser, repo: Repository) -> Response:
    notification = await service.mark_read(repo, user=user, notification_id=notification_id)
    return json_response(notification_read(notification, with_errors=service.may_see_errors(user)))


@router.post(
    "/stream/ticket",
    status_code=201,
    response_model=StreamTicket,
    summary="A single-use ticket to open GET /stream from a browser's EventSource (valid seconds)",
)
async def stream_ticket(request: Request, user: CurrentUser, repo: Repository) -> Response:
    seconds = _settings(request).stream_ticket_seconds
    ticket = await service.issue_stream_ticket(repo, user=user, seconds=seconds)
    return json_response(StreamTicket(ticket=ticket, expires_in=seconds), status_code=201)


def _position(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > _POSITION_MAX:
        raise ApiError(
            400,
            "Invalid Last-Event-ID: send the id of the last event received.",
            details=[{"field": "Last-Event-ID", "message": "a stream position (digits)"}],
        )
    return int(value)


async def _stream_user(request: Request, ticket: str | None) -> TokenUser:
    if ticket is None:
        return user_from_request(request)
    async with acquire(request.app.state.pool) as conn:
        return await service.redeem_stream_ticket(NotificationsRepository(conn), ticket=ticket)


@router.get(
    "/stream",
    summary="Server-Sent Events: the caller's new in-app notifications (Bearer header, or ?ticket=)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An endless event stream"}},
)
async def events(
    request: Request,
    ticket: Annotated[str | None, Query(max_length=100, description="From POST /stream/ticket")] = None,
    last_event_id: Annotated[str | None, Query(max_length=20, description="Resume after this event id")] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> EventSourceResponse:
    # The header (what EventSource sends on its own reconnects) wins over the query parameter
    # (what a client opening a new EventSource with a fresh ticket passes on).
    position = _position(last_event_id_header if last_event_id_header is not None else last_event_id)
    user = await _stream_user(request, ticket)
    settings = _settings(request)
    return EventSourceResponse(
        stream.events(pool=request.app.state.pool, hub=request.app.state.hub, user_id=user.id, position=position),
        ping=settings.stream_ping_seconds,
    )
