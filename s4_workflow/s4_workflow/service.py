"""The workflow's rules: which status moves are allowed, what an assignment does to the status,
who is told about a change and in which words, who may read a ticket's history.

No HTTP and no SQL here: the repository runs the queries, and routes.py maps the errors below
to status codes in one place. A change reads the ticket, checks the rules against what it
read, and writes the new columns, the history rows and the notifications in one statement
that writes only if the ticket's workflow columns are still what was read (a conditional
UPDATE, atomic on its own). When a concurrent change got there first, nothing is written and
the change is read and judged again against what that one committed. Two round trips per
change, and no transaction held open between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import STAFF_ROLES, TokenUser
from helpdesk_common.types import MAX_ID
from helpdesk_common.vocabulary import STATUSES, Category, Priority, Status
from s4_workflow.repository import (
    FieldChange,
    HistoryPosition,
    Notification,
    QueuePosition,
    Ticket,
    TicketChange,
    WorkflowRepository,
)

# --- errors (routes.py maps them to status codes) ---------------------------------------------


class WorkflowError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class TicketNotFound(WorkflowError):
    """No such ticket, or one the caller may not see (answered alike, so ids cannot be probed)."""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"Ticket {ticket_id} not found.")


class ChangeRefused(WorkflowError):
    """The rules do not allow this change of this ticket as it is now."""


class ChangeForbidden(WorkflowError):
    """The caller may not make this kind of change of any ticket (403)."""


class AssigneeRefused(WorkflowError):
    """The user given as assignee does not exist or is not staff."""


class ChangeConflict(WorkflowError):
    """The ticket kept changing under this change: it was tried CHANGE_ATTEMPTS times (409)."""


class InvalidCursor(WorkflowError):
    def __init__(self) -> None:
        super().__init__("Invalid cursor.", field="cursor")


# --- status moves -------------------------------------------------------------------------------

# Every move between statuses is allowed except: staying put, closing a ticket that is not
# resolved, and leaving `closed` (a closed ticket is final; reopen a resolved one instead).
ALLOWED_MOVES: dict[Status, tuple[Status, ...]] = {
    current: tuple(
        target
        for target in STATUSES
        if target != current and current != "closed" and (target != "closed" or current == "resolved")
    )
    for current in STATUSES
}


def allowed_moves(ticket: Ticket) -> tuple[Status, ...]:
    """The statuses this ticket may move to now. `assigned` means someone has it and `new`
    that no one has it yet, so `assigned` needs an assignee and `new` needs none (assign or
    unassign through /assign, which moves the status along)."""
    moves = ALLOWED_MOVES[_status(ticket.status)]
    if ticket.assigned_to is None:
        return tuple(m for m in moves if m != "assigned")
    return tuple(m for m in moves if m != "new")


def _status(value: str) -> Status:
    # The table's CHECK constraint holds the same values as the vocabulary.
    assert value in STATUSES, value
    return value


def _moves_text(moves: tuple[Status, ...]) -> str:
    return ", ".join(moves) if moves else "none (a closed ticket is final)"


def _refuse_status(ticket: Ticket, target: Status) -> ChangeRefused:
    moves = allowed_moves(ticket)
    allowed = f"from {ticket.status} it can move to: {_moves_text(moves)}"
    if target == ticket.status:
        reason = f"Ticket {ticket.id} is already {target}; {allowed}."
    elif ticket.status == "closed":
        reason = f"Ticket {ticket.id} is closed, and a closed ticket is final; reopen resolved tickets instead."
    elif target == "closed":
        reason = f"Ticket {ticket.id} can only be closed once it is resolved; {allowed}."
    elif target == "assigned":
        reason = f"Ticket {ticket.id} has no assignee: assign it through /workflow/assign/{ticket.id}; {allowed}."
    else:  # target == "new" with an assignee
        reason = f"Ticket {ticket.id} is assigned: unassign it through /workflow/assign/{ticket.id}; {allowed}."
    return ChangeRefused(reason, field="status")


def _refuse_if_closed(ticket: Ticket, what: str) -> None:
    if ticket.status == "closed":
        raise ChangeRefused(f"Ticket {ticket.id} is closed, and a closed ticket is final: its {what} cannot change.")


# --- what customers read ------------------------------------------------------------------------

# "Your ticket #12 'Printer on fire' is now resolved."
_STATUS_PHRASES: dict[Status, str] = {
    "new": "is waiting for a member of our support team",
    "assigned": "has been assigned to a member of our support team",
    "in_progress": "is being worked on",
    "resolved": "is now resolved",
    "closed": "is now closed",
}
OWNER_CHANNELS = ("email", "in_app")
ASSIGNEE_CHANNELS = ("email", "in_app")


def _ticket_words(ticket: Ticket) -> str:
    return f"#{ticket.id} '{ticket.title}'"


def status_message(ticket: Ticket, new_status: Status) -> str:
    phrase = _STATUS_PHRASES[new_status]
    if ticket.status in ("resolved", "closed") and new_status not in ("resolved", "closed"):
        phrase = f"has been reopened and {phrase}"
    return f"Your ticket {_ticket_words(ticket)} {phrase}."


def owner_assignment_message(ticket: Ticket) -> str:
    return f"Your ticket {_ticket_words(ticket)} has been assigned to a member of our support team."


def solved_by_owner_message(ticket: Ticket) -> str:
    return f"Ticket {_ticket_words(ticket)} has been marked resolved by its owner."


def assignee_message(ticket: Ticket) -> str:
    return f"Ticket {_ticket_words(ticket)} ({ticket.category}, {ticket.priority} priority) has been assigned to you."


def _to(user_id: int, email: str | None, type_: str, channels: tuple[str, ...], message: str) -> list[Notification]:
    return [Notification(user_id, email, type_, channel, message) for channel in channels]


# --- planning a change (pure: the locked ticket in, the change out) ---------------------------


def _change(ticket: Ticket, **new: str | int | None) -> TicketChange:
    """The ticket's workflow columns with `new` applied, and one history row per column that changed."""
    values: dict[str, str | int | None] = {
        "status": ticket.status,
        "priority": ticket.priority,
        "assigned_to": ticket.assigned_to,
    }
    fields = []
    for name, value in new.items():
        if values[name] != value:
            old = values[name]
            fields.append(FieldChange(name, None if old is None else str(old), None if value is None else str(value)))
            values[name] = value
    status, priority, assigned_to = values["status"], values["priority"], values["assigned_to"]
    assert isinstance(status, str) and isinstance(priority, str)
    assert assigned_to is None or isinstance(assigned_to, int)
    return TicketChange(status=status, priority=priority, assigned_to=assigned_to, fields=tuple(fields))


