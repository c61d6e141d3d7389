/**
 * The API's input rules, checked before sending so a person sees what to fix beside the field
 * at once. They match the services' schemas (s2_tickets/schemas.py, s1_auth/schemas.py): text
 * is trimmed before its length is counted, lengths count characters as Python does, and a title
 * holds no control characters. The API stays the judge: what it refuses is shown the same way.
 */

import { ApiError } from './api/client';
import { characterCount } from './format';
import {
  CATEGORIES,
  DESCRIPTION_MAX,
  EMAIL_MAX,
  PASSWORD_MAX,
  PASSWORD_MIN,
  PRIORITIES,
  TITLE_MAX,
} from './vocabulary';

export type FieldErrors<Field extends string> = Partial<Record<Field, string>>;

const TITLE_CONTROL = /[\x00-\x1f\x7f]/; // eslint-disable-line no-control-regex
const DESCRIPTION_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/; // eslint-disable-line no-control-regex

export function titleError(title: string): string | undefined {
  const text = title.trim();
  if (!text) return 'Enter a title.';
  const length = characterCount(text);
  if (length > TITLE_MAX) return `Keep the title to ${TITLE_MAX} characters (it has ${length}).`;
  if (TITLE_CONTROL.test(text))
    return 'The title cannot contain control characters or line breaks.';
  return undefined;
}

export function descriptionError(description: string): string | undefined {
  const text = description.trim();
  if (!text) return 'Describe the problem or the request.';
  const length = characterCount(text);
  if (length > DESCRIPTION_MAX) {
    return `Keep the description to ${DESCRIPTION_MAX.toLocaleString('en')} characters (it has ${length.toLocaleString('en')}).`;
  }
  if (DESCRIPTION_CONTROL.test(text)) {
    return 'The description cannot contain control characters (tabs and line breaks are fine).';
  }
  return undefined;
}

export function categoryError(category: string): string | undefined {
  return (CATEGORIES as readonly string[]).includes(category) ? undefined : 'Choose a category.';
}

export function priorityError(priority: string): string | undefined {
  return (PRIORITIES as readonly string[]).includes(priority) ? undefined : 'Choose a priority.';
}

export interface TicketInput {
  title: string;
  description: string;
  category: string;
  priority: string;
}

export type TicketField = keyof TicketInput;

export function validateTicket(input: TicketInput): FieldErrors<TicketField> {
  return fieldErrors({
    title: titleError(input.title),
    description: descriptionError(input.description),
    category: categoryError(input.category),
    priority: priorityError(input.priority),
  });
}

/**
 * A light check of the address's form (one @, something on each side, a dot in the domain);
 * the API applies the full rules (email-validator) and its answer is shown the same way.
 */
export function emailError(email: string): string | undefined {
  const text = email.trim();
  if (!text) return 'Enter your email address.';
  if (characterCount(text) > EMAIL_MAX) return 'That email address is too long.';
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text)) {
    return 'Enter an email address like name@example.com.';
  }
  return undefined;
}

/** A new password: 8-1024 characters, counted after Unicode NFKC as S1 counts them. */
export function newPasswordError(password: string): string | undefined {
  const length = characterCount(password.normalize('NFKC'));
  if (length === 0) return 'Choose a password.';
  if (length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters.`;
  if (length > PASSWORD_MAX) return `Use at most ${PASSWORD_MAX} characters.`;
  return undefined;
}

export function hasErrors(errors: object): boolean {
  return Object.values(errors).some(Boolean);
}

/** The errors that are there (an undefined message means the field is fine). */
export function fieldErrors<Field extends string>(errors: FieldErrors<Field>): FieldErrors<Field> {
  return Object.fromEntries(
    Object.entries(errors).filter(([, message]) => Boolean(message)),
  ) as FieldErrors<Field>;
}

/**
 * The API's refusal split for a form: messages for the fields it names (shown beside them) and
 * the sentence for the form itself (shown by the submit button).
 */
export function apiFieldErrors<Field extends string>(
  error: unknown,
  fields: readonly Field[],
): FieldErrors<Field> {
  if (!(error instanceof ApiError)) return {};
  const found: FieldErrors<Field> = {};
  for (const field of fields) {
    const message = error.forField(field);
    if (message) found[field] = message;
  }
  return found;
}
