/** S4 workflow, under /workflow (docs/api.md "S4 Workflow"). */

import type { ApiClient } from './client';
import type { HistoryPage, QueuePage, Ticket } from './types';
import type { Priority, Status } from '../vocabulary';
import { PAGE_SIZE } from '../vocabulary';

export function workflowApi(client: ApiClient) {
  return {
    /** Staff: open tickets, urgent first, then oldest first. */
    queue: (cursor: string | null = null, signal?: AbortSignal) =>
      client.request<QueuePage>('/workflow/queue', {
        query: { cursor, limit: PAGE_SIZE },
        signal,
      }),

    /** Staff any allowed move; the owner only `resolved` ("solved for me"). */
    setStatus: (id: number, status: Status) =>
      client.request<Ticket>(`/workflow/status/${id}`, { method: 'PATCH', body: { status } }),

    setPriority: (id: number, priority: Priority) =>
      client.request<Ticket>(`/workflow/priority/${id}`, { method: 'PATCH', body: { priority } }),

    /** A staff or admin user id, or null to unassign. */
    assign: (id: number, assignedTo: number | null) =>
      client.request<Ticket>(`/workflow/assign/${id}`, {
        method: 'PATCH',
        body: { assigned_to: assignedTo },
      }),

    /** Newest first. */
    history: (id: number, cursor: string | null = null, signal?: AbortSignal) =>
      client.request<HistoryPage>(`/workflow/history/${id}`, {
        query: { cursor, limit: PAGE_SIZE },
        signal,
      }),
  };
}
