import { fireEvent, render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { router } from '../../lib/router/router.svelte';
import { CUSTOMER, fakeApi, json, STAFF, ticket } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';
import TicketListPage from './TicketListPage.svelte';

const many = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ticket({ id: from - i, title: `Ticket ${from - i}` }));

beforeEach(() => {
  router.navigate('/tickets', { replace: true });
});
afterEach(() => signOut());

describe('TicketListPage', () => {
  it("lists a customer's tickets with status and priority badges", async () => {
    fakeApi({
      'GET /auth/me': () => json(200, { user: { sub: 7, role: 'user', email: CUSTOMER.email } }),
      'GET /tickets': () =>
        json(200, {
          tickets: [
            ticket({ id: 2, title: 'Urgent one', status: 'in_progress', priority: 'urgent' }),
            ticket(),
          ],
          next_cursor: null,
        }),
    });
    signIn(CUSTOMER);
    render(TicketListPage);
    expect(screen.getByRole('heading', { name: 'My tickets' })).toBeVisible();
    const rows = await screen.findAllByRole('listitem');
    expect(rows).toHaveLength(2);
    expect(within(rows[0]!).getByRole('link', { name: 'Urgent one' })).toHaveAttribute(
      'href',
      '/tickets/2',
    );
    expect(rows[0]).toHaveTextContent('Status: In progress');
    expect(rows[0]).toHaveTextContent('Priority: Urgent');
    expect(screen.queryByLabelText('Assigned to')).toBeNull(); // staff only
  });

  it('says so when there is nothing yet, and when filters match nothing', async () => {
    const api = fakeApi({
      'GET /auth/me': () => json(200, { user: { sub: 7, role: 'user', email: CUSTOMER.email } }),
      'GET /tickets': () => json(200, { tickets: [], next_cursor: null }),
    });
    signIn(CUSTOMER);
    render(TicketListPage);
    expect(await screen.findByText('You have no tickets yet')).toBeVisible();

    await userEvent.selectOptions(screen.getByLabelText('Status'), 'Closed');
    expect(await screen.findByText('No tickets match')).toBeVisible();
    expect(router.query.get('status')).toBe('closed');
    expect(api.to('GET /tickets').at(-1)!.url.searchParams.get('status')).toBe('closed');
  });

  it('searches after a pause in typing, with the words in the address', async () => {
    const api = fakeApi({
      'GET /auth/me': () => json(200, { user: { sub: 7, role: 'user', email: CUSTOMER.email } }),
      'GET /tickets': (call) =>
        json(200, {
          tickets: call.url.searchParams.get('q') ? [ticket({ title: 'Invoice' })] : many(9, 3),
          next_cursor: null,
        }),
    });
    signIn(CUSTOMER);
    render(TicketListPage);
    await screen.findByText('Ticket 9');
    await userEvent.type(screen.getByLabelText('Search'), 'invoice');
    expect(await screen.findByText('Invoice')).toBeVisible();
    expect(router.query.get('q')).toBe('invoice');
    // One request for the words, not one per key.
    expect(api.to('GET /tickets').map((c) => c.url.searchParams.get('q'))).toEqual([
      null,
      'invoice',
    ]);
  });

  // A thousand rows in a real browser: tests/webclient/test_long_list.py (jsdom is slow at it).
  it(
    'loads more, keyed: new rows are appended, the ones on screen kept',
    { timeout: 20_000 },
    async () => {
      const pages = new Map<string | null, { tickets: unknown[]; next_cursor: string | null }>();
      for (let page = 0; page < 6; page += 1) {
        pages.set(page === 0 ? null : `c${page}`, {
          tickets: many(300 - page * 50, 50),
          next_cursor: page < 5 ? `c${page + 1}` : null,
        });
      }
      fakeApi({
        'GET /auth/me': () => json(200, { user: { sub: 7, role: 'user', email: CUSTOMER.email } }),
        'GET /tickets': (call) => json(200, pages.get(call.url.searchParams.get('cursor'))),
      });
      signIn(CUSTOMER);
      render(TicketListPage);
      const list = await screen.findByRole('list', { name: 'Tickets' });
      await expect.poll(() => list.children.length).toBe(50);
      const first = list.children[0];

      for (let shown = 100; shown <= 300; shown += 50) {
        // A plain query: Testing Library's text queries walk every row each time.
        const more = [...document.querySelectorAll('button')].find(
          (b) => b.textContent?.trim() === 'Load more',
        );
        await fireEvent.click(more!);
        await expect.poll(() => list.children.length).toBe(shown);
      }
      expect(list.children[0]).toBe(first);
      expect(list.children[299]).toHaveTextContent('Ticket 1');
      expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
      expect(screen.getByText('300 tickets')).toBeVisible();
    },
  );

  it('offers to try again when the list cannot be loaded', async () => {
    let fail = true;
    fakeApi({
      'GET /auth/me': () => json(200, { user: { sub: 7, role: 'user', email: CUSTOMER.email } }),
      'GET /tickets': () =>
        fail
          ? json(503, { error: 'Service s2-tickets is unavailable.' })
          : json(200, { tickets: [ticket()], next_cursor: null }),
    });
    signIn(CUSTOMER);
    render(TicketListPage);
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'The tickets could not be loaded: Service s2-tickets is unavailable.',
    );
    fail = false;
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('Invoice PDF does not download')).toBeVisible();
  });

  it('shows staff every ticket with its assignee, by address', async () => {
    fakeApi({
      'GET /auth/me': () => json(200, { user: { sub: 3, role: 'staff', email: STAFF.email } }),
      'GET /auth/users': (call) =>
        json(200, {
          users:
            call.url.searchParams.get('role') === 'staff'
              ? [STAFF, { id: 4, email: 'b@example.com', role: 'staff' }]
              : [],
          next_cursor: null,
        }),
      'GET /tickets': () =>
        json(200, {
          tickets: [ticket({ id: 5, assigned_to: 4 }), ticket({ id: 6, assigned_to: null })],
          next_cursor: null,
        }),
    });
    signIn(STAFF);
    render(TicketListPage);
    expect(screen.getByRole('heading', { name: 'All tickets' })).toBeVisible();
    expect(await screen.findByText('Assigned to b@example.com')).toBeVisible();
    expect(screen.getByText('Unassigned')).toBeVisible();
    const assignee = screen.getByLabelText('Assigned to');
    expect(within(assignee).getByRole('option', { name: 'b@example.com' })).toBeInTheDocument();
  });
});
