"""S4 routes, mounted at the root: the gateway maps /workflow/status/7 to /status/7.

Changes are staff-only, but for a ticket's owner marking it resolved ("solved for me"); each
is written by one statement, committed before the answer is sent (service.py). The assignment
asks S1 about the assignee first and only then borrows a database connection, so neither a
connection nor a row lock waits on an HTTP call. The rules' errors are mapped to status codes
here, in one place (`workflow_error_handler`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from helpdesk_common.auth import CurrentUser, StaffUser
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn, acquire
from helpdesk_common.errors import error_response
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.service_client import Services
from helpdesk_common.types import PathId
from s4_workflow import flows, service
from s4_workflow.repository import Ticket, WorkflowRepository
from s4_workflow.schemas import (
    Assignment,
    AutoPriorityResult,
    HistoryPage,
    PriorityChange,
    QueuePage,
    StatusChange,
    TicketRead,
)

router = APIRouter(tags=["workflow"])

ERROR_STATUS: tuple[tuple[type[service.WorkflowError], int], ...] = (
    (service.TicketNotFound, 404),
    (service.ChangeRefused, 400),
    (service.ChangeForbidden, 403),
    (service.ChangeConflict, 409),
    (service.AssigneeRefused, 400),
    (service.InvalidCursor, 400),
    (flows.DependencyUnavailable, 503),
)


async def workflow_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, service.WorkflowError)
    status = next((code for kind, code in ERROR_STATUS if isinstance(exc, kind)), 400)
    details = [{"field": exc.field, "message": exc.message}] if exc.field else None
    return error_response(status, exc.message, details=details)


# Dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency
# in a worker thread, a hop that costs more than the work itself.
async def _repository(conn: DbConn) -> WorkflowRepository:
    return WorkflowRepository(conn)


Repository = Annotated[WorkflowRepository, Depends(_repository)]


def json_response(body: BaseModel) -> Response:
    # One serialization: response_model stays for the OpenAPI document only.
    return Response(content=body.model_dump_json(), media_type="application/json")


def ticket_response(ticket: Ticket) -> Response:
    return json_response(TicketRead.model_validate(ticket, from_attributes=True))


@router.patch(
    "/status/{ticket_id}",
    response_model=TicketRead,
    summary="Move a ticket to another status (staff; its owner only to resolved); tells the owner, or the assignee",
    dependencies=[Depends(require_json_body)],
)
async def change_status(ticket_id: PathId, body: StatusChange, user: CurrentUser, repo: Repository) -> Response:
    # Not StaffUser: a ticket's owner may mark it resolved ("solved for me"); service.py decides.
    return ticket_response(await service.change_status(repo, user=user, ticket_id=ticket_id, status=body.status))


@router.patch(
    "/priority/{ticket_id}",
    response_model=TicketRead,
    summary="Set a ticket's priority (staff)",
    dependencies=[Depends(require_json_body)],
)
async def change_priority(ticket_id: PathId, body: PriorityChange, user: StaffUser, repo: Repository) -> Response:
    return ticket_response(await service.change_priority(repo, user=user, ticket_id=ticket_id, priority=body.priority))


@router.patch(
    "/assign/{ticket_id}",
    response_model=TicketRead,
    summary="Assign a ticket to a staff user, or null to unassign (staff); tells the owner and the assignee",
    dependencies=[Depends(require_json_body)],
)
async def assign(
    ticket_id: PathId, body: Assignment, user: StaffUser, services: Services, request: Request
) -> Response:
    # S1 first, before any connection is borrowed: S1 down is a 503 with nothing written or locked.
    assignee = None if body.assigned_to is None else await flows.fetch_assignee(services, body.assigned_to)
    async with acquire(request.app.state.pool) as conn:
        ticket = await service.assign(WorkflowRepository(conn), user=user, ticket_id=ticket_id, assignee=assignee)
    return ticket_response(ticket)


@router.post(
    "/auto-priority/{ticket_id}",
    response_model=AutoPriorityResult,
    summary="Set the priority the ticket's category calls for (staff)",
)
async def auto_priority(ticket_id: PathId, user: StaffUser, repo: Repository) -> Response:
    ticket = await service.set_auto_priority(repo, user=user, ticket_id=ticket_id)
    return json_response(AutoPriorityResult.model_validate({"ticketId": ticket.id, "priority": ticket.priority}))


@router.get(
    "/history/{ticket_id}",
    response_model=HistoryPage,
    summary="A ticket's changes, newest first (owner or staff; 404 otherwise)",
)
async def history(
    ticket_id: PathId, user: CurrentUser, repo: Repository, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    rows, next_cursor = await service.history_page(repo, user=user, ticket_id=ticket_id, cursor=cursor, limit=limit)
    return json_response(HistoryPage.model_validate({"history": _dicts(rows), "next_cursor": next_cursor}))


@router.get(
    "/queue",
    response_model=QueuePage,
    summary="Open tickets, urgent first, then oldest first (staff)",
)
async def queue(user: StaffUser, repo: Repository, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response:
    rows, next_cursor = await service.queue_page(repo, cursor=cursor, limit=limit)
    return json_response(QueuePage.model_validate({"queue": _dicts(rows), "next_cursor": next_cursor}))


def _dicts(rows: Sequence[asyncpg.Record]) -> list[dict[str, object]]:
    return [dict(row) for row in rows]
