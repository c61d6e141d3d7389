/**
 * The signed-in person's in-app notifications: the latest page of their history and whatever
 * arrives live on S6's stream, for the bell in the header.
 *
 * The stream is an EventSource, which cannot send a bearer token: each connection is opened
 * with a single-use stream ticket (`POST /notifications/stream/ticket`), and the stream is
 * opened before the history is loaded, so nothing falls between the two (ids already shown are
 * skipped). When the stream drops, EventSource would retry the same URL and meet a 401 (the
 * ticket is spent): the stream is closed instead, and a new ticket opens a new one with
 * `last_event_id`, so what arrived meanwhile comes first, in order. Retries back off.
 */

import { api, errorMessage } from './api';
import type { Notification } from './api/types';

const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export type StreamState = 'off' | 'connecting' | 'live' | 'retrying';

type EventSourceFactory = (url: string) => EventSource;

export class Notifications {
  /** In-app notifications, newest first. */
  items = $state.raw<Notification[]>([]);
  stream = $state<StreamState>('off');
  error = $state<string | null>(null);

  readonly unread = $derived(this.items.filter((item) => item.read_at === null).length);

  #userId: number | null = null;
  #source: EventSource | null = null;
  #lastEventId: string | null = null;
  #retryMs = RETRY_FIRST_MS;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #generation = 0;

  constructor(private readonly openSource: EventSourceFactory = (url) => new EventSource(url)) {}

  /** Follow `userId`'s notifications (the stream first, then the history). */
  async start(userId: number): Promise<void> {
    this.stop();
    this.#userId = userId;
    const generation = this.#generation;
    await this.#connect(generation);
    if (generation !== this.#generation) return;
    try {
      const page = await api.notifications.history(userId);
      if (generation !== this.#generation) return;
      this.#merge(page.notifications);
      this.error = null;
    } catch (error) {
      if (generation === this.#generation) this.error = errorMessage(error);
    }
  }

  stop(): void {
    this.#generation += 1;
    clearTimeout(this.#retryTimer);
    this.#source?.close();
    this.#source = null;
    this.#userId = null;
    this.#lastEventId = null;
    this.#retryMs = RETRY_FIRST_MS;
    this.items = [];
    this.stream = 'off';
    this.error = null;
  }

  async markRead(id: number): Promise<void> {
    const updated = await api.notifications.markRead(id);
    this.items = this.items.map((item) => (item.id === id ? updated : item));
  }

  async markAllRead(): Promise<void> {
    const unread = this.items.filter((item) => item.read_at === null);
    await Promise.all(unread.map((item) => this.markRead(item.id)));
  }

  /** The alert arrives through the stream, like any other notification. */
  async sendTestAlert(): Promise<void> {
    if (this.#userId === null) return;
    await api.notifications.testAlert(this.#userId);
  }

  async #connect(generation: number): Promise<void> {
    this.stream = this.stream === 'off' ? 'connecting' : 'retrying';
    let ticket: string;
    try {
      ticket = (await api.notifications.streamTicket()).ticket;
    } catch {
      if (generation === this.#generation) this.#retryLater(generation);
      return;
    }
    if (generation !== this.#generation) return;
    const source = this.openSource(api.notifications.streamUrl(ticket, this.#lastEventId));
    this.#source = source;
    source.onopen = () => {
      this.stream = 'live';
      this.#retryMs = RETRY_FIRST_MS;
    };
    source.addEventListener('notification', (event) => {
      const message = event as MessageEvent<string>;
      if (message.lastEventId) this.#lastEventId = message.lastEventId;
      try {
        this.#merge([JSON.parse(message.data) as Notification]);
      } catch {
        // Not a notification we can read: skip it, the next one still counts.
      }
    });
    source.onerror = () => {
      // A spent ticket cannot reopen the stream: close it and start over with a new one.
      source.close();
      if (this.#source === source && generation === this.#generation) {
        this.#source = null;
        this.#retryLater(generation);
      }
    };
  }

  #retryLater(generation: number): void {
    this.stream = 'retrying';
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    this.#retryTimer = setTimeout(() => {
      if (generation === this.#generation) void this.#connect(generation);
    }, delay);
  }

  /** Add what is new (in-app only), keep each id once, newest first. */
  #merge(incoming: Notification[]): void {
    const known = new Map(this.items.map((item) => [item.id, item]));
    for (const item of incoming) {
      if (item.channel === 'in_app' && item.user_id === this.#userId) known.set(item.id, item);
    }
    this.items = [...known.values()].sort((a, b) => b.id - a.id);
  }
}

export const notifications = new Notifications();
