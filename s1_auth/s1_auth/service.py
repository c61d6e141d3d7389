"""S1's rules: password hashing off the event loop, login with its throttle, who may see whom,
the last-admin rule and the first admin.

Login answers an unknown email exactly like a wrong password: same body, a hash verification
of the same cost (against a dummy hash made at start), and a failure counted by the throttle.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets

import anyio
import anyio.to_thread
import asyncpg
from fastapi import FastAPI, Request
from passlib.context import CryptContext

from helpdesk_common.db import acquire
from helpdesk_common.errors import ApiError
from helpdesk_common.pagination import decode_cursor, encode_cursor
from helpdesk_common.security import TokenUser, create_access_token
from helpdesk_common.types import MAX_ID
from s1_auth.repository import UsersRepository
from s1_auth.schemas import TokenOut, login_email, normalize_email, normalize_password
from s1_auth.settings import Settings

logger = logging.getLogger("s1_auth")

INVALID_CREDENTIALS = "invalid credentials"
EMAIL_TAKEN = "email already registered"


# --- passwords ------------------------------------------------------------------------------


class PasswordHasher:
    """argon2id hashing and verification in worker threads, at most `concurrency` at once.

    A hash takes tens of milliseconds of CPU: on the event loop it would stall every other
    request of the service, and unbounded it would take every core. Passwords arrive already
    normalized (`schemas.normalize_password`).
    """

    def __init__(self, *, memory_cost_kib: int, time_cost: int, parallelism: int, concurrency: int) -> None:
        self.context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=memory_cost_kib,
            argon2__rounds=time_cost,
            argon2__parallelism=parallelism,
        )
        self.limiter = anyio.CapacityLimiter(concurrency)
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
        )

    async def prepare(self) -> None:
        self.dummy_hash = await self.hash(secrets.token_urlsafe(32))

    async def hash(self, password: str) -> str:
        digest: str = await anyio.to_thread.run_sync(self.context.hash, password, limiter=self.limiter)
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


def password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


async def start_password_hasher(app: FastAPI) -> None:
    """Start-up hook: one hasher (and one thread limiter) per app."""
    hasher = PasswordHasher.from_settings(app.state.settings)
    await hasher.prepare()
    app.state.password_hasher = hasher


# --- register and login ---------------------------------------------------------------------


async def register(pool: asyncpg.Pool | None, hasher: PasswordHasher, *, email: str, password: str) -> asyncpg.Record:
    # `email` is already normalized by the schema. Hash first: the insert then decides alone,
    # in one statement, whether the address was free.
    password_hash = await hasher.hash(password)
    async with acquire(pool) as conn:
        user = await UsersRepository(conn).create(email=email, password_hash=password_hash)
    if user is None:
        raise ApiError(409, EMAIL_TAKEN)
    return user


def client_address(request: Request, *, trust_forwarded_for: bool) -> str:
    """The address the throttle counts a client by.

    Behind the gateway, the peer is the gateway itself; it appends the real client to
    X-Forwarded-For, so the rightmost entry is the one a client cannot forge (entries to its
    left are whatever the client sent).
    """
    if trust_forwarded_for:
        forwarded = request.headers.getlist("x-forwarded-for")
        if forwarded:
            rightmost = forwarded[-1].rsplit(",", 1)[-1].strip()
            try:
                return str(ipaddress.ip_address(rightmost))
            except ValueError:
                pass  # not an address: fall back to the peer
    return request.client.host if request.client is not None else "unknown"


async def login(
    pool: asyncpg.Pool | None,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> TokenOut:
    email = login_email(email)
    async with acquire(pool) as conn:
        repo = UsersRepository(conn)
        # Throttled keys are refused before the password is looked at, so a blocked attacker
        # learns nothing more and costs no hash.
        retry_after = await repo.throttle_retry_after(
            email=email,
            client_ip=client_ip,
            window_seconds=settings.login_failure_window_seconds,
            max_per_email=settings.login_max_failures_per_email,
            max_per_ip=settings.login_max_failures_per_ip,
        )
        if retry_after is not None:
            raise ApiError(429, "Too many failed logins; try again later.", headers={"Retry-After": str(retry_after)})
        account = await repo.get_by_email(email=email)

    matches, upgraded_hash = await hasher.verify(password, account.password_hash if account is not None else None)

    async with acquire(pool) as conn:
        repo = UsersRepository(conn)
        if account is None or not matches:
            await repo.record_login_failure(
                email=email, client_ip=client_ip, window_seconds=settings.login_failure_window_seconds
            )
            raise ApiError(401, INVALID_CREDENTIALS)
        await repo.clear_login_failures(email=email)
        if upgraded_hash is not None:
            await repo.set_password_hash(user_id=account.id, old_hash=account.password_hash, new_hash=upgraded_hash)

    token = create_access_token(
        user_id=account.id,
        role=account.role,
        email=account.email,
        secret=settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    return TokenOut(token=token, expires_in=settings.jwt_ttl_seconds)


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


def _decode_after_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    (after_id,) = decode_cursor(cursor, kinds=(int,))
    # Cursors are ours, but a forged one must still be a 400 rather than an out-of-range
    # integer in the driver.
    if not 0 <= after_id <= MAX_ID:
        raise ApiError(400, "Invalid cursor.", details=[{"field": "cursor", "message": "not a valid cursor"}])
    return int(after_id)


async def list_users(
    repo: UsersRepository, *, role: str | None, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """One page by id, and the next page's cursor (None on the last page)."""
    # One row more than asked says whether another page exists, without a COUNT.
    rows = await repo.list_page(role=role, after_id=_decode_after_id(cursor), limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1]["id"])


# --- roles ----------------------------------------------------------------------------------


async def set_role(conn: asyncpg.Connection, *, caller: TokenUser, user_id: int, role: str) -> asyncpg.Record:
    """Change a user's role; never leaves the system without an admin.

    Every admin row is locked before counting, so two admins demoting each other at once are
    serialized: the second sees one admin left and is refused.
    """
    async with conn.transaction():
        repo = UsersRepository(conn)
        admin_ids = set(await repo.lock_admin_ids())
        # A token says what the caller was when it was issued (up to an hour ago); granting
        # roles asks the database whether they are still an admin.
        if caller.id not in admin_ids:
            raise ApiError(403, "Only an admin can do this.")
        user = await repo.get_for_update(user_id=user_id)
        if user is None:
            raise user_not_found(user_id)
        if user["role"] == role:
            return user
        if user["role"] == "admin" and len(admin_ids | {user_id}) <= 1:
            raise ApiError(409, "This is the last admin: make another user an admin before changing this one's role.")
        updated = await repo.set_role(user_id=user_id, role=role)
        assert updated is not None  # the row is locked by this transaction
        return updated


# --- the first admin ------------------------------------------------------------------------


async def ensure_first_admin(app: FastAPI) -> None:
    """Start-up hook: make ADMIN_EMAIL an admin, creating it with ADMIN_PASSWORD if absent.

    Safe when several replicas start together: the insert is an upsert on the email, and an
    account that already exists keeps its password.
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
            if existing.role != "admin":
                await repo.promote_to_admin(email=email)
                logger.info("configured admin promoted", extra={"user_id": existing.id})
            return
    password_hash = await hasher.hash(normalize_password(settings.admin_password.get_secret_value()))
    async with app.state.pool.acquire() as conn:
        admin = await UsersRepository(conn).create_or_promote_admin(email=email, password_hash=password_hash)
    logger.info("configured admin ensured", extra={"user_id": admin["id"]})
