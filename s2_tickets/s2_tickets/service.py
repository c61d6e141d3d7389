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
from helpdesk_common.outbox import OutboxMessage
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser
from helpdesk_common.types import MAX_ID
from s2_tickets.flows import RequesterDirectory, StaffDirectory
from s2_tickets.repository import (
    TIMELINE_RANKS,
    ConversationRepository,
    PagePosition,
    ThreadPosition,
    TicketFilters,
    TicketSearch,
    TicketsRepository,
)
from s2_tickets.schemas import CommentCreate, CommentUpdate, Requester, TicketCreate, TicketUpdate

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


# The list's sort orders: `created` (newest first, the default) and `activity` (latest activity
# first). A cursor names its order, so one from the other order is a 400, not a wrong page.
ACTIVITY_CURSOR = "activity"


def decode_position(cursor: str | None, *, by_activity: bool = False) -> PagePosition | None:
    if cursor is None:
        return None
    if by_activity:
        order, at, ticket_id = decode_cursor(cursor, kinds=(str, datetime, int))
        if order != ACTIVITY_CURSOR:
            raise _invalid_cursor()
    else:
        at, ticket_id = decode_cursor(cursor, kinds=(datetime, int))
    # Cursors are ours, but a forged one must still be a 400: an id outside PostgreSQL's
    # integer range, or a time that leaves years 1-9999 once in UTC, would fail in the driver.
    if not 0 < ticket_id <= MAX_ID:
        raise _invalid_cursor()
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        raise _invalid_cursor() from None
    return PagePosition(created_at=at, id=ticket_id, by_activity=by_activity)


async def list_page(
    repo: TicketsRepository,
    *,
    user: TokenUser,
    filters: TicketFilters,
    cursor: str | None,
    limit: int,
    by_activity: bool = False,
) -> tuple[list[asyncpg.Record], str | None]:
    """One page, newest first (or latest activity first), and the cursor of the next page
    (None on the last one). Activity moves, so a ticket that gets a reply while someone pages
    moves to the top: it can be missed on later pages or met twice, as in any inbox."""
    position = decode_position(cursor, by_activity=by_activity)
    if not user.is_staff and filters.user_id is not None:
        if filters.user_id != user.id:
            return [], None  # a user's list holds only their own tickets
        filters = replace(filters, user_id=None)  # the owner scope says it already
    # One row more than asked says whether another page exists without a COUNT.
    rows = await repo.list_page(
        owner_id=owner_scope(user), filters=filters, after=position, limit=limit + 1, by_activity=by_activity
    )
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    if not by_activity:
        return page, encode_cursor(last["created_at"], last["id"])
    activity = last["activity_at"] if user.is_staff else last["public_activity_at"]
    return page, encode_cursor(ACTIVITY_CURSOR, activity, last["id"])


# --- the ticket as each side sees it ---------------------------------------------------------


def ticket_view(row: asyncpg.Record, user: TokenUser) -> dict[str, object]:
    """The ticket's fields with the conversation as `user` may see it: staff count every
    comment, an owner only public ones (internal notes leave no trace in an owner's view)."""
    view = dict(row)
    if user.is_staff:
        view["comment_count"], view["last_activity_at"] = row["comment_count"], row["activity_at"]
    else:
        view["comment_count"], view["last_activity_at"] = row["public_comment_count"], row["public_activity_at"]
    return view


# --- the conversation ------------------------------------------------------------------------

# S6 takes messages of at most this many characters; a long reply is quoted up to it.
NOTIFICATION_MAX = 2000
CLOSED_READ_ONLY = "Closed tickets are read-only."


def comment_not_found(comment_id: int) -> ApiError:
    return ApiError(404, f"Comment {comment_id} not found.")


def _quote(prefix: str, body: str) -> str:
    room = NOTIFICATION_MAX - len(prefix)
    return prefix + (body if len(body) <= room else body[: room - 1] + "\u2026")


