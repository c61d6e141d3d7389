"""S4's calls to other services, through the shared client (found through the registry, with
the service credential):

- S1 `GET /users/{id}`: is the user given as assignee a staff or admin user? Asked before the
  change's transaction starts, so no row lock is ever held across an HTTP call.
- S6 `POST /notify`: one outbox row, with `Idempotency-Key: s4-outbox-<row id>` (the relay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from helpdesk_common.service_client import PeerUnavailable, ServiceClient
from s4_workflow.repository import OutboxRow
from s4_workflow.service import Assignee, WorkflowError, check_assignee

AUTH = "s1-auth"
NOTIFICATIONS = "s6-notifications"
# S6 answers these when it refuses the body itself: sending it again cannot help. Any other
# answer (a 5xx, 401/403 from a credential being rotated, 404 from an S6 being deployed, 408,
# 429) is retried with backoff, so a misconfiguration delays notifications and loses none.
REFUSED_FOR_GOOD = frozenset({400, 409, 413, 415, 422})


class DependencyUnavailable(WorkflowError):
    """A service the change needs did not answer usefully: nothing was written (503)."""


async def fetch_assignee(services: ServiceClient, user_id: int) -> Assignee:
    """The staff or admin user `user_id` (AssigneeRefused otherwise), as S1 knows them now."""
    unavailable = f"Cannot check user {user_id}: the accounts service is not available right now; nothing was changed."
    try:
        response = await services.request(AUTH, "GET", f"/users/{user_id}")
    except PeerUnavailable:
        raise DependencyUnavailable(unavailable) from None
    if response.status_code == 404:
        return check_assignee(user_id=user_id, role=None, email=None)
    if response.status_code != 200:
        raise DependencyUnavailable(unavailable)
    try:
        body = response.json()
        role, email = body["role"], body["email"]
    except (ValueError, KeyError, TypeError):
        raise DependencyUnavailable(unavailable) from None
    if not isinstance(role, str) or not isinstance(email, str):
        raise DependencyUnavailable(unavailable)
    return check_assignee(user_id=user_id, role=role, email=email)


def idempotency_key(row_id: int) -> str:
    """One stable key per outbox row: however often the relay sends a row, S6 stores it once."""
    return f"s4-outbox-{row_id}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one attempt to hand a row to S6.

    delivered: S6 stored it (201) or had already stored it under this key (200);
    refused: S6 refused the body for good; retry: S6 answered something else;
    unavailable: S6 could not be reached or said it cannot serve now (503)."""

    outcome: Literal["delivered", "refused", "retry", "unavailable"]
    error: str | None = None
    notification_id: int | None = None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    said = body.get("error") if isinstance(body, dict) else None
    return f"S6 answered {response.status_code}" + (f": {said}" if isinstance(said, str) else "")


async def send_notification(services: ServiceClient, row: OutboxRow) -> Delivery:
    body: dict[str, object] = {
        "user_id": row.recipient_id,
        "ticket_id": row.ticket_id,
        "type": row.type,
        "channel": row.channel,
        "message": row.message,
    }
    if row.recipient_email is not None:
        body["user_email"] = row.recipient_email
    try:
        # No retries in the client: the relay retries each row with its own backoff, and
        # logs each failure once, with the row id.
        response = await services.request(
            NOTIFICATIONS,
            "POST",
            "/notify",
            json=body,
            idempotency_key=idempotency_key(row.id),
            retries=0,
            log_unavailable=False,
        )
    except PeerUnavailable as exc:
        return Delivery("unavailable", error=f"S6 unavailable: {exc.reason}")
    if response.status_code in (200, 201):
        try:
            stored = response.json()
        except ValueError:
            stored = None
        found = stored.get("id") if isinstance(stored, dict) else None
        return Delivery("delivered", notification_id=found if isinstance(found, int) else None)
    if response.status_code in REFUSED_FOR_GOOD:
        return Delivery("refused", error=_error_text(response))
    return Delivery("retry", error=_error_text(response))
