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
  name?: string | null;
  active?: boolean;
}

export interface Credentials {
  email: string;
  password: string;
}

export interface TokenOut {
  token: string;
  token_type: 'bearer';
  expires_in: number;
  /** Null for browsers: their refresh token is an HttpOnly cookie (`refresh_via: "cookie"`). */
  refresh_token?: string | null;
  refresh_expires_in?: number;
}

export interface MeOut {
  user: { sub: number; role: Role; email: string; name?: string | null };
}

export interface PasswordChange {
  current_password: string;
  new_password: string;
}

/** Password reset (request, confirm) and other answers that are one sentence. */
export interface MessageOut {
  message: string;
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

// --- S4 workflow (/workflow) ------------------------------------------------------------------

export interface QueuePage extends Page {
  queue: Ticket[];
}

export interface HistoryEntry {
  id: number;
  ticket_id: number;
  changed_by: number;
  changed_by_role: Role;
  field_name: string;
  old_value: string | null;
  new_value: string | null;
  changed_at: string;
}

export interface HistoryPage extends Page {
  history: HistoryEntry[];
}

// --- S5 media (/media) ------------------------------------------------------------------------

export interface Attachment {
  id: number;
  ticket_id: number;
  filename: string;
  original_filename: string;
  mime_type: string;
  file_size: number;
  uploaded_by: number;
  uploaded_at: string;
}

export interface AttachmentPage extends Page {
  files: Attachment[];
}

// --- S6 notifications (/notifications) --------------------------------------------------------

export interface Notification {
  id: number;
  user_id: number;
  ticket_id: number | null;
  type: string;
  channel: 'email' | 'sms' | 'in_app';
  message: string;
  status: 'pending' | 'sending' | 'sent' | 'failed';
  retry_count: number;
  created_at: string;
  sent_at: string | null;
  read_at: string | null;
  last_error: string | null;
}

export interface NotificationPage extends Page {
  notifications: Notification[];
}

export interface StreamTicket {
  ticket: string;
  expires_in: number;
}

// --- S7 analytics (/analytics) ----------------------------------------------------------------

export interface Span {
  median_seconds: number;
  p90_seconds: number;
  tickets: number;
}

export interface Share {
  percent: number;
  ratings: number;
}

export interface Metrics {
  tickets: {
    total: number;
    by_status: Record<string, number>;
    by_category: Record<string, number>;
    by_priority: Record<string, number>;
    recent_trend: { date: string; count: number }[];
  };
  feedback: { total: number; average_rating: number; by_rating: Record<string, number> };
  first_response: Span;
  resolution: Span;
  open_by_age: { under_1d: number; from_1d_to_3d: number; from_3d_to_7d: number; over_7d: number };
  by_assignee: { assignee_id: number; open: number; resolved: number }[];
  csat: { overall: Share; last_7d: Share; last_30d: Share };
  daily: { date: string; created: number; resolved: number }[];
  period: { from: string | null; to: string | null };
  trailing_window: { from: string | null; to: string | null };
  cached_at: string;
}

export interface Dashboard {
  metrics: Metrics;
  active_users: number;
  recent_tickets: Ticket[];
  dashboard_generated_at: string;
  cached_at: string;
}

export interface Period {
  from?: string;
  to?: string;
}

// --- S8 feedback (/feedback) ------------------------------------------------------------------

export interface Rating {
  id: number;
  ticket_id: number;
  user_id: number;
  rating: number;
  comment: string | null;
  created_at: string;
  updated_at: string;
}

export interface TicketFeedback {
  feedback: Rating[];
  average_rating: number;
  total_feedback: number;
}
