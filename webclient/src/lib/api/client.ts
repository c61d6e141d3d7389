/**
 * The one place the web client talks HTTP. Every call goes to the gateway at the configured
 * base URL, carries the session's bearer token, and fails with an `ApiError` whose message is a
 * sentence for a person: the API's own `{"error"}` when it sent one, else one written here for
 * the status (or for no answer at all). A 401 on a call that carried a token ends the session
 * (the `onUnauthorized` hook), so an expired token always leads back to the login page.
 */

import { sentence } from '../format';
import type { ErrorBody, FieldProblem } from './types';

export type QueryValue = string | number | boolean | null | undefined;
export type Query = Record<string, QueryValue>;
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  method?: Method;
  /** Sent as JSON. */
  body?: unknown;
  /** Added to the URL; empty, null and undefined values are left out. */
  query?: Query;
  /** Send the session's token (the default). Login and registration send none. */
  auth?: boolean;
  signal?: AbortSignal;
  /** Give up after this long (the gateway answers within its own timeouts well before). */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface AuthHooks {
  token(): string | null;
  onUnauthorized(error: ApiError): void;
}

const DEFAULT_TIMEOUT_MS = 20_000;

/** What a status means to a person, when the API said nothing we can show. */
const STATUS_SENTENCES: Record<number, string> = {
  400: 'The request was not accepted. Check what you entered and try again.',
  401: 'Your session has ended. Please log in again.',
  403: 'You are not allowed to do that.',
  404: 'That could not be found. It may have been removed, or you may not have access to it.',
  409: 'That conflicts with the current state. Reload and try again.',
  413: 'That is too large to send.',
  415: 'That kind of content is not accepted.',
  429: 'Too many attempts. Wait a moment, then try again.',
  500: 'Something went wrong on the server. Try again in a moment.',
  502: 'The helpdesk is temporarily unavailable. Try again in a moment.',
  503: 'The helpdesk is temporarily unavailable. Try again in a moment.',
  504: 'The helpdesk took too long to answer. Try again in a moment.',
};

export const NO_ANSWER = 'Cannot reach the helpdesk server. Check your connection, then try again.';
export const TIMED_OUT = 'The helpdesk server took too long to answer. Try again.';

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    message: string,
    /** The HTTP status; 0 when no answer came (network down, timeout, CORS refusal). */
    readonly status: number,
    readonly details: FieldProblem[] = [],
    readonly requestId: string | null = null,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
  }

  /** The API's word about one input field (validation `details`), to show beside that field. */
  forField(field: string): string | undefined {
    return this.details.find((d) => d.field === field)?.message;
  }

  /** The sentence to show: with the request id for server faults, so support can find the logs. */
  get userMessage(): string {
    if (this.status >= 500 && this.requestId) {
      return `${this.message} (Reference: ${this.requestId}.)`;
    }
    return this.message;
  }
}

/** What to show for anything a call may throw. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.userMessage;
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong. Try again.';
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' && value !== null && typeof (value as ErrorBody).error === 'string'
  );
}

function retryAfter(response: Response): number | null {
  // Readable only where the gateway exposes it to browsers (Access-Control-Expose-Headers).
  const raw = response.headers.get('Retry-After');
  const seconds = raw === null ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): fall back to the status's sentence.
  }
  const requestId = response.headers.get('X-Request-ID');
  const wait = retryAfter(response);
  const fallback =
    STATUS_SENTENCES[response.status] ?? `The request failed (HTTP ${response.status}).`;
  let message = isErrorBody(body) && body.error.trim() ? sentence(body.error) : fallback;
  if (response.status === 429 && wait !== null) {
    message = `${message} You can try again in ${Math.ceil(wait)} s.`;
  }
  const details =
    isErrorBody(body) && Array.isArray(body.details)
      ? body.details.map((d) => ({ field: d.field, message: sentence(d.message) }))
      : [];
  return new ApiError(message, response.status, details, requestId, wait);
}

export class ApiClient {
  private auth: AuthHooks = { token: () => null, onUnauthorized: () => {} };

  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  /** The session module plugs in here (it imports the client, not the other way round). */
  useAuth(hooks: AuthHooks): void {
    this.auth = hooks;
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== '') {
        url.searchParams.set(key, String(value));
      }
    }
    return url.toString();
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const { method = 'GET', body, query, auth = true, signal, headers = {} } = options;
    const token = auth ? this.auth.token() : null;
    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const init: RequestInit = {
      method,
      headers: {
        Accept: 'application/json',
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      // Bearer tokens only: no cookies go to the API, and none come back.
      credentials: 'omit',
    };

    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, query), init);
    } catch (error) {
      if (signal?.aborted) throw error; // the caller gave up: not an error to show
      if (timeout.aborted) throw new ApiError(TIMED_OUT, 0);
      throw new ApiError(NO_ANSWER, 0);
    }

    if (!response.ok) {
      const error = await errorFrom(response);
      if (response.status === 401 && token) this.auth.onUnauthorized(error);
      throw error;
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}
