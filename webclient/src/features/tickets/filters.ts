/** The ticket list's filters live in the address (`/tickets?status=new&q=login`), so a reload,
 * a shared link and the back button all keep them. Values the API would refuse are dropped. */

import type { TicketFilters } from '../../lib/api/types';
import { isCategory, isPriority, isStatus, SEARCH_MAX } from '../../lib/vocabulary';

export function filtersFromQuery(query: URLSearchParams, staff: boolean): TicketFilters {
  const filters: TicketFilters = {};
  const status = query.get('status');
  const priority = query.get('priority');
  const category = query.get('category');
  const assigned = Number(query.get('assigned_to'));
  const q = query.get('q')?.trim().slice(0, SEARCH_MAX);
  if (isStatus(status)) filters.status = status;
  if (isPriority(priority)) filters.priority = priority;
  if (isCategory(category)) filters.category = category;
  if (staff && Number.isInteger(assigned) && assigned > 0) filters.assigned_to = assigned;
  if (q) filters.q = q;
  return filters;
}

export function hasFilters(filters: TicketFilters): boolean {
  return Object.values(filters).some((value) => value !== undefined && value !== '');
}