def plan_status(ticket: Ticket, target: Status, *, by_owner: bool = False) -> TicketChange:
    """A staff move tells the owner. The owner's own "solved for me" (by_owner) tells the
    assignee, if there is one, and not the owner: they did it themselves and have the answer."""
    if target not in allowed_moves(ticket):
        raise _refuse_status(ticket, target)
    change = _change(ticket, status=target)
    kind = "ticket_closed" if target == "closed" else "ticket_status_changed"
    if not by_owner:
        notices = _to(ticket.user_id, None, kind, OWNER_CHANNELS, status_message(ticket, target))
    elif ticket.assigned_to is not None and ticket.assigned_to != ticket.user_id:
        # The assignee's address is not known here: S6 finds it from S1, as for the owner's.
        notices = _to(ticket.assigned_to, None, kind, ASSIGNEE_CHANNELS, solved_by_owner_message(ticket))
    else:
        notices = []
    return replace(change, notifications=tuple(notices))


def plan_priority(ticket: Ticket, priority: Priority) -> TicketChange | None:
    """None when the ticket already has that priority. Priority is triage: nobody is told."""
    _refuse_if_closed(ticket, "priority")
    if priority == ticket.priority:
        return None
    return _change(ticket, priority=priority)


@dataclass(frozen=True, slots=True)
class Assignee:
    """A staff or admin user, as S1 knows them."""

    id: int
    email: str


def plan_assignment(ticket: Ticket, assignee: Assignee | None) -> TicketChange | None:
    """None when nothing changes (the same assignee again, or unassigning an unassigned ticket).

    Assigning a `new` ticket makes it `assigned`; other statuses stay. Unassigning an `assigned`
    ticket makes it `new` again (back in the pool); other statuses stay. An assignment tells the
    owner and the new assignee (once, when they are the same person); unassigning tells nobody.
    """
    _refuse_if_closed(ticket, "assignment")
    new_id = None if assignee is None else assignee.id
    if new_id == ticket.assigned_to:
        return None
    status = ticket.status
    if assignee is not None and status == "new":
        status = "assigned"
    elif assignee is None and status == "assigned":
        status = "new"
    change = _change(ticket, assigned_to=new_id, status=status)
    if assignee is None:
        return change
    notices = _to(assignee.id, assignee.email, "ticket_assigned", ASSIGNEE_CHANNELS, assignee_message(ticket))
    if ticket.user_id != assignee.id:
        notices = (
            _to(ticket.user_id, None, "ticket_assigned", OWNER_CHANNELS, owner_assignment_message(ticket)) + notices
        )
    return replace(change, notifications=tuple(notices))


# The original system's rule: a bug is urgent-ish, a question is not.
AUTO_PRIORITY: dict[Category, Priority] = {"bug": "high", "feature": "medium", "support": "medium", "other": "low"}


def auto_priority(category: str) -> Priority:
    return AUTO_PRIORITY[category]  # type: ignore[index]


# --- running a change ------------------------------------------------------------------------

# Each lost race means another change of the ticket committed, so some change always makes
# progress; this only bounds one request's share of a storm of changes to one ticket.
CHANGE_ATTEMPTS = 50


