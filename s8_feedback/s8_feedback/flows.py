"""S8's calls to other services: S2 (may this caller rate this ticket?) and S7 (refresh).

- The ticket is read from S2 with the caller's own token, through the registry: S2 applies
  its visibility rule (owner or staff; 404 otherwise), and S8 never reads `tickets` itself.
- After every change S8 asks S7 to refresh, off the request path. `AnalyticsSignal` is one
  flag and one background job: a change sets the flag (after the response is sent, so after
  the change committed); the job sees it, clears it and makes one call. Changes made while a
  call is under way set the flag again and cost one more call, not one each: S7 being slow or
  down never piles up calls or tasks. A call that fails is logged and dropped: S7's cache
  expires within its TTL (60 s) and catches up by itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from helpdesk_common.errors import ApiError
from helpdesk_common.service_client import PeerUnavailable, ServiceClient

logger = logging.getLogger("s8.flows")

TICKETS = "s2-tickets"
ANALYTICS = "s7-analytics"


@dataclass(frozen=True, slots=True)
class TicketView:
    """What S8 needs of a ticket, as S2 showed it to the caller."""

    id: int
    user_id: int
    status: str


async def fetch_ticket(services: ServiceClient, *, ticket_id: int, token: str) -> TicketView:
    """The ticket as the caller may see it; 404 when it does not exist or is not theirs to see.
    503 (before anything is written) when S2 does not answer."""
    response = await services.request(TICKETS, "GET", f"/{ticket_id}", bearer=token)
    if response.status_code == 404:
        raise ApiError(404, f"Ticket {ticket_id} not found.")
    if response.status_code == 401:
        raise ApiError(401, "Invalid or expired token.", headers={"WWW-Authenticate": "Bearer"})
    if response.status_code != 200:
        logger.warning("unexpected answer from s2-tickets", extra={"status": response.status_code})
        raise PeerUnavailable(TICKETS, f"answered {response.status_code}")
    body = response.json()
    return TicketView(id=body["id"], user_id=body["user_id"], status=body["status"])


class AnalyticsSignal:
    def __init__(self, *, timeout_seconds: float, retries: int) -> None:
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self._wanted = asyncio.Event()
        self.in_flight = False
        self.sent = 0
        self.failed = 0

    def snapshot(self) -> dict[str, Any]:
        return {"pending": self._wanted.is_set(), "in_flight": self.in_flight, "sent": self.sent, "failed": self.failed}

    async def request(self) -> None:
        """Ask for a refresh soon (a BackgroundTask: runs after the response was sent)."""
        self._wanted.set()

    async def run(self, app: Any) -> None:
        """The background job: one call to S7 per burst of changes."""
        services: ServiceClient = app.state.services
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                response = await services.request(
                    ANALYTICS, "POST", "/refresh", retries=self.retries, read_timeout=self.timeout_seconds
                )
            except PeerUnavailable as exc:
                self.failed += 1
                logger.warning(
                    "analytics refresh not delivered; its cache expires by itself", extra={"reason": exc.reason}
                )
                continue
            if response.status_code == 200:
                self.sent += 1
            else:
                self.failed += 1
                logger.warning("analytics refused the refresh", extra={"status": response.status_code})
