"""S2 routes, mounted at the root: the gateway maps /tickets to / and /tickets/7 to /7.

Every route answers with a Response built from one `model_dump_json`: `response_model` stays
for the OpenAPI document, but FastAPI does not validate and serialize the body a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel

from helpdesk_common.auth import CurrentUser
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.types import MAX_ID, PathId
from s2_tickets import service
from s2_tickets.flows import Requesters
from s2_tickets.repository import TicketFilters, TicketsRepository
from s2_tickets.schemas import (
    CategoryIn,
    PriorityIn,
    Requester,
    SearchText,
    StaffTicketList,
    StaffTicketRead,
    StatusIn,
    TicketCreate,
    TicketList,
    TicketRead,
    TicketUpdate,
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
def ticket_read(row: asyncpg.Record) -> TicketRead:
    return TicketRead.model_validate(dict(row))


def ticket_list(
    rows: Sequence[asyncpg.Record], next_cursor: str | None, requesters: dict[int, Requester] | None
) -> TicketList | StaffTicketList:
    if requesters is None:
        return TicketList.model_validate({"tickets": [dict(row) for row in rows], "next_cursor": next_cursor})
    tickets = [dict(row) | {"requester": requesters[row["user_id"]]} for row in rows]
    return StaffTicketList.model_validate({"tickets": tickets, "next_cursor": next_cursor})


def staff_or_owner_view(row: asyncpg.Record, requesters: dict[int, Requester] | None) -> TicketRead:
    if requesters is None:
        return ticket_read(row)
    return StaffTicketRead.model_validate(dict(row) | {"requester": requesters[row["user_id"]]})


@router.post(
    "/",
    status_code=201,
    response_model=TicketRead,
    summary="Open a ticket (always `new`, unassigned, owned by the caller)",
    dependencies=[Depends(require_json_body)],
)
async def create_ticket(body: TicketCreate, user: CurrentUser, repo: Repository) -> Response:
    row = await service.create(repo, user=user, ticket=body)
    return json_response(ticket_read(row), status_code=201, headers={"ETag": service.etag(row)})


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
    rows, next_cursor = await service.list_page(repo, user=user, filters=filters, cursor=cursor, limit=limit)
    requesters = await service.requesters(directory, user, rows)
    return json_response(ticket_list(rows, next_cursor, requesters))


@router.get(
    "/{ticket_id}",
    response_model=TicketRead | StaffTicketRead,
    summary="One ticket (owner or staff; 404 otherwise), its version in the ETag header",
)
async def get_ticket(ticket_id: PathId, user: CurrentUser, repo: Repository, directory: Requesters) -> Response:
    row = await service.get_or_404(repo, user=user, ticket_id=ticket_id)
    requesters = await service.requesters(directory, user, [row])
    return json_response(staff_or_owner_view(row, requesters), headers={"ETag": service.etag(row)})


@router.patch(
    "/{ticket_id}",
    response_model=TicketRead,
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
    return json_response(ticket_read(row), headers={"ETag": service.etag(row)})
