import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { Notifications } from '../../lib/notifications.svelte';
import { CUSTOMER, fakeApi, json } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';

/** EventSource as far as the client uses it: opened with a URL, events pushed by the test. */
class FakeSource {
  static opened: FakeSource[] = [];
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  readonly listeners = new Map<string, (event: MessageEvent) => void>();

  constructor(readonly url: string) {
    FakeSource.opened.push(this);
  }

  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.listeners.set(type, listener);
  }

  close(): void {
    this.closed = true;
  }

  push(id: string, data: unknown): void {
    this.listeners.get('notification')?.(
      new MessageEvent('notification', { data: JSON.stringify(data), lastEventId: id }),
    );
  }
}

function notice(id: number, overrides: Record<string, unknown> = {}) {
  return {
    id,
    user_id: CUSTOMER.id,
    ticket_id: 1,
    type: 'ticket_status_changed',
    channel: 'in_app',
    message: `Your ticket #1 is now in progress (${id}).`,
    status: 'sent',
    retry_count: 0,
    created_at: '2026-11-24T10:30:00+00:00',
    sent_at: '2026-11-24T10:30:00+00:00',
    read_at: null,
    last_error: null,
    ...overrides,
  };
}

let tickets = 0;

function notificationsApi(history: unknown[] = []) {
  return fakeApi({
    'GET /auth/me': () => new Promise(() => {}),
    'POST /notifications/stream/ticket': () =>
      json(201, { ticket: `t${++tickets}`, expires_in: 30 }),
    'GET /notifications/history/7': () => json(200, { notifications: history, next_cursor: null }),
    'PATCH /notifications/2/read': () =>
      json(200, notice(2, { read_at: '2026-11-24T11:00:00+00:00' })),
    'POST /notifications/notify': (call) =>
      json(201, notice(9, call.body as Record<string, unknown>)),
  });
}

beforeEach(() => {
  FakeSource.opened = [];
  signIn(CUSTOMER);
});
afterEach(() => {
  vi.useRealTimers();
  signOut();
});

describe('Notifications', () => {
  it('opens the stream with a single-use ticket before loading the history, and counts what arrives', async () => {
    const api = notificationsApi([
      notice(2),
      notice(1, { read_at: '2026-11-24T10:31:00+00:00' }),
      notice(3, { channel: 'email' }),
    ]);
    const state = new Notifications((url) => new FakeSource(url) as unknown as EventSource);
    await state.start(CUSTOMER.id);
    const [source] = FakeSource.opened;
    expect(new URL(source!.url).pathname).toBe('/notifications/stream');
    expect(new URL(source!.url).searchParams.get('ticket')).toBe(`t${tickets}`);
    const order = api.calls.map((c) => `${c.method} ${c.url.pathname}`);
    expect(order.indexOf('POST /notifications/stream/ticket')).toBeLessThan(
      order.indexOf('GET /notifications/history/7'),
    );
    expect(state.items.map((n) => n.id)).toEqual([2, 1]); // in-app only
    expect(state.unread).toBe(1);

    source!.push('41', notice(4));
    source!.push('41', notice(4)); // shown once
    expect(state.items.map((n) => n.id)).toEqual([4, 2, 1]);
    expect(state.unread).toBe(2);
    state.stop();
  });

  it('after a drop, asks for a new ticket and resumes after the last id it saw', async () => {
    vi.useFakeTimers();
    notificationsApi();
    const state = new Notifications((url) => new FakeSource(url) as unknown as EventSource);
    await state.start(CUSTOMER.id);
    const first = FakeSource.opened[0]!;
    first.push('17', notice(5));
    first.onerror?.();
    expect(first.closed).toBe(true);
    expect(state.stream).toBe('retrying');
    await vi.advanceTimersByTimeAsync(1_000);
    const second = FakeSource.opened[1]!;
    const url = new URL(second.url);
    expect(url.searchParams.get('last_event_id')).toBe('17');
    expect(url.searchParams.get('ticket')).not.toBe(new URL(first.url).searchParams.get('ticket'));
    second.onopen?.();
    expect(state.stream).toBe('live');
    state.stop();
    expect(second.closed).toBe(true);
  });
});

describe('NotificationBell', () => {
  it('shows the unread count, marks one read, and sends a test alert', async () => {
    const api = notificationsApi([notice(2)]);
    const { notifications } = await import('../../lib/notifications.svelte');
    vi.stubGlobal('EventSource', FakeSource);
    const { default: NotificationBell } = await import('./NotificationBell.svelte');
    render(NotificationBell);
    await notifications.start(CUSTOMER.id);
    const bell = await screen.findByRole('button', { name: 'Notifications, 1 unread' });
    await userEvent.click(bell);
    expect(screen.getByText(/Your ticket #1 is now in progress \(2\)/)).toBeVisible();
    await userEvent.click(screen.getByRole('button', { name: 'Mark as read' }));
    expect(await screen.findByRole('button', { name: 'Notifications, none unread' })).toBeVisible();
    await userEvent.click(screen.getByRole('button', { name: 'Send me a test alert' }));
    expect(await screen.findByText(/Sent: it appears here/)).toBeVisible();
    expect(api.to('POST /notifications/notify')[0]!.body).toMatchObject({
      user_id: CUSTOMER.id,
      type: 'test_alert',
      channel: 'in_app',
    });
    notifications.stop();
  });
});
