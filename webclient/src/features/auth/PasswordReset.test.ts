import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { router } from '../../lib/router/router.svelte';
import { fakeApi, json } from '../../test/fake-api';
import { signOut } from '../../test/session';
import ForgotPasswordPage from './ForgotPasswordPage.svelte';
import ResetPasswordPage from './ResetPasswordPage.svelte';

afterEach(() => signOut());

describe('ForgotPasswordPage', () => {
  beforeEach(() => router.navigate('/forgot-password', { replace: true }));

  it('checks the address, then says what S1 says, whatever the address', async () => {
    const api = fakeApi({
      'POST /auth/password-reset': () =>
        json(202, { message: 'If that address has an account, a reset link is on its way' }),
    });
    render(ForgotPasswordPage);
    await userEvent.type(screen.getByLabelText('Email'), 'not-an-address');
    await userEvent.click(screen.getByRole('button', { name: 'Email me a reset link' }));
    expect(screen.getByText('Enter an email address like name@example.com.')).toBeVisible();
    expect(api.calls).toHaveLength(0);

    await userEvent.clear(screen.getByLabelText('Email'));
    await userEvent.type(screen.getByLabelText('Email'), '  someone@example.com ');
    await userEvent.click(screen.getByRole('button', { name: 'Email me a reset link' }));
    expect(
      await screen.findByText('If that address has an account, a reset link is on its way.'),
    ).toBeVisible();
    expect(api.to('POST /auth/password-reset')[0]!.body).toEqual({ email: 'someone@example.com' });
    expect(api.to('POST /auth/password-reset')[0]!.headers.get('Authorization')).toBeNull();
  });

  it('shows a refusal (too many requests) in words', async () => {
    fakeApi({
      'POST /auth/password-reset': () =>
        json(429, { error: 'Too many reset requests' }, { 'Retry-After': '60' }),
    });
    render(ForgotPasswordPage);
    await userEvent.type(screen.getByLabelText('Email'), 'someone@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Email me a reset link' }));
    expect(
      await screen.findByText('Too many reset requests. You can try again in 60 s.'),
    ).toBeVisible();
  });
});

describe('ResetPasswordPage', () => {
  it('takes the token from the fragment (and out of the address), and sets the new password', async () => {
    router.navigate('/reset-password#token=abc.def', { replace: true });
    window.history.replaceState(null, '', '/reset-password#token=abc.def');
    const api = fakeApi({
      'POST /auth/password-reset/confirm': () =>
        json(200, { message: 'Your password is changed: log in with it' }),
    });
    render(ResetPasswordPage);
    expect(window.location.hash).toBe('');

    await userEvent.type(screen.getByLabelText('New password'), 'short');
    await userEvent.click(screen.getByRole('button', { name: 'Save the new password' }));
    expect(screen.getByText('Use at least 8 characters.')).toBeVisible();

    await userEvent.clear(screen.getByLabelText('New password'));
    await userEvent.type(screen.getByLabelText('New password'), 'a-long-new-password');
    await userEvent.type(screen.getByLabelText('Repeat the new password'), 'a-long-new-passwort');
    await userEvent.click(screen.getByRole('button', { name: 'Save the new password' }));
    expect(screen.getByText('The two passwords differ.')).toBeVisible();
    expect(api.calls).toHaveLength(0);

    await userEvent.clear(screen.getByLabelText('Repeat the new password'));
    await userEvent.type(screen.getByLabelText('Repeat the new password'), 'a-long-new-password');
    await userEvent.click(screen.getByRole('button', { name: 'Save the new password' }));
    expect(await screen.findByText('Your password is changed: log in with it.')).toBeVisible();
    expect(api.to('POST /auth/password-reset/confirm')[0]!.body).toEqual({
      token: 'abc.def',
      new_password: 'a-long-new-password',
    });
    expect(screen.getByRole('link', { name: 'Log in with the new password' })).toBeVisible();
  });

  it('says so when the token is bad, used or expired, with a way to ask again', async () => {
    window.history.replaceState(null, '', '/reset-password#token=used');
    fakeApi({
      'POST /auth/password-reset/confirm': () =>
        json(400, { error: 'This reset link is invalid or has expired' }),
    });
    render(ResetPasswordPage);
    await userEvent.type(screen.getByLabelText('New password'), 'a-long-new-password');
    await userEvent.type(screen.getByLabelText('Repeat the new password'), 'a-long-new-password');
    await userEvent.click(screen.getByRole('button', { name: 'Save the new password' }));
    expect(await screen.findByText('This reset link is invalid or has expired.')).toBeVisible();
    expect(screen.getByRole('link', { name: 'Ask for a new link' })).toBeVisible();
  });

  it('explains a link without a token', () => {
    window.history.replaceState(null, '', '/reset-password');
    fakeApi({});
    render(ResetPasswordPage);
    expect(screen.getByText(/This link is incomplete/)).toBeVisible();
    expect(screen.queryByLabelText('New password')).toBeNull();
  });
});
