/**
 * A stand-in for the gateway in component tests: `fetch` is replaced by handlers keyed by
 * "METHOD /path", so the real API client (headers, error mapping, the 401 hook) runs.
 */

import { vi } from 'vitest';

export interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: unknown;
}

export type Handler = (call: Call) => Response | Promise<Response>;

export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export function fakeApi(handlers: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const method = init.method ?? 'GET';
    const call: Call = {
      method,
      url,
      headers: new Headers(init.headers),
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    const handler = handlers[`${method} ${url.pathname}`];
    if (!handler) throw new Error(`no fake for ${method} ${url.pathname}`);
    return handler(call);
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    calls,
    fetch: fetchMock,
    /** The calls to one route, in order. */
    to: (route: string) => calls.filter((c) => `${c.method} ${c.url.pathname}` === route),
  };
}

/** An unsigned JWT with these claims (the client reads claims, the API verifies). */
export function tokenFor(claims: Record<string, unknown>): string {
  const encode = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}.signature`;
}

export function userToken(
  user: { id: number; email: string; role: string },
  secondsLeft = 3600,
): string {
  const now = Math.floor(Date.now() / 1000);
  return tokenFor({
    sub: String(user.id),
    email: user.email,
    role: user.role,
    iat: now,
    exp: now + secondsLeft,
  });
}

export const CUSTOMER = { id: 7, email: 'customer@example.com', role: 'user' as const };
export const STAFF = { id: 3, email: 'agent@example.com', role: 'staff' as const };
export const ADMIN = { id: 1, email: 'admin@example.com', role: 'admin' as const };

export function ticket(overrides: Record<string, unknown> = {}) {
  return {
    id: 1,
    user_id: CUSTOMER.id,
    title: 'Invoice PDF does not download',
    description: 'It spins forever.',
    category: 'bug',
    status: 'new',
    priority: 'medium',
    assigned_to: null,
    created_at: '2026-11-24T10:30:00.000000+00:00',
    updated_at: '2026-11-24T10:30:00.000000+00:00',
    ...overrides,
  };
}
