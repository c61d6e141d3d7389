"""Which tokens S1 has revoked, known by every service without a database round trip per request.

A JWT is checked by each service on its own (signature, expiry), which alone would keep a
token working after its user changed their password, lost a role, was deactivated or signed
out. So S1 publishes what ends tokens, as a feed of changes (`GET /token-state?since=`, for the
service credential):

- per user, the current **token version** (`tv` claim; bumped on a password change, a role
  change and a deactivation) and whether the account is **active**;
- the **sessions** that ended (`sid` claim; a logout, a reused refresh token, a password
  change, a deactivation).

Every service keeps what the feed said in a `TokenStateCache` (`app.state.token_state`), which
`helpdesk_common.auth.user_from_request` consults for every token: three dictionary lookups,
no I/O. A background job (`keep_token_state`, started by `create_app`) asks S1 for the changes
every `TOKEN_STATE_POLL_SECONDS` (default 2 s), so a revoked token is refused everywhere within
that interval plus one round trip.

While S1 cannot be reached the service keeps the last state it knew and keeps asking; a
service that starts while S1 is down knows nothing yet and accepts tokens on their signature
and expiry alone until its first answer. Either way, access tokens live at most
`JWT_TTL_SECONDS` (15 min by default), which bounds what an outage can let through.

Entries are forgotten once no token they could refuse can still be alive (S1 says how long
that is: `retain_seconds`, the access-token lifetime plus a margin), so the cache holds only
the last minutes' changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from helpdesk_common.security import TokenUser

logger = logging.getLogger("helpdesk.token_state")

AUTH_SERVICE = "s1-auth"
TOKEN_STATE_PATH = "/token-state"  # noqa: S105 - a path, not a secret
# One poll must not hang the loop for long; the next one comes soon anyway.
POLL_READ_TIMEOUT_SECONDS = 3.0


class UserTokenState(BaseModel):
    id: int = Field(gt=0)
    token_version: int = Field(ge=0)
    active: bool


class TokenStateOut(BaseModel):
    """S1's answer to `GET /token-state?since=`: what changed, and where to continue from."""

    # Pass back as `since` next time (S1's database snapshot horizon: nothing committed later
    # can have a smaller one, so no change is ever skipped; some may come twice, which is harmless).
    cursor: int = Field(ge=0)
    # How long an entry matters: after this, every token it could refuse has expired.
    retain_seconds: int = Field(gt=0)
    users: list[UserTokenState]
    ended_sessions: list[int]


TokenStateFeed = Callable[[Any, int | None], Awaitable[TokenStateOut]]


class TokenStateCache:
    """The revocations a service knows of; `refuses(user)` is the per-request check."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # user id -> (current token version, when we learnt it); tokens with an older `tv` are refused
        self._versions: dict[int, tuple[int, float]] = {}
        self._inactive: dict[int, float] = {}
        self._ended_sessions: dict[int, float] = {}
        self.cursor: int | None = None
        self.retain_seconds: float = 3600.0
        self.synced_at: float | None = None  # clock() of the last answer from the feed
        self.failed_polls = 0  # since the last answer
        self._pruned_at = clock()

    def refuses(self, user: TokenUser) -> bool:
        known = self._versions.get(user.id)
        if known is not None and user.token_version < known[0]:
            return True
        if user.id in self._inactive:
            return True
        return user.session_id is not None and user.session_id in self._ended_sessions

    def apply(self, changes: TokenStateOut) -> None:
        now = self._clock()
        for state in changes.users:
            known = self._versions.get(state.id)
            # A version never goes back: an answer repeated from an older snapshot changes nothing.
            if known is None or state.token_version >= known[0]:
                self._versions[state.id] = (state.token_version, now)
            if state.active:
                self._inactive.pop(state.id, None)
            else:
                self._inactive[state.id] = now
        for session_id in changes.ended_sessions:
            self._ended_sessions[session_id] = now
        self.cursor = changes.cursor
        self.retain_seconds = float(changes.retain_seconds)
        self.synced_at = now
        self.failed_polls = 0
        if now - self._pruned_at >= self.retain_seconds / 10:
            self._prune(now)

    def _prune(self, now: float) -> None:
        horizon = now - self.retain_seconds
        self._versions = {k: v for k, v in self._versions.items() if v[1] >= horizon}
        self._inactive = {k: at for k, at in self._inactive.items() if at >= horizon}
        self._ended_sessions = {k: at for k, at in self._ended_sessions.items() if at >= horizon}
        self._pruned_at = now

    def __len__(self) -> int:
        return len(self._versions) + len(self._inactive) + len(self._ended_sessions)


class FeedFailed(Exception):
    """The feed gave no usable answer this time."""


async def fetch_from_auth_service(app: Any, since: int | None) -> TokenStateOut:
    """The feed as every service but S1 reads it: S1's `GET /token-state`, service credential."""
    params = {} if since is None else {"since": since}
    response = await app.state.services.request(
        AUTH_SERVICE, "GET", TOKEN_STATE_PATH, params=params, retries=0, read_timeout=POLL_READ_TIMEOUT_SECONDS
    )
    if response.status_code != 200:
        raise FeedFailed(f"{AUTH_SERVICE} answered {response.status_code}")
    try:
        return TokenStateOut.model_validate_json(response.content)
    except ValidationError as exc:
        raise FeedFailed(f"unreadable answer from {AUTH_SERVICE}: {exc.error_count()} errors") from None


async def keep_token_state(app: Any, feed: TokenStateFeed) -> None:
    """Poll `feed` for ever, applying each answer to `app.state.token_state` (a background job).

    A failure keeps the last known state and is logged once, when it starts, and once more when
    the feed answers again.
    """
    cache: TokenStateCache = app.state.token_state
    interval: float = app.state.settings.token_state_poll_seconds
    failing = False
    while True:
        try:
            changes = await feed(app, cache.cursor)
        except Exception as exc:  # noqa: BLE001 - S1 down, its database down, a bad answer: all alike
            cache.failed_polls += 1
            if not failing:
                logger.warning("token state not refreshed; keeping the last known", extra={"error": repr(exc)})
                failing = True
        else:
            cache.apply(changes)
            if failing:
                logger.info("token state refreshed again", extra={"entries": len(cache)})
                failing = False
        await asyncio.sleep(interval)
