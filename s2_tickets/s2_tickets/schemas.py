"""Request and response bodies of S2, and the constrained types they are built from.

Inputs are strict (`{"title": 5}` is a 400, never coerced to "5"); text is trimmed before its
length is checked, and text PostgreSQL cannot store (NUL, lone surrogates) is refused here so it
can never turn into a 500 further down.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from helpdesk_common.text import multiline_text, storable_text
from helpdesk_common.types import Timestamp
from helpdesk_common.vocabulary import DEFAULT_PRIORITY, Category, Priority, Status

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
SEARCH_MAX = 200

# Control characters have no place in a one-line title (a description is prose:
# helpdesk_common.text.multiline_text keeps tab and newlines).
_TITLE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _normalize_choice(value: Any) -> Any:
    # "Bug " and "BUG" mean bug. Anything that is not a string is left for the strict
    # Literal check to refuse.
    return value.strip().lower() if isinstance(value, str) else value


def _title_text(value: str) -> str:
    if _TITLE_CONTROL.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return storable_text(value)


def _search_text(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("control_characters", "must not contain NUL characters")
    return value


CategoryIn = Annotated[Category, BeforeValidator(_normalize_choice)]
StatusIn = Annotated[Status, BeforeValidator(_normalize_choice)]
PriorityIn = Annotated[Priority, BeforeValidator(_normalize_choice)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX), AfterValidator(_title_text)
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DESCRIPTION_MAX),
    AfterValidator(multiline_text),
]
SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=SEARCH_MAX), AfterValidator(_search_text)
]


class TicketCreate(BaseModel):
    """POST /. Other keys (status, assigned_to, user_id, ...) are ignored: a new ticket is always
    `new`, unassigned and owned by the caller."""

    model_config = ConfigDict(strict=True, extra="ignore")

    title: Title
    description: Description
    category: CategoryIn
    priority: PriorityIn = DEFAULT_PRIORITY


# Changed only through S4, which checks the allowed transitions and writes the history.
WORKFLOW_FIELDS = ("status", "priority", "assigned_to")


class TicketUpdate(BaseModel):
    """PATCH /{id}: any of title, description, category; at least one."""

    model_config = ConfigDict(strict=True, extra="forbid")

    title: Title | None = None
    description: Description | None = None
    category: CategoryIn | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_workflow_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(name in data for name in WORKFLOW_FIELDS):
            raise PydanticCustomError("use_workflow", "status, priority and assignment change through /workflow")
        return data

    @model_validator(mode="after")
    def _something_to_change(self) -> TicketUpdate:
        if not self.model_fields_set:
            raise PydanticCustomError("empty_update", "give at least one of title, description, category")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise PydanticCustomError(
                    "null_field", "{field} cannot be null; leave it out to keep it", {"field": name}
                )
        return self


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


class TicketView(TicketRead):
    """A ticket as S2 answers it: its fields (TicketRead, the shape S4 answers too) and the
    conversation as the caller may see it: an owner counts public comments only, and internal
    notes never move their ticket's last activity (service.ticket_view)."""

    comment_count: int
    last_activity_at: Timestamp


class TicketList(BaseModel):
    tickets: list[TicketView]
    next_cursor: str | None


class Requester(BaseModel):
    """Who filed a ticket, as S1 knows them (staff views only).

    `lookup`: "ok"; "unavailable" when S1 could not be asked just now (name and email null:
    the list still answers); "unknown" when S1 has no such user."""

    name: str | None
    email: str | None
    lookup: Literal["ok", "unavailable", "unknown"]


class StaffTicketRead(TicketView):
    requester: Requester


class StaffTicketList(BaseModel):
    tickets: list[StaffTicketRead]
    next_cursor: str | None


# --- the conversation -----------------------------------------------------------------------

COMMENT_MAX = 20_000

CommentBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX),
    AfterValidator(multiline_text),
]


class CommentCreate(BaseModel):
    """POST /{id}/comments. Unknown keys are refused, not ignored: a mistyped `internal` must
    never post what was meant as a staff note as a public reply."""

    model_config = ConfigDict(strict=True, extra="forbid")

    body: CommentBody
    internal: bool = False


class CommentUpdate(BaseModel):
    """PATCH /{id}/comments/{comment_id}: the new text (whether it is internal stays)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    body: CommentBody


class CommentRead(BaseModel):
    """A reply or an internal note; a deleted one has body "" and its `deleted_at`."""

    id: int
    ticket_id: int
    author_id: int
    author_role: Literal["user", "staff", "admin"]
    body: str
    internal: bool
    created_at: Timestamp
    edited_at: Timestamp | None
    deleted_at: Timestamp | None


class CommentList(BaseModel):
    comments: list[CommentRead]
    next_cursor: str | None


class ChangeRead(BaseModel):
    """A workflow change (a row of S4's history)."""

    id: int
    changed_by: int
    changed_by_role: Literal["user", "staff", "admin"]
    field_name: str
    old_value: str | None
    new_value: str | None


class AttachmentRead(BaseModel):
    """A file attached to the ticket (S5's; download it from /media/{id})."""

    id: int
    uploaded_by: int
    original_filename: str
    mime_type: str
    file_size: int


class CommentEntry(BaseModel):
    kind: Literal["comment"] = "comment"
    at: Timestamp
    comment: CommentRead


class ChangeEntry(BaseModel):
    kind: Literal["change"] = "change"
    at: Timestamp
    change: ChangeRead


class AttachmentEntry(BaseModel):
    kind: Literal["attachment"] = "attachment"
    at: Timestamp
    attachment: AttachmentRead


class Timeline(BaseModel):
    entries: list[CommentEntry | ChangeEntry | AttachmentEntry]
    next_cursor: str | None


class NotificationPreferences(BaseModel):
    """PUT /preferences: whether replies on one's tickets also come by email (default yes)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    email_replies: bool
