"""All of S1's SQL: the `users` table and the login-failure log, through one asyncpg connection."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# The public shape of a user; the password hash leaves this module only through get_by_email.
USER_COLUMNS = "id, email, role"

# Expired failure rows deleted per recorded failure: enough to keep up with any failure rate
# the throttle lets through, small enough that no login waits on a big delete.
PRUNE_BATCH = 500


@dataclass(frozen=True, slots=True)
class Credentials:
    """What login needs to know about an account."""

    id: int
    email: str
    role: str
    password_hash: str


class UsersRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- accounts -------------------------------------------------------------------------

    async def create(self, *, email: str, password_hash: str) -> asyncpg.Record | None:
        """A new `user` (the only role an account is ever created with, bar the configured first
        admin), or None when the email is already taken. One statement, so two concurrent
        registrations of one address cannot both succeed."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO users (email, password_hash, role)
            VALUES ($1, $2, 'user')
            ON CONFLICT (email) DO NOTHING
            RETURNING {USER_COLUMNS}
            """,
            email,
            password_hash,
        )
        return row

    async def create_or_promote_admin(self, *, email: str, password_hash: str) -> asyncpg.Record:
        """The first admin: insert it, or, if another replica (or a registration) got there
        first, make that account an admin and keep its password."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO users (email, password_hash, role)
            VALUES ($1, $2, 'admin')
            ON CONFLICT (email) DO UPDATE SET role = 'admin'
            RETURNING {USER_COLUMNS}
            """,
            email,
            password_hash,
        )
        assert row is not None  # an upsert always answers its one row
        return row

    async def promote_to_admin(self, *, email: str) -> asyncpg.Record | None:
        """Make an existing account an admin; None when no account has this email."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"UPDATE users SET role = 'admin' WHERE email = $1 RETURNING {USER_COLUMNS}", email
        )
        return row

    async def get(self, *, user_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id
        )
        return row

    async def get_by_email(self, *, email: str) -> Credentials | None:
        row = await self.conn.fetchrow("SELECT id, email, role, password_hash FROM users WHERE email = $1", email)
        return None if row is None else Credentials(**dict(row))

    async def set_password_hash(self, *, user_id: int, old_hash: str, new_hash: str) -> None:
        """Replace a hash made with older parameters, unless it changed meanwhile."""
        await self.conn.execute(
            "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2", user_id, old_hash, new_hash
        )

    async def list_page(self, *, role: str | None, after_id: int | None, limit: int) -> list[asyncpg.Record]:
        """Users by id; only fixed SQL fragments are assembled, every value is bound. Each
        variant is its own statement so the planner picks the primary key or (role, id)."""
        conditions: list[str] = []
        args: list[object] = []
        if role is not None:
            args.append(role)
            conditions.append(f"role = ${len(args)}")
        if after_id is not None:
            args.append(after_id)
            conditions.append(f"id > ${len(args)}")
        args.append(limit)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT {USER_COLUMNS} FROM users {where} ORDER BY id LIMIT ${len(args)}", *args
        )
        return rows

    async def lock_admin_ids(self) -> list[int]:
        """Lock every admin row until the transaction ends, in id order (so two callers cannot
        deadlock), and return their ids. Call inside a transaction."""
        rows = await self.conn.fetch("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
        return [row["id"] for row in rows]

    async def get_for_update(self, *, user_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id
        )
        return row

    async def set_role(self, *, user_id: int, role: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"UPDATE users SET role = $2 WHERE id = $1 RETURNING {USER_COLUMNS}", user_id, role
        )
        return row

    # --- login throttle -------------------------------------------------------------------

    async def throttle_retry_after(
        self, *, email: str, client_ip: str, window_seconds: int, max_per_email: int, max_per_ip: int
    ) -> int | None:
        """Seconds until a login for (email, client_ip) is allowed again, or None if it is now.

        A key is blocked while it has `max` failures within the window; it is free again when
        the max-th newest of them leaves the window. Uses the database clock, which every
        replica shares.
        """
        seconds: int | None = await self.conn.fetchval(
            """
            WITH window_start AS (SELECT now() - $3::integer * interval '1 second' AS at)
            SELECT ceil(extract(epoch FROM
                       GREATEST(
                           (SELECT failed_at FROM s1_auth_login_failures, window_start
                             WHERE email = $1 AND failed_at > window_start.at
                             ORDER BY failed_at DESC OFFSET $4::integer - 1 LIMIT 1),
                           (SELECT failed_at FROM s1_auth_login_failures, window_start
                             WHERE client_ip = $2 AND failed_at > window_start.at
                             ORDER BY failed_at DESC OFFSET $5::integer - 1 LIMIT 1)
                       ) + $3::integer * interval '1 second' - now()
                   ))::integer
            """,
            email,
            client_ip,
            window_seconds,
            max_per_email,
            max_per_ip,
        )
        return None if seconds is None else max(seconds, 1)

    async def record_login_failure(self, *, email: str, client_ip: str, window_seconds: int) -> None:
        await self.conn.execute(
            "INSERT INTO s1_auth_login_failures (email, client_ip) VALUES ($1, $2)", email, client_ip
        )
        # Prune a bounded batch of expired rows on the way out. SKIP LOCKED: replicas pruning at
        # the same moment take different rows instead of waiting on (or deadlocking with) each other.
        await self.conn.execute(
            """
            DELETE FROM s1_auth_login_failures
             WHERE id IN (SELECT id FROM s1_auth_login_failures
                           WHERE failed_at < now() - $1::integer * interval '1 second'
                           ORDER BY failed_at
                           LIMIT $2
                           FOR UPDATE SKIP LOCKED)
            """,
            window_seconds,
            PRUNE_BATCH,
        )

    async def clear_login_failures(self, *, email: str) -> None:
        await self.conn.execute("DELETE FROM s1_auth_login_failures WHERE email = $1", email)
