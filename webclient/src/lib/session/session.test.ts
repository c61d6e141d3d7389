import { beforeEach, describe, expect, it, vi } from 'vitest';

import { api as apiClient } from '../api';
import { CUSTOMER, fakeApi, json, tokenFor, userToken } from '../../test/fake-api';
import { signOut } from '../../test/session';
import {
  EXPIRED,
  LOGGED_OUT_ELSEWHERE,
  readClaims,
  REJECTED,
  Session,
  session,
  STORAGE_KEY,
} from './session.svelte';

beforeEach(() => {
  signOut();
});

describe('readClaims', () => {
  it('reads the user and the expiry from a token, and refuses anything else', () => {
    const claims = readClaims(userToken(CUSTOMER));
    expect(claims?.user).toMatchObject(CUSTOMER);
    expect(claims?.expiresAt).toBeGreaterThan(Date.now());
    expect(readClaims('not a token')).toBeNull();
    expect(readClaims(tokenFor({ sub: 'x', email: 'a@b.c', role: 'user', exp: 1 }))).toBeNull();
    expect(readClaims(tokenFor({ sub: '5', email: 'a@b.c', role: 'root', exp: 1 }))).toBeNull();
  });
});

describe('Session', () => {
  it('restores a stored token that has not expired, and confirms it with the API', async () => {
    const api = fakeApi({
      'GET /auth/me': () =>
        json(200, { user: { sub: 7, role: 'user', email: 'customer@example.com' } }),
    });
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER));
    session.restore();
    expect(session.user).toMatchObject(CUSTOMER);
    expect(session.isStaff).toBe(false);
    await vi.waitFor(() => expect(api.to('GET /auth/me')).toHaveLength(1));
  });

  it('refreshes an expired token at start; without a live refresh cookie it ends, saying why', async () => {
    const api = fakeApi({
      'POST /auth/refresh': () => json(401, { error: 'Your session has ended: sign in again.' }),
    });
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER, -60));
    session.restore();
    expect(session.restoring).toBe(true);
    await vi.waitFor(() => expect(session.restoring).toBe(false));
    expect(session.user).toBeNull();
    expect(session.notice).toBe(EXPIRED);
    expect(localStorage.getItem(STORAGE_KEY)).toBeNull();
    expect(api.calls).toHaveLength(1);
  });

  it('goes on with a new token when the refresh cookie still holds at start', async () => {
    const fresh = userToken(CUSTOMER);
    const api = fakeApi({
      'POST /auth/refresh': () =>
        json(200, { token: fresh, token_type: 'bearer', expires_in: 900, refresh_token: null }),
      'GET /auth/me': () =>
        json(200, { user: { sub: 7, role: 'user', email: CUSTOMER.email, name: 'Cleo' } }),
    });
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER, -60));
    session.restore();
    await vi.waitFor(() => expect(session.restoring).toBe(false));
    expect(session.token).toBe(fresh);
    expect(localStorage.getItem(STORAGE_KEY)).toBe(fresh);
    expect(api.to('POST /auth/refresh')[0]!.body).toEqual({});
    await vi.waitFor(() => expect(session.user?.name).toBe('Cleo'));
  });

  it('refreshes once for calls refused together, then sends each of them once more', async () => {
    const stale = userToken(CUSTOMER);
    const fresh = userToken(CUSTOMER, 900) + 'x';
    const api = fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'POST /auth/refresh': () =>
        json(200, { token: fresh, token_type: 'bearer', expires_in: 900, refresh_token: null }),
      'GET /tickets': (call) =>
        call.headers.get('Authorization') === `Bearer ${fresh}`
          ? json(200, { tickets: [], next_cursor: null })
          : json(401, { error: 'Token expired.' }),
    });
    localStorage.setItem(STORAGE_KEY, stale);
    session.restore();
    const [first, second] = await Promise.all([
      apiClient.tickets.list({}),
      apiClient.tickets.list({}),
    ]);
    expect(first.tickets).toEqual([]);
    expect(second.tickets).toEqual([]);
    expect(api.to('POST /auth/refresh')).toHaveLength(1);
    expect(api.to('GET /tickets')).toHaveLength(4);
    expect(session.token).toBe(fresh);
  });

  it('ends the session with a sentence when the refresh is refused too', async () => {
    const api = fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'POST /auth/refresh': () => json(401, { error: 'This session has ended.' }),
      'GET /tickets': () => json(401, { error: 'Token revoked.' }),
    });
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER));
    session.restore();
    await expect(apiClient.tickets.list({})).rejects.toMatchObject({ status: 401 });
    expect(api.to('GET /tickets')).toHaveLength(1);
    expect(session.user).toBeNull();
    expect(session.notice).toBe(REJECTED);
  });

  it('logs out at S1 with the refresh cookie, and is signed out at once', async () => {
    const api = fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'POST /auth/logout': () => new Response(null, { status: 204 }),
    });
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER));
    session.restore();
    const ended = session.logout();
    expect(session.user).toBeNull();
    await ended;
    expect(api.to('POST /auth/logout')).toHaveLength(1);
    expect(localStorage.getItem(STORAGE_KEY)).toBeNull();
  });

  it('ends when the API refuses the token', async () => {
    fakeApi({ 'GET /auth/me': () => json(401, { error: 'Invalid or expired token.' }) });
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER));
    session.restore();
    expect(session.user).toEqual(CUSTOMER);
    await vi.waitFor(() => expect(session.user).toBeNull());
    expect(session.notice).toBe(REJECTED);
    expect(localStorage.getItem(STORAGE_KEY)).toBeNull();
  });

  it('keeps the session when the API cannot be reached', async () => {
    const api = fakeApi({ 'GET /auth/me': () => Promise.reject(new TypeError('offline')) });
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER));
    session.restore();
    await vi.waitFor(() => expect(api.calls).toHaveLength(1));
    expect(session.user).toEqual(CUSTOMER);
  });

  it('logs in: the token is checked with /auth/me, stored, and the notice cleared', async () => {
    const token = userToken(CUSTOMER);
    const api = fakeApi({
      'POST /auth/login': () => json(200, { token, token_type: 'bearer', expires_in: 3600 }),
      'GET /auth/me': () =>
        json(200, { user: { sub: 7, role: 'user', email: 'customer@example.com' } }),
    });
    session.expire(EXPIRED);
    session.notice = EXPIRED;
    const user = await session.login({
      email: 'customer@example.com',
      password: 'secret-password',
    });
    expect(user).toMatchObject(CUSTOMER);
    expect(api.to('POST /auth/login')[0]!.body).toMatchObject({ refresh_via: 'cookie' });
    expect(localStorage.getItem(STORAGE_KEY)).toBe(token);
    expect(session.notice).toBeNull();
    expect(api.to('GET /auth/me')[0]!.headers.get('Authorization')).toBe(`Bearer ${token}`);
    expect(api.to('POST /auth/login')[0]!.headers.get('Authorization')).toBeNull();
  });

  it('refreshes before the token runs out, and ends when that fails', async () => {
    vi.useFakeTimers();
    try {
      const api = fakeApi({
        'GET /auth/me': () => new Promise(() => {}),
        'POST /auth/refresh': () => json(401, { error: 'Refresh token expired.' }),
      });
      localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER, 60));
      session.restore();
      expect(session.user).not.toBeNull();
      await vi.advanceTimersByTimeAsync(20_000);
      expect(api.to('POST /auth/refresh')).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(api.to('POST /auth/refresh')).toHaveLength(1);
      expect(session.user).toBeNull();
      expect(session.notice).toBe(EXPIRED);
    } finally {
      vi.useRealTimers();
    }
  });

  it('follows another tab that logs out or in', () => {
    const storage = new Map<string, string>();
    const fakeStorage = {
      getItem: (key: string) => storage.get(key) ?? null,
      setItem: (key: string, value: string) => void storage.set(key, value),
      removeItem: (key: string) => void storage.delete(key),
    } as unknown as Storage;
    const tab = new Session(fakeStorage);
    fakeApi({ 'GET /auth/me': () => new Promise(() => {}) });
    storage.set(STORAGE_KEY, userToken(CUSTOMER));
    tab.restore();

    storage.delete(STORAGE_KEY);
    tab.onStorage(new StorageEvent('storage', { key: STORAGE_KEY }));
    expect(tab.user).toBeNull();
    expect(tab.notice).toBe(LOGGED_OUT_ELSEWHERE);

    storage.set(STORAGE_KEY, userToken(CUSTOMER));
    tab.onStorage(new StorageEvent('storage', { key: STORAGE_KEY }));
    expect(tab.user).toMatchObject(CUSTOMER);
    expect(tab.notice).toBeNull();
  });
});
