"""S8 feedback through the gateway, with S2 and S7 as real processes: only the owner rates a
resolved ticket, a second rating replaces the first, bad bodies write nothing, and S7 hears of
every change without the caller waiting for it, even while S7 is down."""

from __future__ import annotations

import time
from typing import Any

import pytest

from helpdesk_fleet.fleet import Account, Fleet, poll_until
from tests.analytics_support import feedback_rows, health, restart, signal_idle, sql, sql_value, ticket_in_status

pytestmark = pytest.mark.xdist_group("fleet")


def rate(fleet: Fleet, account: Account, ticket_id: int, rating: Any = 5, **extra: Any) -> Any:
    return fleet.client(account.token).post("/feedback", json={"ticket_id": ticket_id, "rating": rating, **extra})


def test_the_owner_rates_a_resolved_ticket_and_a_second_rating_replaces_the_first(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    owner = accounts["user"]
    ticket = ticket_in_status(fleet, owner, "resolved")
    first = rate(fleet, owner, ticket["id"], 2, comment="  Slow, but it works now.  ")
    assert first.status_code == 201, first.text
    created = first.json()
    assert created == created | {
        "ticket_id": ticket["id"],
        "user_id": owner.id,
        "rating": 2,
        "comment": "Slow, but it works now.",
    }
    assert created["created_at"] == created["updated_at"]

    second = rate(fleet, owner, ticket["id"], 5)
    assert second.status_code == 200, second.text
    replaced = second.json()
    assert (replaced["id"], replaced["rating"], replaced["comment"]) == (created["id"], 5, None)
    assert replaced["created_at"] == created["created_at"] and replaced["updated_at"] > created["updated_at"]
    assert [tuple(r) for r in feedback_rows(fleet, ticket["id"])] == [(created["id"], owner.id, 5, None)]

    listing = fleet.client(owner.token).get(f"/feedback/ticket/{ticket['id']}")
    assert listing.status_code == 200
    assert listing.json() == {"feedback": [replaced], "average_rating": 5.0, "total_feedback": 1}


def test_a_closed_ticket_can_be_rated_too(fleet: Fleet, accounts: dict[str, Account]) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "closed")
    assert rate(fleet, accounts["user"], ticket["id"], 4).status_code == 201


@pytest.mark.parametrize("status", ["new", "assigned", "in_progress"])
def test_a_ticket_that_is_not_resolved_cannot_be_rated_and_nothing_is_written(
    fleet: Fleet, accounts: dict[str, Account], status: str
) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], status)
    response = rate(fleet, accounts["user"], ticket["id"])
    assert response.status_code == 400, response.text
    assert status in response.json()["error"] and "resolved or closed" in response.json()["error"]
    assert feedback_rows(fleet, ticket["id"]) == []


@pytest.mark.parametrize(("role", "status"), [("other", 404), ("staff", 403), ("admin", 403)])
def test_only_the_owner_may_rate_and_nothing_is_written(
    fleet: Fleet, accounts: dict[str, Account], role: str, status: int
) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    response = rate(fleet, accounts[role], ticket["id"])
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str)
    assert feedback_rows(fleet, ticket["id"]) == []


def test_a_ticket_that_does_not_exist_is_a_404(fleet: Fleet, accounts: dict[str, Account]) -> None:
    response = rate(fleet, accounts["user"], 2_000_000_000)
    assert response.status_code == 404
    assert response.json() == {"error": "Ticket 2000000000 not found."}


