/**
 * The ticket vocabulary and the limits of the API's inputs, as the services define them
 * (helpdesk_common.vocabulary, s2_tickets/schemas.py, s1_auth/schemas.py).
 * tests/webclient/test_contract.py checks these lists and numbers against the Python sources,
 * so the two cannot drift apart.
 */

export const STATUSES = ['new', 'assigned', 'in_progress', 'resolved', 'closed'] as const;
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export const CATEGORIES = ['bug', 'feature', 'support', 'other'] as const;
export const ROLES = ['user', 'staff', 'admin'] as const;

export type Status = (typeof STATUSES)[number];
export type Priority = (typeof PRIORITIES)[number];
export type Category = (typeof CATEGORIES)[number];
export type Role = (typeof ROLES)[number];

export const DEFAULT_PRIORITY: Priority = 'medium';

export const TITLE_MAX = 200;
export const DESCRIPTION_MAX = 20000;
export const SEARCH_MAX = 200;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;
export const EMAIL_MAX = 320;
export const NAME_MAX = 100;
export const RATING_COMMENT_MAX = 2000;
/** Page size of every list the client pages through (the API allows 1-200). */
export const PAGE_SIZE = 50;

export const STATUS_LABELS: Record<Status, string> = {
  new: 'New',
  assigned: 'Assigned',
  in_progress: 'In progress',
  resolved: 'Resolved',
  closed: 'Closed',
};

export const PRIORITY_LABELS: Record<Priority, string> = {
  low: 'Low',
  medium: 'Medium',
  high: 'High',
  urgent: 'Urgent',
};

export const CATEGORY_LABELS: Record<Category, string> = {
  bug: 'Bug',
  feature: 'Feature request',
  support: 'Support question',
  other: 'Other',
};

export const ROLE_LABELS: Record<Role, string> = {
  user: 'Customer',
  staff: 'Staff',
  admin: 'Admin',
};

/**
 * The status moves S4 allows (s4_workflow/service.py ALLOWED_MOVES): anything but staying put,
 * closing a ticket that is not resolved, or leaving `closed`. On top, `assigned` needs an
 * assignee and `new` none (`allowedMoves`).
 */
export const STATUS_MOVES: Record<Status, readonly Status[]> = {
  new: ['assigned', 'in_progress', 'resolved'],
  assigned: ['new', 'in_progress', 'resolved'],
  in_progress: ['new', 'assigned', 'resolved'],
  resolved: ['new', 'assigned', 'in_progress', 'closed'],
  closed: [],
};

/** The statuses a ticket may move to now, as S4 judges them. */
export function allowedMoves(ticket: { status: Status; assigned_to: number | null }): Status[] {
  return STATUS_MOVES[ticket.status].filter((target) =>
    ticket.assigned_to === null ? target !== 'assigned' : target !== 'new',
  );
}

export const OPEN_STATUSES: readonly Status[] = ['new', 'assigned', 'in_progress'];

export function isStatus(value: string | null | undefined): value is Status {
  return (STATUSES as readonly string[]).includes(value ?? '');
}

export function isPriority(value: string | null | undefined): value is Priority {
  return (PRIORITIES as readonly string[]).includes(value ?? '');
}

export function isCategory(value: string | null | undefined): value is Category {
  return (CATEGORIES as readonly string[]).includes(value ?? '');
}

export function isRole(value: string | null | undefined): value is Role {
  return (ROLES as readonly string[]).includes(value ?? '');
}
