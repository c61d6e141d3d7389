"""S4's calls to other services, through the shared client (found through the registry, with
the service credential):

- S1 `GET /users/{id}`: is the user given as assignee a staff or admin user? Asked before the
  change's transaction starts, so no row lock is ever held across an HTTP call.
- S6 `POST /notify`: the outbox rows each change writes, sent by the shared relay
  (helpdesk_common.outbox) with `Idempotency-Key: s4-outbox-<row id>`.
"""

from __future__ import annotations

from helpdesk_common.service_client import PeerUnavailable, ServiceClient
from s4_workflow.service import Assignee, WorkflowError, check_assignee

AUTH = "s1-auth"


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
