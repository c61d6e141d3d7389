"""Twenty changes of one ticket at the same moment (status, assignment, priority, from staff and
admins): the history is one unbroken chain per field that ends in the final row, every status
step in it is one the rules allow, and each committed change wrote its notifications."""

from __future__ import annotations

import asyncio
import random
from itertools import groupby
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.vocabulary import PRIORITIES, STATUSES
from helpdesk_fleet.pytest_plugin import SignedIn, signed_in

from .conftest import CreateTicket, history_rows, outbox_rows, ticket_row
from .peers import AuthPeer
from .test_status import ALLOWED_ASSIGNED, ALLOWED_UNASSIGNED


async def test_twenty_concurrent_changes_leave_a_consistent_history(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_ticket: CreateTicket,
    auth_peer: AuthPeer,
    owner: SignedIn,
) -> None:
    ticket = await create_ticket(owner, priority="medium")
    assignees = [signed_in("staff"), signed_in("admin")]
    for person in assignees:
        auth_peer.add(person.id, person.role)
    rng = random.Random(7)  # noqa: S311 - a repeatable mix, not secrets
    requests: list[tuple[str, dict[str, Any], SignedIn]] = []
    for i in range(20):
        actor = assignees[i % 2]
        kind = i % 3
        if kind == 0:
            requests.append((f"/status/{ticket['id']}", {"status": rng.choice(STATUSES)}, actor))
        elif kind == 1:
            target = rng.choice([*assignees, None])
            requests.append((f"/assign/{ticket['id']}", {"assigned_to": target and target.id}, actor))
        else:
            requests.append((f"/priority/{ticket['id']}", {"priority": rng.choice(PRIORITIES)}, actor))

    responses = await asyncio.gather(
        *(client.patch(path, json=body, headers=actor.headers) for path, body, actor in requests)
    )

    assert {r.status_code for r in responses} <= {200, 400}, [r.text for r in responses if r.status_code >= 500]
    assert any(r.status_code == 200 for r in responses)
    final = await ticket_row(db, ticket["id"])
    history = await history_rows(db, ticket["id"])

    # One unbroken chain per field, from the ticket as created to the final row.
    state: dict[str, str | None] = {"status": "new", "priority": "medium", "assigned_to": None}
    changes = [list(group) for _, group in groupby(history, key=lambda h: h["changed_at"])]
    assert [h["id"] for h in history] == sorted(h["id"] for h in history)
    assert [c[0]["changed_at"] for c in changes] == sorted(c[0]["changed_at"] for c in changes)
    expected_notifications = 0
    for change in changes:
        assigned_before = state["assigned_to"]
        for row in change:
            assert row["old_value"] == state[row["field_name"]], (row, state)
            state[row["field_name"]] = row["new_value"]
        fields = {row["field_name"]: row for row in change}
        if "assigned_to" in fields:
            if fields["assigned_to"]["new_value"] is not None:
                expected_notifications += 4  # owner and assignee, email and in-app
        elif "status" in fields:
            step = fields["status"]
            table = ALLOWED_UNASSIGNED if assigned_before is None else ALLOWED_ASSIGNED
            assert step["new_value"] in table[step["old_value"]], step
            expected_notifications += 2
    assert state == {
        "status": final["status"],
        "priority": final["priority"],
        "assigned_to": None if final["assigned_to"] is None else str(final["assigned_to"]),
    }
    # Every answer agrees with some committed state; the last change's instant is the row's.
    assert changes and changes[-1][0]["changed_at"] == final["updated_at"]
    assert len(await outbox_rows(db, ticket["id"])) == expected_notifications
    # And 200s wrote exactly one history group each (no-ops excepted, which answer the ticket as it was).
    changed = sum(1 for r in responses if r.status_code == 200)
    assert len(changes) <= changed


async def test_a_change_judged_on_a_stale_read_writes_nothing(
    db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn, staff: SignedIn
) -> None:
    from s4_workflow.repository import WorkflowRepository
    from s4_workflow.service import plan_status

    ticket = await create_ticket(owner)
    repo = WorkflowRepository(db)
    read = await repo.get_ticket(ticket_id=ticket["id"])
    assert read is not None
    change = plan_status(read, "resolved")
    # Someone else moves the ticket between the read and the write.
    await db.execute("UPDATE tickets SET status = 'in_progress' WHERE id = $1", ticket["id"])
    written = await repo.apply_change(read=read, changed_by=staff.id, changed_by_role="staff", change=change)
    assert written is None
    assert (await ticket_row(db, ticket["id"]))["status"] == "in_progress"
    assert await history_rows(db, ticket["id"]) == []
    assert await outbox_rows(db, ticket["id"]) == []


async def test_a_ticket_that_keeps_changing_is_a_409_after_bounded_attempts(
    db: asyncpg.Connection, create_ticket: CreateTicket, owner: SignedIn
) -> None:
    from helpdesk_common.security import TokenUser
    from s4_workflow import service
    from s4_workflow.repository import WorkflowRepository

    ticket = await create_ticket(owner)

    class AlwaysBeaten(WorkflowRepository):
        attempts = 0

        async def apply_change(self, **_: Any) -> None:  # type: ignore[override]
            AlwaysBeaten.attempts += 1
            return None  # another change always committed first

    with pytest.raises(service.ChangeConflict, match="being changed by others"):
        await service.change_status(
            AlwaysBeaten(db), user=TokenUser(id=1, role="staff", email="s@x"), ticket_id=ticket["id"], status="resolved"
        )
    assert AlwaysBeaten.attempts == service.CHANGE_ATTEMPTS
