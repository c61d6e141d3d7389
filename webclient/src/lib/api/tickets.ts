/** S2 tickets, under /tickets (docs/api.md "S2 Tickets"). */

import type { ApiClient } from './client';
import type { Ticket, TicketCreate, TicketFilters, TicketList, TicketUpdate } from './types';
import { PAGE_SIZE } from '../vocabulary';

export function ticketsApi(client: ApiClient) {
  return {
    create: (ticket: TicketCreate) =>
      client.request<Ticket>('/tickets', { method: 'POST', body: ticket }),

    /** Newest first: the caller's own tickets, or every ticket for staff. */
    list: (filters: TicketFilters, cursor: string | null = null, signal?: AbortSignal) =>
      client.request<TicketList>('/tickets', {
        query: { ...filters, cursor, limit: PAGE_SIZE },
        signal,
      }),

    get: (id: number, signal?: AbortSignal) => client.request<Ticket>(`/tickets/${id}`, { signal }),

    update: (id: number, changes: TicketUpdate) =>
      client.request<Ticket>(`/tickets/${id}`, { method: 'PATCH', body: changes }),
  };
}
