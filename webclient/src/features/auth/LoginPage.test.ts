import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { router } from '../../lib/router/router.svelte';
import { EXPIRED, session } from '../../lib/session/session.svelte';
import { CUSTOMER, fakeApi, json, userToken } from '../../test/fake-api';
import { signOut } from '../../test/session';
import LoginPage from './LoginPage.svelte';

beforeEach(() => {
  signOut();
  router.navigate('/login?next=%2Ftickets%2F4', { replace: true });
});
afterEach(() => signOut());

describe('LoginPage', () => {
  it('asks for both fields before sending anything', async () => {
    const api = fakeApi({});
    render(LoginPage);
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(screen.getByText('Enter your email address.')).toBeVisible();
    expect(screen.getByText('Enter your password.')).toBeVisible();
    expect(screen.getByLabelText('Email')).toHaveFocus();
    expect(screen.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true');
    expect(api.calls).toHaveLength(0);
  });

  it("shows the API's refusal in words and clears the password", async () => {
    fakeApi({ 'POST /auth/login': () => json(401, { error: 'invalid credentials' }) });
    render(LoginPage);
    await userEvent.type(screen.getByLabelText('Email'), 'customer@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'wrong password');
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByText('Invalid credentials.')).toBeVisible();
    expect(screen.getByLabelText('Password')).toHaveValue('');
  });

  it('logs in and goes on to the page that was asked for', async () => {
    const token = userToken(CUSTOMER);
    fakeApi({
      'POST /auth/login': () => json(200, { token, token_type: 'bearer', expires_in: 3600 }),
      'GET /auth/me': () =>
        json(200, { user: { sub: CUSTOMER.id, role: 'user', email: CUSTOMER.email } }),
    });
    render(LoginPage);
    await userEvent.type(screen.getByLabelText('Email'), ' customer@example.com ');
    await userEvent.type(screen.getByLabelText('Password'), 'the right password{Enter}');
    await expect.poll(() => router.href).toBe('/tickets/4');
    expect(session.user).toMatchObject(CUSTOMER);
  });

  it('says why the person is here (an expired session)', () => {
    fakeApi({});
    session.notice = EXPIRED;
    render(LoginPage);
    expect(screen.getByRole('alert')).toHaveTextContent(EXPIRED);
  });
});
