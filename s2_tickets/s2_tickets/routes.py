"""S2 routes, mounted at the root: the gateway maps /tickets to / and /tickets/7 to /7.

Every route answers with a Response built from one `model_dump_json`: `response_model` stays
for the OpenAPI document, but FastAPI does not validate and serialize the body a second time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel

from helpdesk_common.auth import CurrentUser
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn, DbTransaction
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.security import TokenUser
from helpdesk_common.types import MAX_ID, PathId
from s2_tickets import service
from s2_tickets.flows import Requesters, StaffMembers
from s2_tickets.repository import ConversationRepository, TicketFilters, TicketsRepository
from s2_tickets.schemas import (
    CategoryIn,
    CommentCreate,
    CommentList,
    CommentRead,
    CommentUpdate,
    NotificationPreferences,
    PriorityIn,
    Requester,
    SearchText,
    StaffTicketList,
    StaffTicketRead,
    StatusIn,
    TicketCreate,
    TicketList,
    TicketUpdate,
    TicketView,
    Timeline,
)

router = APIRouter(tags=["tickets"])


# Dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency
# in a worker thread, a hop that costs more than the work itself.
async def get_repository(conn: DbConn) -> TicketsRepository:
    return TicketsRepository(conn)


Repository = Annotated[TicketsRepository, Depends(get_repository)]


def json_response(body: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=body.model_dump_json(), status_code=status_code, media_type="application/json", headers=headers
    )


# model_validate (pydantic-core, compiled) measured faster than model_construct (pure Python)
# for building these from rows, so the rows are validated on the way out as well.
def ticket_read(row: asyncpg.Record, user: TokenUser) -> TicketView:
    return TicketView.model_validate(service.ticket_view(row, user))


def ticket_list(
    rows: Sequence[asyncpg.Record], next_cursor: str | None, requesters: dict[int, Requester] | None, user: TokenUser
) -> TicketList | StaffTicketList:
    if requesters is None:
        tickets = [service.ticket_view(row, user) for row in rows]
        return TicketList.model_validate({"tickets": tickets, "next_cursor": next_cursor})
    tickets = [service.ticket_view(row, user) | {"requester": requesters[row["user_id"]]} for row in rows]
    return StaffTicketList.model_validate({"tickets": tickets, "next_cursor": next_cursor})


def staff_or_owner_view(row: asyncpg.Record, requesters: dict[int, Requester] | None, user: TokenUser) -> TicketView:
    if requesters is None:
        return ticket_read(row, user)
    return StaffTicketRead.model_validate(service.ticket_view(row, user) | {"requester": requesters[row["user_id"]]})


@router.post(
    "/",
    status_code=201,
    response_model=TicketView,
    summary="Open a ticket (always `new`, unassigned, owned by the caller)",
    dependencies=[Depends(require_json_body)],
)
async def create_ticket(body: TicketCreate, user: CurrentUser, repo: Repository) -> Response:
    row = await service.create(repo, user=user, ticket=body)
    return json_response(ticket_read(row, user), status_code=201, headers={"ETag": service.etag(row)})


@router.get(
    "/",
    response_model=TicketList | StaffTicketList,
    summary="List tickets, newest first (own tickets; staff: all, with each requester named)",
)
async def list_tickets(
    user: CurrentUser,
    repo: Repository,
    directory: Requesters,
    status: StatusIn | None = None,
    priority: PriorityIn | None = None,
    category: CategoryIn | None = None,
    assigned_to: Annotated[int | None, Query(gt=0, le=MAX_ID, description="A user id")] = None,
    user_id: Annotated[int | None, Query(gt=0, le=MAX_ID, description="The requester's user id")] = None,
    q: Annotated[
        SearchText | None,
        Query(description='Search: words (the last one by prefix), "phrases", -word, or; 123 or #123: that ticket'),
    ] = None,
    sort: Annotated[
        Literal["created", "activity"],
        Query(description="created: newest first (default); activity: latest reply or change first"),
    ] = "created",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    filters = TicketFilters(
        status=status,
        priority=priority,
        category=category,
        assigned_to=assigned_to,
        user_id=user_id,
        # An empty search box means no search, not "match nothing".
        search=service.parse_search(q),
    )
    rows, next_cursor = await service.list_page(
        repo, user=user, filters=filters, cursor=cursor, limit=limit, by_activity=sort == "activity"
    )
    requesters = await service.requesters(directory, user, rows)
    return json_response(ticket_list(rows, next_cursor, requesters, user))


async def get_conversation(conn: DbConn) -> ConversationRepository:
    return ConversationRepository(conn)


async def get_conversation_in_transaction(conn: DbTransaction) -> ConversationRepository:
    return ConversationRepository(conn)


Conversation = Annotated[ConversationRepository, Depends(get_conversation)]
# Writes: the comment, the ticket's counters, a reopening and the notifications commit together.
ConversationWrite = Annotated[ConversationRepository, Depends(get_conversation_in_transaction)]


@router.get(
    "/preferences",
    response_model=NotificationPreferences,
    summary="Whether replies on your tickets (staff: your assigned tickets) also come by email",
)
async def get_preferences(user: CurrentUser, repo: Conversation) -> Response:
    return json_response(NotificationPreferences(email_replies=await repo.email_replies(user_id=user.id)))


@router.put(
    "/preferences",
    response_model=NotificationPreferences,
    summary="Choose whether replies also come by email (in-app notifications always come)",
    dependencies=[Depends(require_json_body)],
)
async def put_preferences(body: NotificationPreferences, user: CurrentUser, repo: ConversationWrite) -> Response:
    await repo.set_email_replies(user_id=user.id, email_replies=body.email_replies)
    return json_response(body)


@router.get(
    "/{ticket_id}",
    response_model=TicketView | StaffTicketRead,
    summary="One ticket (owner or staff; 404 otherwise), its version in the ETag header",
)
async def get_ticket(ticket_id: PathId, user: CurrentUser, repo: Repository, directory: Requesters) -> Response:
    row = await service.get_or_404(repo, user=user, ticket_id=ticket_id)
    requesters = await service.requesters(directory, user, [row])
    return json_response(staff_or_owner_view(row, requesters, user), headers={"ETag": service.etag(row)})


@router.patch(
    "/{ticket_id}",
    response_model=TicketView,
    summary="Edit title, description or category (owner or staff; If-Match honoured); the rest: /workflow",
    dependencies=[Depends(require_json_body)],
)
async def update_ticket(
    ticket_id: PathId,
    body: TicketUpdate,
    user: CurrentUser,
    repo: Repository,
    if_match: Annotated[
        str | None,
        Header(max_length=1000, description="The ETag of GET /{id}: the edit applies only to that version (else 412)"),
    ] = None,
) -> Response:
    row = await service.update_or_404(
        repo, user=user, ticket_id=ticket_id, update=body, if_match=service.parse_if_match(if_match)
    )
    return json_response(ticket_read(row, user), headers={"ETag": service.etag(row)})


# --- the conversation ------------------------------------------------------------------------


def comment_read(row: asyncpg.Record) -> CommentRead:
    return CommentRead.model_validate(dict(row))


def _window(request: Request) -> float:
    window: float = request.app.state.settings.comment_edit_window_seconds
    return window


@router.post(
    "/{ticket_id}/comments",
    status_code=201,
    response_model=CommentRead,
    summary="Reply (owner or staff) or write an internal note (staff: internal true)",
    dependencies=[Depends(require_json_body)],
)
async def post_comment(
    ticket_id: PathId, body: CommentCreate, user: CurrentUser, repo: ConversationWrite, staff: StaffMembers
) -> Response:
    row = await service.post_comment(repo, staff, user=user, ticket_id=ticket_id, comment=body)
    return json_response(comment_read(row), status_code=201)


@router.get(
    "/{ticket_id}/comments",
    response_model=CommentList,
    summary="The thread, oldest first (owner: public replies only; staff: notes too)",
)
async def list_comments(
    ticket_id: PathId, user: CurrentUser, repo: Conversation, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    rows, next_cursor = await service.comments_page(repo, user=user, ticket_id=ticket_id, cursor=cursor, limit=limit)
    return json_page("comments", rows, next_cursor)


@router.patch(
    "/{ticket_id}/comments/{comment_id}",
    response_model=CommentRead,
    summary="Edit your comment within 15 minutes of posting",
    dependencies=[Depends(require_json_body)],
)
async def edit_comment(
    ticket_id: PathId,
    comment_id: PathId,
    body: CommentUpdate,
    user: CurrentUser,
    repo: ConversationWrite,
    request: Request,
) -> Response:
    row = await service.edit_comment(
        repo, user=user, ticket_id=ticket_id, comment_id=comment_id, update=body, window_seconds=_window(request)
    )
    return json_response(comment_read(row))


@router.delete(
    "/{ticket_id}/comments/{comment_id}",
    response_model=CommentRead,
    summary="Delete a comment (its author within 15 minutes, an admin any time); it stays in the thread, empty",
)
async def delete_comment(
    ticket_id: PathId, comment_id: PathId, user: CurrentUser, repo: ConversationWrite, request: Request
) -> Response:
    row = await service.delete_comment(
        repo, user=user, ticket_id=ticket_id, comment_id=comment_id, window_seconds=_window(request)
    )
    return json_response(comment_read(row))


# A thread is drawn in one request: the timeline's pages go up to this size.
TIMELINE_MAX_LIMIT = 1000
TIMELINE_DEFAULT_LIMIT = 500


def json_page(key: str, rows: Sequence[asyncpg.Record], next_cursor: str | None) -> Response:
    """`{key: [...], "next_cursor": ...}` from rows whose `json` PostgreSQL built (see
    repository.comment_json: the thread's pages are too long to validate item by item)."""
    items = ",".join(row["json"] for row in rows)
    content = f'{{"{key}":[{items}],"next_cursor":{json.dumps(next_cursor)}}}'
    return Response(content=content, media_type="application/json")


@router.get(
    "/{ticket_id}/timeline",
    response_model=Timeline,
    summary="Comments, workflow changes and attachments in one list, oldest first (owner or staff)",
)
async def get_timeline(
    ticket_id: PathId,
    user: CurrentUser,
    repo: Conversation,
    limit: Annotated[
        int, Query(ge=1, le=TIMELINE_MAX_LIMIT, description=f"Page size (1-{TIMELINE_MAX_LIMIT})")
    ] = TIMELINE_DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    rows, next_cursor = await service.timeline_page(repo, user=user, ticket_id=ticket_id, cursor=cursor, limit=limit)
    return json_page("entries", rows, next_cursor)
