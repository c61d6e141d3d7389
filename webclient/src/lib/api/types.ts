/**
 * The shapes the gateway answers with, written from docs/api.md (the contract) and the
 * services' schemas. One section per service; later services add theirs here.
 */

import type { Category, Priority, Role, Status } from '../vocabulary';

/** Every error body: `{"error": "<sentence>", "details"?: [{field, message}]}`. */
export interface ErrorBody {
  error: string;
  details?: FieldProblem[];
}

export interface FieldProblem {
  field: string;
  message: string;
}

/** Every paginated list: the list under its own key, and `next_cursor`. */
export interface Page {
  next_cursor: string | null;
}

// --- S1 auth (/auth) ------------------------------------------------------------------------

export interface User {
  id: number;
  email: string;
  role: Role;
}

export interface Credentials {
  email: string;
  password: string;
}

export interface TokenOut {
  token: string;
  token_type: 'bearer';
  expires_in: number;
}

export interface MeOut {
  user: { sub: number; role: Role; email: string };
}

export interface UserList extends Page {
  users: User[];
}

// --- S2 tickets (/tickets) --------------------------------------------------------------------

export interface Ticket {
  id: number;
  user_id: number;
  title: string;
  description: string;
  category: Category;
  status: Status;
  priority: Priority;
  assigned_to: number | null;
  created_at: string;
  updated_at: string;
}

export interface TicketCreate {
  title: string;
  description: string;
  category: Category;
  priority?: Priority;
}

/** PATCH /tickets/:id: any of these, at least one (status, priority, assignment: S4). */
export type TicketUpdate = Partial<Pick<Ticket, 'title' | 'description' | 'category'>>;

export interface TicketFilters {
  status?: Status;
  priority?: Priority;
  category?: Category;
  assigned_to?: number;
  q?: string;
}

export interface TicketList extends Page {
  tickets: Ticket[];
}
