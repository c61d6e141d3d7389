/** S1 auth, under /auth (docs/api.md "S1 Auth"). */

import type { ApiClient } from './client';
import type {
  Credentials,
  MeOut,
  MessageOut,
  PasswordChange,
  TokenOut,
  User,
  UserList,
} from './types';
import type { Role } from '../vocabulary';
import { PAGE_SIZE } from '../vocabulary';

export function authApi(client: ApiClient) {
  return {
    register: (credentials: Credentials) =>
      client.request<User>('/auth/register', { method: 'POST', body: credentials, auth: false }),

    /** The refresh token comes back as S1's HttpOnly cookie: no script can read it. */
    login: (credentials: Credentials) =>
      client.request<TokenOut>('/auth/login', {
        method: 'POST',
        body: { ...credentials, refresh_via: 'cookie' },
        auth: false,
        cookies: true,
      }),

    /** A new access token for the refresh cookie (each refresh token works once). */
    refresh: () =>
      client.request<TokenOut>('/auth/refresh', {
        method: 'POST',
        body: {},
        auth: false,
        cookies: true,
      }),

    /** Ends the session the refresh cookie belongs to, and clears the cookie. */
    logout: () =>
      client.request<void>('/auth/logout', {
        method: 'POST',
        body: {},
        auth: false,
        cookies: true,
      }),

    /** The new token carries this session on; every other session ends. */
    changePassword: (change: PasswordChange) =>
      client.request<TokenOut>('/auth/password', { method: 'POST', body: change }),

    /** The display name; null removes it. */
    updateMe: (name: string | null) =>
      client.request<MeOut>('/auth/me', { method: 'PATCH', body: { name } }),

    /** Answered alike for any address: it says nothing of who has an account. */
    requestPasswordReset: (email: string) =>
      client.request<MessageOut>('/auth/password-reset', {
        method: 'POST',
        body: { email },
        auth: false,
      }),

    confirmPasswordReset: (token: string, newPassword: string) =>
      client.request<MessageOut>('/auth/password-reset/confirm', {
        method: 'POST',
        body: { token, new_password: newPassword },
        auth: false,
      }),

    /** The caller as their token describes them. `token` checks a token not yet stored. */
    me: (token?: string, signal?: AbortSignal) =>
      client.request<MeOut>('/auth/me', {
        signal,
        ...(token ? { auth: false, headers: { Authorization: `Bearer ${token}` } } : {}),
      }),

    /** Staff: users by id, a page at a time. */
    users: (
      params: {
        role?: Role;
        q?: string;
        ids?: number[];
        cursor?: string | null;
        limit?: number;
      } = {},
      signal?: AbortSignal,
    ) =>
      client.request<UserList>('/auth/users', {
        query: {
          role: params.role,
          q: params.q,
          ids: params.ids?.join(','),
          cursor: params.cursor,
          limit: params.limit ?? PAGE_SIZE,
        },
        signal,
      }),

    /** Staff, or the user themselves. */
    user: (id: number, signal?: AbortSignal) =>
      client.request<User>(`/auth/users/${id}`, { signal }),

    /** Admin. */
    setRole: (id: number, role: Role) =>
      client.request<User>(`/auth/users/${id}/role`, { method: 'PATCH', body: { role } }),
  };
}
