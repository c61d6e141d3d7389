import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { router } from '../../lib/router/router.svelte';
import { ADMIN, CUSTOMER, fakeApi, json } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';
import UsersPage from './UsersPage.svelte';

beforeEach(() => router.navigate('/admin/users', { replace: true }));
afterEach(() => signOut());

const me = () => json(200, { user: { sub: ADMIN.id, role: 'admin', email: ADMIN.email } });

describe('UsersPage', () => {
  it('promotes a user to staff and says when it applies', async () => {
    const api = fakeApi({
      'GET /auth/me': me,
      'GET /auth/users': () => json(200, { users: [ADMIN, CUSTOMER], next_cursor: null }),
      'PATCH /auth/users/7/role': () => json(200, { ...CUSTOMER, role: 'staff' }),
    });
    signIn(ADMIN);
    render(UsersPage);
    const row = (await screen.findByText(CUSTOMER.email)).closest('li')!;
    const change = within(row).getByRole('button', { name: 'Change role' });
    expect(change).toBeDisabled(); // nothing chosen yet
    await userEvent.selectOptions(
      within(row).getByLabelText(`Role for ${CUSTOMER.email}`),
      'Staff',
    );
    await userEvent.click(change);
    expect(
      await within(row).findByText('Now Staff. The new role applies from their next login.'),
    ).toBeVisible();
    expect(row).toHaveTextContent('Role: Staff');
    expect(api.to('PATCH /auth/users/7/role')[0]!.body).toEqual({ role: 'staff' });
  });

  it("shows the API's refusal in the row it is about", async () => {
    fakeApi({
      'GET /auth/me': me,
      'GET /auth/users': () => json(200, { users: [ADMIN, CUSTOMER], next_cursor: null }),
      'PATCH /auth/users/1/role': () =>
        json(409, {
          error:
            "This is the last admin: make another user an admin before changing this one's role.",
        }),
    });
    signIn(ADMIN);
    render(UsersPage);
    const row = (await screen.findByText(ADMIN.email)).closest('li')!;
    expect(row).toHaveTextContent('(you)');
    await userEvent.selectOptions(
      within(row).getByLabelText(`Role for ${ADMIN.email}`),
      'Customer',
    );
    await userEvent.click(within(row).getByRole('button', { name: 'Change role' }));
    expect(await within(row).findByRole('alert')).toHaveTextContent(/This is the last admin/);
    expect(within(row).getByLabelText(`Role for ${ADMIN.email}`)).toHaveValue('admin');
  });

  it('filters by role through the address', async () => {
    const api = fakeApi({
      'GET /auth/me': me,
      'GET /auth/users': (call) =>
        json(200, {
          users: call.url.searchParams.get('role') === 'admin' ? [ADMIN] : [ADMIN, CUSTOMER],
          next_cursor: null,
        }),
    });
    signIn(ADMIN);
    render(UsersPage);
    await screen.findByText(CUSTOMER.email);
    await userEvent.selectOptions(screen.getByLabelText('Show'), 'Admins only');
    await expect.poll(() => screen.queryByText(CUSTOMER.email)).toBeNull();
    expect(router.query.get('role')).toBe('admin');
    expect(api.to('GET /auth/users').at(-1)!.url.searchParams.get('role')).toBe('admin');
  });
});
