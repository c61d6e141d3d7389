/**
 * Who is signed in: the bearer token, the user it describes, and when it expires.
 *
 * The token is kept in localStorage so that a reload (or the next morning's first tab, within
 * the token's hour) keeps the person signed in; the Content-Security-Policy the servers send
 * (scripts from our own origin only) is what keeps other scripts away from it. Every tab shares
 * it: logging out in one logs out all. The session ends itself when the token expires, and the
 * API client ends it on any 401, so a stale token always leads back to the login page with a
 * sentence saying why.
 */

import { api, client } from '../api';
import type { Credentials, MeOut } from '../api/types';
import { isRole, type Role } from '../vocabulary';

export const STORAGE_KEY = 'helpdesk.session';

export const EXPIRED = 'Your session has expired. Please log in again.';
export const REJECTED = 'Your session has expired or is no longer valid. Please log in again.';
export const LOGGED_OUT_ELSEWHERE = 'You were logged out in another tab.';
export const LOGGED_OUT = 'You are logged out.';

/** Treat a token this close to its expiry as expired: clocks differ, requests take time. */
const EXPIRY_MARGIN_MS = 5_000;

export interface SessionUser {
  id: number;
  email: string;
  role: Role;
}

interface Claims {
  user: SessionUser;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Read (not verify: the API does that) what a JWT says about its user and its expiry. */
export function readClaims(token: string): Claims | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const claims: unknown = JSON.parse(json);
    if (typeof claims !== 'object' || claims === null) return null;
    const { sub, role, email, exp } = claims as Record<string, unknown>;
    const id = Number(sub);
    if (!Number.isInteger(id) || id <= 0 || typeof email !== 'string' || typeof exp !== 'number') {
      return null;
    }
    if (typeof role !== 'string' || !isRole(role)) return null;
    return { user: { id, email, role }, expiresAt: exp * 1000 };
  } catch {
    return null;
  }
}

/** localStorage, or nothing where the browser refuses it (then a session lasts one page). */
function browserStorage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

function userFromMe(me: MeOut): SessionUser {
  return { id: me.user.sub, email: me.user.email, role: me.user.role };
}

export class Session {
  token = $state<string | null>(null);
  user = $state<SessionUser | null>(null);
  expiresAt = $state<number | null>(null);
  /** Why the person is on the login page (expired, logged out), shown there once. */
  notice = $state<string | null>(null);

  readonly isSignedIn = $derived(this.user !== null);
  readonly isStaff = $derived(this.user?.role === 'staff' || this.user?.role === 'admin');
  readonly isAdmin = $derived(this.user?.role === 'admin');

  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly storage: Storage | undefined = browserStorage()) {}

  /** At start: take up a stored token that has not expired, then confirm it with the API. */
  restore(now: number = Date.now()): void {
    const stored = this.#read();
    if (!stored) return;
    const claims = readClaims(stored);
    if (!claims) {
      this.#clear(REJECTED);
      return;
    }
    if (claims.expiresAt - EXPIRY_MARGIN_MS <= now) {
      this.#clear(EXPIRED);
      return;
    }
    this.#start(stored, claims.user, claims.expiresAt, now);
    // A token can be refused before its time (a new JWT secret, a demoted account): the API
    // client's 401 hook ends the session then. Anything else (the API down) keeps it.
    api.auth.me().then(
      (me) => {
        if (this.token === stored) this.user = userFromMe(me);
      },
      () => {},
    );
  }

  async login(credentials: Credentials, now: () => number = Date.now): Promise<SessionUser> {
    const { token, expires_in } = await api.auth.login(credentials);
    // /auth/me checks the token and says who it is, in the API's own words.
    const user = userFromMe(await api.auth.me(token));
    const expiresAt = readClaims(token)?.expiresAt ?? now() + expires_in * 1000;
    this.#write(token);
    this.#start(token, user, expiresAt, now());
    this.notice = null;
    return user;
  }

  logout(notice: string | null = LOGGED_OUT): void {
    this.#clear(notice);
  }

  /** The API refused the token, or it ran out. */
  expire(notice: string = REJECTED): void {
    if (this.token !== null) this.#clear(notice);
  }

  /** Another tab logged in or out: follow it. */
  onStorage(event: StorageEvent, now: number = Date.now()): void {
    if (event.key !== STORAGE_KEY && event.key !== null) return;
    const token = this.#read();
    if (token === this.token) return;
    const claims = token ? readClaims(token) : null;
    if (token && claims && claims.expiresAt - EXPIRY_MARGIN_MS > now) {
      this.#start(token, claims.user, claims.expiresAt, now);
      this.notice = null;
    } else if (this.token !== null) {
      this.#stop(LOGGED_OUT_ELSEWHERE);
    }
  }

  #read(): string | null {
    try {
      return this.storage?.getItem(STORAGE_KEY) ?? null;
    } catch {
      return null; // storage disabled: a session for this page only
    }
  }

  #write(token: string | null): void {
    try {
      if (token === null) this.storage?.removeItem(STORAGE_KEY);
      else this.storage?.setItem(STORAGE_KEY, token);
    } catch {
      // Full or disabled storage: the session still works until the page is closed.
    }
  }

  #start(token: string, user: SessionUser, expiresAt: number, now: number): void {
    clearTimeout(this.#timer);
    this.token = token;
    this.user = user;
    this.expiresAt = expiresAt;
    // setTimeout's limit is ~24.8 days; tokens last an hour.
    const delay = Math.min(Math.max(expiresAt - EXPIRY_MARGIN_MS - now, 0), 2 ** 31 - 1);
    this.#timer = setTimeout(() => this.expire(EXPIRED), delay);
  }

  #stop(notice: string | null): void {
    clearTimeout(this.#timer);
    this.token = null;
    this.user = null;
    this.expiresAt = null;
    this.notice = notice;
  }

  #clear(notice: string | null): void {
    this.#write(null);
    this.#stop(notice);
  }
}

export const session = new Session();

client.useAuth({
  token: () => session.token,
  onUnauthorized: () => session.expire(REJECTED),
});
