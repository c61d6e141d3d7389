"""What a person does in the web client, as steps the browser tests share."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from helpdesk_fleet.fleet import PASSWORD


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """From the login page (or anywhere signed out) to the ticket list."""
    if not re.search(r"/login", page.url):
        page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status").filter(has_text="You are logged out.")).to_be_visible()


def file_ticket(page: Page, *, title: str, description: str, category: str, priority: str = "Medium") -> int:
    """Through the "New ticket" form; returns the new ticket's id (from the page it lands on)."""
    page.get_by_role("link", name="New ticket").first.click()
    expect(page.get_by_role("heading", name="New ticket")).to_be_visible()
    page.get_by_label("Category").select_option(label=category)
    page.get_by_label("Priority").select_option(label=priority)
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="File ticket").click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    match = re.search(r"/tickets/(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


def ticket_rows(page: Page) -> list[str]:
    """The titles in the ticket list, top to bottom."""
    return page.get_by_role("list", name="Tickets").locator("li .title").all_inner_texts()
