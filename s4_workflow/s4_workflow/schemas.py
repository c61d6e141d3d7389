"""Request and response bodies of S4.

Inputs are strict and closed: a value of the wrong type, an unknown status or priority, a
missing field or an unknown key is a 400 that names the field, and nothing is written.
Statuses and priorities are the shared vocabulary's exact (lower-case) values.

A ticket is answered in S2's shape. S4 defines its own `TicketRead` rather than importing
S2's: the services share a table, not Python packages, and a test checks the two agree.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from helpdesk_common.types import Id, Timestamp
from helpdesk_common.vocabulary import Category, Priority, Status


class StatusChange(BaseModel):
    """PATCH /status/{id}."""

    model_config = ConfigDict(strict=True, extra="forbid")

    status: Status


class PriorityChange(BaseModel):
    """PATCH /priority/{id}."""

    model_config = ConfigDict(strict=True, extra="forbid")

    priority: Priority


class Assignment(BaseModel):
    """PATCH /assign/{id}: a staff or admin user's id, or null to unassign (the key is required)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    assigned_to: Id | None


class TicketRead(BaseModel):
    id: int
    user_id: int
    title: str
    description: str
    category: Category
    status: Status
    priority: Priority
    assigned_to: int | None
    created_at: Timestamp
    updated_at: Timestamp


class HistoryEntry(BaseModel):
    id: int
    ticket_id: int
    changed_by: int
    # The role the change was made with (from the verified token).
    changed_by_role: str
    field_name: str
    old_value: str | None
    new_value: str | None
    changed_at: Timestamp


class HistoryPage(BaseModel):
    history: list[HistoryEntry]
    next_cursor: str | None


class QueuePage(BaseModel):
    queue: list[TicketRead]
    next_cursor: str | None


class AutoPriorityResult(BaseModel):
    # camelCase, as the original system answered.
    ticketId: int
    priority: Priority
