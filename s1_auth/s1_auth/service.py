"""S1's rules: password hashing off the event loop, registration and login with their
throttles, sessions with rotating refresh tokens, what ends tokens (the token-state feed), who
may see and change whom, the last-admin rule and the first admin.

Login answers an unknown email exactly like a wrong password: same body, a hash verification
of the same cost (against a dummy hash made at start), and a failure counted by the throttle.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import anyio
import anyio.to_thread
import asyncpg
from fastapi import FastAPI, Request
from passlib.context import CryptContext

from helpdesk_common.db import acquire
from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser, create_access_token
from helpdesk_common.token_state import TokenStateOut, UserTokenState
from helpdesk_common.types import MAX_ID
from s1_auth.repository import CallerState, TokenStateChanges, UserFilters, UsersRepository
from s1_auth.schemas import login_email, normalize_email, normalize_password
from s1_auth.settings import Settings

logger = logging.getLogger("s1_auth")

# S1's outbox table (migration 003): the reset emails, delivered to S6 by the shared relay
# (written by UsersRepository.issue_reset, in the statement that stores the token).
OUTBOX_TABLE = "s1_auth_outbox"

INVALID_CREDENTIALS = "invalid credentials"
EMAIL_TAKEN = "email already registered"
ACCOUNT_DEACTIVATED = "This account is deactivated; ask an admin to reactivate it."
INVALID_REFRESH_TOKEN = "The refresh token is not valid (expired, already used, or signed out); sign in again."  # noqa: S105
SESSION_ENDED = "This session has ended; sign in again."
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}

# How long a token-state entry matters beyond the access tokens' lifetime (clock skew between
# hosts, a token issued just before the change).
RETAIN_MARGIN_SECONDS = 300
# Housekeeping of expired refresh tokens and old sessions.
PRUNE_INTERVAL_SECONDS = 600
PRUNE_BATCH = 1000
# Host names in TRUSTED_PROXIES are looked up again this often (containers change addresses
# when they restart), and more often while one has not resolved yet (compose starts the gateway
# after S1, and its name resolves only once it runs).
PROXY_RESOLVE_SECONDS = 30.0
PROXY_RESOLVE_RETRY_SECONDS = 2.0
USER_SEARCH_WORDS = 8
IDS_MAX = 200


# --- passwords ------------------------------------------------------------------------------


class PasswordHasher:
    """argon2id hashing and verification in worker threads, bounded.

    A hash takes tens of milliseconds of CPU: on the event loop it would stall every other
    request of the service, and unbounded it would take every core. Logins, password changes
    and the first admin share `limiter` (`concurrency` threads); registrations have threads of
    their own (`registration_limiter`) and a bounded queue, so a burst of them never makes a
    login wait for a thread. Passwords arrive already normalized (`schemas.normalize_password`).
    """

    def __init__(
        self,
        *,
        memory_cost_kib: int,
        time_cost: int,
        parallelism: int,
        concurrency: int,
        registration_concurrency: int = 1,
        registration_queue_max: int = 8,
    ) -> None:
        self.context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=memory_cost_kib,
            argon2__rounds=time_cost,
            argon2__parallelism=parallelism,
        )
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.registration_limiter = anyio.CapacityLimiter(registration_concurrency)
        self.registration_queue_max = registration_queue_max
        # Verified against when the email is unknown, so that answer costs what a wrong
        # password costs. Made by `prepare` with the current parameters.
        self.dummy_hash = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(
            memory_cost_kib=settings.argon2_memory_cost_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.hash_concurrency,
            registration_concurrency=settings.register_hash_concurrency,
            registration_queue_max=settings.register_queue_max,
        )

    async def prepare(self) -> None:
        self.dummy_hash = await self.hash(secrets.token_urlsafe(32))

    async def hash(self, password: str) -> str:
        digest: str = await anyio.to_thread.run_sync(self.context.hash, password, limiter=self.limiter)
        return digest

    async def hash_for_registration(self, password: str) -> str:
        """Like `hash`, on the registration threads; 503 when too many registrations wait already."""
        if self.registration_limiter.statistics().tasks_waiting >= self.registration_queue_max:
            raise ApiError(503, "Too many registrations at once; try again in a moment.", headers={"Retry-After": "1"})
        digest: str = await anyio.to_thread.run_sync(self.context.hash, password, limiter=self.registration_limiter)
        return digest

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, a new hash if the stored one was made with other parameters). With no
        stored hash (unknown email) the dummy is verified, and the answer is always no."""
        result: tuple[bool, str | None] = await anyio.to_thread.run_sync(
            self.context.verify_and_update,
            password,
            password_hash if password_hash is not None else self.dummy_hash,
            limiter=self.limiter,
        )
        if password_hash is None:
            return False, None
        return result


