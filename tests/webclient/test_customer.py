"""A customer in the browser: registers, files a ticket, finds it, edits it, keeps the session
over a reload, and is sent back to the login page, with a sentence, when the token goes bad."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from jose import jwt
from playwright.sync_api import expect

from helpdesk_fleet.fleet import PASSWORD, Fleet
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET

from .conftest import PHONE, Client
from .steps import file_ticket, log_in, log_out, ticket_rows

pytestmark = pytest.mark.xdist_group("fleet")

SESSION_KEY = "helpdesk.session"


def test_a_customer_registers_files_a_ticket_finds_it_and_edits_it(client: Client, fleet: Fleet) -> None:
    page = client.page
    email = f"customer-{uuid.uuid4().hex[:8]}@example.com"

    # Signed out, every address leads to the login page.
    page.goto("/tickets")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftickets$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    client.screenshot("01-login")

    # Registration, with the API's rules checked before anything is sent.
    page.get_by_role("link", name="Create one").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Enter an email address like name@example.com.")).to_be_visible()
    expect(page.get_by_text("Use at least 8 characters.")).to_be_visible()
    expect(page.get_by_label("Email")).to_be_focused()
    client.screenshot("02-register-errors")

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    expect(page.get_by_text("You have no tickets yet")).to_be_visible()
    client.screenshot("03-tickets-empty")

    # Signed in, the registration page leads to the person's tickets.
    other = client.new_page()
    other.goto("/register")
    expect(other).to_have_url(re.compile(r"/tickets$"))  # this context is signed in
    other.close()

    # Filing: an empty form is refused beside each field, then a real ticket goes in.
    page.get_by_role("link", name="New ticket").first.click()
    page.get_by_role("button", name="File ticket").click()
    expect(page.get_by_text("Choose a category.")).to_be_visible()
    expect(page.get_by_text("Enter a title.")).to_be_visible()
    expect(page.get_by_text("Describe the problem or the request.")).to_be_visible()
    client.screenshot("04-new-ticket-errors")

    ticket_id = file_ticket(
        page,
        title="Invoice PDF does not download",
        description="Clicking Download on the March invoice shows a spinner forever.\nChrome and Firefox.",
        category="Bug",
        priority="High",
    )
    expect(page.get_by_text(f"Ticket #{ticket_id} created.")).to_be_visible()
    expect(page.get_by_role("complementary", name="Details").get_by_text("High")).to_be_visible()
    client.screenshot("05-ticket")

    file_ticket(
        page,
        title="How do I add a colleague?",
        description="We would like a second person to see our tickets.",
        category="Support question",
    )

    # The list, newest first, with badges; search and filters narrow it and live in the address.
    page.get_by_role("link", name="My tickets", exact=True).click()
    expect(page.get_by_role("list", name="Tickets").locator("li")).to_have_count(2)
    assert ticket_rows(page) == ["How do I add a colleague?", "Invoice PDF does not download"]
    client.screenshot("06-my-tickets")

    page.get_by_label("Search").fill("invoice")
    expect(page).to_have_url(re.compile(r"q=invoice"))
    expect(page.get_by_role("list", name="Tickets").locator("li")).to_have_count(1)
    assert ticket_rows(page) == ["Invoice PDF does not download"]

    page.get_by_label("Search").fill("")
    page.get_by_label("Category").select_option(label="Support question")
    expect(page.get_by_role("list", name="Tickets").locator("li")).to_have_count(1)
    assert ticket_rows(page) == ["How do I add a colleague?"]
    page.get_by_label("Status").select_option(label="Resolved")
    expect(page.get_by_text("No tickets match")).to_be_visible()
    page.get_by_role("button", name="Clear filters").click()
    expect(page.get_by_role("list", name="Tickets").locator("li")).to_have_count(2)

    # Editing: the API's rules again, then the change is saved and shown.
    page.get_by_role("link", name="Invoice PDF does not download").click()
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Title").fill("   ")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Enter a title.")).to_be_visible()
    page.get_by_label("Title").fill("Invoice PDF download hangs")
    page.get_by_label("Category").select_option(label="Support question")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Your changes are saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="Invoice PDF download hangs")).to_be_visible()
    stored = fleet.client(fleet.login(email)).get(f"/tickets/{ticket_id}").json()
    assert (stored["title"], stored["category"]) == ("Invoice PDF download hangs", "support")

    # A reload keeps the session and the page.
    page.reload()
    expect(page.get_by_role("heading", name="Invoice PDF download hangs")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # At phone width everything is still there, stacked.
    page.set_viewport_size(PHONE)
    client.screenshot("07-ticket-phone")
    page.get_by_role("link", name="My tickets", exact=True).click()
    expect(page.get_by_role("list", name="Tickets").locator("li")).to_have_count(2)
    client.screenshot("08-my-tickets-phone")

    log_out(page)
    assert client.local_storage(SESSION_KEY) is None


def test_registering_a_taken_address_says_so_beside_the_email(client: Client, fleet: Fleet) -> None:
    taken = fleet.new_account("user").email
    page = client.page
    client.watch.expect(409, "/auth/register")
    page.goto("/register")
    page.get_by_label("Email").fill(taken.upper())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Email already registered.")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")


def test_a_wrong_password_is_refused_in_words(client: Client, fleet: Fleet) -> None:
    account = fleet.new_account("user")
    page = client.page
    client.watch.expect(401, "/auth/login")
    page.goto("/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert").filter(has_text="Invalid credentials.")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_value("")


def _token(claims: dict[str, object]) -> str:
    token: str = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    return token


def test_an_expired_token_is_refreshed_and_a_dead_session_leads_back_to_login(client: Client, fleet: Fleet) -> None:
    account = fleet.new_account("user")
    page = client.page
    log_in(page, account.email)
    claims = {"sub": str(account.id), "role": "user", "email": account.email}
    expired = _token({**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600})

    # A token past its time, found at start, while S1's refresh cookie holds: refreshed silently
    # (the HttpOnly cookie, scoped to /auth/refresh), and the person stays where they were.
    page.evaluate("([key, token]) => localStorage.setItem(key, token)", [SESSION_KEY, expired])
    page.goto("/tickets?status=new")
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    renewed = client.local_storage(SESSION_KEY)
    assert renewed and renewed != expired
    assert jwt.get_unverified_claims(renewed)["exp"] > time.time()

    # Without the cookie (the session is gone from this browser) the refresh is refused: the
    # login page, with the reason, and back to the page after logging in.
    client.context.clear_cookies()
    client.watch.expect(401, "/auth/refresh")
    page.evaluate("([key, token]) => localStorage.setItem(key, token)", [SESSION_KEY, expired])
    page.goto("/tickets?status=new")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftickets%3Fstatus%3Dnew$"))
    expect(page.get_by_role("alert").filter(has_text="Your session has expired. Please log in again.")).to_be_visible()
    client.screenshot("09-session-expired")
    log_in(page, account.email)
    expect(page).to_have_url(re.compile(r"/tickets\?status=new$"))

    # A token the API refuses (a wrong signature), and no refresh cookie: the 401 ends the
    # session after one refused refresh.
    client.context.clear_cookies()
    client.watch.expect(401, "/auth/me")
    client.watch.expect(401, "/tickets")
    client.watch.expect(401, "/notifications")
    forged = jwt.encode({**claims, "exp": int(time.time()) + 3600}, "another-secret-0123456789abcdef", "HS256")
    page.evaluate("([key, token]) => localStorage.setItem(key, token)", [SESSION_KEY, forged])
    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("alert").filter(has_text="no longer valid")).to_be_visible()
    assert client.local_storage(SESSION_KEY) is None

    # A token that runs out while the page is open and cannot be refreshed: the page notices by
    # itself (the page's clock is Playwright's, moved an hour on rather than waited for).
    fresh = _token({**claims, "iat": int(time.time()), "exp": int(time.time()) + 3600})
    page.evaluate("([key, token]) => localStorage.setItem(key, token)", [SESSION_KEY, fresh])
    page.clock.install()
    page.goto("/tickets")
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    page.clock.fast_forward("01:00:00")
    expect(page.get_by_role("alert").filter(has_text="Your session has expired.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftickets$"))