async def _run_change(
    repo: WorkflowRepository, user: TokenUser, ticket_id: int, plan: Callable[[Ticket], TicketChange | None]
) -> Ticket:
    for _ in range(CHANGE_ATTEMPTS):
        ticket = await repo.get_ticket(ticket_id=ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        change = plan(ticket)
        if change is None:
            return ticket  # nothing changes: no history, nobody told
        changed = await repo.apply_change(read=ticket, changed_by=user.id, changed_by_role=user.role, change=change)
        if changed is not None:
            return changed
        # Another change of this ticket committed since the read: judge this one again.
    raise ChangeConflict(f"Ticket {ticket_id} is being changed by others right now; try again.")


# What a ticket's owner who is not staff may do with its status: mark it solved for them.
OWNER_STATUS: Status = "resolved"


async def change_status(repo: WorkflowRepository, *, user: TokenUser, ticket_id: int, status: Status) -> Ticket:
    """Staff move any ticket as the rules allow. A plain user may only mark their own ticket
    resolved, under the same rules: any other target is a 403 (decided before the ticket is
    read, so it says nothing about the ticket), and a ticket that is not theirs a 404 exactly
    like a missing one (as S2 answers)."""
    if user.is_staff:
        return await _run_change(repo, user, ticket_id, lambda ticket: plan_status(ticket, status))
    if status != OWNER_STATUS:
        raise ChangeForbidden(
            f"Only staff can move a ticket to {status}; the ticket's owner may only mark it {OWNER_STATUS}."
        )

    def plan(ticket: Ticket) -> TicketChange:
        if ticket.user_id != user.id:
            raise TicketNotFound(ticket.id)
        return plan_status(ticket, status, by_owner=True)

    return await _run_change(repo, user, ticket_id, plan)


async def change_priority(repo: WorkflowRepository, *, user: TokenUser, ticket_id: int, priority: Priority) -> Ticket:
    return await _run_change(repo, user, ticket_id, lambda ticket: plan_priority(ticket, priority))


async def assign(repo: WorkflowRepository, *, user: TokenUser, ticket_id: int, assignee: Assignee | None) -> Ticket:
    return await _run_change(repo, user, ticket_id, lambda ticket: plan_assignment(ticket, assignee))


async def set_auto_priority(repo: WorkflowRepository, *, user: TokenUser, ticket_id: int) -> Ticket:
    """The priority the ticket's category calls for; history only when it changes."""
    return await _run_change(
        repo, user, ticket_id, lambda ticket: plan_priority(ticket, auto_priority(ticket.category))
    )


def check_assignee(*, user_id: int, role: str | None, email: str | None) -> Assignee:
    """What S1 said about `user_id` (role None: S1 does not know the user) as an assignee."""
    if role is None or email is None:
        raise AssigneeRefused(f"User {user_id} does not exist.", field="assigned_to")
    if role not in STAFF_ROLES:
        raise AssigneeRefused(
            f"User {user_id} is not staff: tickets can only be assigned to staff or admin users.", field="assigned_to"
        )
    return Assignee(id=user_id, email=email)


# --- reads ------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # a forged time that leaves years 1-9999 once in UTC
        raise InvalidCursor() from None


def _decode(cursor: str, kinds: tuple[type, ...]) -> tuple[object, ...]:
    try:
        return decode_cursor(cursor, kinds=kinds)
    except ApiError:  # the shared decoder's 400, told here in this module's terms
        raise InvalidCursor() from None


def _page_id(value: object, *, upper: int = MAX_ID) -> int:
    if not isinstance(value, int) or not 0 < value <= upper:
        raise InvalidCursor()
    return value


async def history_page(
    repo: WorkflowRepository, *, user: TokenUser, ticket_id: int, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """Newest first; owner or staff (404 otherwise, like S2)."""
    owner = await repo.ticket_owner(ticket_id=ticket_id)
    if owner is None or not (user.is_staff or owner == user.id):
        raise TicketNotFound(ticket_id)
    after = None
    if cursor is not None:
        changed_at, entry_id = _decode(cursor, (datetime, int))
        assert isinstance(changed_at, datetime)
        after = HistoryPosition(changed_at=_utc(changed_at), id=_page_id(entry_id, upper=2**63 - 1))
    # One row more than asked says whether another page exists without a COUNT.
    rows = await repo.history_page(ticket_id=ticket_id, after=after, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last["changed_at"], last["id"])


async def queue_page(
    repo: WorkflowRepository, *, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """Open tickets, urgent first, then oldest first."""
    after = None
    if cursor is not None:
        rank, created_at, ticket_id = _decode(cursor, (int, datetime, int))
        assert isinstance(created_at, datetime)
        after = QueuePosition(rank=_page_id(rank, upper=4), created_at=_utc(created_at), id=_page_id(ticket_id))
    rows = await repo.queue_page(after=after, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last["queue_rank"], last["created_at"], last["id"])