async def password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


async def start_password_hasher(app: FastAPI) -> None:
    """Start-up hook: one hasher (and its thread limiters) per app."""
    hasher = PasswordHasher.from_settings(app.state.settings)
    await hasher.prepare()
    app.state.password_hasher = hasher


# --- the client's address -------------------------------------------------------------------

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """The hops whose X-Forwarded-For entries are believed (TRUSTED_PROXIES): addresses and
    ranges as given, host names as last resolved."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[IpNetwork] = []
        self.host_names: list[str] = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.host_names.append(entry)
        self.resolved: dict[str, frozenset[IpAddress]] = {}

    def __contains__(self, address: IpAddress) -> bool:
        return any(address in network for network in self.networks) or any(
            address in addresses for addresses in self.resolved.values()
        )

    @property
    def unresolved(self) -> bool:
        return any(name not in self.resolved for name in self.host_names)

    async def resolve(self) -> None:
        """Look every host name up again; one that does not resolve keeps its last addresses."""
        loop = asyncio.get_running_loop()
        for name in self.host_names:
            try:
                infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
            except OSError as exc:
                logger.warning("trusted proxy does not resolve", extra={"host": name, "error": str(exc)})
                continue
            addresses = frozenset(_normalized(str(info[4][0])) for info in infos)
            self.resolved[name] = frozenset(a for a in addresses if a is not None)


def _normalized(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:203.0.113.7) is that IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(request: Request, *, trusted: TrustedProxies) -> str:
    """The address the throttles count a client by.

    The peer, unless it is a trusted proxy: then the rightmost X-Forwarded-For entry (the one
    that proxy appended), and so on leftwards while the entry is itself a trusted proxy. Entries
    left of the first untrusted one are whatever a client sent and are never believed. An entry
    that is not an address stops the walk at the last trusted hop.
    """
    if request.client is None:
        return "unknown"
    address = _normalized(request.client.host)
    if address is None:
        return request.client.host
    forwarded = [
        entry for header in request.headers.getlist("x-forwarded-for") for entry in header.split(",") if entry.strip()
    ]
    while address in trusted and forwarded:
        hop = _normalized(forwarded.pop())
        if hop is None:
            break
        address = hop
    return str(address)


def is_trusted(address: str, trusted: TrustedProxies) -> bool:
    """True for an address of the deployment itself (one of the trusted proxies): a request
    from there comes from inside, not from a client on the network."""
    parsed = _normalized(address)
    return parsed is not None and parsed in trusted


async def trusted_proxies(request: Request) -> TrustedProxies:
    proxies: TrustedProxies = request.app.state.trusted_proxies
    return proxies


async def start_trusted_proxies(app: FastAPI) -> None:
    """Start-up hook: TRUSTED_PROXIES parsed, its host names resolved once (if they can be)."""
    proxies = TrustedProxies(app.state.settings.trusted_proxies)
    await proxies.resolve()
    app.state.trusted_proxies = proxies


async def keep_trusted_proxies_resolved(app: FastAPI) -> None:
    """Background job: resolve TRUSTED_PROXIES' host names again and again."""
    proxies: TrustedProxies = app.state.trusted_proxies
    if not proxies.host_names:
        await asyncio.Event().wait()  # nothing to do, for the app's whole life
    while True:
        await asyncio.sleep(PROXY_RESOLVE_RETRY_SECONDS if proxies.unresolved else PROXY_RESOLVE_SECONDS)
        await proxies.resolve()


# --- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """An access token and, at login and refresh, the session's next refresh token."""

    access_token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int = 0


