"""Who may notify whom, see what and mark what; idempotency; stream tickets. No HTTP, no SQL.

- `POST /notify`: staff and other services may notify anyone of anything. A plain user may only
  send a `test_alert` to themselves, in-app or by email to the address in their own token (never
  to an address they name, and not by SMS: S1 keeps no verified phone numbers, and S6 must not
  become a relay that sends mail or texts to strangers).
- `password_reset` (its message holds a live reset link) comes from a service (S1) only, and
  only by email; its message is dropped once sent (migration 003).
- History: a user sees their own; staff see anyone's.
- Read: only the recipient marks a notification read (anyone else gets the 404 a missing id
  gets, so ids cannot be probed), and only in-app ones.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

from helpdesk_common.auth import Caller
from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser
from helpdesk_common.types import MAX_ID
from s6_notifications.repository import (
    NewNotification,
    Notification,
    NotificationsRepository,
    PagePosition,
    StreamTicketHolder,
)
from s6_notifications.schemas import IDEMPOTENCY_KEY, BatchResult, NotificationBatch, NotificationCreate

SERVICE_SENDER = "service"


def sender_of(caller: Caller) -> str:
    """The scope of the caller's idempotency keys."""
    if caller.is_service or caller.user is None:
        return SERVICE_SENDER
    return f"user:{caller.user.id}"


def may_see_errors(caller: Caller | TokenUser) -> bool:
    """Delivery errors can name the mail server: staff and services see them, recipients not."""
    if isinstance(caller, TokenUser):
        return caller.is_staff
    return caller.is_service or (caller.user is not None and caller.user.is_staff)


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400,
            "Invalid Idempotency-Key: use 1-200 printable ASCII characters.",
            details=[{"field": "Idempotency-Key", "message": "1-200 printable ASCII characters"}],
        )
    return key


def recipient_for(caller: Caller, body: NotificationCreate) -> str | None:
    """Where the notification goes (None: look the email address up in S1 at send time);
    ApiError 403 when the caller may not send this."""
    user = caller.user
    if body.type == "password_reset":
        if not caller.is_service:
            raise ApiError(403, "Only the accounts service sends password_reset notifications.")
        if body.channel != "email":
            raise ApiError(400, "A password_reset notification goes by email only.")
    if not caller.is_service and user is not None and not user.is_staff:
        if body.type != "test_alert" or body.user_id != user.id:
            raise ApiError(
                403, "Only staff or a service can notify other users; you can send a test_alert to yourself."
            )
        if body.channel == "sms":
            raise ApiError(403, "Only staff can send a test alert by SMS.")
        if body.user_email is not None and body.user_email.lower() != user.email.lower():
            raise ApiError(403, "A test alert goes to your own address; leave user_email out.")
        return user.email if body.channel == "email" else None
    if body.channel == "email":
        return body.user_email
    if body.channel == "sms":
        return body.user_phone
    return None


def fingerprint(body: NotificationCreate) -> str:
    """What makes two requests the same request, as stored with its idempotency key."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create(
    repo: NotificationsRepository, *, caller: Caller, body: NotificationCreate, idempotency_key: str | None
) -> tuple[Notification, bool]:
    """(the notification, whether it was stored now). A key reused with another body is a 409."""
    new = _new_notification(caller, body, idempotency_key)
    notification, created = await repo.create(new)
    if not created and notification.request_fingerprint != new.request_fingerprint:
        raise ApiError(409, KEY_REUSED)
    return notification, created


KEY_REUSED = "This Idempotency-Key was already used with a different request."


def _new_notification(caller: Caller, body: NotificationCreate, idempotency_key: str | None) -> NewNotification:
    return NewNotification(
        user_id=body.user_id,
        ticket_id=body.ticket_id,
        type=body.type,
        channel=body.channel,
        message=body.message,
        recipient=recipient_for(caller, body),
        sender=sender_of(caller),
        idempotency_key=idempotency_key,
        # The same fingerprint /notify stores, so a batch item sent again alone is a replay.
        request_fingerprint=fingerprint(body) if idempotency_key is not None else None,
    )


async def create_batch(repo: NotificationsRepository, *, caller: Caller, batch: NotificationBatch) -> list[BatchResult]:
    """Every item of `batch` stored in one statement (the caller's transaction), each answered
    as /notify would have answered it alone."""
    news = [_new_notification(caller, item.notification, item.idempotency_key) for item in batch.notifications]
    results = []
    for new, (notification, created) in zip(news, await repo.create_many(news), strict=True):
        if created:
            results.append(BatchResult(status=201, id=notification.id))
        elif notification.request_fingerprint == new.request_fingerprint:
            results.append(BatchResult(status=200, id=notification.id))
        else:
            results.append(BatchResult(status=409, id=notification.id, error=KEY_REUSED))
    return results


def _invalid_cursor() -> ApiError:
    return ApiError(400, "Invalid cursor.", details=[{"field": "cursor", "message": "not a valid cursor"}])


def decode_position(cursor: str | None) -> PagePosition | None:
    if cursor is None:
        return None
    created_at, notification_id = decode_cursor(cursor, kinds=(datetime, int))
    if not 0 < notification_id <= MAX_ID:
        raise _invalid_cursor()
    try:
        created_at = created_at.astimezone(UTC)
    except OverflowError:
        raise _invalid_cursor() from None
    return PagePosition(created_at=created_at, id=notification_id)


async def history_page(
    repo: NotificationsRepository, *, user: TokenUser, user_id: int, cursor: str | None, limit: int
) -> tuple[list[Notification], str | None]:
    if not user.is_staff and user.id != user_id:
        raise ApiError(403, "You can only see your own notifications.")
    rows = await repo.history_page(user_id=user_id, after=decode_position(cursor), limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1].created_at, page[-1].id)


async def mark_read(repo: NotificationsRepository, *, user: TokenUser, notification_id: int) -> Notification:
    notification = await repo.get(notification_id=notification_id)
    if notification is None or notification.user_id != user.id:
        raise ApiError(404, f"Notification {notification_id} not found.")
    if notification.channel != "in_app":
        raise ApiError(400, "Only in-app notifications can be marked read.")
    return await repo.mark_read(notification_id=notification_id)


def ticket_hash(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


async def issue_stream_ticket(repo: NotificationsRepository, *, user: TokenUser, seconds: int) -> str:
    ticket = secrets.token_urlsafe(32)
    holder = StreamTicketHolder(user_id=user.id, role=user.role, email=user.email)
    await repo.issue_stream_ticket(ticket_hash=ticket_hash(ticket), holder=holder, seconds=seconds)
    return ticket


async def redeem_stream_ticket(repo: NotificationsRepository, *, ticket: str) -> TokenUser:
    holder = await repo.redeem_stream_ticket(ticket_hash=ticket_hash(ticket))
    if holder is None:
        raise ApiError(401, "This stream ticket is unknown, used or expired; ask for a new one.")
    return TokenUser(id=holder.user_id, role=holder.role, email=holder.email)  # type: ignore[arg-type]
