/** S7 analytics, under /analytics, staff only (docs/api.md "S7 Analytics"). */

import type { ApiClient } from './client';
import type { Dashboard, Period } from './types';

export function analyticsApi(client: ApiClient) {
  return {
    dashboard: (period: Period = {}, signal?: AbortSignal) =>
      client.request<Dashboard>('/analytics/dashboard', { query: { ...period }, signal }),

    /** The per-ticket facts behind the figures, as a CSV file. */
    exportCsv: (period: Period = {}) =>
      client.download('/analytics/export.csv', 'helpdesk-export.csv', { ...period }),
  };
}
