/**
 * The one place the web client talks HTTP. Every call goes to the gateway at the configured
 * base URL, carries the session's bearer token, and fails with an `ApiError` whose message is a
 * sentence for a person: the API's own `{"error"}` when it sent one, else one written here for
 * the status (or for no answer at all). A 401 on a call that carried a token asks the session
 * to refresh it (the `refresh` hook: one refresh at a time, shared by every call that met the
 * 401) and sends the call once more with the new token; when no new token comes, the session
 * ends (the `onUnauthorized` hook), so a dead session always leads back to the login page.
 *
 * Uploads go through `upload` (XMLHttpRequest: fetch reports no upload progress), downloads
 * through `download` (the bytes and the file name, fetched with the token, which a plain link
 * cannot carry).
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
  /** Send and accept cookies: only S1's refresh cookie (login, refresh, logout) needs them. */
  cookies?: boolean;
}

export interface AuthHooks {
  token(): string | null;
  /** Get a new access token after `stale` was refused; true when the session goes on. */
  refresh?(stale: string): Promise<boolean>;
  onUnauthorized(error: ApiError): void;
}

export interface UploadOptions {
  /** Called with the share of the body sent so far, 0 to 1. */
  onProgress?(fraction: number): void;
  signal?: AbortSignal;
}

export interface Download {
  blob: Blob;
  /** From `Content-Disposition` (RFC 6266 `filename*` first), else the fallback given. */
  filename: string;
}

/** The file name a `Content-Disposition` header gives, if any. */
export function dispositionFilename(header: string | null): string | null {
  if (!header) return null;
  const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (extended?.[1]) {
    try {
      return decodeURIComponent(extended[1].trim());
    } catch {
      // A malformed escape: fall back to the plain parameter.
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/.exec(header);
  return plain?.[1]?.trim() || null;
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
export const UPLOAD_FAILED =
  'The upload did not go through: the connection broke or the server stopped it (a file over the size limit is stopped this way). Check the file, then try again.';

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
    const response = await this.#send(path, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** GET bytes with the session's token: a file to save, with its name. */
  async download(path: string, fallbackName: string, query?: Query): Promise<Download> {
    const response = await this.#send(path, { query, headers: { Accept: '*/*' } });
    const filename =
      dispositionFilename(response.headers.get('Content-Disposition')) ?? fallbackName;
    return { blob: await response.blob(), filename };
  }

  /** POST a multipart form, reporting the upload's progress; JSON back, errors as `request`. */
  async upload<T>(path: string, form: FormData, options: UploadOptions = {}): Promise<T> {
    const token = this.auth.token();
    let response = await this.#xhr(path, form, token, options);
    if (response.status === 401 && token && (await this.#renewed(token))) {
      options.onProgress?.(0);
      response = await this.#xhr(path, form, this.auth.token(), options);
    }
    if (!response.ok) throw await this.#failure(response, token);
    return (await response.json()) as T;
  }

  async #send(path: string, options: RequestOptions): Promise<Response> {
    const token = options.auth === false ? null : this.auth.token();
    let response = await this.#fetch(path, options, token);
    // One refresh for a refused token, then the call once more (never twice).
    if (response.status === 401 && token && (await this.#renewed(token))) {
      response = await this.#fetch(path, options, this.auth.token());
    }
    if (!response.ok) throw await this.#failure(response, token);
    return response;
  }

  async #renewed(stale: string): Promise<boolean> {
    if (!this.auth.refresh) return false;
    try {
      return await this.auth.refresh(stale);
    } catch {
      return false;
    }
  }

  async #failure(response: Response, token: string | null): Promise<ApiError> {
    const error = await errorFrom(response);
    if (response.status === 401 && token) this.auth.onUnauthorized(error);
    return error;
  }

  async #fetch(path: string, options: RequestOptions, token: string | null): Promise<Response> {
    const { method = 'GET', body, query, signal, headers = {}, cookies = false } = options;
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
      // Bearer tokens for everything; the refresh cookie (HttpOnly, scoped to /auth/refresh and
      // /auth/logout) is the one cookie, sent only on the calls that use it.
      credentials: cookies ? 'include' : 'omit',
    };
    try {
      return await this.fetchImpl(this.url(path, query), init);
    } catch (error) {
      if (signal?.aborted) throw error; // the caller gave up: not an error to show
      if (timeout.aborted) throw new ApiError(TIMED_OUT, 0);
      throw new ApiError(NO_ANSWER, 0);
    }
  }

  #xhr(
    path: string,
    form: FormData,
    token: string | null,
    { onProgress, signal }: UploadOptions,
  ): Promise<Response> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', this.url(path));
      xhr.setRequestHeader('Accept', 'application/json');
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.withCredentials = false;
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable && event.total > 0) onProgress?.(event.loaded / event.total);
      };
      xhr.onload = () => {
        const headers = new Headers();
        for (const name of ['Content-Type', 'X-Request-ID', 'Retry-After']) {
          const value = xhr.getResponseHeader(name);
          if (value !== null) headers.set(name, value);
        }
        if (xhr.status >= 200 && xhr.status < 300) onProgress?.(1);
        // A null body for the statuses a Response may not carry one with.
        const body = [101, 204, 205, 304].includes(xhr.status) ? null : xhr.responseText;
        resolve(new Response(body, { status: xhr.status, headers }));
      };
      // No answer: the network, CORS, or a server that cut the upload off (a 413 sent before
      // the body ended reaches browsers as an error, not as the answer).
      xhr.onerror = () => reject(new ApiError(UPLOAD_FAILED, 0));
      xhr.ontimeout = () => reject(new ApiError(TIMED_OUT, 0));
      xhr.onabort = () => reject(new DOMException('The upload was cancelled.', 'AbortError'));
      if (signal) {
        if (signal.aborted) {
          reject(new DOMException('The upload was cancelled.', 'AbortError'));
          return;
        }
        signal.addEventListener('abort', () => xhr.abort(), { once: true });
      }
      xhr.send(form);
    });
  }
}