def refresh_token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def access_token(
    settings: Settings, *, user_id: int, role: str, email: str, token_version: int, session_id: int | None
) -> IssuedTokens:
    token = create_access_token(
        user_id=user_id,
        role=role,
        email=email,
        secret=settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        ttl_seconds=settings.jwt_ttl_seconds,
        token_version=token_version,
        session_id=session_id,
    )
    return IssuedTokens(access_token=token, expires_in=settings.jwt_ttl_seconds)


def with_refresh_token(issued: IssuedTokens, refresh_token: str, settings: Settings) -> IssuedTokens:
    return IssuedTokens(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=refresh_token,
        refresh_expires_in=settings.refresh_token_ttl_seconds,
    )


def retain_seconds(settings: Settings) -> int:
    """How long a revocation matters: until every access token it could refuse has expired."""
    return settings.jwt_ttl_seconds + RETAIN_MARGIN_SECONDS


def ended(message: str = SESSION_ENDED) -> ApiError:
    return ApiError(401, message, headers=_UNAUTHORIZED_HEADERS)


async def fresh_caller(repo: UsersRepository, caller: TokenUser) -> CallerState:
    """The caller as the database has them now; 401 if their token has been revoked since it
    was issued (S1 has the database at hand, so it does not wait for the token-state feed)."""
    state = await repo.caller_state(user_id=caller.id, session_id=caller.session_id)
    if state is None or not state.active or caller.token_version < state.token_version or state.session_ended:
        raise ended()
    return state


# --- register and login ---------------------------------------------------------------------


def too_many(message: str, retry_after: int) -> ApiError:
    return ApiError(429, message, headers={"Retry-After": str(retry_after)})


async def register(
    pool: asyncpg.Pool | None,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str | None,
    client_ip: str,
    from_inside: bool = False,
) -> asyncpg.Record:
    """A new account. At most REGISTER_MAX_PER_IP attempts per client address and window, except
    from inside the deployment (`from_inside`: the client address is a trusted proxy's, e.g. a
    script on the gateway's host), which is no client on the network to hold back."""
    # `email` is already normalized by the schema. The attempt is recorded (and committed)
    # before the check, so concurrent registrations from one address see each other.
    if not from_inside:
        async with acquire(pool) as conn:
            repo = UsersRepository(conn)
            attempt_id = await repo.record_registration(
                client_ip=client_ip, window_seconds=settings.register_window_seconds
            )
            retry_after = await repo.registration_retry_after(
                attempt_id=attempt_id,
                client_ip=client_ip,
                window_seconds=settings.register_window_seconds,
                max_per_ip=settings.register_max_per_ip,
            )
            if retry_after is not None:
                await repo.forget_registration(attempt_id=attempt_id)
                raise too_many("Too many registrations from your address; try again later.", retry_after)
    # Hash first: the insert then decides alone, in one statement, whether the address was free.
    password_hash = await hasher.hash_for_registration(password)
    async with acquire(pool) as conn:
        user = await UsersRepository(conn).create(email=email, password_hash=password_hash, name=name)
    if user is None:
        raise ApiError(409, EMAIL_TAKEN)
    return user


async def _admit_password_check(repo: UsersRepository, settings: Settings, *, email: str, client_ip: str) -> int:
    """Record a password check as a failure first, then apply the login throttle to it (429,
    and the record taken back, when the email or the address is blocked). Returns the record's
    id. Recording first is what bounds concurrent guesses: the n-th of a burst sees the n-1
    before it, so no more than the limit are ever verified."""
    attempt_id = await repo.record_login_attempt(
        email=email, client_ip=client_ip, window_seconds=settings.login_failure_window_seconds
    )
    retry_after = await repo.login_retry_after(
        attempt_id=attempt_id,
        email=email,
        client_ip=client_ip,
        window_seconds=settings.login_failure_window_seconds,
        max_per_email=settings.login_max_failures_per_email,
        max_per_ip=settings.login_max_failures_per_ip,
    )
    if retry_after is not None:
        await repo.forget_login_attempt(attempt_id=attempt_id)
        raise too_many("Too many failed logins; try again later.", retry_after)
    return attempt_id


