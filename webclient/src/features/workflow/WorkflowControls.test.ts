import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { Ticket } from '../../lib/api/types';
import { CUSTOMER, fakeApi, json, STAFF, ticket } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';
import WorkflowControls from './WorkflowControls.svelte';

const me = (user: typeof CUSTOMER | typeof STAFF) => () =>
  json(200, { user: { sub: user.id, role: user.role, email: user.email } });

const SAM = { id: 5, email: 'agent@example.com', role: 'staff', name: 'Sam Agent', active: true };
const ALEX = { id: 4, email: 'alex@example.com', role: 'admin', name: null, active: true };

afterEach(() => signOut());

function staffApi(extra: Record<string, Parameters<typeof fakeApi>[0][string]> = {}) {
  return fakeApi({
    'GET /auth/me': me(STAFF),
    'GET /auth/users': (call) => {
      const role = call.url.searchParams.get('role');
      const q = (call.url.searchParams.get('q') ?? '').toLowerCase();
      const users = [SAM, ALEX].filter(
        (user) =>
          user.role === role &&
          (!q || user.email.startsWith(q) || (user.name ?? '').toLowerCase().startsWith(q)),
      );
      return json(200, { users, next_cursor: null });
    },
    ...extra,
  });
}

describe('WorkflowControls', () => {
  it('offers only the moves the workflow allows', async () => {
    staffApi();
    signIn(STAFF);
    const { rerender } = render(WorkflowControls, {
      props: { ticket: ticket({ status: 'new' }) as Ticket, onChange: () => {} },
    });
    const options = () =>
      within(screen.getByLabelText('Move to'))
        .getAllByRole('option')
        .map((option) => option.textContent);
    expect(options()).toEqual(['Choose a status…', 'In progress', 'Resolved']);

    await rerender({ ticket: ticket({ status: 'resolved', assigned_to: 5 }) as Ticket });
    expect(options()).toEqual(['Choose a status…', 'Assigned', 'In progress', 'Closed']);

    await rerender({ ticket: ticket({ status: 'closed', assigned_to: 5 }) as Ticket });
    expect(screen.queryByLabelText('Move to')).toBeNull();
    expect(screen.getByText(/a closed ticket is final/)).toBeVisible();
  });

  it('assigns from the staff picker, searched by name, and hands up the answer', async () => {
    const onChange = vi.fn();
    const api = staffApi({
      'PATCH /workflow/assign/1': (call) =>
        json(
          200,
          ticket({
            status: 'assigned',
            assigned_to: (call.body as { assigned_to: number }).assigned_to,
          }),
        ),
    });
    signIn(STAFF);
    render(WorkflowControls, { props: { ticket: ticket() as Ticket, onChange } });
    const picker = screen.getByLabelText('Assign to');
    await vi.waitFor(() => expect(within(picker).getAllByRole('option')).toHaveLength(3));
    await userEvent.type(screen.getByLabelText('Find staff'), 'sam');
    await vi.waitFor(() =>
      expect(api.to('GET /auth/users').some((c) => c.url.searchParams.get('q') === 'sam')).toBe(
        true,
      ),
    );
    await vi.waitFor(() => expect(within(picker).getAllByRole('option')).toHaveLength(2));
    await userEvent.selectOptions(picker, 'Sam Agent (agent@example.com)');
    await userEvent.click(screen.getByRole('button', { name: 'Assign' }));
    await vi.waitFor(() => expect(onChange).toHaveBeenCalledOnce());
    expect(api.to('PATCH /workflow/assign/1')[0]!.body).toEqual({ assigned_to: 5 });
    expect(await screen.findByText('Assigned to Sam Agent.')).toBeVisible();
  });

  it('keeps a choice being made when a fresh copy of the same ticket arrives', async () => {
    staffApi();
    signIn(STAFF);
    const { rerender } = render(WorkflowControls, {
      props: { ticket: ticket() as Ticket, onChange: () => {} },
    });
    await userEvent.selectOptions(screen.getByLabelText('Move to'), 'In progress');
    await rerender({ ticket: ticket() as Ticket });
    expect(screen.getByLabelText('Move to')).toHaveValue('in_progress');
    expect(screen.getByRole('button', { name: 'Change status' })).toBeEnabled();
    await rerender({ ticket: ticket({ status: 'in_progress' }) as Ticket });
    expect(screen.getByLabelText('Move to')).toHaveValue('');
  });

  it("shows the API's refusal beside the control", async () => {
    staffApi({
      'PATCH /workflow/status/1': () =>
        json(400, { error: 'Ticket 1 cannot move to resolved now; allowed: in_progress' }),
    });
    signIn(STAFF);
    render(WorkflowControls, { props: { ticket: ticket() as Ticket, onChange: () => {} } });
    await userEvent.selectOptions(screen.getByLabelText('Move to'), 'Resolved');
    await userEvent.click(screen.getByRole('button', { name: 'Change status' }));
    expect(await screen.findByText(/cannot move to resolved now/)).toBeVisible();
    expect(screen.getByLabelText('Move to')).toHaveAttribute('aria-invalid', 'true');
  });

  it('lets the owner mark an open ticket solved, and nothing else', async () => {
    const onChange = vi.fn();
    const api = fakeApi({
      'GET /auth/me': me(CUSTOMER),
      'PATCH /workflow/status/1': () => json(200, ticket({ status: 'resolved' })),
    });
    signIn(CUSTOMER);
    render(WorkflowControls, { props: { ticket: ticket() as Ticket, onChange } });
    expect(screen.queryByLabelText('Move to')).toBeNull();
    expect(screen.queryByLabelText('Assign to')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Mark as solved' }));
    await vi.waitFor(() => expect(onChange).toHaveBeenCalledOnce());
    expect(api.to('PATCH /workflow/status/1')[0]!.body).toEqual({ status: 'resolved' });
    expect(api.to('GET /auth/users')).toHaveLength(0); // customers never look staff up
  });
});
