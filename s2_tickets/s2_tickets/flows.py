"""S2's one call to another service: the names and addresses of the requesters staff see.

Staff views name each ticket's requester. S1 owns the users, so S2 asks it, with the service
credential, for every requester of a page at once (`GET /users?ids=...`, never one call per
row), and keeps the answers `REQUESTER_CACHE_SECONDS` (30 s) in a bounded LRU cache, so the
queue staff reload all day costs S1 one call per half minute.

When S1 cannot answer, a list still answers: with the names it last knew, and for the others
`lookup: "unavailable"` with name and email null. After a failed call S1 is left alone for a
few seconds, so a list never waits on a peer that is down request after request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ValidationError

from helpdesk_common.service_client import PeerUnavailable, ServiceClient
from helpdesk_common.token_state import AUTH_SERVICE
from s2_tickets.schemas import Requester
from s2_tickets.settings import Settings

logger = logging.getLogger("s2_tickets.flows")

# S1 answers at most this many ids per call (its page limit).
IDS_PER_CALL = 200
# After a failed call, how long lists do without asking S1 again.
PAUSE_AFTER_FAILURE_SECONDS = 5.0

UNAVAILABLE = Requester(name=None, email=None, lookup="unavailable")
UNKNOWN = Requester(name=None, email=None, lookup="unknown")


class _User(BaseModel):
    id: int
    email: str
    name: str | None


class _UserPage(BaseModel):
    users: list[_User]


@dataclass(slots=True)
class _Entry:
    requester: Requester  # lookup "ok" or "unknown"
    fetched_at: float


class RequesterDirectory:
    def __init__(
        self,
        services: ServiceClient,
        *,
        ttl_seconds: float,
        max_entries: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = services
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._paused_until = 0.0
        # One call to S1 at a time: requests missing the same names wait for the call already
        # under way instead of each making their own.
        self._lock = asyncio.Lock()
        self.calls = 0  # calls made to S1 (tests and the benchmark read it)

    def _fresh(self, user_id: int, now: float) -> bool:
        entry = self._entries.get(user_id)
        return entry is not None and now - entry.fetched_at < self.ttl_seconds

    async def lookup(self, user_ids: Iterable[int]) -> dict[int, Requester]:
        """Each user's name and address (cached, else asked from S1 in one call)."""
        wanted = set(user_ids)
        now = self._clock()
        if any(not self._fresh(i, now) for i in wanted) and now >= self._paused_until:
            async with self._lock:
                now = self._clock()
                missing = sorted(i for i in wanted if not self._fresh(i, now))
                # Another request may have found S1 down while this one waited for the lock.
                if missing and now >= self._paused_until:
                    await self._ask(missing)
        found: dict[int, Requester] = {}
        for user_id in wanted:
            entry = self._entries.get(user_id)
            if entry is None:
                found[user_id] = UNAVAILABLE
            else:
                # A stale entry still beats no name while S1 cannot be asked.
                self._entries.move_to_end(user_id)
                found[user_id] = entry.requester
        return found

    async def _ask(self, user_ids: list[int]) -> None:
        try:
            for start in range(0, len(user_ids), IDS_PER_CALL):
                chunk = user_ids[start : start + IDS_PER_CALL]
                self.calls += 1
                response = await self.services.request(
                    AUTH_SERVICE,
                    "GET",
                    "/users",
                    params={"ids": ",".join(map(str, chunk)), "limit": IDS_PER_CALL},
                    retries=1,
                    read_timeout=self.timeout_seconds,
                )
                if response.status_code != 200:
                    raise PeerUnavailable(AUTH_SERVICE, f"answered {response.status_code}")
                page = _UserPage.model_validate_json(response.content)
                self._store(chunk, page.users)
        except (PeerUnavailable, ValidationError) as exc:
            self._paused_until = self._clock() + PAUSE_AFTER_FAILURE_SECONDS
            logger.warning("requesters not named: S1 did not answer", extra={"error": repr(exc)})

    def _store(self, asked: list[int], users: list[_User]) -> None:
        now = self._clock()
        by_id = {user.id: user for user in users}
        for user_id in asked:
            user = by_id.get(user_id)
            requester = UNKNOWN if user is None else Requester(name=user.name, email=user.email, lookup="ok")
            self._entries[user_id] = _Entry(requester=requester, fetched_at=now)
            self._entries.move_to_end(user_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


async def start_requester_directory(app: FastAPI) -> None:
    """Start-up hook: one directory (and cache) per app, on the shared service client."""
    settings: Settings = app.state.settings
    app.state.requesters = RequesterDirectory(
        app.state.services,
        ttl_seconds=settings.requester_cache_seconds,
        max_entries=settings.requester_cache_size,
        timeout_seconds=settings.requester_lookup_timeout_seconds,
    )


async def _requesters(request: Request) -> RequesterDirectory:
    directory: RequesterDirectory = request.app.state.requesters
    return directory


Requesters = Annotated[RequesterDirectory, Depends(_requesters)]


# --- the staff a customer's reply on an unassigned ticket notifies ----------------------------


class _StaffPage(BaseModel):
    users: list[_User]
    next_cursor: str | None


class StaffDirectory:
    """The active staff and admin users, asked from S1 (`GET /users?role=&active=true`, service
    credential) and kept `staff_cache_seconds`; while S1 cannot answer, the list it last gave
    (a new staff member is told from the next successful call on)."""

    def __init__(
        self,
        services: ServiceClient,
        *,
        ttl_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = services
        self.ttl_seconds = ttl_seconds
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._staff: list[int] | None = None
        self._fetched_at = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def staff_ids(self) -> list[int]:
        now = self._clock()
        if (self._staff is None or now - self._fetched_at >= self.ttl_seconds) and now >= self._paused_until:
            async with self._lock:
                now = self._clock()
                if (self._staff is None or now - self._fetched_at >= self.ttl_seconds) and now >= self._paused_until:
                    await self._ask()
        return list(self._staff or [])

    async def _ask(self) -> None:
        found: list[int] = []
        try:
            for role in ("staff", "admin"):
                cursor: str | None = None
                while True:
                    params: dict[str, str | int] = {"role": role, "active": "true", "limit": IDS_PER_CALL}
                    if cursor is not None:
                        params["cursor"] = cursor
                    response = await self.services.request(
                        AUTH_SERVICE, "GET", "/users", params=params, retries=1, read_timeout=self.timeout_seconds
                    )
                    if response.status_code != 200:
                        raise PeerUnavailable(AUTH_SERVICE, f"answered {response.status_code}")
                    page = _StaffPage.model_validate_json(response.content)
                    found += [user.id for user in page.users]
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except (PeerUnavailable, ValidationError) as exc:
            self._paused_until = self._clock() + PAUSE_AFTER_FAILURE_SECONDS
            logger.warning("staff list not refreshed: S1 did not answer", extra={"error": repr(exc)})
            return
        self._staff = sorted(set(found))
        self._fetched_at = self._clock()


async def start_staff_directory(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.staff_directory = StaffDirectory(
        app.state.services,
        ttl_seconds=settings.staff_cache_seconds,
        timeout_seconds=settings.requester_lookup_timeout_seconds,
    )


async def _staff_directory(request: Request) -> StaffDirectory:
    directory: StaffDirectory = request.app.state.staff_directory
    return directory


StaffMembers = Annotated[StaffDirectory, Depends(_staff_directory)]
