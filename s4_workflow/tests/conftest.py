"""S4 test fixtures: S2's app (its migrations, and tickets made through its API) and S4's app
in-process against the worker's real PostgreSQL, S1 as a real HTTP peer (peers.AuthPeer), and
signed-in users with fresh random ids, so tests never see each other's rows.

The in-process S4 here runs no relay (OUTBOX_RELAY=false): its tests read the outbox rows a
change wrote. The relay has its own database and apps in test_relay.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_fleet.pytest_plugin import SignedIn, signed_in
from s2_tickets.main import build_app as build_tickets_app
from s2_tickets.settings import Settings as TicketsSettings
from s4_workflow.main import build_app
from s4_workflow.settings import Settings

from .peers import AuthPeer

TICKET_KEYS = {
    "id",
    "user_id",
    "title",
    "description",
    "category",
    "status",
    "priority",
    "assigned_to",
    "created_at",
    "updated_at",
}
CreateTicket = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(scope="session")
async def auth_peer() -> AsyncIterator[AuthPeer]:
    peer = AuthPeer()
    await peer.start()
    yield peer
    await peer.stop()


@pytest.fixture(scope="session")
async def tickets_client(make_app_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> httpx.AsyncClient:
    """S2 itself: it migrates `tickets` (which S4's migrations require) and creates tickets."""
    return await make_app_client(build_tickets_app, TicketsSettings)


@pytest.fixture(scope="session")
async def client(
    make_app_client: Callable[..., Awaitable[httpx.AsyncClient]], tickets_client: httpx.AsyncClient, auth_peer: AuthPeer
) -> httpx.AsyncClient:
    return await make_app_client(
        build_app,
        Settings,
        outbox_relay=False,
        service_urls={"s1-auth": auth_peer.url},
        service_call_retries=1,
        service_call_backoff=0.01,
    )


@pytest.fixture
def owner() -> SignedIn:
    return signed_in("user")


@pytest.fixture
def other_user() -> SignedIn:
    return signed_in("user")


@pytest.fixture
def staff() -> SignedIn:
    return signed_in("staff")


@pytest.fixture
def admin() -> SignedIn:
    return signed_in("admin")


@pytest.fixture
def assignee(auth_peer: AuthPeer) -> SignedIn:
    """A staff user S1 knows."""
    user = signed_in("staff")
    auth_peer.add(user.id, "staff")
    return user


@pytest.fixture
def create_ticket(tickets_client: httpx.AsyncClient) -> CreateTicket:
    """`await create_ticket(owner, title=..., ...)`: created through S2's API (201), returned."""

    async def create(caller: SignedIn, **fields: Any) -> dict[str, Any]:
        body = {"title": "Printer on fire", "description": "It smokes.", "category": "bug"} | fields
        response = await tickets_client.post("/", json=body, headers=caller.headers)
        assert response.status_code == 201, response.text
        ticket: dict[str, Any] = response.json()
        return ticket

    return create


async def set_columns(db: asyncpg.Connection, ticket_id: int, **columns: Any) -> None:
    """Put a ticket in a state for a test, straight in the table."""
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await db.execute(f"UPDATE tickets SET {assignments} WHERE id = $1", ticket_id, *columns.values())


async def history_rows(db: asyncpg.Connection, ticket_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM ticket_history WHERE ticket_id = $1 ORDER BY id", ticket_id)
    return [dict(r) for r in rows]


async def outbox_rows(db: asyncpg.Connection, ticket_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM workflow_outbox WHERE ticket_id = $1 ORDER BY id", ticket_id)
    return [dict(r) for r in rows]


async def ticket_row(db: asyncpg.Connection, ticket_id: int) -> dict[str, Any]:
    row = await db.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)
    assert row is not None
    return dict(row)
