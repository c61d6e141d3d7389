"""The shared outbox: the table its docstring documents works with its SQL, messages go out only
when the change's transaction commits, claims are leases whose token stale marks cannot beat.
(The relay's delivery to a real S6 peer is tested in s4_workflow/tests/test_relay.py.)"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from helpdesk_common import outbox
from helpdesk_common.outbox import OutboxMessage, OutboxRelay, OutboxSettings, OutboxTable, enqueue
from helpdesk_fleet.pytest_plugin import base_settings


def documented_ddl(table: str) -> str:
    """The CREATE statements of the module's docstring, for `table`."""
    doc = outbox.__doc__ or ""
    start = doc.index("    CREATE TABLE x_outbox")
    end = doc.index("FOR EACH STATEMENT EXECUTE FUNCTION x_outbox_notify();") + len(
        "FOR EACH STATEMENT EXECUTE FUNCTION x_outbox_notify();"
    )
    return re.sub(r"\bx_outbox", table, doc[start:end])


@pytest.fixture
async def conn_and_table(database_dsn: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    table = f"t{uuid.uuid4().hex[:12]}_outbox"
    conn = await asyncpg.connect(database_dsn)
    await conn.execute(documented_ddl(table))
    yield conn, table
    await conn.execute(f"DROP TABLE {table}; DROP FUNCTION {table}_notify()")
    await conn.close()


MESSAGES = [
    OutboxMessage(recipient_id=7, type="ticket_created", channel="email", message="Hi", ticket_id=None),
    OutboxMessage(recipient_id=8, type="ticket_assigned", channel="in_app", message="Yours", recipient_email="a@b.c"),
]


async def test_messages_are_written_only_when_the_change_commits(
    conn_and_table: tuple[asyncpg.Connection, str],
) -> None:
    conn, table = conn_and_table
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await enqueue(conn, table, MESSAGES)
            raise RuntimeError("the change failed")
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    async with conn.transaction():
        await enqueue(conn, table, MESSAGES)
        await enqueue(conn, table, [])  # nothing to write: no statement, no wake-up
    rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY id")
    assert [(r["recipient_id"], r["ticket_id"], r["recipient_email"], r["status"]) for r in rows] == [
        (7, None, None, "pending"),
        (8, None, "a@b.c", "pending"),
    ]


async def test_a_claim_is_a_lease_and_a_stale_mark_changes_nothing(
    conn_and_table: tuple[asyncpg.Connection, str],
) -> None:
    conn, table = conn_and_table
    await enqueue(conn, table, MESSAGES)
    repo = OutboxTable(conn, table)
    first = await repo.claim_due(limit=10, claim_seconds=0.0)
    assert [row.attempt for row in first] == [1, 1]
    assert first[0].recipient_id == 7 and first[0].ticket_id is None
    # The lease ended at once (0 s): another relay claims the same rows, with a new token.
    second = await repo.claim_due(limit=1, claim_seconds=60.0)
    assert [(row.id, row.attempt) for row in second] == [(first[0].id, 2)]
    await repo.mark_delivered([(first[0].id, first[0].attempt, 99)])  # the first claim's token: stale
    assert (await repo.stats()).pending == 2
    await repo.mark_delivered([(second[0].id, second[0].attempt, 99)])
    await repo.mark_failed([(first[1].id, first[1].attempt, "refused")])
    stats = await repo.stats()
    assert (stats.pending, stats.failed) == (0, 1)
    assert await repo.claim_due(limit=10, claim_seconds=60.0) == []
    assert await repo.prune_delivered(older_than_seconds=0.0, limit=10) == 1


def test_only_outbox_table_names_reach_the_sql(database_dsn: str) -> None:
    settings = OutboxSettings(**base_settings(database_dsn))
    for bad in ["tickets", "x_outbox; DROP TABLE tickets", "X_outbox", "_outbox"]:
        with pytest.raises(ValueError, match="not an outbox table name"):
            OutboxRelay(settings, table=bad, key_prefix="x")
        with pytest.raises(ValueError, match="not an outbox table name"):
            OutboxTable(None, bad)  # type: ignore[arg-type]
    relay = OutboxRelay(settings, table="auth_outbox", key_prefix="s1-outbox")
    assert relay.idempotency_key(41) == "s1-outbox-41"
    assert [job.name for job in relay.jobs()] == ["outbox-listener", "outbox-relay"]
    assert (
        OutboxRelay(settings.model_copy(update={"outbox_relay": False}), table="auth_outbox", key_prefix="s").jobs()
        == []
    )
