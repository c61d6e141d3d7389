import { beforeEach, describe, expect, it, vi } from 'vitest';

import { CUSTOMER, fakeApi, json, tokenFor, userToken } from '../../test/fake-api';
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
  session.logout(null);
  localStorage.clear();
});

describe('readClaims', () => {
  it('reads the user and the expiry from a token, and refuses anything else', () => {
    const claims = readClaims(userToken(CUSTOMER));
    expect(claims?.user).toEqual(CUSTOMER);
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
    expect(session.user).toEqual(CUSTOMER);
    expect(session.isStaff).toBe(false);
    await vi.waitFor(() => expect(api.to('GET /auth/me')).toHaveLength(1));
  });

  it('drops an expired token at start, with a sentence for the login page', () => {
    const api = fakeApi({});
    localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER, -60));
    session.restore();
    expect(session.user).toBeNull();
    expect(session.notice).toBe(EXPIRED);
    expect(localStorage.getItem(STORAGE_KEY)).toBeNull();
    expect(api.calls).toHaveLength(0);
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
    expect(user).toEqual(CUSTOMER);
    expect(localStorage.getItem(STORAGE_KEY)).toBe(token);
    expect(session.notice).toBeNull();
    expect(api.to('GET /auth/me')[0]!.headers.get('Authorization')).toBe(`Bearer ${token}`);
    expect(api.to('POST /auth/login')[0]!.headers.get('Authorization')).toBeNull();
  });

  it('ends by itself when the token runs out', () => {
    vi.useFakeTimers();
    try {
      fakeApi({ 'GET /auth/me': () => new Promise(() => {}) });
      localStorage.setItem(STORAGE_KEY, userToken(CUSTOMER, 60));
      session.restore();
      expect(session.user).not.toBeNull();
      vi.advanceTimersByTime(56_000);
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
    expect(tab.user).toEqual(CUSTOMER);
    expect(tab.notice).toBeNull();
  });
});
