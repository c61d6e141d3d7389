/**
 * The API, one section per service, all on one client (base URL from configuration, the
 * session's token, errors as sentences). Components import `api` and nothing else from here.
 *
 * Later services add a section each: `workflow` (S4), `media` (S5; uploads need progress, so
 * an XMLHttpRequest-based `upload` beside `request`), `notifications` (S6; the SSE stream),
 * `analytics` (S7), `feedback` (S8). See webclient/README.md.
 */

import { apiBaseUrl } from '../config';
import { authApi } from './auth';
import { ApiClient } from './client';
import { ticketsApi } from './tickets';

export const client = new ApiClient(apiBaseUrl());

export const api = {
  auth: authApi(client),
  tickets: ticketsApi(client),
};

export { ApiError, errorMessage, isAbort } from './client';
export type * from './types';
