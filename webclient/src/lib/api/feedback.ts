/** S8 feedback, under /feedback (docs/api.md "S8 Feedback"). */

import type { ApiClient } from './client';
import type { Rating, TicketFeedback } from './types';

export function feedbackApi(client: ApiClient) {
  return {
    /** The owner's rating of a resolved or closed ticket; a second one replaces the first. */
    rate: (ticketId: number, rating: number, comment: string | null) =>
      client.request<Rating>('/feedback', {
        method: 'POST',
        body: { ticket_id: ticketId, rating, ...(comment ? { comment } : {}) },
      }),

    forTicket: (ticketId: number, signal?: AbortSignal) =>
      client.request<TicketFeedback>(`/feedback/ticket/${ticketId}`, { signal }),
  };
}
