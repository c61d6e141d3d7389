"""S2 routes, mounted at the root: the gateway maps /tickets to / and /tickets/7 to /7.

Every route answers with a Response built from one `model_dump_json`: `response_model` stays
for the OpenAPI document, but FastAPI does not validate and serialize the body a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from helpdesk_common.auth import CurrentUser
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.types import MAX_ID, PathId
from s2_tickets import service
from s2_tickets.repository import TicketFilters, TicketsRepository
from s2_tickets.schemas import (
    CategoryIn,
    PriorityIn,
    SearchText,
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


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    return Response(content=body.model_dump_json(), status_code=status_code, media_type="application/json")


# model_validate (pydantic-core, compiled) measured faster than model_construct (pure Python)
# for building these from rows, so the rows are validated on the way out as well.
def ticket_read(row: asyncpg.Record) -> TicketRead:
    return TicketRead.model_validate(dict(row))


def ticket_list(rows: Sequence[asyncpg.Record], next_cursor: str | None) -> TicketList:
    return TicketList.model_validate({"tickets": [dict(row) for row in rows], "next_cursor": next_cursor})


@router.post(
    "/",
    status_code=201,
    response_model=TicketRead,
    summary="Open a ticket (always `new`, unassigned, owned by the caller)",
    dependencies=[Depends(require_json_body)],
)
async def create_ticket(body: TicketCreate, user: CurrentUser, repo: Repository) -> Response:
    row = await service.create(repo, user=user, ticket=body)
    return json_response(ticket_read(row), status_code=201)


@router.get("/", response_model=TicketList, summary="List tickets, newest first (own tickets; staff: all)")
async def list_tickets(
    user: CurrentUser,
    repo: Repository,
    status: StatusIn | None = None,
    priority: PriorityIn | None = None,
    category: CategoryIn | None = None,
    assigned_to: Annotated[int | None, Query(gt=0, le=MAX_ID, description="A user id")] = None,
    q: Annotated[SearchText | None, Query(description="Full-text search over title and description")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    filters = TicketFilters(
        status=status,
        priority=priority,
        category=category,
        assigned_to=assigned_to,
        # An empty search box means no search, not "match nothing".
        search=q or None,
    )
    rows, next_cursor = await service.list_page(repo, user=user, filters=filters, cursor=cursor, limit=limit)
    return json_response(ticket_list(rows, next_cursor))


@router.get("/{ticket_id}", response_model=TicketRead, summary="One ticket (owner or staff; 404 otherwise)")
async def get_ticket(ticket_id: PathId, user: CurrentUser, repo: Repository) -> Response:
    row = await service.get_or_404(repo, user=user, ticket_id=ticket_id)
    return json_response(ticket_read(row))


@router.patch(
    "/{ticket_id}",
    response_model=TicketRead,
    summary="Edit title, description or category (owner or staff); status, priority, assignment: /workflow",
    dependencies=[Depends(require_json_body)],
)
async def update_ticket(ticket_id: PathId, body: TicketUpdate, user: CurrentUser, repo: Repository) -> Response:
    row = await service.update_or_404(repo, user=user, ticket_id=ticket_id, update=body)
    return json_response(ticket_read(row))
