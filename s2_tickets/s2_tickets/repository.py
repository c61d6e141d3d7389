"""All of S2's SQL: the `tickets` table, reached through one asyncpg connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from helpdesk_common.outbox import OutboxMessage, enqueue
from helpdesk_common.vocabulary import CATEGORIES, PRIORITIES, STATUSES

# The public shape of a ticket, and its version (the ETag, not in the JSON); `search` (the
# tsvector) stays inside the database.
# The conversation columns come in both versions (every comment, public ones only); the
# service picks the caller's (`service.ticket_view`).
TICKET_COLUMNS = (
    "id, user_id, title, description, category, status, priority, assigned_to, created_at, updated_at, version,"
    " comment_count, public_comment_count, activity_at, public_activity_at"
)
# The activity column each side sorts by: staff by every comment, an owner by public ones.
STAFF_ACTIVITY = "activity_at"
OWNER_ACTIVITY = "public_activity_at"


@dataclass(frozen=True, slots=True)
class TicketSearch:
    """What `?q=` asks for, already split by the service (see `service.parse_search`).

    - `websearch`: text for websearch_to_tsquery (stemmed words, "phrases", or, -word);
    - `prefix`: the last word, being typed, matched as the beginning of a word (letters and
      digits only, so it can never be tsquery syntax), joined to the rest with AND (or OR when
      the user wrote `or` before it);
    - `ticket_id`: `#123` or `123` also finds ticket 123 itself.
    """

    websearch: str | None = None
    prefix: str | None = None
    prefix_joins_with_or: bool = False
    ticket_id: int | None = None


@dataclass(frozen=True, slots=True)
class TicketFilters:
    """Optional filters of the list; those given combine with AND."""

    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assigned_to: int | None = None
    user_id: int | None = None
    search: TicketSearch | None = None


@dataclass(frozen=True, slots=True)
class PagePosition:
    """The sort key of the last ticket already seen: the next page starts strictly after it.

    `created_at` is the time the list is sorted by: the creation time, or with
    `by_activity` the last activity (the caller's side of it)."""

    created_at: datetime
    id: int
    by_activity: bool = False


def list_query(
    *,
    owner_id: int | None,
    filters: TicketFilters,
    after: PagePosition | None,
    limit: int,
    by_activity: bool = False,
) -> tuple[str, list[Any]]:
    """The SELECT behind GET / and its arguments (a function of its own so tests can EXPLAIN it).

    Only fixed SQL fragments are assembled here; every value is a bound parameter. Each filter
    has an index ending in (created_at DESC, id DESC) (see migrations/001_tickets.sql), and the
    keyset condition is a row comparison in that same order, so a page is one index range scan.
    A search goes through the GIN index instead (see the end). `by_activity` sorts by the last
    activity instead (`owner_id` given: the owner's public activity), with its own indexes
    (migrations/004_conversation.sql).
    """
    sort_column = "created_at"
    if by_activity:
        sort_column = OWNER_ACTIVITY if owner_id is not None else STAFF_ACTIVITY
    conditions: list[str] = []
    args: list[Any] = []

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if owner_id is not None:
        conditions.append(f"user_id = {bind(owner_id)}")
    # The vocabulary filters are written into the SQL, not bound: their values come from a closed
    # list (checked again here), and a plan that knows the value is what keeps it on the right
    # index. With `status = $1`, the generic plan PostgreSQL switches to after five executions
    # of a prepared statement cannot tell a rare status from the common one, and was seen
    # walking the created_at index filtering for it. Everything a user types stays bound.
    if filters.status is not None:
        conditions.append(f"status = {_vocabulary(filters.status, STATUSES)}")
    if filters.priority is not None:
        conditions.append(f"priority = {_vocabulary(filters.priority, PRIORITIES)}")
    if filters.category is not None:
        conditions.append(f"category = {_vocabulary(filters.category, CATEGORIES)}")
    if filters.assigned_to is not None:
        conditions.append(f"assigned_to = {bind(filters.assigned_to)}")
    if filters.user_id is not None:
        conditions.append(f"user_id = {bind(filters.user_id)}")
    if filters.search is not None:
        conditions.append(_search_condition(filters.search, bind, owner_id=owner_id))
    if after is not None:
        conditions.append(f"({sort_column}, id) < ({bind(after.created_at)}, {bind(after.id)})")

    where = " AND ".join(conditions) if conditions else "TRUE"
    order = f"ORDER BY {sort_column} DESC, id DESC LIMIT {bind(limit)}"
    if filters.search is None:
        return f"SELECT {TICKET_COLUMNS} FROM tickets WHERE {where} {order}", args
    # A search is answered from the text index, then sorted. Without the fence (OFFSET 0 keeps
    # ORDER BY ... LIMIT out of the inner query) the planner may instead walk the whole
    # created_at index hoping to meet `limit` matches early: it cannot know how rare a prefix
    # (`printe:*`) or a generic plan's parameter is, and for a rare word that walk reads every
    # row. Through the index, a search costs what it matches, whatever the table size.
    return (
        f"SELECT {TICKET_COLUMNS} FROM (SELECT {TICKET_COLUMNS} FROM tickets WHERE {where} OFFSET 0) AS found {order}",
        args,
    )


def _vocabulary(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {allowed}")
    return f"'{value}'"


def _search_condition(search: TicketSearch, bind: Callable[[Any], str], *, owner_id: int | None) -> str:
    """The tickets whose text or whose comments match (or the ticket id), every value bound.

    websearch_to_tsquery never raises on user input (quotes, "or", "-word" all work), and
    to_tsquery only ever sees `<letters and digits>:*`. The prefix is taken both stemmed
    ('english': "printers" -> printer:*) and as typed ('simple': a stop word like "an" still
    begins "android"). The GIN index on `search` answers all of it, prefixes included; never
    LIKE '%...%'.

    Comments are matched through their own GIN index (staff: all; an owner: public ones, of
    their own tickets, so an owner's search costs what their tickets match, not what everyone's
    do; deleted ones never). The matches of both indexes (and
    the ticket number) are one UNION ALL of ids, collected into an array first (an InitPlan) and
    then fetched by primary key: an OR of the two conditions could use neither index, and a
    plain IN (subquery) lets the planner hash-join against a scan of the whole table when it
    guesses many matches.
    """
    parts: list[str] = []
    if search.websearch is not None:
        parts.append(f"websearch_to_tsquery('english', {bind(search.websearch)})")
    if search.prefix is not None:
        word = bind(search.prefix + ":*")
        parts.append(f"(to_tsquery('english', {word}) || to_tsquery('simple', {word}))")
    tsquery = f" {'||' if search.prefix_joins_with_or else '&&'} ".join(parts) if parts else "''::tsquery"
    if len(parts) > 1:
        tsquery = f"({tsquery})"
    if owner_id is None:
        matches = [
            f"SELECT t.id FROM tickets t WHERE t.search @@ {tsquery}",
            f"SELECT c.ticket_id FROM ticket_comments c WHERE c.search @@ {tsquery} AND c.deleted_at IS NULL",
        ]
    else:
        owner = bind(owner_id)
        matches = [
            f"SELECT t.id FROM tickets t WHERE t.user_id = {owner} AND t.search @@ {tsquery}",
            "SELECT c.ticket_id FROM ticket_comments c JOIN tickets t ON t.id = c.ticket_id"
            f" WHERE t.user_id = {owner} AND c.search @@ {tsquery} AND c.deleted_at IS NULL AND NOT c.internal",
        ]
    if search.ticket_id is not None:
        matches.append(f"SELECT {bind(search.ticket_id)}::integer")
    return f"id = ANY(ARRAY({' UNION ALL '.join(matches)}))"


class TicketsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create(
        self, *, user_id: int, title: str, description: str, category: str, priority: str
    ) -> asyncpg.Record:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            INSERT INTO tickets (user_id, title, description, category, priority)
            VALUES ($1, $2, $3, $4, $5)
            RETURNING {TICKET_COLUMNS}
            """,
            user_id,
            title,
            description,
            category,
            priority,
        )
        assert row is not None  # INSERT ... RETURNING always answers its one row
        return row

    async def get(self, *, ticket_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1", ticket_id
        )
        return row

    async def list_page(
        self,
        *,
        owner_id: int | None,
        filters: TicketFilters,
        after: PagePosition | None,
        limit: int,
        by_activity: bool = False,
    ) -> list[asyncpg.Record]:
        """Newest first (or latest activity first); `owner_id` None means every owner's tickets."""
        sql, args = list_query(owner_id=owner_id, filters=filters, after=after, limit=limit, by_activity=by_activity)
        rows: list[asyncpg.Record] = await self.conn.fetch(sql, *args)
        return rows

    async def update(
        self,
        *,
        ticket_id: int,
        owner_id: int | None,
        title: str | None = None,
        description: str | None = None,
        category: str | None = None,
        versions: list[int] | None = None,
    ) -> asyncpg.Record | None:
        """Edit the given fields (None keeps the stored value). With an `owner_id`, only that
        owner's ticket matches, so the visibility check and the write are one statement; with
        `versions` (If-Match), only while the ticket is one of them. None when no ticket matched."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            UPDATE tickets
               SET title = COALESCE($3, title),
                   description = COALESCE($4, description),
                   category = COALESCE($5, category),
                   updated_at = now()
             WHERE id = $1
               AND ($2::integer IS NULL OR user_id = $2)
               AND ($6::integer[] IS NULL OR version = ANY($6::integer[]))
            RETURNING {TICKET_COLUMNS}
            """,
            ticket_id,
            owner_id,
            title,
            description,
            category,
            versions,
        )
        return row


# --- the conversation -----------------------------------------------------------------------

# S2's outbox (migrations/004_conversation.sql), relayed to S6 by helpdesk_common.outbox.
OUTBOX_TABLE = "tickets_outbox"
OUTBOX_KEY_PREFIX = "s2-outbox"
COMMENT_COLUMNS = "id, ticket_id, author_id, author_role, body, internal, created_at, edited_at, deleted_at"


def contract_time(column: str) -> str:
    """A timestamptz as the contract writes it (`2026-11-24T10:30:00.000000+00:00`, as
    helpdesk_common.types.Timestamp does), in SQL; NULL stays NULL (JSON null)."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def comment_json() -> str:
    """A comment (schemas.CommentRead) as JSON built by PostgreSQL.

    The thread and the timeline are read in pages of up to hundreds of comments: validating
    and serializing each one in Python cost ~60 us a comment (30 ms for a 500-entry timeline),
    the JSON built here costs PostgreSQL a few microseconds. The tests compare these
    objects with the ones the write routes answer (built by pydantic)."""
    return (
        "json_build_object('id', id, 'ticket_id', ticket_id, 'author_id', author_id, 'author_role', author_role,"
        f" 'body', body, 'internal', internal, 'created_at', {contract_time('created_at')},"
        f" 'edited_at', {contract_time('edited_at')}, 'deleted_at', {contract_time('deleted_at')})"
    )


@dataclass(frozen=True, slots=True)
class ThreadPosition:
    """The last comment (or timeline entry) already seen: (time, kind rank, id); comments
    alone have rank 0."""

    at: datetime
    rank: int
    id: int


# Timeline entry kinds, in the order entries of the same instant are listed (a reply before the
# reopening it caused, both before a file attached in the same instant).
TIMELINE_RANKS = {"comment": 1, "change": 2, "attachment": 3}
# The other services' tables the timeline reads (S4's history, S5's files), read only, as S7
# reads them; a table not created yet (its service never started here) counts as empty.
HISTORY_TABLE = "ticket_history"
MEDIA_TABLE = "media_files"


def _after(at_column: str, rank: int, position: ThreadPosition | None, bind: Callable[[Any], str]) -> str:
    """`(at, rank, id) > position` for a branch whose rank is constant: one index range."""
    if position is None:
        return "TRUE"
    if rank > position.rank:
        return f"{at_column} >= {bind(position.at)}"
    if rank < position.rank:
        return f"{at_column} > {bind(position.at)}"
    return f"({at_column}, id) > ({bind(position.at)}, {bind(position.id)})"


def timeline_query(
    *,
    ticket_id: int,
    include_internal: bool,
    after: ThreadPosition | None,
    limit: int,
    with_history: bool,
    with_media: bool,
) -> tuple[str, list[Any]]:
    """Comments, workflow changes and attachments of one ticket, oldest first, one page.

    Each branch reads its own index in order and stops at `limit`; the merge sorts at most
    3 x limit rows."""
    args: list[Any] = [ticket_id, limit]

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    internal = "" if include_internal else " AND NOT internal"
    branches = [
        f"""(SELECT 'comment'::text AS kind, created_at AS at, id::bigint AS id, author_id AS actor_id,
                    author_role AS actor_role, body, internal, edited_at, deleted_at,
                    NULL::text AS field_name, NULL::text AS old_value, NULL::text AS new_value,
                    NULL::text AS original_filename, NULL::text AS mime_type, NULL::bigint AS file_size
               FROM ticket_comments
              WHERE ticket_id = $1{internal} AND {_after("created_at", TIMELINE_RANKS["comment"], after, bind)}
              ORDER BY created_at, id LIMIT $2)"""
    ]
    if with_history:
        branches.append(
            f"""(SELECT 'change', changed_at, id, changed_by, changed_by_role, NULL, NULL, NULL, NULL,
                        field_name, old_value, new_value, NULL, NULL, NULL
                   FROM {HISTORY_TABLE}
                  WHERE ticket_id = $1 AND {_after("changed_at", TIMELINE_RANKS["change"], after, bind)}
                  ORDER BY changed_at, id LIMIT $2)"""
        )
    if with_media:
        branches.append(
            f"""(SELECT 'attachment', uploaded_at, id, uploaded_by, NULL, NULL, NULL, NULL, NULL,
                        NULL, NULL, NULL, original_filename, mime_type, file_size
                   FROM {MEDIA_TABLE}
                  WHERE ticket_id = $1 AND {_after("uploaded_at", TIMELINE_RANKS["attachment"], after, bind)}
                  ORDER BY uploaded_at, id LIMIT $2)"""
        )
    rank = " ".join(f"WHEN '{kind}' THEN {value}" for kind, value in TIMELINE_RANKS.items())
    # Each entry as JSON (schemas.Timeline's entries), built here for the reason comment_json says.
    at = contract_time("at")
    entry = f"""CASE kind
        WHEN 'comment' THEN json_build_object('kind', kind, 'at', {at}, 'comment', {_timeline_comment()})
        WHEN 'change' THEN json_build_object('kind', kind, 'at', {at}, 'change', json_build_object(
            'id', id, 'changed_by', actor_id, 'changed_by_role', actor_role, 'field_name', field_name,
            'old_value', old_value, 'new_value', new_value))
        ELSE json_build_object('kind', kind, 'at', {at}, 'attachment', json_build_object(
            'id', id, 'uploaded_by', actor_id, 'original_filename', original_filename, 'mime_type', mime_type,
            'file_size', file_size))
        END::text AS json"""
    sql = (
        f"SELECT {entry}, kind, at, id, CASE kind {rank} END AS rank FROM ("
        + " UNION ALL ".join(branches)
        + ") AS entries ORDER BY at, rank, id LIMIT $2"
    )
    return sql, args


def _timeline_comment() -> str:
    """A timeline branch's comment columns (actor_* and at) as the comment's JSON."""
    return (
        "json_build_object('id', id, 'ticket_id', $1::integer, 'author_id', actor_id, 'author_role', actor_role,"
        f" 'body', body, 'internal', internal, 'created_at', {contract_time('at')},"
        f" 'edited_at', {contract_time('edited_at')}, 'deleted_at', {contract_time('deleted_at')})"
    )


class ConversationRepository:
    """The comments of tickets, the counters they keep on `tickets`, and their notifications."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_ticket(self, *, ticket_id: int) -> asyncpg.Record | None:
        """The ticket, locked until the transaction ends: a workflow change (S4 closing it,
        say) waits for the comment, so "closed is read-only" and the reopening hold. NO KEY:
        other comments' and history rows' foreign-key checks are not blocked."""
        # With the owner's and the assignee's email choice, which a reply's notices need: one
        # round trip fewer on the hot path of posting.
        row: asyncpg.Record | None = await self.conn.fetchrow(
            """
            SELECT t.id, t.user_id, t.title, t.status, t.assigned_to,
                   owner.email_replies IS NOT FALSE AS owner_emails,
                   assignee.email_replies IS NOT FALSE AS assignee_emails
              FROM tickets t
              LEFT JOIN ticket_notification_preferences owner ON owner.user_id = t.user_id
              LEFT JOIN ticket_notification_preferences assignee ON assignee.user_id = t.assigned_to
             WHERE t.id = $1
               FOR NO KEY UPDATE OF t
            """,
            ticket_id,
        )
        return row

    async def ticket_for_thread(self, *, ticket_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT id, user_id, status FROM tickets WHERE id = $1", ticket_id
        )
        return row

    async def add(
        self, *, ticket_id: int, author_id: int, author_role: str, body: str, internal: bool
    ) -> asyncpg.Record:
        """Insert the comment and count it on its ticket, in one statement."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            WITH comment AS (
                INSERT INTO ticket_comments (ticket_id, author_id, author_role, body, internal)
                VALUES ($1, $2, $3, $4, $5)
                RETURNING {COMMENT_COLUMNS}
            ), counted AS (
                UPDATE tickets t
                   SET comment_count = t.comment_count + 1,
                       public_comment_count = t.public_comment_count + (NOT comment.internal)::integer,
                       activity_at = greatest(t.activity_at, comment.created_at),
                       public_activity_at = CASE WHEN comment.internal THEN t.public_activity_at
                                                 ELSE greatest(t.public_activity_at, comment.created_at) END
                  FROM comment
                 WHERE t.id = comment.ticket_id
            )
            SELECT * FROM comment
            """,
            ticket_id,
            author_id,
            author_role,
            body,
            internal,
        )
        assert row is not None  # INSERT ... RETURNING always answers its one row
        return row

    async def reopen(self, *, ticket_id: int, changed_by: int, changed_by_role: str) -> bool:
        """resolved -> in_progress, with S4's history row, as S4 records a status change."""
        reopened = await self.conn.fetchval(
            f"""
            WITH moved AS (
                UPDATE tickets SET status = 'in_progress', updated_at = now()
                 WHERE id = $1 AND status = 'resolved'
                RETURNING id
            )
            INSERT INTO {HISTORY_TABLE} (ticket_id, changed_by, changed_by_role, field_name, old_value, new_value)
            SELECT id, $2, $3, 'status', 'resolved', 'in_progress' FROM moved
            RETURNING true
            """,
            ticket_id,
            changed_by,
            changed_by_role,
        )
        return bool(reopened)

    async def get_for_change(self, *, ticket_id: int, comment_id: int, window_seconds: float) -> asyncpg.Record | None:
        """The comment, locked, and whether it is still inside its edit window (by the
        database's clock, the one that stamped it)."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            SELECT {COMMENT_COLUMNS}, created_at > now() - make_interval(secs => $3) AS in_window
              FROM ticket_comments WHERE id = $2 AND ticket_id = $1
               FOR UPDATE
            """,
            ticket_id,
            comment_id,
            window_seconds,
        )
        return row

    async def edit(self, *, comment_id: int, body: str) -> asyncpg.Record:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"UPDATE ticket_comments SET body = $2, edited_at = now() WHERE id = $1 RETURNING {COMMENT_COLUMNS}",
            comment_id,
            body,
        )
        assert row is not None  # the caller holds the row's lock
        return row

    async def delete(self, *, comment_id: int) -> asyncpg.Record:
        """Empty the body, stamp deleted_at and stop counting it (the row stays in the thread)."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"""
            WITH comment AS (
                UPDATE ticket_comments SET body = '', deleted_at = now()
                 WHERE id = $1 AND deleted_at IS NULL
                RETURNING {COMMENT_COLUMNS}
            ), uncounted AS (
                UPDATE tickets t
                   SET comment_count = t.comment_count - 1,
                       public_comment_count = t.public_comment_count - (NOT comment.internal)::integer
                  FROM comment
                 WHERE t.id = comment.ticket_id
            )
            SELECT * FROM comment
            """,
            comment_id,
        )
        assert row is not None  # the caller holds the row's lock and saw it not deleted
        return row

    async def page(
        self, *, ticket_id: int, include_internal: bool, after: ThreadPosition | None, limit: int
    ) -> list[asyncpg.Record]:
        """Oldest first, on ticket_comments_thread_idx: each row's `json` (the comment), and its
        `created_at` and `id` (the cursor)."""
        internal = "" if include_internal else " AND NOT internal"
        columns = f"{comment_json()}::text AS json, created_at, id"
        if after is None:
            rows: list[asyncpg.Record] = await self.conn.fetch(
                f"SELECT {columns} FROM ticket_comments WHERE ticket_id = $1{internal}"
                " ORDER BY created_at, id LIMIT $2",
                ticket_id,
                limit,
            )
            return rows
        rows = await self.conn.fetch(
            f"SELECT {columns} FROM ticket_comments WHERE ticket_id = $1{internal}"
            " AND (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT $2",
            ticket_id,
            limit,
            after.at,
            after.id,
        )
        return rows

    async def peer_tables(self) -> tuple[bool, bool]:
        """Whether S4's history and S5's files exist in this database yet."""
        row = await self.conn.fetchrow(
            "SELECT to_regclass($1) IS NOT NULL AS history, to_regclass($2) IS NOT NULL AS media",
            HISTORY_TABLE,
            MEDIA_TABLE,
        )
        assert row is not None
        return bool(row["history"]), bool(row["media"])

    async def timeline(
        self,
        *,
        ticket_id: int,
        include_internal: bool,
        after: ThreadPosition | None,
        limit: int,
        with_history: bool,
        with_media: bool,
    ) -> list[asyncpg.Record]:
        sql, args = timeline_query(
            ticket_id=ticket_id,
            include_internal=include_internal,
            after=after,
            limit=limit,
            with_history=with_history,
            with_media=with_media,
        )
        rows: list[asyncpg.Record] = await self.conn.fetch(sql, *args)
        return rows

    async def email_opt_outs(self, user_ids: list[int]) -> set[int]:
        """Which of these users asked for no reply emails (no row: they get them)."""
        rows = await self.conn.fetch(
            "SELECT user_id FROM ticket_notification_preferences WHERE user_id = ANY($1::integer[])"
            " AND NOT email_replies",
            user_ids,
        )
        return {row["user_id"] for row in rows}

    async def email_replies(self, *, user_id: int) -> bool:
        value = await self.conn.fetchval(
            "SELECT email_replies FROM ticket_notification_preferences WHERE user_id = $1", user_id
        )
        return True if value is None else bool(value)

    async def set_email_replies(self, *, user_id: int, email_replies: bool) -> None:
        await self.conn.execute(
            """
            INSERT INTO ticket_notification_preferences (user_id, email_replies) VALUES ($1, $2)
            ON CONFLICT (user_id) DO UPDATE SET email_replies = EXCLUDED.email_replies, updated_at = now()
            """,
            user_id,
            email_replies,
        )

    async def enqueue(self, messages: list[OutboxMessage]) -> None:
        """Write the notifications into S2's outbox, in the caller's transaction (the shared
        relay hands them to S6 once it commits)."""
        await enqueue(self.conn, OUTBOX_TABLE, messages)
