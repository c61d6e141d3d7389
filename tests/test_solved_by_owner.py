"""Issue 11's "solved for me", through the gateway with the fleet as real processes: the owner
marks their own ticket resolved on PATCH /workflow/status/:id, the history they read shows
their own change, and the assignee's notification arrives in the assignee's S6 history."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until

pytestmark = pytest.mark.xdist_group("fleet")


def test_the_owner_resolves_their_ticket_and_the_assignee_is_told(fleet: Fleet, accounts: dict[str, Account]) -> None:
    owner, staff = accounts["user"], accounts["staff"]
    assignee = fleet.new_account("staff")
    mine = fleet.client(owner.token)
    created = mine.post("/tickets", json={"title": "VPN drops", "description": "Every hour.", "category": "support"})
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    assigned = fleet.client(staff.token).patch(f"/workflow/assign/{tid}", json={"assigned_to": assignee.id})
    assert assigned.status_code == 200, assigned.text

    # Another user cannot tell the ticket exists; the owner may not do anything else with it.
    other = fleet.client(accounts["other"].token).patch(f"/workflow/status/{tid}", json={"status": "resolved"})
    assert (other.status_code, other.json()) == (404, {"error": f"Ticket {tid} not found."})
    reopen = mine.patch(f"/workflow/status/{tid}", json={"status": "in_progress"})
    assert reopen.status_code == 403
    assert reopen.json()["error"].startswith("Only staff can")

    solved = mine.patch(f"/workflow/status/{tid}", json={"status": "resolved"})

    assert solved.status_code == 200, solved.text
    assert (solved.json()["status"], solved.json()["assigned_to"]) == ("resolved", assignee.id)
    assert mine.get(f"/tickets/{tid}").json()["status"] == "resolved"
    newest = mine.get(f"/workflow/history/{tid}").json()["history"][0]
    assert (newest["changed_by"], newest["changed_by_role"]) == (owner.id, "user")
    assert (newest["field_name"], newest["old_value"], newest["new_value"]) == ("status", "assigned", "resolved")
    again = mine.patch(f"/workflow/status/{tid}", json={"status": "resolved"})
    assert again.status_code == 400
    assert "already resolved" in again.json()["error"]

    told = fleet.client(assignee.token)
    message = f"Ticket #{tid} 'VPN drops' has been marked resolved by its owner."

    def assignee_notified() -> list[dict[str, Any]] | None:
        response = told.get(f"/notifications/history/{assignee.id}", params={"limit": 200})
        assert response.status_code == 200, response.text
        found = [n for n in response.json()["notifications"] if n["ticket_id"] == tid and n["message"] == message]
        return found if len(found) == 2 else None

    notices = poll_until(assignee_notified, timeout=20, what="the assignee's two notifications")
    assert {(n["type"], n["channel"]) for n in notices} == {
        ("ticket_status_changed", "email"),
        ("ticket_status_changed", "in_app"),
    }
