"""The staff flow in the browser, across the services: the configured admin promotes a user to
staff; the new staff member names themselves, finds the customer's ticket in the queue, assigns
it to themselves from the staff picker (by name), works it to resolved and sees its history;
the customer, with the ticket open, watches the bell count the notifications live (S6's stream),
attaches a file, reads a notification and rates the ticket; staff see the dashboard's charts and
export the CSV. One browser context per person, few page loads (the client navigates itself)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from helpdesk_fleet.fleet import Fleet
from tests.conftest import ADMIN

from .conftest import OpenClient
from .steps import log_in
from .test_staff_and_admin import change_role

pytestmark = pytest.mark.xdist_group("fleet")


def test_staff_work_a_ticket_to_resolved_and_the_customer_sees_it_live_and_rates_it(
    open_client: OpenClient, fleet: Fleet
) -> None:
    tag = uuid.uuid4().hex[:8]
    customer = fleet.new_account("user")
    recruit = fleet.new_account("user")
    title = f"Printer on fire {tag}"
    created = fleet.client(customer.token).post(
        "/tickets",
        json={"title": title, "description": "Smoke from tray 2.", "category": "bug", "priority": "urgent"},
    )
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]

    # The admin makes the recruit staff.
    admin = open_client()
    log_in(admin.page, ADMIN[0], ADMIN[1])
    admin.page.get_by_role("link", name="Users", exact=True).click()
    change_role(admin.page, recruit.email, "Staff")
    admin.context.close()

    # The customer opens the ticket: nothing unread yet, and the bell's stream is open.
    person = open_client()
    mine = person.page
    log_in(mine, customer.email)
    mine.get_by_role("link", name=title).click()
    expect(mine.get_by_role("heading", name=title, exact=True)).to_be_visible()
    bell = mine.get_by_role("button", name=re.compile(r"^Notifications"))
    expect(bell).to_have_accessible_name("Notifications, none unread")

    # The recruit logs in (the new role is in the new token) and gives a display name.
    staff = open_client()
    work = staff.page
    log_in(work, recruit.email)
    name = f"Sam Recruit {tag}"
    work.get_by_role("link", name=recruit.email).click()
    expect(work.get_by_role("heading", name="Your account")).to_be_visible()
    work.get_by_label("Display name").fill(name)
    work.get_by_role("button", name="Save name").click()
    expect(work.get_by_text("Your name is saved.")).to_be_visible()
    expect(work.get_by_role("link", name=name)).to_be_visible()  # the header shows the name
    staff.screenshot("14-account")

    # The queue: open tickets, urgent first.
    work.get_by_role("link", name="Queue", exact=True).click()
    expect(work.get_by_role("heading", name="Queue")).to_be_visible()
    rows = work.get_by_role("list", name="Tickets").locator("li")
    expect(rows.first).to_be_visible()
    staff.screenshot("15-queue")
    while not rows.filter(has_text=title).count():
        shown = rows.count()
        work.get_by_role("button", name="Load more").click()
        expect(rows).not_to_have_count(shown)
    work.get_by_role("link", name=title).click()
    expect(work.get_by_role("heading", name=title, exact=True)).to_be_visible()

    # Only the moves the workflow allows are offered: a new, unassigned ticket cannot be
    # "assigned" without an assignee nor closed before it is resolved.
    move = work.get_by_label("Move to")
    assert move.locator("option").all_inner_texts() == ["Choose a status…", "In progress", "Resolved"]

    # Assign from the picker, found by name.
    work.get_by_label("Find staff").fill(tag)
    work.get_by_label("Assign to").select_option(label=f"{name} ({recruit.email})")
    work.get_by_role("button", name="Assign").click()
    details = work.get_by_role("complementary", name="Details")
    expect(details.get_by_text("You", exact=True)).to_be_visible()

    move.select_option(label="In progress")
    work.get_by_role("button", name="Change status").click()
    expect(work.get_by_text("Status changed to In progress.")).to_be_visible()
    work.get_by_label("Priority").select_option(label="High")
    work.get_by_role("button", name="Set priority").click()
    expect(work.get_by_text("Priority set to High.")).to_be_visible()
    move.select_option(label="Resolved")
    work.get_by_role("button", name="Change status").click()
    expect(work.get_by_text("Status changed to Resolved.")).to_be_visible()
    assert "Closed" in move.locator("option").all_inner_texts()  # now it may be closed

    history = work.get_by_role("list", name="Changes, newest first").locator("li")
    # The assignee and the status (new -> assigned), in progress, the priority, resolved.
    expect(history).to_have_count(5)
    expect(history.first).to_contain_text("Status: In progress → Resolved")
    expect(history.first).to_contain_text("by you")
    staff.screenshot("16-ticket-worked-staff")

    # The customer's bell counted each notice as it came (assigned, in progress, resolved).
    expect(bell).to_have_accessible_name("Notifications, 3 unread")
    bell.click()
    panel = mine.get_by_role("region", name="Notifications")
    expect(panel.get_by_text(f"Your ticket #{ticket_id}", exact=False).first).to_be_visible()
    person.screenshot("17-bell")
    panel.get_by_role("button", name="Mark as read").first.click()
    expect(bell).to_have_accessible_name("Notifications, 2 unread")
    panel.get_by_role("link", name=re.compile(r"is now resolved")).click()

    # The ticket page, resolved (it reloaded itself when the notice about it came): the
    # customer attaches a file and rates the ticket.
    expect(mine.get_by_role("heading", name="How did we do?")).to_be_visible()
    mine.get_by_label("Add a file").set_input_files(
        files=[{"name": "error-log.txt", "mimeType": "text/plain", "buffer": b"tray 2: fuser overheat\n" * 200}]
    )
    mine.get_by_role("button", name="Upload").click()
    expect(mine.get_by_text('"error-log.txt" is attached.')).to_be_visible()
    expect(mine.get_by_role("list", name="Attached files")).to_contain_text("error-log.txt")

    rating = mine.get_by_role("group", name="Your rating")
    rating.get_by_label("5 stars: Excellent").check()
    mine.get_by_label("Comment (optional)").fill("Fixed within the hour, thank you.")
    mine.get_by_role("button", name="Send rating").click()
    expect(mine.get_by_text("Thank you: your rating is saved.")).to_be_visible()
    person.screenshot("18-ticket-rated")
    stored = fleet.client(customer.token).get(f"/feedback/ticket/{ticket_id}").json()
    assert [(given["rating"], given["comment"]) for given in stored["feedback"]] == [
        (5, "Fixed within the hour, thank you.")
    ]

    # Staff see the figures, drawn as charts, and take the CSV.
    work.get_by_role("link", name="Dashboard", exact=True).click()
    expect(work.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(work.get_by_role("img", name=re.compile(r"^Tickets created and resolved per day"))).to_be_visible()
    expect(work.locator("canvas")).to_have_count(5)
    staff.screenshot("19-dashboard")
    with work.expect_download() as download:
        work.get_by_role("button", name="Export CSV").click()
    csv_path = download.value.path()
    header, *lines = csv_path.read_text().splitlines()
    assert header.startswith("ticket_id,user_id,category,priority,status")
    assert any(line.startswith(f"{ticket_id},") for line in lines)