async def login(
    pool: asyncpg.Pool | None,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> IssuedTokens:
    email = login_email(email)
    async with acquire(pool) as conn:
        repo = UsersRepository(conn)
        # Throttled keys are refused before the password is looked at, so a blocked attacker
        # learns nothing more and costs no hash.
        attempt_id = await _admit_password_check(repo, settings, email=email, client_ip=client_ip)
        account = await repo.get_by_email(email=email)

    matches, upgraded_hash = await hasher.verify(password, account.password_hash if account is not None else None)
    if account is None or not matches:
        raise ApiError(401, INVALID_CREDENTIALS)  # the recorded attempt stays: it is the failure

    refresh_token = new_refresh_token()
    async with acquire(pool) as conn:
        repo = UsersRepository(conn)
        if not account.active:
            # Said only to someone who knows the password.
            await repo.forget_login_attempt(attempt_id=attempt_id)
            raise ApiError(403, ACCOUNT_DEACTIVATED)
        await repo.clear_login_failures(email=email)
        if upgraded_hash is not None:
            await repo.set_password_hash(user_id=account.id, old_hash=account.password_hash, new_hash=upgraded_hash)
        session_id = await repo.start_session(
            user_id=account.id,
            token_hash=refresh_token_digest(refresh_token),
            ttl_seconds=settings.refresh_token_ttl_seconds,
        )
    issued = access_token(
        settings,
        user_id=account.id,
        role=account.role,
        email=account.email,
        token_version=account.token_version,
        session_id=session_id,
    )
    return with_refresh_token(issued, refresh_token, settings)


# --- sessions -------------------------------------------------------------------------------


async def refresh(repo: UsersRepository, settings: Settings, *, refresh_token: str) -> IssuedTokens:
    """A new access token (with the account's current role) and the session's next refresh token.

    A refresh token that was already used ends its session: either the client or someone who
    copied the token used it first, and the server cannot tell which, so neither keeps it.
    """
    old_hash = refresh_token_digest(refresh_token)
    next_token = new_refresh_token()
    rotated = await repo.rotate_refresh_token(
        old_hash=old_hash, new_hash=refresh_token_digest(next_token), ttl_seconds=settings.refresh_token_ttl_seconds
    )
    if rotated is None:
        status = await repo.refresh_token_status(token_hash=old_hash)
        if status is not None and status.used and not status.session_ended:
            await repo.end_session(session_id=status.session_id, reason="refresh_reuse")
            logger.warning("a used refresh token came back; its session is ended", extra={"session": status.session_id})
        raise ended(INVALID_REFRESH_TOKEN)
    issued = access_token(
        settings,
        user_id=rotated.user_id,
        role=rotated.role,
        email=rotated.email,
        token_version=rotated.token_version,
        session_id=rotated.session_id,
    )
    return with_refresh_token(issued, next_token, settings)


async def logout(repo: UsersRepository, *, refresh_token: str) -> None:
    """End the session the refresh token belongs to (an unknown or ended one: nothing to do)."""
    session_id = await repo.session_of_refresh_token(token_hash=refresh_token_digest(refresh_token))
    if session_id is not None:
        await repo.end_session(session_id=session_id, reason="logout")


async def change_password(
    pool: asyncpg.Pool | None,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    caller: TokenUser,
    current_password: str,
    new_password: str,
    client_ip: str,
) -> IssuedTokens:
    """Check the current password (throttled like a login), set the new one, end every other
    session and every token issued before; the caller's session goes on with the access token
    returned here."""
    async with acquire(pool) as conn:
        repo = UsersRepository(conn)
        state = await fresh_caller(repo, caller)
        await _admit_password_check(repo, settings, email=state.email, client_ip=client_ip)
        stored_hash = await repo.get_password_hash(user_id=caller.id)
    assert stored_hash is not None  # the account exists: fresh_caller found it
    matches, _ = await hasher.verify(current_password, stored_hash)
    if not matches:
        raise ApiError(403, "The current password is not right.")
    new_hash = await hasher.hash(new_password)
    async with acquire(pool) as conn, conn.transaction():
        repo = UsersRepository(conn)
        version = await repo.change_password(user_id=caller.id, old_hash=stored_hash, new_hash=new_hash)
        if version is None:
            raise ApiError(409, "The password was changed meanwhile; sign in again with the new one.")
        await repo.clear_login_failures(email=state.email)  # this attempt's record included
        await repo.use_up_reset_tokens(user_id=caller.id)  # a link asked for before: no longer wanted
        ended_count = await repo.end_user_sessions(
            user_id=caller.id, reason="password_changed", keep_session_id=caller.session_id
        )
    logger.info("password changed", extra={"user_id": caller.id, "sessions_ended": ended_count})
    return access_token(
        settings,
        user_id=caller.id,
        role=state.role,
        email=state.email,
        token_version=version,
        session_id=caller.session_id,
    )


# --- password reset -------------------------------------------------------------------------

RESET_REQUESTED = "If an account has this address, an email with a link to set a new password is on its way."
RESET_DONE = "Your password has been changed; sign in with the new one."
INVALID_RESET_TOKEN = "This password reset link is not valid (expired, already used, or unknown); ask for a new one."  # noqa: S105


def reset_link(settings: Settings, token: str) -> str:
    # In the fragment: browsers never send it, so no server or proxy log ever holds it.
    return f"{settings.public_web_url}/reset-password#token={token}"


def reset_email_text(settings: Settings, token: str) -> str:
    minutes = settings.password_reset_ttl_seconds // 60
    return (
        "Someone (we hope you) asked to reset the password of your helpdesk account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes; it works once:\n"
        f"{reset_link(settings, token)}\n\n"
        "If you did not ask for this, ignore this email: your password stays as it is."
    )


async def request_password_reset(
    pool: asyncpg.Pool | None, settings: Settings, *, email: str, client_ip: str, from_inside: bool = False
) -> None:
    """Send a reset link to `email` if an active account has it. The caller learns nothing
    either way: every well-formed address gets the same answer after the same work (a
    throttle record, the token and its email text made, one statement that writes them only if
    an account has the address: `UsersRepository.issue_reset`), and the email itself goes
    through the outbox (S1's relay hands it to S6) after the request.

    At most PASSWORD_RESET_MAX_PER_IP requests per client address and window (then 429; the
    deployment's own addresses are not held back, as for registrations), and at most
    PASSWORD_RESET_MAX_PER_EMAIL emails per address and window: beyond that the request is
    answered the same and nothing is sent, so the inbox cannot be flooded and the limit says
    nothing about whether the address has an account.
    """
    window = settings.password_reset_window_seconds
    token = secrets.token_urlsafe(32)
    token_hash = refresh_token_digest(token)
    async with acquire(pool) as conn:
        repo = UsersRepository(conn)
        # Recorded (and committed) first, so concurrent requests see each other.
        request_id = await repo.record_reset_request(email=email, client_ip=client_ip, window_seconds=window)
        if not from_inside:
            retry_after = await repo.reset_retry_after(
                request_id=request_id,
                client_ip=client_ip,
                window_seconds=window,
                max_per_ip=settings.password_reset_max_per_ip,
            )
            if retry_after is not None:
                await repo.forget_reset_request(request_id=request_id)
                raise too_many("Too many password reset requests from your address; try again later.", retry_after)
        user_id = await repo.issue_reset(
            request_id=request_id,
            email=email,
            token_hash=token_hash,
            ttl_seconds=settings.password_reset_ttl_seconds,
            message=reset_email_text(settings, token),
            window_seconds=window,
            max_per_email=settings.password_reset_max_per_email,
        )
    if user_id is not None:
        logger.info("password reset link queued", extra={"user_id": user_id})


async def confirm_password_reset(
    pool: asyncpg.Pool | None, hasher: PasswordHasher, settings: Settings, *, token: str, new_password: str
) -> None:
    """Set the new password of the token's account: the token (and every other open one of the
    account) is used up, every token issued before ends (version bump), every session ends,
    and the login throttle forgets the address, all in one transaction."""
    token_hash = refresh_token_digest(token)
    async with acquire(pool) as conn:
        # Checked before hashing: a made-up token costs no hash.
        if not await UsersRepository(conn).reset_token_is_open(token_hash=token_hash):
            raise ApiError(400, INVALID_RESET_TOKEN)
    new_hash = await hasher.hash(new_password)
    async with acquire(pool) as conn, conn.transaction():
        repo = UsersRepository(conn)
        user_id = await repo.use_reset_token(token_hash=token_hash)
        if user_id is None:  # used (or the account deactivated) while the hash was made
            raise ApiError(400, INVALID_RESET_TOKEN)
        version = await repo.reset_password(user_id=user_id, new_hash=new_hash)
        account = await repo.get(user_id=user_id)
        assert account is not None  # the token's row references it (and its row is locked now)
        await repo.clear_login_failures(email=account["email"])
        ended_count = await repo.end_user_sessions(user_id=user_id, reason="password_reset")
    logger.info("password reset", extra={"user_id": user_id, "token_version": version, "sessions_ended": ended_count})


# --- the token-state feed -------------------------------------------------------------------


def token_state_out(changes: TokenStateChanges, settings: Settings) -> TokenStateOut:
    return TokenStateOut(
        cursor=changes.cursor,
        retain_seconds=retain_seconds(settings),
        users=[UserTokenState(**dict(row)) for row in changes.users],
        ended_sessions=changes.ended_sessions,
    )


async def token_state(repo: UsersRepository, settings: Settings, *, since: int | None) -> TokenStateOut:
    changes = await repo.token_state_changes(since=since, window_seconds=retain_seconds(settings))
    return token_state_out(changes, settings)


async def token_state_from_database(app: FastAPI, since: int | None) -> TokenStateOut:
    """S1's own revocation cache reads the feed from the database, not over HTTP."""
    async with acquire(app.state.pool) as conn:
        return await token_state(UsersRepository(conn), app.state.settings, since=since)


async def prune_sessions(app: FastAPI) -> None:
    """Background job: expired refresh and reset tokens, and sessions nobody can use any more, go."""
    settings: Settings = app.state.settings
    while True:
        async with acquire(app.state.pool) as conn:
            repo = UsersRepository(conn)
            while await repo.prune_sessions(retain_seconds=retain_seconds(settings), batch=PRUNE_BATCH) >= PRUNE_BATCH:
                pass
            while await repo.prune_reset_tokens(batch=PRUNE_BATCH) >= PRUNE_BATCH:
                pass
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)


