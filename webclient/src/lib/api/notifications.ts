/** S6 notifications, under /notifications (docs/api.md "S6 Notifications"). */

import type { ApiClient } from './client';
import type { Notification, NotificationPage, StreamTicket } from './types';
import { PAGE_SIZE } from '../vocabulary';

export function notificationsApi(client: ApiClient) {
  return {
    /** Newest first. */
    history: (userId: number, cursor: string | null = null, signal?: AbortSignal) =>
      client.request<NotificationPage>(`/notifications/history/${userId}`, {
        query: { cursor, limit: PAGE_SIZE },
        signal,
      }),

    markRead: (id: number) =>
      client.request<Notification>(`/notifications/${id}/read`, { method: 'PATCH' }),

    /** The one notification a customer may send: a test alert, in the app, to themselves. */
    testAlert: (userId: number) =>
      client.request<Notification>('/notifications/notify', {
        method: 'POST',
        body: {
          user_id: userId,
          type: 'test_alert',
          channel: 'in_app',
          message: 'This is a test alert: your notifications work.',
        },
      }),

    /** A single-use ticket for one `GET /stream` (EventSource cannot send a bearer token). */
    streamTicket: () =>
      client.request<StreamTicket>('/notifications/stream/ticket', { method: 'POST' }),

    /** The stream's URL for a ticket, resuming after `lastEventId` when given. */
    streamUrl: (ticket: string, lastEventId: string | null) =>
      client.url('/notifications/stream', { ticket, last_event_id: lastEventId }),
  };
}
