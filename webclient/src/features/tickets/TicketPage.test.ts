import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { router } from '../../lib/router/router.svelte';
import { CUSTOMER, fakeApi, json, STAFF, ticket } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';
import TicketPage from './TicketPage.svelte';

const me = (user: typeof CUSTOMER | typeof STAFF) => () =>
  json(200, { user: { sub: user.id, role: user.role, email: user.email } });

beforeEach(() => router.navigate('/tickets/1', { replace: true }));
afterEach(() => signOut());

describe('TicketPage', () => {
  it("shows the ticket's details", async () => {
    fakeApi({
      'GET /auth/me': me(CUSTOMER),
      'GET /tickets/1': () => json(200, ticket({ priority: 'high', assigned_to: 3 })),
    });
    signIn(CUSTOMER);
    render(TicketPage, { props: { params: { id: '1' } } });
    expect(
      await screen.findByRole('heading', { name: 'Invoice PDF does not download' }),
    ).toBeVisible();
    const details = screen.getByRole('complementary', { name: 'Details' });
    expect(details).toHaveTextContent('Priority: High');
    expect(details).toHaveTextContent(/Filed by\s*You/);
    expect(details).toHaveTextContent('A member of the support team');
    expect(screen.getByText('It spins forever.')).toBeVisible();
  });

  it('says "not found" for a ticket that is not there or not yours', async () => {
    fakeApi({
      'GET /auth/me': me(CUSTOMER),
      'GET /tickets/9': () => json(404, { error: 'Ticket 9 not found.' }),
    });
    signIn(CUSTOMER);
    render(TicketPage, { props: { params: { id: '9' } } });
    expect(await screen.findByRole('heading', { name: 'Ticket not found' })).toBeVisible();
  });

  it('does not ask the API about an id that is not a number', async () => {
    const api = fakeApi({ 'GET /auth/me': me(CUSTOMER) });
    signIn(CUSTOMER);
    render(TicketPage, { props: { params: { id: 'abc' } } });
    expect(await screen.findByRole('heading', { name: 'Ticket not found' })).toBeVisible();
    expect(api.calls.filter((c) => c.url.pathname.startsWith('/tickets'))).toHaveLength(0);
  });

  it('saves only what changed, and shows the saved ticket', async () => {
    const api = fakeApi({
      'GET /auth/me': me(CUSTOMER),
      'GET /tickets/1': () => json(200, ticket()),
      'PATCH /tickets/1': (call) => json(200, ticket(call.body as Record<string, unknown>)),
    });
    signIn(CUSTOMER);
    render(TicketPage, { props: { params: { id: '1' } } });
    await userEvent.click(await screen.findByRole('button', { name: 'Edit' }));
    const title = screen.getByLabelText('Title');
    await userEvent.clear(title);
    await userEvent.type(title, 'Invoice download hangs');
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }));
    expect(await screen.findByRole('heading', { name: 'Invoice download hangs' })).toBeVisible();
    expect(api.to('PATCH /tickets/1')[0]!.body).toEqual({ title: 'Invoice download hangs' });
  });

  it("keeps the form open with the API's refusal when saving fails", async () => {
    fakeApi({
      'GET /auth/me': me(CUSTOMER),
      'GET /tickets/1': () => json(200, ticket()),
      'PATCH /tickets/1': () => json(503, { error: 'Service s2-tickets is unavailable.' }),
    });
    signIn(CUSTOMER);
    render(TicketPage, { props: { params: { id: '1' } } });
    await userEvent.click(await screen.findByRole('button', { name: 'Edit' }));
    await userEvent.selectOptions(screen.getByLabelText('Category'), 'Feature request');
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }));
    expect(await screen.findByText(/Service s2-tickets is unavailable\./)).toBeVisible();
    expect(screen.getByRole('button', { name: 'Save changes' })).toBeEnabled();
  });

  it('shows staff who filed the ticket and who has it, by address', async () => {
    fakeApi({
      'GET /auth/me': me(STAFF),
      'GET /tickets/1': () => json(200, ticket({ assigned_to: 3 })),
      // One batch lookup of the people on the page (S1 `?ids=`), not a call per person.
      'GET /auth/users': (call) =>
        json(200, {
          users: call.url.searchParams.get('ids')?.split(',').includes('7') ? [CUSTOMER] : [],
          next_cursor: null,
        }),
    });
    signIn(STAFF);
    render(TicketPage, { props: { params: { id: '1' } } });
    const details = await screen.findByRole('complementary', { name: 'Details' });
    await expect.poll(() => details.textContent).toContain('customer@example.com');
    expect(details).toHaveTextContent(/Assigned to\s*You/);
  });
});
