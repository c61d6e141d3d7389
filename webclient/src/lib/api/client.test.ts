// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';

import { ApiClient, ApiError, NO_ANSWER, TIMED_OUT } from './client';

function clientWith(respond: (url: string, init: RequestInit) => Promise<Response> | Response) {
  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) =>
    respond(String(input), init),
  );
  return { client: new ApiClient('http://api.test', fetchImpl as typeof fetch), fetchImpl };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });

describe('ApiClient', () => {
  it('sends JSON with the bearer token and leaves empty query values out', async () => {
    const { client, fetchImpl } = clientWith(() => json(200, { ok: true }));
    client.useAuth({ token: () => 'abc', onUnauthorized: () => {} });

    await client.request('/tickets', {
      method: 'POST',
      body: { title: 'x' },
      query: { status: 'new', q: '', cursor: null, limit: 50 },
    });

    const [url, init] = fetchImpl.mock.calls[0]!;
    expect(url).toBe('http://api.test/tickets?status=new&limit=50');
    expect(init?.method).toBe('POST');
    expect(init?.body).toBe('{"title":"x"}');
    const headers = init?.headers as Record<string, string>;
    expect(headers.Authorization).toBe('Bearer abc');
    expect(headers['Content-Type']).toBe('application/json');
    expect(init?.credentials).toBe('omit');
  });

  it('sends no token when asked not to (login, register)', async () => {
    const { client, fetchImpl } = clientWith(() => json(201, {}));
    client.useAuth({ token: () => 'abc', onUnauthorized: () => {} });
    await client.request('/auth/register', { method: 'POST', body: {}, auth: false });
    const headers = fetchImpl.mock.calls[0]![1]?.headers as Record<string, string>;
    expect(headers.Authorization).toBeUndefined();
  });

  it("shows the API's own sentence, as a sentence, with its field details", async () => {
    const { client } = clientWith(() =>
      json(400, {
        error: 'Invalid title: must not contain control characters',
        details: [{ field: 'title', message: 'must not contain control characters' }],
      }),
    );
    const error = await client.request('/tickets').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    const apiError = error as ApiError;
    expect(apiError.status).toBe(400);
    expect(apiError.message).toBe('Invalid title: must not contain control characters.');
    expect(apiError.forField('title')).toBe('Must not contain control characters.');
    expect(apiError.forField('description')).toBeUndefined();
  });

  it('says what a status means when the body is not the API’s (a proxy page)', async () => {
    const { client } = clientWith(
      () =>
        new Response('<html>Bad gateway</html>', {
          status: 502,
          headers: { 'X-Request-ID': 'r-1' },
        }),
    );
    const error = (await client.request('/tickets').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(502);
    expect(error.message).toBe('The helpdesk is temporarily unavailable. Try again in a moment.');
    expect(error.userMessage).toBe(
      'The helpdesk is temporarily unavailable. Try again in a moment. (Reference: r-1.)',
    );
  });

  it('adds the wait to a 429 when the gateway exposes Retry-After', async () => {
    const { client } = clientWith(() =>
      json(429, { error: 'Too many failed logins; try again later.' }, { 'Retry-After': '42' }),
    );
    const error = (await client.request('/auth/login').catch((e: unknown) => e)) as ApiError;
    expect(error.message).toBe(
      'Too many failed logins; try again later. You can try again in 42 s.',
    );
    expect(error.retryAfterSeconds).toBe(42);
  });

  it('turns no answer at all into a sentence about the connection', async () => {
    const { client } = clientWith(() => Promise.reject(new TypeError('Failed to fetch')));
    const error = (await client.request('/tickets').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.message).toBe(NO_ANSWER);
  });

  it('gives up after its timeout with a sentence of its own', async () => {
    const { client } = clientWith(
      (_url, init) =>
        new Promise((_resolve, reject) =>
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
        ),
    );
    const error = (await client
      .request('/tickets', { timeoutMs: 10 })
      .catch((e: unknown) => e)) as ApiError;
    expect(error.message).toBe(TIMED_OUT);
  });

  it('rethrows the caller’s own cancellation untouched', async () => {
    const { client } = clientWith(
      (_url, init) =>
        new Promise((_resolve, reject) =>
          init.signal?.addEventListener('abort', () =>
            reject(new DOMException('aborted', 'AbortError')),
          ),
        ),
    );
    const controller = new AbortController();
    const pending = client.request('/tickets', { signal: controller.signal });
    controller.abort();
    const error = await pending.catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(ApiError);
    expect((error as DOMException).name).toBe('AbortError');
  });

  it('ends the session on a 401 to a call that carried a token, and only then', async () => {
    const onUnauthorized = vi.fn();
    const { client } = clientWith(() => json(401, { error: 'Invalid or expired token.' }));

    client.useAuth({ token: () => null, onUnauthorized });
    await client.request('/auth/login', { auth: false }).catch(() => {});
    await client.request('/tickets').catch(() => {});
    expect(onUnauthorized).not.toHaveBeenCalled();

    client.useAuth({ token: () => 'stale', onUnauthorized });
    const error = (await client.request('/tickets').catch((e: unknown) => e)) as ApiError;
    expect(onUnauthorized).toHaveBeenCalledWith(error);
    expect(error.message).toBe('Invalid or expired token.');
  });

  it('returns nothing for 204', async () => {
    const { client } = clientWith(() => new Response(null, { status: 204 }));
    await expect(client.request('/x', { method: 'DELETE' })).resolves.toBeUndefined();
  });
});

describe('downloads', () => {
  it("names the file from Content-Disposition, RFC 6266's filename* first", async () => {
    const { dispositionFilename } = await import('./client');
    expect(
      dispositionFilename(`attachment; filename="a.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`),
    ).toBe('résumé.pdf');
    expect(dispositionFilename('attachment; filename="report.csv"')).toBe('report.csv');
    expect(dispositionFilename(null)).toBeNull();
  });

  it('fetches the bytes with the token, and the name', async () => {
    const { client, fetchImpl } = clientWith(
      () =>
        new Response('ticket_id,user_id\n1,7\n', {
          status: 200,
          headers: { 'Content-Disposition': 'attachment; filename="helpdesk.csv"' },
        }),
    );
    client.useAuth({ token: () => 'abc', onUnauthorized: () => {} });
    const { blob, filename } = await client.download('/analytics/export.csv', 'fallback.csv');
    expect(filename).toBe('helpdesk.csv');
    expect(await blob.text()).toBe('ticket_id,user_id\n1,7\n');
    const headers = fetchImpl.mock.calls[0]![1]?.headers as Record<string, string>;
    expect(headers.Authorization).toBe('Bearer abc');
  });
});
