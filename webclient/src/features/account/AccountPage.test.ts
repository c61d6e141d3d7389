import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { session, STORAGE_KEY } from '../../lib/session/session.svelte';
import { CUSTOMER, fakeApi, json, userToken } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';
import AccountPage from './AccountPage.svelte';

afterEach(() => signOut());

const meWith = (name: string | null) => () =>
  json(200, { user: { sub: CUSTOMER.id, role: 'user', email: CUSTOMER.email, name } });

describe('AccountPage', () => {
  it('shows the display name from /auth/me and saves a new one (blank removes it)', async () => {
    const api = fakeApi({
      'GET /auth/me': meWith('Cleo'),
      'PATCH /auth/me': (call) => meWith((call.body as { name: string | null }).name)(),
    });
    signIn(CUSTOMER);
    render(AccountPage);
    const field = screen.getByLabelText('Display name');
    await vi.waitFor(() => expect(field).toHaveValue('Cleo'));
    await userEvent.clear(field);
    await userEvent.type(field, '  Cleo Customer ');
    await userEvent.click(screen.getByRole('button', { name: 'Save name' }));
    expect(await screen.findByText('Your name is saved.')).toBeVisible();
    expect(api.to('PATCH /auth/me')[0]!.body).toEqual({ name: 'Cleo Customer' });
    expect(session.user?.name).toBe('Cleo Customer');

    await userEvent.clear(field);
    await userEvent.click(screen.getByRole('button', { name: 'Save name' }));
    await vi.waitFor(() => expect(api.to('PATCH /auth/me')).toHaveLength(2));
    expect(api.to('PATCH /auth/me')[1]!.body).toEqual({ name: null });
  });

  it('changes the password: checks first, a wrong current one beside its field, then the new token', async () => {
    const fresh = userToken(CUSTOMER, 900);
    let attempts = 0;
    const api = fakeApi({
      'GET /auth/me': meWith(null),
      'POST /auth/password': () =>
        ++attempts === 1
          ? json(403, { error: 'Current password is wrong' })
          : json(200, { token: fresh, token_type: 'bearer', expires_in: 900 }),
    });
    signIn(CUSTOMER);
    render(AccountPage);
    const submit = screen.getByRole('button', { name: 'Change password' });
    await userEvent.type(screen.getByLabelText('Current password'), 'old-password');
    await userEvent.type(screen.getByLabelText('New password'), 'new-password-1');
    await userEvent.type(screen.getByLabelText('Repeat the new password'), 'new-password-2');
    await userEvent.click(submit);
    expect(screen.getByText('The two new passwords differ.')).toBeVisible();
    expect(api.to('POST /auth/password')).toHaveLength(0);

    await userEvent.clear(screen.getByLabelText('Repeat the new password'));
    await userEvent.type(screen.getByLabelText('Repeat the new password'), 'new-password-1');
    await userEvent.click(submit);
    expect(await screen.findByText('That is not your current password.')).toBeVisible();

    await userEvent.click(submit);
    expect(await screen.findByText(/Your password is changed/)).toBeVisible();
    expect(api.to('POST /auth/password')[1]!.body).toEqual({
      current_password: 'old-password',
      new_password: 'new-password-1',
    });
    expect(localStorage.getItem(STORAGE_KEY)).toBe(fresh);
    expect(session.token).toBe(fresh);
  });
});
