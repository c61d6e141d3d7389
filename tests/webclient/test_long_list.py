"""A thousand tickets in the list: paged in with "load more", keyed (the rows on screen are kept,
never rebuilt), and the page stays responsive. The figures go to test-output/e2e/long-list.json
(docs/performance.md quotes them); the test asserts the behaviour, not the timings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from helpdesk_fleet.fleet import Fleet

from .conftest import Client, write_figures
from .steps import log_in

pytestmark = pytest.mark.xdist_group("fleet")

TICKETS = 1000
SEEDERS = 4
PAGE_SIZE = 50  # the client's page size (webclient/src/lib/vocabulary.ts)

# Long tasks (main-thread work over 50 ms) seen by the page, from its first script on.
WATCH_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: 'longtask', buffered: true });
"""

# Click "Load more" and resolve with the milliseconds until `want` rows are in the list.
LOAD_MORE_TIMED = """
(want) => new Promise((resolve) => {
  const list = document.querySelector('ul[aria-label="Tickets"]');
  const start = performance.now();
  const done = () => list.querySelectorAll(':scope > li').length >= want;
  const observer = new MutationObserver(() => {
    if (done()) { observer.disconnect(); resolve(performance.now() - start); }
  });
  observer.observe(list, { childList: true });
  [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Load more').click();
})
"""


def test_a_thousand_tickets_page_in_keyed_without_freezing(client: Client, fleet: Fleet) -> None:
    account = fleet.new_account("user")
    # Filed four at a time, so the seeding takes seconds.
    clients = [fleet.client(account.token) for _ in range(SEEDERS)]

    def file(number: int) -> tuple[str, int, int]:
        created = clients[number % SEEDERS].post(
            "/tickets",
            json={"title": f"Ticket number {number}", "description": "One of many.", "category": "other"},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        return body["created_at"], body["id"], number

    with ThreadPoolExecutor(SEEDERS) as pool:
        filed = list(pool.map(file, range(TICKETS)))
    # The list's order: newest first, the id breaking ties (S2 sorts by created_at, id).
    newest_first = [number for *_, number in sorted(filed, reverse=True)]

    page = client.page
    page.add_init_script(WATCH_LONG_TASKS)
    log_in(page, account.email)
    rows = page.get_by_role("list", name="Tickets").locator(":scope > li")
    expect(rows).to_have_count(PAGE_SIZE)
    # Mark the first row's element: if the list were rebuilt on each page, the mark would go.
    page.evaluate("document.querySelector('[data-ticket-id]').dataset.marked = 'yes'")
    # From here on, only the appending counts (the start and the login are before).
    start_tasks = page.evaluate("window.__longTasks.splice(0)")

    append_ms = []
    for want in range(2 * PAGE_SIZE, TICKETS + 1, PAGE_SIZE):
        append_ms.append(page.evaluate(LOAD_MORE_TIMED, want))
        expect(rows).to_have_count(want)

    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    expect(page.get_by_text("1,000 tickets", exact=True)).to_be_visible()
    assert page.evaluate("document.querySelector('[data-ticket-id]').dataset.marked") == "yes"
    assert rows.first.get_attribute("data-ticket-id") is not None
    assert (rows.first.text_content() or "").strip().startswith(f"Ticket number {newest_first[0]}")
    assert (rows.last.text_content() or "").strip().startswith(f"Ticket number {newest_first[-1]}")

    # To the bottom of all of it.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(rows.last).to_be_in_viewport()
    append_tasks = page.evaluate("window.__longTasks")
    write_figures(
        "long-list",
        {
            "rows": TICKETS,
            "page_size": PAGE_SIZE,
            "load_more_ms": {"first": round(append_ms[0]), "last": round(append_ms[-1]), "max": round(max(append_ms))},
            "long_tasks_ms": {
                "start_and_login": sorted(round(d) for d in start_tasks),
                "appending_and_scrolling": sorted(round(d) for d in append_tasks),
            },
        },
    )
