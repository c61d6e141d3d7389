import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { router } from '../../lib/router/router.svelte';
import { fakeApi, json } from '../../test/fake-api';
import { signOut } from '../../test/session';
import RegisterPage from './RegisterPage.svelte';

beforeEach(() => {
  signOut();
  router.navigate('/register', { replace: true });
});
afterEach(() => signOut());

describe('RegisterPage', () => {
  it('checks the address and the password length as S1 does, before sending', async () => {
    const api = fakeApi({});
    render(RegisterPage);
    await userEvent.type(screen.getByLabelText('Email'), 'nobody');
    await userEvent.type(screen.getByLabelText('Password'), 'short');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(screen.getByText('Enter an email address like name@example.com.')).toBeVisible();
    expect(screen.getByText('Use at least 8 characters.')).toBeVisible();
    expect(screen.getByLabelText('Password')).toHaveAccessibleDescription(
      'Use at least 8 characters. At least 8 characters.',
    );
    expect(api.calls).toHaveLength(0);
  });

  it('puts a taken address beside the email field', async () => {
    fakeApi({ 'POST /auth/register': () => json(409, { error: 'email already registered' }) });
    render(RegisterPage);
    await userEvent.type(screen.getByLabelText('Email'), 'taken@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'long enough password');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText('Email already registered.')).toBeVisible();
    expect(screen.getByLabelText('Email')).toHaveAccessibleDescription('Email already registered.');
    expect(screen.getByLabelText('Email')).toHaveFocus();
  });

  it("shows the API's field details where the client did not object", async () => {
    fakeApi({
      'POST /auth/register': () =>
        json(400, {
          error:
            'Invalid email: not a valid email address: The domain name x.invalid does not exist.',
          details: [
            { field: 'email', message: 'not a valid email address: the domain is reserved' },
          ],
        }),
    });
    render(RegisterPage);
    await userEvent.type(screen.getByLabelText('Email'), 'someone@x.invalid');
    await userEvent.type(screen.getByLabelText('Password'), 'long enough password');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(
      await screen.findByText('Not a valid email address: the domain is reserved.'),
    ).toBeVisible();
  });
});