def _both_channels(
    recipients: Sequence[int], *, opted_out: set[int], ticket_id: int, type_: str, message: str
) -> list[OutboxMessage]:
    messages: list[OutboxMessage] = []
    for recipient in recipients:
        messages.append(OutboxMessage(recipient, type_, "in_app", message, ticket_id=ticket_id))
        if recipient not in opted_out:
            messages.append(OutboxMessage(recipient, type_, "email", message, ticket_id=ticket_id))
    return messages


async def _notices(
    repo: ConversationRepository,
    staff: StaffDirectory,
    *,
    ticket: asyncpg.Record,
    author: TokenUser,
    comment: asyncpg.Record,
    reopened: bool,
) -> list[OutboxMessage]:
    """Who hears of a new comment (each notice in-app, and by email unless they opted out):

    - an internal note: the assignee only;
    - a staff reply: the owner, with the reply's text;
    - the owner's reply: the assignee, or every active staff member when nobody is assigned;
      a reply that reopened a resolved ticket also tells the assignee so, as S4 tells of an
      owner's status change (`ticket_status_changed`).
    Nobody hears of their own comment."""
    ticket_id, title, assignee = ticket["id"], ticket["title"], ticket["assigned_to"]
    names = f"ticket #{ticket_id} '{title}'"
    status_notice: list[int] = []
    if comment["internal"]:
        recipients, type_ = ([assignee] if assignee is not None else []), "ticket_internal_note"
        prefix = f"Internal note on {names}:\n\n"
    elif author.id != ticket["user_id"]:
        recipients, type_ = [ticket["user_id"]], "ticket_reply"
        prefix = f"New reply on your {names}:\n\n"
    else:
        recipients = [assignee] if assignee is not None else await staff.staff_ids()
        type_ = "ticket_reply"
        prefix = f"The requester replied on {names}" + (" and reopened it" if reopened else "") + ":\n\n"
        if reopened and assignee is not None and assignee != author.id:
            status_notice = [assignee]
    recipients = [r for r in recipients if r != author.id]
    if not recipients:
        return []
    # The owner's and the assignee's choices came with the locked ticket; only "every staff
    # member" needs a query of its own.
    known = {ticket["user_id"]: ticket["owner_emails"]}
    if assignee is not None:
        known[assignee] = ticket["assignee_emails"]
    if all(r in known for r in recipients):
        opted_out = {r for r in recipients if not known[r]}
    else:
        opted_out = await repo.email_opt_outs(recipients)
    messages = _both_channels(
        recipients, opted_out=opted_out, ticket_id=ticket_id, type_=type_, message=_quote(prefix, comment["body"])
    )
    if status_notice:
        messages += _both_channels(
            status_notice,
            opted_out=set(),
            ticket_id=ticket_id,
            type_="ticket_status_changed",
            message=f"Ticket #{ticket_id} '{title}' has been reopened by its owner.",
        )
    return messages


async def post_comment(
    repo: ConversationRepository, staff: StaffDirectory, *, user: TokenUser, ticket_id: int, comment: CommentCreate
) -> asyncpg.Record:
    """Add a reply or a note; the owner's reply reopens a resolved ticket. The comment, the
    ticket's counters, the reopening (status and S4's history row) and the notifications are
    one transaction (the route's)."""
    ticket = await repo.lock_ticket(ticket_id=ticket_id)
    if ticket is None or not may_see(user, ticket):
        raise not_found(ticket_id)
    if comment.internal and not user.is_staff:
        raise ApiError(403, "Only staff can write internal notes.")
    if ticket["status"] == "closed":
        raise ApiError(409, CLOSED_READ_ONLY)
    row = await repo.add(
        ticket_id=ticket_id, author_id=user.id, author_role=user.role, body=comment.body, internal=comment.internal
    )
    reopened = False
    if not comment.internal and user.id == ticket["user_id"] and ticket["status"] == "resolved":
        reopened = await repo.reopen(ticket_id=ticket_id, changed_by=user.id, changed_by_role=user.role)
    await repo.enqueue(await _notices(repo, staff, ticket=ticket, author=user, comment=row, reopened=reopened))
    return row


