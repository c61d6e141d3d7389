"""Staff and admins in the browser: the configured admin promotes a user to staff on the users
page (and demotes again); the new staff member sees every ticket, with filters and search."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from helpdesk_fleet.fleet import Fleet
from tests.conftest import ADMIN

from .conftest import Client, OpenClient
from .steps import log_in, log_out, ticket_rows

pytestmark = pytest.mark.xdist_group("fleet")


def user_row(page: Page, email: str) -> Locator:
    """The row of `email` on the users page (by id, oldest first), loading pages until it is there."""
    rows = page.get_by_role("list", name="Users").locator("li")
    row = rows.filter(has=page.get_by_text(email, exact=True))
    expect(rows.first).to_be_visible()
    while not row.count():
        shown = rows.count()
        page.get_by_role("button", name="Load more").click()
        expect(rows).not_to_have_count(shown)
    return row


def change_role(page: Page, email: str, role_label: str) -> None:
    row = user_row(page, email)
    row.get_by_label(f"Role for {email}").select_option(label=role_label)
    row.get_by_role("button", name="Change role").click()
    expect(row.get_by_text(f"Now {role_label}.")).to_be_visible()


def test_the_admin_promotes_a_user_who_then_works_every_ticket(open_client: OpenClient, fleet: Fleet) -> None:
    tag = uuid.uuid4().hex[:8]
    customer = fleet.new_account("user")
    as_customer = fleet.client(customer.token)
    titles = {
        "bug": f"Checkout button greyed out {tag}",
        "feature": f"Export tickets to CSV {tag}",
        "support": f"Where is my receipt {tag}",
    }
    for category, title in titles.items():
        created = as_customer.post(
            "/tickets",
            json={"title": title, "description": f"Reported by a customer ({tag}).", "category": category},
        )
        assert created.status_code == 201, created.text
    recruit = fleet.new_account("user")

    # The admin, on the users page, makes the recruit staff.
    admin: Client = open_client()
    page = admin.page
    log_in(page, ADMIN[0], ADMIN[1])
    page.get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    admin.screenshot("10-users")
    change_role(page, recruit.email, "Staff")
    stored = fleet.client(fleet.admin_token).get(f"/auth/users/{recruit.id}").json()
    assert stored["role"] == "staff"

    # The recruit logs in (the new role is in the new token) and sees everyone's tickets; this
    # browser prefers dark (the client follows the system setting).
    staff: Client = open_client(color_scheme="dark")
    work = staff.page
    log_in(work, recruit.email)
    expect(work.get_by_role("heading", name="All tickets")).to_be_visible()
    expect(work.get_by_role("link", name="Users", exact=True)).to_have_count(0)  # admins only
    work.get_by_label("Search").fill(tag)
    expect(work.get_by_role("list", name="Tickets").locator("li")).to_have_count(3)
    assert set(ticket_rows(work)) == set(titles.values())
    expect(work.get_by_label("Assigned to")).to_contain_text("Anyone")
    staff.screenshot("11-all-tickets-staff-dark")

    work.get_by_label("Category").select_option(label="Feature request")
    expect(work).to_have_url(re.compile(r"category=feature"))
    expect(work.get_by_role("list", name="Tickets").locator("li")).to_have_count(1)
    assert ticket_rows(work) == [titles["feature"]]
    work.get_by_label("Priority").select_option(label="Urgent")
    expect(work.get_by_text("No tickets match")).to_be_visible()
    work.get_by_label("Priority").select_option(label="Any priority")

    # A customer's ticket, as staff see it: who filed it, by address.
    work.get_by_role("link", name=titles["feature"]).click()
    details = work.get_by_role("complementary", name="Details")
    expect(details.get_by_text(customer.email)).to_be_visible()
    staff.screenshot("12-ticket-staff-dark")

    # Staff cannot open the users page.
    work.goto("/admin/users")
    expect(work.get_by_role("heading", name="Not allowed")).to_be_visible()

    # The admin makes the recruit an admin, then a customer again.
    change_role(page, recruit.email, "Admin")
    change_role(page, recruit.email, "Customer")
    stored = fleet.client(fleet.admin_token).get(f"/auth/users/{recruit.id}").json()
    assert stored["role"] == "user"
    admin.screenshot("13-users-after-changes")

    log_out(work)
    log_in(work, recruit.email)
    expect(work.get_by_role("heading", name="My tickets")).to_be_visible()