BAD_BODIES: dict[str, dict[str, Any]] = {
    "rating 0": {"rating": 0},
    "rating 6": {"rating": 6},
    "rating 3.5": {"rating": 3.5},
    "rating as a string": {"rating": "4"},
    "rating true": {"rating": True},
    "rating null": {"rating": None},
    "no rating": {},
    "comment of 2,001 characters": {"rating": 4, "comment": "x" * 2001},
    "comment not a string": {"rating": 4, "comment": 12},
    "comment with a NUL": {"rating": 4, "comment": "a\u0000b"},
    "ticket_id as a string": {"rating": 4, "ticket_id": "1"},
    "ticket_id 0": {"rating": 4, "ticket_id": 0},
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_bodies_are_400_and_write_nothing(fleet: Fleet, accounts: dict[str, Account], case: str) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    before = sql_value(fleet, "SELECT count(*) FROM feedback")
    body = {"ticket_id": ticket["id"]} | BAD_BODIES[case]
    response = fleet.client(accounts["user"].token).post("/feedback", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] and response.json()["details"]
    assert sql_value(fleet, "SELECT count(*) FROM feedback") == before


def test_a_body_that_is_not_json_is_a_415(fleet: Fleet, accounts: dict[str, Account]) -> None:
    response = fleet.client(accounts["user"].token).post("/feedback", content=b"rating=5")
    assert response.status_code == 415


def test_a_comment_of_exactly_2000_characters_is_kept_whole(fleet: Fleet, accounts: dict[str, Account]) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    comment = "Thanks!\n" + "y" * 1992
    response = rate(fleet, accounts["user"], ticket["id"], 4, comment=comment)
    assert response.status_code == 201, response.text
    assert response.json()["comment"] == comment


def test_a_users_ratings_page_newest_first_for_self_and_staff_only(fleet: Fleet) -> None:
    owner, other, staff = fleet.new_account("user"), fleet.new_account("user"), fleet.new_account("staff")
    ids = []
    for rating in (3, 4, 5):
        ticket = ticket_in_status(fleet, owner, "resolved")
        ids.append(rate(fleet, owner, ticket["id"], rating).json()["id"])
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = fleet.client(owner.token).get(f"/feedback/user/{owner.id}", params=params)
        assert page.status_code == 200, page.text
        seen += [f["id"] for f in page.json()["feedback"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert [f["id"] for f in fleet.client(staff.token).get(f"/feedback/user/{owner.id}").json()["feedback"]] == ids[
        ::-1
    ]
    assert fleet.client(other.token).get(f"/feedback/user/{owner.id}").status_code == 403
    assert fleet.client(owner.token).get(f"/feedback/user/{owner.id}", params={"cursor": "garbage"}).status_code == 400


@pytest.mark.parametrize(("role", "status"), [("user", 200), ("other", 404), ("staff", 200), ("admin", 200)])
def test_a_rating_is_deleted_by_its_author_or_staff_only(
    fleet: Fleet, accounts: dict[str, Account], role: str, status: int
) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    feedback_id = rate(fleet, accounts["user"], ticket["id"], 1).json()["id"]
    response = fleet.client(accounts[role].token).delete(f"/feedback/{feedback_id}")
    assert response.status_code == status, response.text
    left = feedback_rows(fleet, ticket["id"])
    if status == 200:
        assert response.json() == {"message": f"Feedback {feedback_id} deleted."}
        assert left == []
        assert fleet.client(accounts["user"].token).delete(f"/feedback/{feedback_id}").status_code == 404
    else:
        assert [r["id"] for r in left] == [feedback_id]


def test_stats_count_every_rating(fleet: Fleet, accounts: dict[str, Account]) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    rate(fleet, accounts["user"], ticket["id"], 3)
    response = fleet.client(accounts["staff"].token).get("/feedback/stats")
    assert response.status_code == 200
    rows = sql(fleet, "SELECT ticket_id, user_id, rating FROM feedback")
    ratings = [r["rating"] for r in rows]
    assert response.json() == {
        "total_feedback": len(rows),
        "average_rating": round(sum(ratings) / len(ratings), 2),
        "min_rating": min(ratings),
        "max_rating": max(ratings),
        "tickets_with_feedback": len({r["ticket_id"] for r in rows}),
        "users_who_gave_feedback": len({r["user_id"] for r in rows}),
    }


def analytics_total(fleet: Fleet) -> int | None:
    response = fleet.client(fleet.admin_token).get("/analytics/feedback/stats")
    return response.json()["total"] if response.status_code == 200 else None


def test_every_change_reaches_s7_after_the_response(fleet: Fleet, accounts: dict[str, Account]) -> None:
    signal_idle(fleet)
    sent = health(fleet, "s8-feedback")["analytics_signal"]["sent"]
    before = analytics_total(fleet)
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    feedback_id = rate(fleet, accounts["user"], ticket["id"], 4).json()["id"]
    expected = sql_value(fleet, "SELECT count(*) FROM feedback")
    poll_until(lambda: analytics_total(fleet) == expected, timeout=15, what="S7 to count the new rating")
    assert before is not None and expected == before + 1
    assert health(fleet, "s8-feedback")["analytics_signal"]["sent"] > sent

    assert fleet.client(accounts["user"].token).delete(f"/feedback/{feedback_id}").status_code == 200
    poll_until(lambda: analytics_total(fleet) == expected - 1, timeout=15, what="S7 to drop the deleted rating")


def test_while_s7_is_down_a_rating_is_201_at_once_and_the_figures_catch_up(
    fleet: Fleet, accounts: dict[str, Account]
) -> None:
    signal_idle(fleet)
    failed = health(fleet, "s8-feedback")["analytics_signal"]["failed"]
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    analytics = fleet.processes["s7-analytics"]
    analytics.kill()  # a crash: the registry still lists it for a while
    try:
        started = time.monotonic()
        response = rate(fleet, accounts["user"], ticket["id"], 5)
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.text
        # The signal's retries against a dead S7 take seconds; the caller waits for none of them.
        assert elapsed < 1.0, f"took {elapsed:.2f}s"
        poll_until(
            lambda: health(fleet, "s8-feedback")["analytics_signal"]["failed"] > failed,
            timeout=30,
            what="S8 to give the signal up",
        )
        assert [r["rating"] for r in feedback_rows(fleet, ticket["id"])] == [5]
    finally:
        restart(fleet, "s7-analytics")
    expected = sql_value(fleet, "SELECT count(*) FROM feedback")
    poll_until(lambda: analytics_total(fleet) == expected, timeout=20, what="S7 to count the rating once back")


def test_while_s2_is_down_rating_is_a_503_and_nothing_is_written(fleet: Fleet, accounts: dict[str, Account]) -> None:
    ticket = ticket_in_status(fleet, accounts["user"], "resolved")
    tickets = fleet.processes["s2-tickets"]
    tickets.kill()
    try:
        response = rate(fleet, accounts["user"], ticket["id"], 5)
        assert response.status_code == 503, response.text
        assert "s2-tickets" in response.json()["error"]
        assert feedback_rows(fleet, ticket["id"]) == []
    finally:
        restart(fleet, "s2-tickets")
