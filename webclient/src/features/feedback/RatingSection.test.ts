import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';

import type { Ticket } from '../../lib/api/types';
import { CUSTOMER, fakeApi, json, STAFF, ticket } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';
import RatingSection from './RatingSection.svelte';

afterEach(() => signOut());

const given = (overrides: Record<string, unknown> = {}) => ({
  id: 4,
  ticket_id: 1,
  user_id: CUSTOMER.id,
  rating: 4,
  comment: 'Quick and kind.',
  created_at: '2026-11-24T10:30:00+00:00',
  updated_at: '2026-11-24T10:30:00+00:00',
  ...overrides,
});

describe('RatingSection', () => {
  it('lets the owner rate a resolved ticket, asking for the stars first', async () => {
    const api = fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'GET /feedback/ticket/1': () =>
        json(200, { feedback: [], average_rating: 0, total_feedback: 0 }),
      'POST /feedback': () => json(201, given({ rating: 5, comment: 'Fixed fast.' })),
    });
    signIn(CUSTOMER);
    render(RatingSection, { props: { ticket: ticket({ status: 'resolved' }) as Ticket } });
    await userEvent.click(await screen.findByRole('button', { name: 'Send rating' }));
    expect(screen.getByText('Choose from 1 to 5 stars.')).toBeVisible();
    expect(api.to('POST /feedback')).toHaveLength(0);

    await userEvent.click(screen.getByLabelText('5 stars: Excellent'));
    await userEvent.type(screen.getByLabelText('Comment (optional)'), '  Fixed fast. ');
    await userEvent.click(screen.getByRole('button', { name: 'Send rating' }));
    expect(await screen.findByText('Thank you: your rating is saved.')).toBeVisible();
    expect(api.to('POST /feedback')[0]!.body).toEqual({
      ticket_id: 1,
      rating: 5,
      comment: 'Fixed fast.',
    });
    expect(screen.getByLabelText('5 out of 5 stars')).toBeVisible();
    expect(screen.getByRole('button', { name: 'Change your rating' })).toBeVisible();
  });

  it("shows the API's refusal in words", async () => {
    fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'GET /feedback/ticket/1': () =>
        json(200, { feedback: [], average_rating: 0, total_feedback: 0 }),
      'POST /feedback': () =>
        json(400, { error: 'Ticket 1 is in_progress, not resolved or closed' }),
    });
    signIn(CUSTOMER);
    render(RatingSection, { props: { ticket: ticket({ status: 'resolved' }) as Ticket } });
    await userEvent.click(await screen.findByLabelText('2 stars: Poor'));
    await userEvent.click(screen.getByRole('button', { name: 'Send rating' }));
    expect(
      await screen.findByText('Ticket 1 is in_progress, not resolved or closed.'),
    ).toBeVisible();
  });

  it('shows staff what was given, with no form', async () => {
    fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'GET /feedback/ticket/1': () =>
        json(200, { feedback: [given()], average_rating: 4, total_feedback: 1 }),
    });
    signIn(STAFF);
    render(RatingSection, { props: { ticket: ticket({ status: 'closed' }) as Ticket } });
    expect(await screen.findByLabelText('4 out of 5 stars')).toBeVisible();
    expect(screen.getByText('Quick and kind.')).toBeVisible();
    expect(screen.queryByRole('button', { name: 'Send rating' })).toBeNull();
  });
});