async def _comment_for_change(
    repo: ConversationRepository, *, user: TokenUser, ticket_id: int, comment_id: int, window_seconds: float
) -> tuple[asyncpg.Record, asyncpg.Record]:
    ticket = await repo.lock_ticket(ticket_id=ticket_id)
    if ticket is None or not may_see(user, ticket):
        raise not_found(ticket_id)
    comment = await repo.get_for_change(ticket_id=ticket_id, comment_id=comment_id, window_seconds=window_seconds)
    if comment is None or (comment["internal"] and not user.is_staff):
        raise comment_not_found(comment_id)
    return ticket, comment


def _check_author_window(user: TokenUser, comment: asyncpg.Record, window_seconds: float, verb: str) -> None:
    minutes = f"{window_seconds / 60:g}"
    if comment["author_id"] != user.id:
        raise ApiError(403, f"Only the author can {verb} this comment.")
    if not comment["in_window"]:
        raise ApiError(403, f"A comment can be {verb}ed only within {minutes} minutes of posting.")


async def edit_comment(
    repo: ConversationRepository,
    *,
    user: TokenUser,
    ticket_id: int,
    comment_id: int,
    update: CommentUpdate,
    window_seconds: float,
) -> asyncpg.Record:
    ticket, comment = await _comment_for_change(
        repo, user=user, ticket_id=ticket_id, comment_id=comment_id, window_seconds=window_seconds
    )
    if comment["deleted_at"] is not None:
        raise ApiError(409, "This comment was deleted.")
    _check_author_window(user, comment, window_seconds, "edit")
    if ticket["status"] == "closed":
        raise ApiError(409, CLOSED_READ_ONLY)
    return await repo.edit(comment_id=comment_id, body=update.body)


async def delete_comment(
    repo: ConversationRepository, *, user: TokenUser, ticket_id: int, comment_id: int, window_seconds: float
) -> asyncpg.Record:
    """The author within the window, or an admin at any time (moderation: a password pasted
    into a reply must be removable, even from a closed ticket)."""
    ticket, comment = await _comment_for_change(
        repo, user=user, ticket_id=ticket_id, comment_id=comment_id, window_seconds=window_seconds
    )
    if comment["deleted_at"] is not None:
        raise ApiError(409, "This comment was already deleted.")
    if not user.is_admin:
        _check_author_window(user, comment, window_seconds, "delete")
        if ticket["status"] == "closed":
            raise ApiError(409, CLOSED_READ_ONLY)
    return await repo.delete(comment_id=comment_id)


async def thread_ticket_or_404(repo: ConversationRepository, *, user: TokenUser, ticket_id: int) -> asyncpg.Record:
    ticket = await repo.ticket_for_thread(ticket_id=ticket_id)
    if ticket is None or not may_see(user, ticket):
        raise not_found(ticket_id)
    return ticket


def decode_thread_position(cursor: str | None) -> ThreadPosition | None:
    if cursor is None:
        return None
    at, rank, entry_id = decode_cursor(cursor, kinds=(datetime, int, int))
    if not 0 < entry_id <= 2**63 - 1 or rank not in (0, *TIMELINE_RANKS.values()):
        raise _invalid_cursor()
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        raise _invalid_cursor() from None
    return ThreadPosition(at=at, rank=rank, id=entry_id)


async def comments_page(
    repo: ConversationRepository, *, user: TokenUser, ticket_id: int, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """Oldest first; an owner never receives internal notes (nor a page boundary that counts them)."""
    position = decode_thread_position(cursor)
    await thread_ticket_or_404(repo, user=user, ticket_id=ticket_id)
    rows = await repo.page(ticket_id=ticket_id, include_internal=user.is_staff, after=position, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1]["created_at"], 0, page[-1]["id"])


async def timeline_page(
    repo: ConversationRepository, *, user: TokenUser, ticket_id: int, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    position = decode_thread_position(cursor)
    await thread_ticket_or_404(repo, user=user, ticket_id=ticket_id)
    with_history, with_media = await repo.peer_tables()
    rows = await repo.timeline(
        ticket_id=ticket_id,
        include_internal=user.is_staff,
        after=position,
        limit=limit + 1,
        with_history=with_history,
        with_media=with_media,
    )
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    return page, encode_cursor(last["at"], last["rank"], last["id"])