# --- reading users --------------------------------------------------------------------------


def user_not_found(user_id: int) -> ApiError:
    return ApiError(404, f"User {user_id} not found.")


async def get_user(repo: UsersRepository, *, caller: TokenUser | None, user_id: int) -> asyncpg.Record:
    """`caller` None is another service of the fleet (it presented the service credential)."""
    # Refused before the lookup, so a user cannot tell which other ids exist.
    if caller is not None and not caller.is_staff and caller.id != user_id:
        raise ApiError(403, "You can only look up your own account.")
    user = await repo.get(user_id=user_id)
    if user is None:
        raise user_not_found(user_id)
    return user


def _invalid(field: str, message: str, sentence: str) -> ApiError:
    return ApiError(400, sentence, details=[{"field": field, "message": message}])


def _decode_after_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    (after_id,) = decode_cursor(cursor, kinds=(int,))
    # Cursors are ours, but a forged one must still be a 400 rather than an out-of-range
    # integer in the driver.
    if not 0 <= after_id <= MAX_ID:
        raise _invalid("cursor", "not a valid cursor", "Invalid cursor.")
    return int(after_id)


def parse_ids(text: str | None) -> tuple[int, ...] | None:
    """`?ids=3,1,2`: at most 200 positive ids, comma-separated."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise _invalid("ids", "must be comma-separated positive integer ids", "Invalid ids.")
    ids = tuple(int(part) for part in parts)
    if not all(0 < i <= MAX_ID for i in ids):
        raise _invalid("ids", "must be comma-separated positive integer ids", "Invalid ids.")
    if len(ids) > IDS_MAX:
        raise _invalid("ids", f"at most {IDS_MAX} ids", f"Invalid ids: at most {IDS_MAX} at once.")
    return ids


def search_query(text: str | None) -> str | None:
    """`?q=`: every word of it must begin a word of the name or the address. A to_tsquery
    text made of word characters and our own operators only, so the input can never be a
    tsquery syntax error (it is a bound parameter as well)."""
    if text is None:
        return None
    words = re.findall(r"[^\W_]+", text.lower())[:USER_SEARCH_WORDS]
    return " & ".join(f"{word}:*" for word in words) or None


async def list_users(
    repo: UsersRepository, *, filters: UserFilters, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """One page by id, and the next page's cursor (None on the last page)."""
    # One row more than asked says whether another page exists, without a COUNT.
    rows = await repo.list_page(filters=filters, after_id=_decode_after_id(cursor), limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1]["id"])


