"""Request and response bodies of S6, and the constrained types they are built from.

Inputs are strict (`{"user_id": "5"}` is a 400, never coerced to 5); text PostgreSQL cannot
store (NUL, lone surrogates) is refused here so it can never become a 500 further down.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from helpdesk_common.types import Id, Timestamp
from helpdesk_common.vocabulary import NotificationChannel, NotificationType

MESSAGE_MAX = 2000
IDEMPOTENCY_KEY_MAX = 200
# Printable ASCII, space to tilde: what the contract allows in an Idempotency-Key.
IDEMPOTENCY_KEY = re.compile(rf"^[\x20-\x7e]{{1,{IDEMPOTENCY_KEY_MAX}}}$")
# E.164: a plus, then 8 to 15 digits (country code first).
PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")
_MESSAGE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Status = Literal["pending", "sending", "sent", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "sending", "sent", "failed")


def _message_text(value: str) -> str:
    if _MESSAGE_CONTROL.search(value):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters (tab and newline are fine)"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_text", "must be valid Unicode text") from None
    return value


def _phone(value: str) -> str:
    if not PHONE.match(value):
        raise PydanticCustomError("phone", "must be an E.164 phone number such as +15551234567")
    return value


Message = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_MAX), AfterValidator(_message_text)
]
Phone = Annotated[str, AfterValidator(_phone)]


class NotificationCreate(BaseModel):
    """POST /notify. Unknown keys are a 400: a misspelt `ticketId` should not vanish silently."""

    model_config = ConfigDict(strict=True, extra="forbid")

    user_id: Id
    ticket_id: Id | None = None
    type: NotificationType
    channel: NotificationChannel
    message: Message
    # The recipient's address, when the sender knows it; otherwise S6 asks S1 at send time.
    user_email: Annotated[EmailStr, Field(max_length=320)] | None = None
    # The recipient's phone number for channel sms (S1 keeps no phone numbers).
    user_phone: Phone | None = None

    @model_validator(mode="after")
    def _sms_needs_a_phone(self) -> NotificationCreate:
        if self.channel == "sms" and self.user_phone is None:
            raise PydanticCustomError("phone_required", "channel sms needs user_phone (S1 keeps no phone numbers)")
        return self


IdempotencyKey = Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY.pattern)]
NOTIFY_BATCH_MAX = 100


class NotificationBatchItem(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    # Required here: a relay's resend of a batch must store each notification once.
    idempotency_key: IdempotencyKey
    notification: NotificationCreate


class NotificationBatch(BaseModel):
    """POST /notify/batch: what a service's outbox relay sends in one request."""

    model_config = ConfigDict(strict=True, extra="forbid")

    notifications: Annotated[list[NotificationBatchItem], Field(min_length=1, max_length=NOTIFY_BATCH_MAX)]

    @model_validator(mode="after")
    def _keys_differ(self) -> NotificationBatch:
        keys = [item.idempotency_key for item in self.notifications]
        if len(set(keys)) != len(keys):
            raise PydanticCustomError("duplicate_keys", "every idempotency_key in a batch must differ")
        return self


class BatchResult(BaseModel):
    # What POST /notify would have answered for this item alone: 201 stored now, 200 stored
    # before under this key, 409 the key was used with another notification.
    status: Literal[200, 201, 409]
    id: int
    error: str | None = None


class BatchResults(BaseModel):
    results: list[BatchResult]  # in the order of the request's items


class NotificationRead(BaseModel):
    id: int
    user_id: int
    ticket_id: int | None
    type: NotificationType
    channel: NotificationChannel
    message: str
    status: Status
    retry_count: int
    created_at: Timestamp
    sent_at: Timestamp | None
    read_at: Timestamp | None
    # Why the last attempt failed; only staff and services see it (null for everyone else: it
    # can name the mail server).
    last_error: str | None = None


class NotificationList(BaseModel):
    notifications: list[NotificationRead]
    next_cursor: str | None


class StatusCount(BaseModel):
    status: Status
    count: int


class QueueStats(BaseModel):
    # Rows still to deliver: pending (due now or retrying later) and sending.
    queue_length: int
    # Every status, in lifecycle order, zero counts included.
    stats: list[StatusCount]


class StreamTicket(BaseModel):
    ticket: str
    expires_in: int
