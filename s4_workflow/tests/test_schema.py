"""S4's own tables and its answers in S2's shape."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from helpdesk_common.migrations import run_migrations
from s2_tickets.schemas import TicketRead as TicketsTicketRead
from s4_workflow.main import MIGRATIONS_DIR
from s4_workflow.schemas import TicketRead


def test_a_ticket_is_answered_in_s2s_shape() -> None:
    assert TicketRead.model_json_schema()["properties"] == TicketsTicketRead.model_json_schema()["properties"]


async def test_migrations_run_again_change_nothing(db: asyncpg.Connection) -> None:
    assert await run_migrations(db, owner="s4_workflow", directory=MIGRATIONS_DIR) == []


@pytest.mark.parametrize(("column", "value"), [("status", "sent"), ("type", "test_alert"), ("channel", "pigeon")])
async def test_the_outbox_refuses_what_the_relay_could_not_send(
    db: asyncpg.Connection, column: str, value: str
) -> None:
    ticket_id = await db.fetchval(
        "INSERT INTO tickets (user_id, title, description, category) VALUES (1, 't', 'd', 'bug') RETURNING id"
    )
    row_id = await db.fetchval(
        "INSERT INTO workflow_outbox (ticket_id, recipient_id, type, channel, message)"
        " VALUES ($1, 1, 'ticket_closed', 'email', 'm') RETURNING id",
        ticket_id,
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(f"UPDATE workflow_outbox SET {column} = $2 WHERE id = $1", row_id, value)


async def test_health_says_the_relay_is_off_here_and_ready_does_not_need_s6(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert health["service"] == "s4-workflow"
    assert health["outbox"] == {"relay": "off"}
    assert (await client.get("/ready")).status_code == 200
