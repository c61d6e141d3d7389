"""Who may see and edit which ticket, what a search means, safe edits, and the list's cursor.

Visibility: staff (role staff or admin) see every ticket; anyone else only their own. A ticket
the caller may not see is answered exactly like one that does not exist (404, same body), so
ticket ids cannot be probed. Staff views also name each ticket's requester (flows.py).

Edits are safe against lost updates: every ticket has a version (the ETag of GET /{id}; every
write moves it, S4's included), and a PATCH with `If-Match` changes the ticket only if it is
still that version (412 otherwise). A PATCH without `If-Match` still works, as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser
from helpdesk_common.types import MAX_ID
from s2_tickets.flows import RequesterDirectory
from s2_tickets.repository import PagePosition, TicketFilters, TicketSearch, TicketsRepository
from s2_tickets.schemas import Requester, TicketCreate, TicketUpdate

# `123` or `#123`: a ticket number (and the same digits as text).
_TICKET_NUMBER = re.compile(r"#?(\d{1,10})")
# The shortest word that is matched by prefix while it is typed (one letter would match most
# of the index).
PREFIX_MIN = 2
# One entity-tag of an If-Match list (RFC 9110 8.8.3): W/"..." or "...".
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*(?:,|$)')


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


def etag(ticket: asyncpg.Record) -> str:
    return f'"{ticket["version"]}"'


def parse_if_match(header: str | None) -> list[int] | None:
    """The versions an If-Match header accepts: None for no header or `*` (any version), else
    the versions of its strong tags (a weak tag, or one that is not ours, matches none)."""
    if header is None or header.strip() == "*":
        return None
    versions: list[int] = []
    position, text = 0, header.strip()
    while position < len(text):
        match = _ENTITY_TAG.match(text, position)
        if match is None or match.end() == position:
            raise ApiError(
                400,
                'Invalid If-Match header: send the ETag of GET /tickets/{id}, e.g. If-Match: "3".',
                details=[{"field": "If-Match", "message": "not a list of entity tags"}],
            )
        weak, value = match.group(1), match.group(2)
        if not weak and value.isascii() and value.isdigit() and int(value) <= MAX_ID:
            versions.append(int(value))
        position = match.end()
    return versions


async def update_or_404(
    repo: TicketsRepository, *, user: TokenUser, ticket_id: int, update: TicketUpdate, if_match: list[int] | None
) -> asyncpg.Record:
    # Fields left out are None and keep their stored value (an explicit null is refused earlier).
    ticket = await repo.update(
        ticket_id=ticket_id,
        owner_id=owner_scope(user),
        title=update.title,
        description=update.description,
        category=update.category,
        versions=if_match,
    )
    if ticket is not None:
        return ticket
    if if_match is not None:
        # No match: tell a stale version (412) from a ticket the caller may not see (404).
        current = await get_or_404(repo, user=user, ticket_id=ticket_id)
        raise ApiError(
            412,
            "The ticket changed since you read it; read it again and reapply your edit.",
            headers={"ETag": etag(current)},
        )
    raise not_found(ticket_id)


# --- search ---------------------------------------------------------------------------------


def parse_search(q: str | None) -> TicketSearch | None:
    """What the search box means.

    - `123` or `#123`: ticket 123 (if the caller may see it) and tickets that mention 123;
    - otherwise websearch syntax (stemmed words, "a phrase", or, -word), with the last word, the
      one being typed, also matching as the beginning of a word (`printe` finds "printer"),
      unless it is negated, inside quotes, `or`, or not made of letters and digits alone.
    """
    text = (q or "").strip()
    if not text:
        return None
    number = _TICKET_NUMBER.fullmatch(text)
    if number is not None:
        digits = number.group(1)
        ticket_id = int(digits)
        return TicketSearch(websearch=digits, ticket_id=ticket_id if 0 < ticket_id <= MAX_ID else None)
    if text.count('"') % 2:  # the last word is inside a phrase still open
        return TicketSearch(websearch=text)
    words = text.split()
    last = words[-1]
    if len(last) < PREFIX_MIN or not last.isalnum() or last.lower() == "or":
        return TicketSearch(websearch=text)
    rest = words[:-1]
    joins_with_or = bool(rest) and rest[-1].lower() == "or"
    if joins_with_or:
        rest = rest[:-1]
    return TicketSearch(websearch=" ".join(rest) or None, prefix=last.lower(), prefix_joins_with_or=joins_with_or)


# --- requesters -----------------------------------------------------------------------------


async def requesters(
    directory: RequesterDirectory, user: TokenUser, tickets: Sequence[asyncpg.Record]
) -> dict[int, Requester] | None:
    """The requesters of these tickets, for a staff caller (one lookup for the whole page);
    None for anyone else (a user's views are their own tickets)."""
    if not user.is_staff:
        return None
    return await directory.lookup(ticket["user_id"] for ticket in tickets)


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
    position = decode_position(cursor)
    if not user.is_staff and filters.user_id is not None:
        if filters.user_id != user.id:
            return [], None  # a user's list holds only their own tickets
        filters = replace(filters, user_id=None)  # the owner scope says it already
    # One row more than asked says whether another page exists without a COUNT.
    rows = await repo.list_page(owner_id=owner_scope(user), filters=filters, after=position, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    return page, encode_cursor(last["created_at"], last["id"])
