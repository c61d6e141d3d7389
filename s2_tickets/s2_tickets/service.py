"""Who may see and edit which ticket, and the list's cursor.

Visibility: staff (role staff or admin) see every ticket; anyone else only their own. A ticket
the caller may not see is answered exactly like one that does not exist (404, same body), so
ticket ids cannot be probed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser
from helpdesk_common.types import MAX_ID
from s2_tickets.repository import PagePosition, TicketFilters, TicketsRepository
from s2_tickets.schemas import TicketCreate, TicketUpdate


def owner_scope(user: TokenUser) -> int | None:
    """The owner whose tickets `user` may see, or None for all of them."""
    return None if user.is_staff else user.id


def may_see(user: TokenUser, ticket: asyncpg.Record) -> bool:
    return user.is_staff or ticket["user_id"] == user.id


def not_found(ticket_id: int) -> ApiError:
    return ApiError(404, f"Ticket {ticket_id} not found.")


async def create(repo: TicketsRepository, *, user: TokenUser, ticket: TicketCreate) -> asyncpg.Record:
    return await repo.create(
        user_id=user.id,
        title=ticket.title,
        description=ticket.description,
        category=ticket.category,
        priority=ticket.priority,
    )


async def get_or_404(repo: TicketsRepository, *, user: TokenUser, ticket_id: int) -> asyncpg.Record:
    # One primary-key lookup, then the rule in Python: GET /{id} is the hot path.
    ticket = await repo.get(ticket_id=ticket_id)
    if ticket is None or not may_see(user, ticket):
        raise not_found(ticket_id)
    return ticket


async def update_or_404(
    repo: TicketsRepository, *, user: TokenUser, ticket_id: int, update: TicketUpdate
) -> asyncpg.Record:
    # Fields left out are None and keep their stored value (an explicit null is refused earlier).
    ticket = await repo.update(
        ticket_id=ticket_id,
        owner_id=owner_scope(user),
        title=update.title,
        description=update.description,
        category=update.category,
    )
    if ticket is None:
        raise not_found(ticket_id)
    return ticket


def _invalid_cursor() -> ApiError:
    return ApiError(400, "Invalid cursor.", details=[{"field": "cursor", "message": "not a valid cursor"}])


def decode_position(cursor: str | None) -> PagePosition | None:
    if cursor is None:
        return None
    created_at, ticket_id = decode_cursor(cursor, kinds=(datetime, int))
    # Cursors are ours, but a forged one must still be a 400: an id outside PostgreSQL's
    # integer range, or a time that leaves years 1-9999 once in UTC, would fail in the driver.
    if not 0 < ticket_id <= MAX_ID:
        raise _invalid_cursor()
    try:
        created_at = created_at.astimezone(UTC)
    except OverflowError:
        raise _invalid_cursor() from None
    return PagePosition(created_at=created_at, id=ticket_id)


async def list_page(
    repo: TicketsRepository, *, user: TokenUser, filters: TicketFilters, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last one)."""
    # One row more than asked says whether another page exists without a COUNT.
    rows = await repo.list_page(
        owner_id=owner_scope(user), filters=filters, after=decode_position(cursor), limit=limit + 1
    )
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    return page, encode_cursor(last["created_at"], last["id"])