async def update_me(repo: UsersRepository, *, caller: TokenUser, name: str | None) -> asyncpg.Record:
    await fresh_caller(repo, caller)
    user = await repo.set_name(user_id=caller.id, name=name)
    if user is None:
        raise ended()
    return user


# --- roles and deactivation -----------------------------------------------------------------


async def _lock_admins_as(repo: UsersRepository, caller: TokenUser) -> set[int]:
    """Lock the active admins (in id order, so two callers cannot deadlock) and check that the
    caller is still one of them: a token says what the caller was when it was issued, and
    granting roles or access asks the database."""
    admin_ids = set(await repo.lock_active_admin_ids())
    if caller.id not in admin_ids:
        raise ApiError(403, "Only an admin can do this.")
    return admin_ids


async def set_role(conn: asyncpg.Connection, *, caller: TokenUser, user_id: int, role: str) -> asyncpg.Record:
    """Change a user's role; never leaves the system without an active admin. The user's
    tokens end (they carry the old role); their next refresh gets the new one.

    Every active admin row is locked before counting, so two admins demoting each other at once
    are serialized: the second sees one admin left and is refused.
    """
    async with conn.transaction():
        repo = UsersRepository(conn)
        admin_ids = await _lock_admins_as(repo, caller)
        user = await repo.get_for_update(user_id=user_id)
        if user is None:
            raise user_not_found(user_id)
        if user["role"] == role:
            return user
        if user_id in admin_ids and len(admin_ids - {user_id}) == 0:
            raise ApiError(409, "This is the last admin: make another user an admin before changing this one's role.")
        updated = await repo.set_role(user_id=user_id, role=role)
        assert updated is not None  # the row is locked by this transaction
        return updated


