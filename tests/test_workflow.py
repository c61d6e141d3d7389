"""S4 workflow through the gateway, with the fleet as real processes (registry, S1, S2, S4,
gateway): the assignee checked with the real S1, the history the owner reads, the queue, and
the outbox that waits for S6 (not part of this fleet yet) without making anyone wait."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until

pytestmark = pytest.mark.xdist_group("fleet")


def _query(fleet: Fleet, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(fleet.db_url)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def _ticket(fleet: Fleet, owner: Account, **fields: Any) -> dict[str, Any]:
    body = {"title": "Printer on fire", "description": "It smokes.", "category": "bug"} | fields
    response = fleet.client(owner.token).post("/tickets", json=body)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def _outbox(fleet: Fleet, ticket_id: int) -> list[dict[str, Any]]:
    return _query(fleet, "SELECT * FROM workflow_outbox WHERE ticket_id = $1 ORDER BY id", ticket_id)


def test_a_ticket_worked_through_the_workflow_leaves_a_history_its_owner_reads(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    owner, staff = accounts["user"], accounts["staff"]
    ticket = _ticket(fleet, owner)
    desk = fleet.client(staff.token)
    tid = ticket["id"]

    assigned = desk.patch(f"/workflow/assign/{tid}", json={"assigned_to": staff.id})
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["status"], assigned.json()["assigned_to"]) == ("assigned", staff.id)
    for status in ("in_progress", "resolved", "closed"):
        moved = desk.patch(f"/workflow/status/{tid}", json={"status": status})
        assert moved.status_code == 200, moved.text
    final = desk.patch(f"/workflow/status/{tid}", json={"status": "in_progress"})
    assert final.status_code == 400
    assert "final" in final.json()["error"]

    # S2 answers the same ticket S4 changed.
    seen = fleet.client(owner.token).get(f"/tickets/{tid}").json()
    assert (seen["status"], seen["assigned_to"]) == ("closed", staff.id)
    history = fleet.client(owner.token).get(f"/workflow/history/{tid}")
    assert history.status_code == 200
    steps = [(h["field_name"], h["new_value"]) for h in history.json()["history"]]
    assert steps[:3] == [("status", "closed"), ("status", "resolved"), ("status", "in_progress")]
    assert set(steps[3:]) == {("status", "assigned"), ("assigned_to", str(staff.id))}
    assert fleet.client(accounts["other"].token).get(f"/workflow/history/{tid}").status_code == 404


def test_a_change_answers_at_once_and_its_notifications_wait_for_s6_in_the_outbox(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    """Without S6 in the fleet the rows stay pending and S4 stays ready; with S6 (once merged)
    they are delivered."""
    owner, staff = accounts["user"], accounts["staff"]
    ticket = _ticket(fleet, owner, title="Mail is down")
    response = fleet.client(staff.token).patch(f"/workflow/status/{ticket['id']}", json={"status": "resolved"})
    assert response.status_code == 200

    rows = _outbox(fleet, ticket["id"])
    assert [(r["recipient_id"], r["channel"]) for r in rows] == [(owner.id, "email"), (owner.id, "in_app")]
    assert rows[0]["message"] == f"Your ticket #{ticket['id']} 'Mail is down' is now resolved."
    workflow = fleet.processes["s4-workflow"]
    if "s6-notifications" in fleet.processes:
        poll_until(
            lambda: all(r["status"] == "delivered" for r in _outbox(fleet, ticket["id"])) or None,
            what="S6 to take both notifications",
        )
        return
    assert {r["status"] for r in rows} == {"pending"}

    def counted() -> dict[str, Any] | None:
        outbox: dict[str, Any] = fleet.client().get(f"{workflow.url}/health").json()["outbox"]
        return outbox if outbox["pending"] and outbox["notifications_service"] == "unreachable" else None

    outbox = poll_until(counted, what="S4's relay to count the pending rows and find S6 missing")
    assert outbox["pending"] >= 2
    assert fleet.client().get(f"{workflow.url}/ready").status_code == 200


def test_an_assignee_must_be_staff_as_s1_knows_them(fleet: Fleet, accounts: dict[str, Account]) -> None:
    ticket = _ticket(fleet, accounts["user"])
    desk = fleet.client(accounts["admin"].token)
    not_staff = desk.patch(f"/workflow/assign/{ticket['id']}", json={"assigned_to": accounts["other"].id})
    assert not_staff.status_code == 400
    assert "is not staff" in not_staff.json()["error"]
    unknown = desk.patch(f"/workflow/assign/{ticket['id']}", json={"assigned_to": 2_000_000_000})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "User 2000000000 does not exist."
    to_admin = desk.patch(f"/workflow/assign/{ticket['id']}", json={"assigned_to": accounts["admin"].id})
    assert to_admin.status_code == 200
    rows = _outbox(fleet, ticket["id"])
    assert {(r["recipient_id"], r["recipient_email"]) for r in rows} == {
        (accounts["user"].id, None),
        (accounts["admin"].id, accounts["admin"].email),
    }


def test_with_s1_down_an_assignment_is_a_503_and_changes_nothing(fleet: Fleet, accounts: dict[str, Account]) -> None:
    ticket = _ticket(fleet, accounts["user"])
    desk = fleet.client(accounts["staff"].token)
    auth = fleet.processes["s1-auth"]
    auth.kill()
    try:
        response = desk.patch(f"/workflow/assign/{ticket['id']}", json={"assigned_to": accounts["staff"].id})
        assert response.status_code == 503
        assert "nothing was changed" in response.json()["error"]
        assert desk.get(f"/tickets/{ticket['id']}").json()["assigned_to"] is None
        assert _query(fleet, "SELECT id FROM ticket_history WHERE ticket_id = $1", ticket["id"]) == []
        assert _outbox(fleet, ticket["id"]) == []
    finally:
        auth.start()
        auth.wait_ready(timeout=30)

    def assigned() -> bool | None:
        again = desk.patch(f"/workflow/assign/{ticket['id']}", json={"assigned_to": accounts["staff"].id})
        return True if again.status_code == 200 else None

    poll_until(assigned, timeout=20, what="the assignment to go through with S1 back")
    poll_until(lambda: fleet.client(accounts["user"].token).get("/auth/me").status_code == 200 or None,
               timeout=20, what="the gateway to route to S1 again")  # fmt: skip


def test_the_queue_shows_open_tickets_urgent_first(fleet: Fleet, accounts: dict[str, Account]) -> None:
    owner, staff = accounts["user"], accounts["staff"]
    low = _ticket(fleet, owner, priority="low")
    urgent = _ticket(fleet, owner, priority="urgent")
    done = _ticket(fleet, owner, priority="urgent")
    assert (
        fleet.client(staff.token).patch(f"/workflow/status/{done['id']}", json={"status": "resolved"}).status_code
        == 200
    )
    ids: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = fleet.client(staff.token).get("/workflow/queue", params=params)
        assert page.status_code == 200
        ids += [t["id"] for t in page.json()["queue"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert ids.index(urgent["id"]) < ids.index(low["id"])
    assert done["id"] not in ids
