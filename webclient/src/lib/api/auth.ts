/** S1 auth, under /auth (docs/api.md "S1 Auth"). */

import type { ApiClient } from './client';
import type { Credentials, MeOut, TokenOut, User, UserList } from './types';
import type { Role } from '../vocabulary';
import { PAGE_SIZE } from '../vocabulary';

export function authApi(client: ApiClient) {
  return {
    register: (credentials: Credentials) =>
      client.request<User>('/auth/register', { method: 'POST', body: credentials, auth: false }),

    login: (credentials: Credentials) =>
      client.request<TokenOut>('/auth/login', { method: 'POST', body: credentials, auth: false }),

    /** The caller as their token describes them. `token` checks a token not yet stored. */
    me: (token?: string, signal?: AbortSignal) =>
      client.request<MeOut>('/auth/me', {
        signal,
        ...(token ? { auth: false, headers: { Authorization: `Bearer ${token}` } } : {}),
      }),

    /** Staff: users by id, a page at a time. */
    users: (
      params: { role?: Role; cursor?: string | null; limit?: number } = {},
      signal?: AbortSignal,
    ) =>
      client.request<UserList>('/auth/users', {
        query: { role: params.role, cursor: params.cursor, limit: params.limit ?? PAGE_SIZE },
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
