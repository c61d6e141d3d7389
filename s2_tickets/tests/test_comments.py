"""The ticket conversation: replies and internal notes, their windows, closed and resolved
tickets, the counters on the ticket, the thread's pages, and what the owner never sees."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from s2_tickets.schemas import CommentList, Timeline

from .conftest import Caller, FakeAuth, new_caller

CreateTicket = Callable[..., Awaitable[dict[str, Any]]]
COMMENT_KEYS = {
    "id",
    "ticket_id",
    "author_id",
    "author_role",
    "body",
    "internal",
    "created_at",
    "edited_at",
    "deleted_at",
}


@pytest.fixture
async def ticket(user: Caller, create_ticket: CreateTicket) -> dict[str, Any]:
    return await create_ticket(user)


async def post(
    client: httpx.AsyncClient, ticket_id: int, caller: Caller, body: str = "Hello", **extra: Any
) -> httpx.Response:
    return await client.post(f"/{ticket_id}/comments", json={"body": body} | extra, headers=caller.headers)


async def posted(client: httpx.AsyncClient, ticket_id: int, caller: Caller, body: str = "Hello", **extra: Any) -> Any:
    response = await post(client, ticket_id, caller, body, **extra)
    assert response.status_code == 201, response.text
    return response.json()


async def thread(client: httpx.AsyncClient, ticket_id: int, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    """Every comment `caller` sees, following next_cursor to the end."""
    comments: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"/{ticket_id}/comments", params=query, headers=caller.headers)
        assert response.status_code == 200, response.text
        CommentList.model_validate(response.json())
        comments += response.json()["comments"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return comments
    raise AssertionError("pagination does not end")


async def get_ticket(client: httpx.AsyncClient, ticket_id: int, caller: Caller) -> Any:
    response = await client.get(f"/{ticket_id}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def set_status(db: asyncpg.Connection, ticket_id: int, status: str, assigned_to: int | None = None) -> None:
    """What S4 does (status, assignment), straight in the table."""
    await db.execute(
        "UPDATE tickets SET status = $2, assigned_to = $3, updated_at = now() WHERE id = $1",
        ticket_id,
        status,
        assigned_to,
    )


async def outbox(db: asyncpg.Connection, ticket_id: int) -> list[tuple[int, str, str]]:
    rows = await db.fetch(
        "SELECT recipient_id, type, channel, message FROM tickets_outbox WHERE ticket_id = $1 ORDER BY id", ticket_id
    )
    return [(r["recipient_id"], r["type"], r["channel"]) for r in rows]


async def age_comment(db: asyncpg.Connection, comment_id: int, minutes: float) -> None:
    await db.execute(
        "UPDATE ticket_comments SET created_at = now() - make_interval(secs => $2) WHERE id = $1",
        comment_id,
        minutes * 60,
    )


# --- posting and reading ------------------------------------------------------------------


async def test_owner_and_staff_talk_in_one_thread_oldest_first(
    client: httpx.AsyncClient, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    question = await posted(client, ticket["id"], user, "  It still smokes.\n\nHelp?  ")
    answer = await posted(client, ticket["id"], staff, "Unplug it.")

    assert set(question) == COMMENT_KEYS
    assert question["body"] == "It still smokes.\n\nHelp?"  # trimmed, lines kept
    assert (question["author_id"], question["author_role"], question["internal"]) == (user.id, "user", False)
    assert (answer["author_role"], answer["edited_at"], answer["deleted_at"]) == ("staff", None, None)
    for caller in (user, staff):
        assert [c["id"] for c in await thread(client, ticket["id"], caller)] == [question["id"], answer["id"]]


async def test_internal_notes_are_staff_only_and_invisible_to_the_owner(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    user: Caller,
    staff: Caller,
    admin: Caller,
    ticket: dict[str, Any],
) -> None:
    public = await posted(client, ticket["id"], staff, "We are on it.")
    note = await posted(client, ticket["id"], staff, "Customer seems upset; ping facilities.", internal=True)

    assert note["internal"] is True
    assert [c["id"] for c in await thread(client, ticket["id"], user)] == [public["id"]]
    assert [c["id"] for c in await thread(client, ticket["id"], admin)] == [public["id"], note["id"]]
    # Counts and activity: the owner's view knows nothing of the note.
    owner_view, staff_view = await get_ticket(client, ticket["id"], user), await get_ticket(client, ticket["id"], staff)
    assert (owner_view["comment_count"], staff_view["comment_count"]) == (1, 2)
    assert owner_view["last_activity_at"] == public["created_at"]
    assert staff_view["last_activity_at"] == note["created_at"]
    # The owner cannot edit or delete it either: for them it does not exist.
    for method in ("PATCH", "DELETE"):
        response = await client.request(
            method, f"/{ticket['id']}/comments/{note['id']}", json={"body": "x"}, headers=user.headers
        )
        assert response.status_code == 404, response.text


async def test_a_user_sending_internal_true_is_403_and_nothing_is_written(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, ticket: dict[str, Any]
) -> None:
    response = await post(client, ticket["id"], user, "secret", internal=True)

    assert response.status_code == 403
    assert response.json() == {"error": "Only staff can write internal notes."}
    assert await db.fetchval("SELECT count(*) FROM ticket_comments WHERE ticket_id = $1", ticket["id"]) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"body": ""},
        {"body": "   "},
        {"body": "x" * 20_001},
        {"body": 5},
        {"body": None},
        {"body": ["hi"]},
        {"body": "hi", "internal": "true"},
        {"body": "hi", "internal": 1},
        {"body": "a\x00b"},
        {"body": "a\x07b"},
        {"body": "hi", "internl": True},
        {},
        [],
        "hi",
    ],
    ids=[
        "empty",
        "blank",
        "20001",
        "number",
        "null",
        "list",
        "internal-string",
        "internal-int",
        "nul",
        "control",
        "unknown-key",
        "no-body",
        "array",
        "string",
    ],
)
async def test_bad_bodies_are_400_with_details_and_write_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, staff: Caller, ticket: dict[str, Any], body: Any
) -> None:
    response = await client.post(f"/{ticket['id']}/comments", json=body, headers=staff.headers)

    assert response.status_code == 400, response.text
    assert response.json()["details"]
    assert await db.fetchval("SELECT count(*) FROM ticket_comments WHERE ticket_id = $1", ticket["id"]) == 0
    assert await outbox(db, ticket["id"]) == []


async def test_malformed_json_is_400_and_not_json_is_415(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, ticket: dict[str, Any]
) -> None:
    headers = user.headers | {"Content-Type": "application/json"}
    malformed = await client.post(f"/{ticket['id']}/comments", content=b'{"body": "hi"', headers=headers)
    text = await client.post(
        f"/{ticket['id']}/comments", content=b"body=hi", headers=user.headers | {"Content-Type": "text/plain"}
    )

    assert malformed.status_code == 400
    assert text.status_code == 415
    assert await db.fetchval("SELECT count(*) FROM ticket_comments WHERE ticket_id = $1", ticket["id"]) == 0


async def test_a_body_of_20000_characters_is_accepted(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]
) -> None:
    comment = await posted(client, ticket["id"], user, "y" * 20_000)
    assert len(comment["body"]) == 20_000


async def test_120_comments_page_without_duplicates_or_gaps(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    # Many in the same instant (one statement): the id breaks the tie.
    await db.execute(
        """
        INSERT INTO ticket_comments (ticket_id, author_id, author_role, body, internal, created_at)
        SELECT $1, $2, 'user', 'Reply ' || n, false, now() - interval '1 hour' + (n / 7) * interval '1 second'
          FROM generate_series(1, 110) AS n
        """,
        ticket["id"],
        user.id,
    )
    notes = [(await posted(client, ticket["id"], staff, f"Note {n}", internal=True))["id"] for n in range(10)]

    owner_pages = await thread(client, ticket["id"], user, limit=7)
    staff_pages = await thread(client, ticket["id"], staff, limit=13)

    expected = [
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM ticket_comments WHERE ticket_id = $1 ORDER BY created_at, id", ticket["id"]
        )
    ]
    assert len(expected) == 120
    assert [c["id"] for c in staff_pages] == expected
    assert [c["id"] for c in owner_pages] == [i for i in expected if i not in notes]
    assert len({c["id"] for c in owner_pages}) == 110


async def test_comments_on_a_ticket_the_caller_cannot_see_are_404(
    client: httpx.AsyncClient, other_user: Caller, ticket: dict[str, Any]
) -> None:
    for response in (
        await post(client, ticket["id"], other_user),
        await client.get(f"/{ticket['id']}/comments", headers=other_user.headers),
        await client.get(f"/{ticket['id']}/timeline", headers=other_user.headers),
        await post(client, 2_000_000_000, other_user),
    ):
        assert response.status_code == 404, response.text


@pytest.mark.parametrize("cursor", ["nope", "W10", "WyJhIiwxLDJd", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiw5LDFd"])
async def test_a_bad_cursor_is_400(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any], cursor: str
) -> None:
    for route in ("comments", "timeline"):
        response = await client.get(f"/{ticket['id']}/{route}", params={"cursor": cursor}, headers=user.headers)
        assert response.status_code == 400, (route, response.text)


# --- edits and deletions ------------------------------------------------------------------


async def test_the_author_edits_within_15_minutes_and_edited_at_is_set(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, ticket: dict[str, Any]
) -> None:
    comment = await posted(client, ticket["id"], user, "Typo hre")
    await age_comment(db, comment["id"], 14)

    response = await client.patch(
        f"/{ticket['id']}/comments/{comment['id']}", json={"body": "Typo here"}, headers=user.headers
    )

    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["body"] == "Typo here"
    assert edited["edited_at"] is not None
    assert (await thread(client, ticket["id"], user))[0]["body"] == "Typo here"


async def test_edits_after_the_window_or_by_someone_else_are_403(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    user: Caller,
    staff: Caller,
    admin: Caller,
    ticket: dict[str, Any],
) -> None:
    mine = await posted(client, ticket["id"], user, "Mine")
    theirs = await posted(client, ticket["id"], staff, "Staff's")
    await age_comment(db, mine["id"], 16)

    late = await client.patch(f"/{ticket['id']}/comments/{mine['id']}", json={"body": "x"}, headers=user.headers)
    by_admin = await client.patch(f"/{ticket['id']}/comments/{theirs['id']}", json={"body": "x"}, headers=admin.headers)
    by_owner = await client.patch(f"/{ticket['id']}/comments/{theirs['id']}", json={"body": "x"}, headers=user.headers)

    assert late.status_code == 403
    assert "15 minutes" in late.json()["error"]
    assert by_admin.status_code == by_owner.status_code == 403
    bodies = [c["body"] for c in await thread(client, ticket["id"], staff)]
    assert bodies == ["Mine", "Staff's"]


@pytest.mark.parametrize("body", [{"body": ""}, {"body": "x" * 20_001}, {"body": 3}, {"internal": True}, {}])
async def test_a_bad_edit_is_400_and_changes_nothing(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any], body: dict[str, Any]
) -> None:
    comment = await posted(client, ticket["id"], user, "Original")
    response = await client.patch(f"/{ticket['id']}/comments/{comment['id']}", json=body, headers=user.headers)
    assert response.status_code == 400
    assert (await thread(client, ticket["id"], user))[0] == comment


async def test_delete_keeps_the_thread_s_shape_and_the_count_drops(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    first = await posted(client, ticket["id"], user, "Oops, my password is hunter2")
    second = await posted(client, ticket["id"], staff, "Removed it for you? No, you can.")

    response = await client.delete(f"/{ticket['id']}/comments/{first['id']}", headers=user.headers)

    assert response.status_code == 200, response.text
    deleted = response.json()
    assert deleted["body"] == ""
    assert deleted["deleted_at"] is not None
    comments = await thread(client, ticket["id"], user)
    assert [c["id"] for c in comments] == [first["id"], second["id"]]
    assert comments[0]["body"] == ""
    assert (await get_ticket(client, ticket["id"], user))["comment_count"] == 1
    assert await db.fetchval("SELECT body FROM ticket_comments WHERE id = $1", first["id"]) == ""
    # Deleted is deleted: no second deletion, no edit, no search hit.
    again = await client.delete(f"/{ticket['id']}/comments/{first['id']}", headers=user.headers)
    edit = await client.patch(f"/{ticket['id']}/comments/{first['id']}", json={"body": "x"}, headers=user.headers)
    assert again.status_code == edit.status_code == 409
    found = await client.get("/", params={"q": "hunter2"}, headers=user.headers)
    assert found.json()["tickets"] == []


async def test_only_the_author_in_time_or_an_admin_deletes(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    user: Caller,
    staff: Caller,
    admin: Caller,
    ticket: dict[str, Any],
) -> None:
    staff_reply = await posted(client, ticket["id"], staff, "Staff reply")
    old = await posted(client, ticket["id"], user, "Old")
    await age_comment(db, old["id"], 20)
    other_staff = new_caller("staff")

    assert (
        await client.delete(f"/{ticket['id']}/comments/{staff_reply['id']}", headers=user.headers)
    ).status_code == 403
    assert (
        await client.delete(f"/{ticket['id']}/comments/{staff_reply['id']}", headers=other_staff.headers)
    ).status_code == 403
    assert (await client.delete(f"/{ticket['id']}/comments/{old['id']}", headers=user.headers)).status_code == 403
    # An admin moderates at any time, closed tickets included.
    await set_status(db, ticket["id"], "closed")
    for comment in (staff_reply, old):
        response = await client.delete(f"/{ticket['id']}/comments/{comment['id']}", headers=admin.headers)
        assert response.status_code == 200, response.text
    assert (await get_ticket(client, ticket["id"], staff))["comment_count"] == 0


async def test_a_comment_of_another_ticket_is_404(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any], create_ticket: CreateTicket
) -> None:
    elsewhere = await create_ticket(user)
    comment = await posted(client, elsewhere["id"], user)
    response = await client.patch(f"/{ticket['id']}/comments/{comment['id']}", json={"body": "x"}, headers=user.headers)
    assert response.status_code == 404


# --- closed and resolved ------------------------------------------------------------------


async def test_a_closed_ticket_is_read_only(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    comment = await posted(client, ticket["id"], user, "Before closing")
    await set_status(db, ticket["id"], "closed")

    for caller in (user, staff):
        response = await post(client, ticket["id"], caller, "After")
        assert response.status_code == 409
        assert response.json() == {"error": "Closed tickets are read-only."}
    edit = await client.patch(f"/{ticket['id']}/comments/{comment['id']}", json={"body": "x"}, headers=user.headers)
    delete = await client.delete(f"/{ticket['id']}/comments/{comment['id']}", headers=user.headers)
    assert edit.status_code == delete.status_code == 409
    assert len(await thread(client, ticket["id"], user)) == 1  # still readable


async def test_the_owner_s_reply_reopens_a_resolved_ticket_with_a_history_row(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    await set_status(db, ticket["id"], "resolved", assigned_to=staff.id)
    before = await get_ticket(client, ticket["id"], user)

    await posted(client, ticket["id"], user, "No, it is not fixed.")

    after = await get_ticket(client, ticket["id"], user)
    assert after["status"] == "in_progress"
    assert after["updated_at"] > before["updated_at"]
    history = await db.fetch(
        "SELECT changed_by, changed_by_role, field_name, old_value, new_value FROM ticket_history WHERE ticket_id = $1",
        ticket["id"],
    )
    assert [tuple(r) for r in history] == [(user.id, "user", "status", "resolved", "in_progress")]
    # The assignee hears of the reply and of the reopening (in-app and email each).
    assert await outbox(db, ticket["id"]) == [
        (staff.id, "ticket_reply", "in_app"),
        (staff.id, "ticket_reply", "email"),
        (staff.id, "ticket_status_changed", "in_app"),
        (staff.id, "ticket_status_changed", "email"),
    ]


async def test_staff_replies_and_notes_do_not_reopen(
    client: httpx.AsyncClient, db: asyncpg.Connection, staff: Caller, ticket: dict[str, Any]
) -> None:
    await set_status(db, ticket["id"], "resolved")
    await posted(client, ticket["id"], staff, "Glad it works.")
    await posted(client, ticket["id"], staff, "Closing soon.", internal=True)
    assert (await get_ticket(client, ticket["id"], staff))["status"] == "resolved"
    assert await db.fetchval("SELECT count(*) FROM ticket_history WHERE ticket_id = $1", ticket["id"]) == 0


async def test_a_comment_does_not_move_the_ticket_s_version(
    client: httpx.AsyncClient, user: Caller, ticket: dict[str, Any]
) -> None:
    response = await client.get(f"/{ticket['id']}", headers=user.headers)
    await posted(client, ticket["id"], user, "More details.")
    edit = await client.patch(
        f"/{ticket['id']}", json={"title": "Still fine"}, headers=user.headers | {"If-Match": response.headers["ETag"]}
    )
    assert edit.status_code == 200, edit.text


# --- notifications ------------------------------------------------------------------------


async def test_who_is_notified_of_what(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    await set_status(db, ticket["id"], "assigned", assigned_to=staff.id)
    other_staff = new_caller("staff")

    await posted(client, ticket["id"], other_staff, "Public answer")  # the owner, with the text
    await posted(client, ticket["id"], other_staff, "A note", internal=True)  # the assignee only
    await posted(client, ticket["id"], user, "Thanks!")  # the assignee
    await posted(client, ticket["id"], staff, "My own note", internal=True)  # nobody: the author is the assignee

    assert await outbox(db, ticket["id"]) == [
        (user.id, "ticket_reply", "in_app"),
        (user.id, "ticket_reply", "email"),
        (staff.id, "ticket_internal_note", "in_app"),
        (staff.id, "ticket_internal_note", "email"),
        (staff.id, "ticket_reply", "in_app"),
        (staff.id, "ticket_reply", "email"),
    ]
    message = await db.fetchval(
        "SELECT message FROM tickets_outbox WHERE ticket_id = $1 AND recipient_id = $2 LIMIT 1", ticket["id"], user.id
    )
    assert "Public answer" in message and f"#{ticket['id']}" in message


async def test_a_reply_on_an_unassigned_ticket_notifies_every_active_staff_member(
    client: httpx.AsyncClient, db: asyncpg.Connection, fake_auth: FakeAuth, user: Caller, ticket: dict[str, Any]
) -> None:
    staff_ids = [new_caller("staff").id for _ in range(2)]
    admin_id = new_caller("admin").id
    for staff_id in staff_ids:
        fake_auth.add(staff_id, name=None, role="staff")
    fake_auth.add(admin_id, name=None, role="admin")
    try:
        await posted(client, ticket["id"], user, "Anyone there?")
        recipients = {r for r, _, _ in await outbox(db, ticket["id"])}
        assert {*staff_ids, admin_id} <= recipients
        assert user.id not in recipients
    finally:
        for staff_id in (*staff_ids, admin_id):
            fake_auth.users.pop(staff_id)


async def test_email_per_a_per_user_setting_default_on(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    await set_status(db, ticket["id"], "assigned", assigned_to=staff.id)
    assert (await client.get("/preferences", headers=staff.headers)).json() == {"email_replies": True}
    put = await client.put("/preferences", json={"email_replies": False}, headers=staff.headers)
    assert put.status_code == 200 and put.json() == {"email_replies": False}
    assert (await client.put("/preferences", json={"email_replies": "no"}, headers=staff.headers)).status_code == 400
    assert (await client.get("/preferences")).status_code == 401

    await posted(client, ticket["id"], user, "Hello?")

    assert await outbox(db, ticket["id"]) == [(staff.id, "ticket_reply", "in_app")]


async def test_a_long_reply_is_quoted_within_what_s6_takes(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    await posted(client, ticket["id"], staff, "z" * 20_000)
    lengths = await db.fetch("SELECT char_length(message) AS n FROM tickets_outbox WHERE ticket_id = $1", ticket["id"])
    assert [r["n"] for r in lengths] == [2000, 2000]


# --- the list: counts, activity, search ---------------------------------------------------


async def test_sort_by_activity_puts_the_latest_reply_first_and_ignores_notes_for_the_owner(
    client: httpx.AsyncClient, user: Caller, staff: Caller, create_ticket: CreateTicket
) -> None:
    older = await create_ticket(user, title="Older")
    newer = await create_ticket(user, title="Newer")

    async def order(caller: Caller) -> list[int]:
        response = await client.get("/", params={"sort": "activity", "user_id": user.id}, headers=caller.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["tickets"]]

    assert await order(user) == [newer["id"], older["id"]]
    await posted(client, older["id"], staff, "Note", internal=True)
    assert await order(user) == [newer["id"], older["id"]]  # a note is no activity the owner sees
    assert await order(staff) == [older["id"], newer["id"]]
    await posted(client, older["id"], staff, "Reply")
    assert await order(user) == [older["id"], newer["id"]]


async def test_sort_by_activity_pages_and_refuses_the_other_order_s_cursor(
    client: httpx.AsyncClient, user: Caller, create_ticket: CreateTicket
) -> None:
    tickets = [await create_ticket(user, title=f"T{n}") for n in range(5)]
    await posted(client, tickets[0]["id"], user, "bump")
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"sort": "activity", "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/", params=params, headers=user.headers)).json()
        seen += [t["id"] for t in body["tickets"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [tickets[0]["id"]] + [t["id"] for t in reversed(tickets[1:])]

    created_cursor = (await client.get("/", params={"limit": 1}, headers=user.headers)).json()["next_cursor"]
    mixed = await client.get("/", params={"sort": "activity", "cursor": created_cursor}, headers=user.headers)
    assert mixed.status_code == 400
    assert (await client.get("/", params={"sort": "hot"}, headers=user.headers)).status_code == 400


async def test_search_matches_comment_bodies_but_never_an_owner_s_hidden_notes(
    client: httpx.AsyncClient, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    public_word, secret_word = "pw" + uuid.uuid4().hex[:10], "sw" + uuid.uuid4().hex[:10]
    await posted(client, ticket["id"], staff, f"Try {public_word} please")
    await posted(client, ticket["id"], staff, f"Looks like {secret_word}", internal=True)

    async def found(caller: Caller, q: str) -> list[int]:
        response = await client.get("/", params={"q": q}, headers=caller.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["tickets"]]

    assert await found(user, public_word) == [ticket["id"]]
    assert await found(user, public_word[:6]) == [ticket["id"]]  # by prefix, as it is typed
    assert await found(staff, public_word) == [ticket["id"]]
    assert await found(staff, secret_word) == [ticket["id"]]
    assert await found(user, secret_word) == []


# --- the timeline -------------------------------------------------------------------------


async def test_the_timeline_merges_comments_history_and_attachments_in_time_order(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    first = await posted(client, ticket["id"], user, "First")
    await db.execute(
        "INSERT INTO ticket_history (ticket_id, changed_by, changed_by_role, field_name, old_value, new_value)"
        " VALUES ($1, $2, 'staff', 'status', 'new', 'in_progress')",
        ticket["id"],
        staff.id,
    )
    file_id = await db.fetchval(
        "INSERT INTO media_files (ticket_id, filename, original_filename, mime_type, file_size, uploaded_by)"
        " VALUES ($1, $2, 'shot.png', 'image/png', 1234, $3) RETURNING id",
        ticket["id"],
        uuid.uuid4().hex + ".png",
        user.id,
    )
    await posted(client, ticket["id"], staff, "Internal", internal=True)
    last = await posted(client, ticket["id"], staff, "Last")

    async def timeline(caller: Caller, **params: Any) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = params | ({"cursor": cursor} if cursor else {})
            response = await client.get(f"/{ticket['id']}/timeline", params=query, headers=caller.headers)
            assert response.status_code == 200, response.text
            Timeline.model_validate(response.json())  # the JSON PostgreSQL built has the contract's shape
            entries += response.json()["entries"]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return entries

    owner_view = await timeline(user)
    assert [e["kind"] for e in owner_view] == ["comment", "change", "attachment", "comment"]
    assert owner_view[0]["comment"] == first
    assert owner_view[1]["change"]["new_value"] == "in_progress"
    assert owner_view[2]["attachment"] == {
        "id": file_id,
        "uploaded_by": user.id,
        "original_filename": "shot.png",
        "mime_type": "image/png",
        "file_size": 1234,
    }
    assert owner_view[3]["comment"] == last
    staff_view = await timeline(staff, limit=1)  # one entry per page: the cursor crosses kinds
    assert [e["kind"] for e in staff_view] == ["comment", "change", "attachment", "comment", "comment"]
    assert staff_view[3]["comment"]["internal"] is True
    times = [e["at"] for e in staff_view]
    assert times == sorted(times)


async def test_an_owner_who_chose_no_reply_emails_gets_in_app_only(
    client: httpx.AsyncClient, db: asyncpg.Connection, user: Caller, staff: Caller, ticket: dict[str, Any]
) -> None:
    assert (await client.put("/preferences", json={"email_replies": False}, headers=user.headers)).status_code == 200
    await posted(client, ticket["id"], staff, "Try again now.")
    assert await outbox(db, ticket["id"]) == [(user.id, "ticket_reply", "in_app")]
    assert (await client.put("/preferences", json={"email_replies": True}, headers=user.headers)).status_code == 200
    await posted(client, ticket["id"], staff, "And now?")
    assert (await outbox(db, ticket["id"]))[1:] == [
        (user.id, "ticket_reply", "in_app"),
        (user.id, "ticket_reply", "email"),
    ]