async def set_active(conn: asyncpg.Connection, *, caller: TokenUser, user_id: int, active: bool) -> asyncpg.Record:
    """Deactivate a user (they cannot log in or refresh; every session and token ends; their
    tickets stay) or reactivate them. An admin cannot deactivate themselves, and the last
    active admin cannot be deactivated, so the system always keeps an admin who can sign in."""
    async with conn.transaction():
        repo = UsersRepository(conn)
        admin_ids = await _lock_admins_as(repo, caller)
        user = await repo.get_for_update(user_id=user_id)
        if user is None:
            raise user_not_found(user_id)
        if user["active"] == active:
            return user
        if not active:
            if user_id == caller.id:
                raise ApiError(409, "You cannot deactivate your own account; another admin can.")
            if user_id in admin_ids and len(admin_ids - {user_id}) == 0:
                raise ApiError(409, "This is the last active admin: it cannot be deactivated.")
        updated = await repo.set_active(user_id=user_id, active=active)
        assert updated is not None  # the row is locked by this transaction
        if not active:
            await repo.end_user_sessions(user_id=user_id, reason="deactivated")
    logger.info("user %s", "reactivated" if active else "deactivated", extra={"user_id": user_id, "by": caller.id})
    return updated


# --- the first admin ------------------------------------------------------------------------


async def ensure_first_admin(app: FastAPI) -> None:
    """Start-up hook: make ADMIN_EMAIL an active admin, creating it with ADMIN_PASSWORD if absent.

    Safe when several replicas start together: the insert is an upsert on the email, and an
    account that already exists keeps its password. It is also the way back in when every admin
    is locked out: a restart with ADMIN_EMAIL set restores that account.
    """
    settings: Settings = app.state.settings
    if settings.admin_email is None or settings.admin_password is None:
        return
    email = normalize_email(settings.admin_email)
    hasher: PasswordHasher = app.state.password_hasher
    async with app.state.pool.acquire() as conn:
        repo = UsersRepository(conn)
        existing = await repo.get_by_email(email=email)
        if existing is not None:
            if existing.role != "admin" or not existing.active:
                await repo.restore_admin(email=email)
                logger.info("configured admin restored", extra={"user_id": existing.id})
            return
    password_hash = await hasher.hash(normalize_password(settings.admin_password.get_secret_value()))
    async with app.state.pool.acquire() as conn:
        admin = await UsersRepository(conn).create_or_restore_admin(email=email, password_hash=password_hash)
    logger.info("configured admin ensured", extra={"user_id": admin["id"]})
