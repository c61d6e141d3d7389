"""All of S1's SQL: accounts, sessions and refresh tokens, the token-state feed, and the
throttles' logs, through one asyncpg connection."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# The public shape of a user; the password hash leaves this module only through get_by_email.
USER_COLUMNS = "id, email, role, name, active"

# Marks a change of `token_version` or `active` for the token-state feed: when, and which
# transaction (the feed answers "everything from transaction id N on").
STATE_CHANGED = "token_state_changed_at = now(), token_state_txid = pg_current_xact_id()::text::bigint"
SESSION_ENDED = "ended_at = now(), ended_txid = pg_current_xact_id()::text::bigint"

# Expired throttle rows deleted per recorded attempt: enough to keep up with any rate the
# throttle lets through, small enough that no request waits on a big delete.
PRUNE_BATCH = 500


@dataclass(frozen=True, slots=True)
class Credentials:
    """What login needs to know about an account."""

    id: int
    email: str
    role: str
    active: bool
    token_version: int
    password_hash: str


@dataclass(frozen=True, slots=True)
class CallerState:
    """An account as the database has it now, and whether the caller's session has ended."""

    id: int
    email: str
    role: str
    name: str | None
    active: bool
    token_version: int
    session_ended: bool


@dataclass(frozen=True, slots=True)
class Rotated:
    """A refresh token just exchanged: the session it belongs to and its account now."""

    session_id: int
    user_id: int
    email: str
    role: str
    token_version: int


@dataclass(frozen=True, slots=True)
class RefreshTokenStatus:
    """Why a refresh token was not exchanged."""

    session_id: int
    used: bool
    expired: bool
    session_ended: bool
    user_active: bool


@dataclass(frozen=True, slots=True)
class UserFilters:
    role: str | None = None
    active: bool | None = None
    # A to_tsquery('simple', ...) text made only of word characters, `:*` and ` & `.
    search: str | None = None
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class TokenStateChanges:
    cursor: int
    users: list[asyncpg.Record]  # id, token_version, active
    ended_sessions: list[int]


def _retry_after_sql(table: str, time_column: str, keys: list[tuple[str, str, str]], window: str, exclude: str) -> str:
    """Seconds until none of `keys` (column, value parameter, limit parameter) has its limit of
    rows within the window, not counting the caller's own row (`exclude`), or NULL when none has
    now: a key is free again once the limit-th newest of its rows leaves the window."""
    limit_reached_at = [
        f"""(SELECT {time_column} FROM {table}
              WHERE {column} = {key} AND {time_column} > now() - {window}::integer * interval '1 second'
                AND id <> {exclude}
              ORDER BY {time_column} DESC OFFSET {limit}::integer - 1 LIMIT 1)"""
        for column, key, limit in keys
    ]
    return (
        f"SELECT ceil(extract(epoch FROM GREATEST({', '.join(limit_reached_at)})"
        f" + {window}::integer * interval '1 second' - now()))::integer"
    )


class UsersRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- accounts -------------------------------------------------------------------------

    async def create(self, *, email: str, password_hash: str, name: str | None = None) -> asyncpg.Record | None:
        """A new `user` (the only role an account is ever created with, bar the configured first
        admin), or None when the email is already taken. One statement, so two concurrent
        registrations of one address cannot both succeed."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO users (email, password_hash, role, name)
            VALUES ($1, $2, 'user', $3)
            ON CONFLICT (email) DO NOTHING
            RETURNING {USER_COLUMNS}
            """,
            email,
            password_hash,
            name,
        )
        return row

    async def create_or_restore_admin(self, *, email: str, password_hash: str) -> asyncpg.Record:
        """The first admin: insert it, or, if another replica (or a registration) got there
        first, make that account an active admin and keep its password."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO users (email, password_hash, role)
            VALUES ($1, $2, 'admin')
            ON CONFLICT (email) DO UPDATE
                SET role = 'admin', active = true,
                    token_version = users.token_version + (users.role <> 'admin' OR NOT users.active)::integer,
                    {STATE_CHANGED}
            RETURNING {USER_COLUMNS}
            """,
            email,
            password_hash,
        )
        assert row is not None  # an upsert always answers its one row
        return row

    async def restore_admin(self, *, email: str) -> asyncpg.Record | None:
        """Make an existing account an active admin (tokens of its old role end); None when no
        account has this email or it already is one."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            UPDATE users SET role = 'admin', active = true, token_version = token_version + 1, {STATE_CHANGED}
             WHERE email = $1 AND (role <> 'admin' OR NOT active)
            RETURNING {USER_COLUMNS}
            """,
            email,
        )
        return row

    async def get(self, *, user_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id
        )
        return row

    async def get_by_email(self, *, email: str) -> Credentials | None:
        row = await self.conn.fetchrow(
            "SELECT id, email, role, active, token_version, password_hash FROM users WHERE email = $1", email
        )
        return None if row is None else Credentials(**dict(row))

    async def get_password_hash(self, *, user_id: int) -> str | None:
        password_hash: str | None = await self.conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
        return password_hash

    async def caller_state(self, *, user_id: int, session_id: int | None) -> CallerState | None:
        row = await self.conn.fetchrow(
            """
            SELECT id, email, role, name, active, token_version,
                   COALESCE((SELECT ended_at IS NOT NULL FROM s1_auth_sessions WHERE id = $2 AND user_id = $1),
                            $2::bigint IS NOT NULL) AS session_ended
              FROM users WHERE id = $1
            """,
            user_id,
            session_id,
        )
        return None if row is None else CallerState(**dict(row))

    async def set_password_hash(self, *, user_id: int, old_hash: str, new_hash: str) -> None:
        """Replace a hash made with older parameters, unless it changed meanwhile."""
        await self.conn.execute(
            "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2", user_id, old_hash, new_hash
        )

    async def change_password(self, *, user_id: int, old_hash: str, new_hash: str) -> int | None:
        """Set a new password unless the stored one changed since it was checked; every token
        issued before ends. The new token version, or None if the hash had changed."""
        version: int | None = await self.conn.fetchval(
            f"""
            UPDATE users SET password_hash = $3, token_version = token_version + 1, {STATE_CHANGED}
             WHERE id = $1 AND password_hash = $2
            RETURNING token_version
            """,
            user_id,
            old_hash,
            new_hash,
        )
        return version

    async def set_name(self, *, user_id: int, name: str | None) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"UPDATE users SET name = $2 WHERE id = $1 RETURNING {USER_COLUMNS}", user_id, name
        )
        return row

    async def list_page(self, *, filters: UserFilters, after_id: int | None, limit: int) -> list[asyncpg.Record]:
        """Users by id; only fixed SQL fragments are assembled, every value is bound. A role
        is a range of (role, id), a search the GIN index on `search`, ids the primary key."""
        conditions: list[str] = []
        args: list[object] = []

        def bind(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if filters.role is not None:
            conditions.append(f"role = {bind(filters.role)}")
        if filters.active is not None:
            conditions.append(f"active = {bind(filters.active)}")
        if filters.search is not None:
            conditions.append(f"search @@ to_tsquery('simple', {bind(filters.search)})")
        if filters.ids is not None:
            conditions.append(f"id = ANY({bind(list(filters.ids))}::integer[])")
        if after_id is not None:
            conditions.append(f"id > {bind(after_id)}")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT {USER_COLUMNS} FROM users {where} ORDER BY id LIMIT {bind(limit)}", *args
        )
        return rows

    async def lock_active_admin_ids(self) -> list[int]:
        """Lock every active admin row until the transaction ends, in id order (so two callers
        cannot deadlock), and return their ids. Call inside a transaction."""
        rows = await self.conn.fetch("SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE")
        return [row["id"] for row in rows]

    async def get_for_update(self, *, user_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id
        )
        return row

    async def set_role(self, *, user_id: int, role: str) -> asyncpg.Record | None:
        """A new role; tokens that carry the old one end."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            UPDATE users SET role = $2, token_version = token_version + 1, {STATE_CHANGED}
             WHERE id = $1
            RETURNING {USER_COLUMNS}
            """,
            user_id,
            role,
        )
        return row

    async def set_active(self, *, user_id: int, active: bool) -> asyncpg.Record | None:
        """Deactivate (every token ends) or reactivate (the feed tells the services)."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            UPDATE users SET active = $2, token_version = token_version + (NOT $2)::integer, {STATE_CHANGED}
             WHERE id = $1
            RETURNING {USER_COLUMNS}
            """,
            user_id,
            active,
        )
        return row

    # --- sessions and refresh tokens ------------------------------------------------------

    async def start_session(self, *, user_id: int, token_hash: bytes, ttl_seconds: int) -> int:
        """A new session with its first refresh token; the session id."""
        session_id: int | None = await self.conn.fetchval(
            """
            WITH session AS (INSERT INTO s1_auth_sessions (user_id) VALUES ($1) RETURNING id)
            INSERT INTO s1_auth_refresh_tokens (token_hash, session_id, expires_at)
            SELECT $2, id, now() + $3::integer * interval '1 second' FROM session
            RETURNING session_id
            """,
            user_id,
            token_hash,
            ttl_seconds,
        )
        assert session_id is not None
        return session_id

    async def rotate_refresh_token(self, *, old_hash: bytes, new_hash: bytes, ttl_seconds: int) -> Rotated | None:
        """Exchange an unused, unexpired refresh token of an open session of an active account
        for a new one of the same session, in one statement; None if it is not such a token.

        Two refreshes with one token at once: the second waits for the first's row lock, then
        finds the token used and matches nothing (and is then treated as a reuse).
        """
        row = await self.conn.fetchrow(
            """
            WITH rotated AS (
                UPDATE s1_auth_refresh_tokens AS t
                   SET used_at = now()
                  FROM s1_auth_sessions AS s, users AS u
                 WHERE t.token_hash = $1
                   AND t.used_at IS NULL
                   AND t.expires_at > now()
                   AND s.id = t.session_id
                   AND s.ended_at IS NULL
                   AND u.id = s.user_id
                   AND u.active
                RETURNING t.session_id, u.id AS user_id, u.email, u.role, u.token_version
            ), issued AS (
                INSERT INTO s1_auth_refresh_tokens (token_hash, session_id, expires_at)
                SELECT $2, session_id, now() + $3::integer * interval '1 second' FROM rotated
            )
            SELECT session_id, user_id, email, role, token_version FROM rotated
            """,
            old_hash,
            new_hash,
            ttl_seconds,
        )
        return None if row is None else Rotated(**dict(row))

    async def refresh_token_status(self, *, token_hash: bytes) -> RefreshTokenStatus | None:
        row = await self.conn.fetchrow(
            """
            SELECT t.session_id, t.used_at IS NOT NULL AS used, t.expires_at <= now() AS expired,
                   s.ended_at IS NOT NULL AS session_ended, u.active AS user_active
              FROM s1_auth_refresh_tokens t
              JOIN s1_auth_sessions s ON s.id = t.session_id
              JOIN users u ON u.id = s.user_id
             WHERE t.token_hash = $1
            """,
            token_hash,
        )
        return None if row is None else RefreshTokenStatus(**dict(row))

    async def end_session(self, *, session_id: int, reason: str) -> bool:
        """End a session (its refresh tokens stop working, its access tokens are refused
        everywhere); False if it had already ended."""
        ended: int | None = await self.conn.fetchval(
            f"""
            UPDATE s1_auth_sessions SET {SESSION_ENDED}, end_reason = $2
             WHERE id = $1 AND ended_at IS NULL
            RETURNING 1
            """,
            session_id,
            reason,
        )
        return ended is not None

    async def session_of_refresh_token(self, *, token_hash: bytes) -> int | None:
        session_id: int | None = await self.conn.fetchval(
            "SELECT session_id FROM s1_auth_refresh_tokens WHERE token_hash = $1", token_hash
        )
        return session_id

    async def end_user_sessions(self, *, user_id: int, reason: str, keep_session_id: int | None = None) -> int:
        """End every open session of a user but `keep_session_id`; how many ended."""
        ended = await self.conn.fetch(
            f"""
            UPDATE s1_auth_sessions SET {SESSION_ENDED}, end_reason = $2
             WHERE user_id = $1 AND ended_at IS NULL AND id IS DISTINCT FROM $3
            RETURNING id
            """,
            user_id,
            reason,
            keep_session_id,
        )
        return len(ended)

    async def prune_sessions(self, *, retain_seconds: int, batch: int) -> int:
        """Delete expired refresh tokens, then sessions that have none left and whose end (if
        any) no longer matters to the feed; at most `batch` of each. How many rows went."""
        tokens = await self.conn.fetch(
            """
            DELETE FROM s1_auth_refresh_tokens
             WHERE token_hash IN (SELECT token_hash FROM s1_auth_refresh_tokens
                                   WHERE expires_at < now() ORDER BY expires_at LIMIT $1
                                   FOR UPDATE SKIP LOCKED)
            RETURNING 1
            """,
            batch,
        )
        sessions = await self.conn.fetch(
            """
            DELETE FROM s1_auth_sessions
             WHERE id IN (SELECT s.id FROM s1_auth_sessions s
                           WHERE s.created_at < now() - $1::integer * interval '1 second'
                             AND (s.ended_at IS NULL OR s.ended_at < now() - $1::integer * interval '1 second')
                             AND NOT EXISTS (SELECT 1 FROM s1_auth_refresh_tokens t WHERE t.session_id = s.id)
                           LIMIT $2
                           FOR UPDATE SKIP LOCKED)
            RETURNING 1
            """,
            retain_seconds,
            batch,
        )
        return len(tokens) + len(sessions)

    # --- the token-state feed -------------------------------------------------------------

    async def token_state_changes(self, *, since: int | None, window_seconds: int) -> TokenStateChanges:
        """What ended tokens: users whose version or active flag changed, sessions that ended.

        `since` None: the changes of the last `window_seconds` (older ones refuse no living
        token). Else: those of transactions `since` and later. All read in one snapshot, whose
        xmin is the next cursor: every transaction below it has finished, so nothing that
        commits later can carry a smaller id and be missed; those at or above it are read
        again next time (harmless: the state is absolute, not a delta).
        """
        async with self.conn.transaction(isolation="repeatable_read", readonly=True):
            cursor: int = await self.conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            if since is None:
                users = await self.conn.fetch(
                    "SELECT id, token_version, active FROM users"
                    " WHERE token_state_changed_at > now() - $1::integer * interval '1 second'",
                    window_seconds,
                )
                sessions = await self.conn.fetch(
                    "SELECT id FROM s1_auth_sessions WHERE ended_at > now() - $1::integer * interval '1 second'",
                    window_seconds,
                )
            else:
                users = await self.conn.fetch(
                    "SELECT id, token_version, active FROM users WHERE token_state_txid >= $1", since
                )
                sessions = await self.conn.fetch("SELECT id FROM s1_auth_sessions WHERE ended_txid >= $1", since)
        return TokenStateChanges(cursor=cursor, users=users, ended_sessions=[row["id"] for row in sessions])

    # --- login throttle -------------------------------------------------------------------

    async def record_login_attempt(self, *, email: str, client_ip: str, window_seconds: int) -> int:
        """Count an attempt as a failure before its password is looked at (and commit it, outside
        any transaction), so that concurrent guesses see each other; a successful login takes it
        back. Returns its id."""
        attempt_id: int = await self.conn.fetchval(
            "INSERT INTO s1_auth_login_failures (email, client_ip) VALUES ($1, $2) RETURNING id", email, client_ip
        )
        await self._prune("s1_auth_login_failures", "failed_at", window_seconds)
        return attempt_id

    async def login_retry_after(
        self, *, attempt_id: int, email: str, client_ip: str, window_seconds: int, max_per_email: int, max_per_ip: int
    ) -> int | None:
        """Seconds until a login for (email, client_ip) is allowed again, or None if it is now.

        A key is blocked while it has `max` failures within the window besides this attempt;
        it is free again when the max-th newest of them leaves the window. Uses the database
        clock, which every replica shares.
        """
        sql = _retry_after_sql(
            "s1_auth_login_failures", "failed_at", [("email", "$1", "$4"), ("client_ip", "$2", "$5")], "$3", "$6"
        )
        seconds: int | None = await self.conn.fetchval(
            sql, email, client_ip, window_seconds, max_per_email, max_per_ip, attempt_id
        )
        return None if seconds is None else max(seconds, 1)

    async def forget_login_attempt(self, *, attempt_id: int) -> None:
        await self.conn.execute("DELETE FROM s1_auth_login_failures WHERE id = $1", attempt_id)

    async def clear_login_failures(self, *, email: str) -> None:
        await self.conn.execute("DELETE FROM s1_auth_login_failures WHERE email = $1", email)

    # --- password reset ------------------------------------------------------------------

    async def record_reset_request(self, *, email: str, client_ip: str, window_seconds: int) -> int:
        """Count a reset request (committed at once, like a login attempt); its id."""
        request_id: int = await self.conn.fetchval(
            "INSERT INTO s1_auth_reset_requests (email, client_ip) VALUES ($1, $2) RETURNING id", email, client_ip
        )
        await self._prune("s1_auth_reset_requests", "requested_at", window_seconds)
        return request_id

    async def reset_retry_after(
        self, *, request_id: int, client_ip: str, window_seconds: int, max_per_ip: int
    ) -> int | None:
        """Seconds until this client may ask for a reset again, or None if it may now."""
        sql = _retry_after_sql("s1_auth_reset_requests", "requested_at", [("client_ip", "$1", "$3")], "$2", "$4")
        seconds: int | None = await self.conn.fetchval(sql, client_ip, window_seconds, max_per_ip, request_id)
        return None if seconds is None else max(seconds, 1)

    async def forget_reset_request(self, *, request_id: int) -> None:
        await self.conn.execute("DELETE FROM s1_auth_reset_requests WHERE id = $1", request_id)

    async def issue_reset(
        self,
        *,
        request_id: int,
        email: str,
        token_hash: bytes,
        ttl_seconds: int,
        message: str,
        window_seconds: int,
        max_per_email: int,
    ) -> int | None:
        """If an active account has `email` and fewer than `max_per_email` requests for it came
        before this one within the window: store the token's hash and write the email to the
        outbox; the account's id, else None.

        One statement whichever way it goes, so an address with an account and one without
        cost the same round trips and the same plan; they differ by two index inserts. (The
        outbox's NOTIFY trigger fires per statement, so the relays wake either way too.)
        """
        user_id: int | None = await self.conn.fetchval(
            """
            WITH account AS (
                SELECT id, email FROM users
                 WHERE email = $1 AND active
                   AND (SELECT count(*) FROM s1_auth_reset_requests
                         WHERE email = $1 AND requested_at > now() - $6::integer * interval '1 second'
                           AND id < $5) < $7
            ), token AS (
                INSERT INTO s1_auth_password_resets (token_hash, user_id, expires_at)
                SELECT $2, id, now() + $3::integer * interval '1 second' FROM account
            ), mail AS (
                INSERT INTO s1_auth_outbox (recipient_id, recipient_email, type, channel, message)
                SELECT id, email, 'password_reset', 'email', $4 FROM account
            )
            SELECT id FROM account
            """,
            email,
            token_hash,
            ttl_seconds,
            message,
            request_id,
            window_seconds,
            max_per_email,
        )
        return user_id

    async def prune_reset_tokens(self, *, batch: int) -> int:
        """Delete up to `batch` expired reset tokens (they can never be used again); how many went."""
        deleted = await self.conn.fetch(
            """
            DELETE FROM s1_auth_password_resets
             WHERE token_hash IN (SELECT token_hash FROM s1_auth_password_resets
                                   WHERE expires_at < now() ORDER BY expires_at LIMIT $1
                                   FOR UPDATE SKIP LOCKED)
            RETURNING 1
            """,
            batch,
        )
        return len(deleted)

    async def reset_token_is_open(self, *, token_hash: bytes) -> bool:
        """Whether a reset token is unused, unexpired and of an active account."""
        found: bool = await self.conn.fetchval(
            """
            SELECT EXISTS (SELECT 1 FROM s1_auth_password_resets r JOIN users u ON u.id = r.user_id
                            WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now() AND u.active)
            """,
            token_hash,
        )
        return found

    async def use_reset_token(self, *, token_hash: bytes) -> int | None:
        """Mark an unused, unexpired reset token of an active account used (and every other
        open one of that account with it); the account's id, or None if it was no such token
        (used meanwhile by a concurrent confirm: the row lock makes the second one match nothing)."""
        user_id: int | None = await self.conn.fetchval(
            """
            WITH used AS (
                UPDATE s1_auth_password_resets AS r SET used_at = now()
                  FROM users AS u
                 WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()
                   AND u.id = r.user_id AND u.active
                RETURNING r.user_id
            )
            SELECT user_id FROM used
            """,
            token_hash,
        )
        if user_id is not None:
            await self.use_up_reset_tokens(user_id=user_id)
        return user_id

    async def use_up_reset_tokens(self, *, user_id: int) -> None:
        """Every open reset token of the account stops working (its password was just set)."""
        await self.conn.execute(
            "UPDATE s1_auth_password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL", user_id
        )

    async def reset_password(self, *, user_id: int, new_hash: str) -> int:
        """Set a new password; every token issued before ends. The new token version."""
        version: int = await self.conn.fetchval(
            f"""
            UPDATE users SET password_hash = $2, token_version = token_version + 1, {STATE_CHANGED}
             WHERE id = $1
            RETURNING token_version
            """,
            user_id,
            new_hash,
        )
        return version

    # --- registration throttle ------------------------------------------------------------

    async def record_registration(self, *, client_ip: str, window_seconds: int) -> int:
        """Count a registration attempt before it is hashed (committed at once, like a login attempt)."""
        attempt_id: int = await self.conn.fetchval(
            "INSERT INTO s1_auth_registrations (client_ip) VALUES ($1) RETURNING id", client_ip
        )
        await self._prune("s1_auth_registrations", "attempted_at", window_seconds)
        return attempt_id

    async def registration_retry_after(
        self, *, attempt_id: int, client_ip: str, window_seconds: int, max_per_ip: int
    ) -> int | None:
        sql = _retry_after_sql("s1_auth_registrations", "attempted_at", [("client_ip", "$1", "$3")], "$2", "$4")
        seconds: int | None = await self.conn.fetchval(sql, client_ip, window_seconds, max_per_ip, attempt_id)
        return None if seconds is None else max(seconds, 1)

    async def forget_registration(self, *, attempt_id: int) -> None:
        await self.conn.execute("DELETE FROM s1_auth_registrations WHERE id = $1", attempt_id)

    async def _prune(self, table: str, time_column: str, window_seconds: int) -> None:
        # A bounded batch of expired rows on the way out. SKIP LOCKED: replicas pruning at the
        # same moment take different rows instead of waiting on (or deadlocking with) each other.
        await self.conn.execute(
            f"""
            DELETE FROM {table}
             WHERE id IN (SELECT id FROM {table}
                           WHERE {time_column} < now() - $1::integer * interval '1 second'
                           ORDER BY {time_column}
                           LIMIT $2
                           FOR UPDATE SKIP LOCKED)
            """,
            window_seconds,
            PRUNE_BATCH,
        )
