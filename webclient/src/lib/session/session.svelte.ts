/**
 * Who is signed in: the bearer token, the user it describes, and when it expires.
 *
 * The access token (15 minutes) is kept in localStorage so that a reload keeps the person
 * signed in; the Content-Security-Policy the servers send (scripts from our own origin only) is
 * what keeps other scripts away from it. The refresh token is S1's HttpOnly cookie, which no
 * script can read. Shortly before the access token expires, or when the API refuses it, the
 * session refreshes it: one refresh at a time in this tab, and one across tabs (a Web Lock),
 * since each refresh token works once and a second use ends the whole session. The tab that
 * refreshes writes the new token; the others take it up from storage. Logging out in one tab
 * logs out all. When no refresh is possible the person lands on the login page with a sentence
 * saying why.
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
/** Refresh this long before the access token runs out (or halfway, for a shorter token). */
const REFRESH_AHEAD_MS = 60_000;
const REFRESH_LOCK = 'helpdesk.refresh';

export interface SessionUser {
  id: number;
  email: string;
  role: Role;
  /** The display name (S1 `/auth/me`), when the person gave one. */
  name?: string | null;
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
  return { id: me.user.sub, email: me.user.email, role: me.user.role, name: me.user.name ?? null };
}

/** Run `task` holding the cross-tab refresh lock, where the browser has Web Locks. */
function withRefreshLock<T>(task: () => Promise<T>): Promise<T> {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(REFRESH_LOCK, task) : task();
}

export class Session {
  token = $state<string | null>(null);
  user = $state<SessionUser | null>(null);
  expiresAt = $state<number | null>(null);
  /** Why the person is on the login page (expired, logged out), shown there once. */
  notice = $state<string | null>(null);
  /** At start, while an expired stored token is being refreshed: the shell waits. */
  restoring = $state(false);

  readonly isSignedIn = $derived(this.user !== null);
  readonly isStaff = $derived(this.user?.role === 'staff' || this.user?.role === 'admin');
  readonly isAdmin = $derived(this.user?.role === 'admin');

  #timer: ReturnType<typeof setTimeout> | undefined;
  #refreshing: Promise<boolean> | null = null;

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
      // The access token ran out while the page was closed: the refresh cookie may still hold.
      this.restoring = true;
      this.refresh(stored).then(
        (renewed) => {
          this.restoring = false;
          if (!renewed) this.#clear(EXPIRED);
        },
        () => (this.restoring = false),
      );
      return;
    }
    this.#start(stored, claims.user, claims.expiresAt, now);
    this.#confirm(stored);
  }

  /** Who the token is, as the database has them now (the display name is not in the token). A
   * token can be refused before its time (a new JWT secret, a demoted account): the API
   * client's 401 hook refreshes or ends the session then. Anything else (the API down) keeps it. */
  #confirm(token: string): void {
    api.auth.me().then(
      (me) => {
        if (this.token === token) this.user = userFromMe(me);
      },
      () => {},
    );
  }

  /**
   * A new access token for the one refused or about to run out (`stale`). Calls that meet a 401
   * together share one refresh; tabs take turns (Web Locks), and a tab that finds a newer token
   * in storage than the one refused takes that up instead of refreshing again.
   */
  refresh(stale: string): Promise<boolean> {
    if (this.token !== null && this.token !== stale) return Promise.resolve(true);
    this.#refreshing ??= withRefreshLock(() => this.#refreshOnce(stale)).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refreshOnce(stale: string, now: () => number = Date.now): Promise<boolean> {
    const stored = this.#read();
    const storedClaims = stored ? readClaims(stored) : null;
    if (stored && stored !== stale && storedClaims) {
      if (storedClaims.expiresAt - EXPIRY_MARGIN_MS > now()) {
        this.#start(
          stored,
          { ...storedClaims.user, name: this.user?.name },
          storedClaims.expiresAt,
          now(),
        );
        return true;
      }
    }
    if (stored === null && this.token === null && !this.restoring) return false; // logged out
    try {
      const { token, expires_in } = await api.auth.refresh();
      const claims = readClaims(token);
      if (!claims) return false;
      const user = { ...claims.user, name: this.user?.name ?? null };
      this.#write(token);
      this.#start(token, user, claims.expiresAt ?? now() + expires_in * 1000, now());
      if (this.user?.name === null) this.#confirm(token);
      return true;
    } catch {
      return false;
    }
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

  /** End the session at S1 (its refresh token dies, the cookie is cleared), then here. */
  async logout(notice: string | null = LOGGED_OUT): Promise<void> {
    const wasSignedIn = this.token !== null;
    this.#clear(notice);
    if (!wasSignedIn) return;
    try {
      await api.auth.logout();
    } catch {
      // Already ended (or S1 unreachable): this browser is signed out either way, and the
      // access token it held is gone from storage.
    }
  }

  /** The new token S1 answers carries this session on (every other session ends). */
  async changePassword(current: string, next: string, now: () => number = Date.now): Promise<void> {
    const { token, expires_in } = await api.auth.changePassword({
      current_password: current,
      new_password: next,
    });
    const claims = readClaims(token);
    const user = this.user;
    if (!user) return;
    this.#write(token);
    this.#start(token, user, claims?.expiresAt ?? now() + expires_in * 1000, now());
  }

  /** The display name, as S1 stored it. */
  async rename(name: string | null): Promise<void> {
    const me = await api.auth.updateMe(name);
    this.user = userFromMe(me);
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
      // A refresh in another tab keeps the same person: keep the name we know.
      const name = this.user?.id === claims.user.id ? this.user.name : null;
      this.#start(token, { ...claims.user, name }, claims.expiresAt, now);
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
    // Refresh ahead of the expiry (halfway for a short token); when that fails, the session
    // ends with the token. setTimeout's limit is ~24.8 days; tokens last minutes.
    const left = expiresAt - EXPIRY_MARGIN_MS - now;
    const ahead = Math.min(REFRESH_AHEAD_MS, left / 2);
    const delay = Math.min(Math.max(left - ahead, 0), 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      this.refresh(token).then((renewed) => {
        if (!renewed && this.token === token) this.expire(EXPIRED);
      });
    }, delay);
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
  refresh: (stale) => session.refresh(stale),
  onUnauthorized: () => session.expire(REJECTED),
});
