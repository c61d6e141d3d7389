"""S5's one call to another service: may the caller see this ticket? S2 decides.

S5 never re-implements S2's visibility rule (owner or staff): it asks S2's `GET /:id` with the
caller's own bearer token, and S2's answer is the answer. The service credential is not sent,
so the question is asked with exactly the caller's rights.
"""

from __future__ import annotations

import logging

from helpdesk_common.errors import ApiError
from helpdesk_common.service_client import PeerUnavailable, ServiceClient

logger = logging.getLogger("helpdesk.media.flows")

TICKETS = "s2-tickets"


def ticket_not_found(ticket_id: int) -> ApiError:
    # S2's own sentence, so a refused ticket reads the same here as there.
    return ApiError(404, f"Ticket {ticket_id} not found.")


async def ticket_visible(services: ServiceClient, *, ticket_id: int, token: str) -> bool:
    """True if the caller may see the ticket, False if S2 says 404 (absent or not theirs).

    Raises PeerUnavailable (503) when S2 cannot answer, and ApiError 401 if S2 refuses the token."""
    response = await services.request(TICKETS, "GET", f"/{ticket_id}", bearer=token, as_service=False)
    if response.status_code == 200:
        return True
    if response.status_code == 404:
        return False
    if response.status_code == 401:
        raise ApiError(401, "Invalid or expired token.", headers={"WWW-Authenticate": "Bearer"})
    logger.warning("unexpected answer from s2-tickets", extra={"status": response.status_code, "ticket_id": ticket_id})
    raise PeerUnavailable(TICKETS, f"answered {response.status_code}")


async def require_ticket(services: ServiceClient, *, ticket_id: int, token: str) -> None:
    if not await ticket_visible(services, ticket_id=ticket_id, token=token):
        raise ticket_not_found(ticket_id)
