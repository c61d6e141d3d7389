import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';

import { ApiError } from '../../lib/api/client';
import TicketForm from './TicketForm.svelte';

function setup(onSubmit = vi.fn(async () => {})) {
  render(TicketForm, { props: { submitLabel: 'File ticket', busyLabel: 'Filing…', onSubmit } });
  return { onSubmit, user: userEvent.setup() };
}

describe('TicketForm', () => {
  it('refuses an empty ticket beside each field, and follows the typing after that', async () => {
    const { onSubmit, user } = setup();
    await user.click(screen.getByRole('button', { name: 'File ticket' }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Category')).toHaveAccessibleDescription('Choose a category.');
    expect(screen.getByText('Enter a title.')).toBeVisible();
    expect(screen.getByText('Describe the problem or the request.')).toBeVisible();
    expect(screen.getByLabelText('Category')).toHaveFocus();

    await user.type(screen.getByLabelText('Title'), 'Crash on login');
    expect(screen.queryByText('Enter a title.')).toBeNull();
  });

  it('sends trimmed values with the chosen category and priority', async () => {
    const { onSubmit, user } = setup();
    expect(screen.getByLabelText('Priority')).toHaveValue('medium');
    await user.selectOptions(screen.getByLabelText('Category'), 'Bug');
    await user.selectOptions(screen.getByLabelText('Priority'), 'Urgent');
    await user.type(screen.getByLabelText('Title'), '  Crash on login  ');
    await user.type(screen.getByLabelText('Description'), 'Steps:{Enter}1. Log in');
    expect(screen.getByText('14 / 200')).toBeVisible();
    await user.click(screen.getByRole('button', { name: 'File ticket' }));
    expect(onSubmit).toHaveBeenCalledWith({
      title: 'Crash on login',
      description: 'Steps:\n1. Log in',
      category: 'bug',
      priority: 'urgent',
    });
  });

  it('shows what the API still refuses beside the field it names, and the sentence by the button', async () => {
    const onSubmit = vi.fn(async () => {
      throw new ApiError('Invalid title: must not contain control characters.', 400, [
        { field: 'title', message: 'Must not contain control characters.' },
      ]);
    });
    const { user } = setup(onSubmit);
    await user.selectOptions(screen.getByLabelText('Category'), 'Other');
    await user.type(screen.getByLabelText('Title'), 'Title');
    await user.type(screen.getByLabelText('Description'), 'Description');
    await user.click(screen.getByRole('button', { name: 'File ticket' }));
    expect(await screen.findByText('Must not contain control characters.')).toBeVisible();
    expect(screen.getByText('Invalid title: must not contain control characters.')).toBeVisible();
    expect(screen.getByLabelText('Title')).toHaveFocus();

    // Editing the field takes the API's old word about it away.
    await user.type(screen.getByLabelText('Title'), '!');
    expect(screen.queryByText('Must not contain control characters.')).toBeNull();
  });

  it('edits without a priority, starting from the ticket', async () => {
    const onSubmit = vi.fn(async () => {});
    const onCancel = vi.fn();
    render(TicketForm, {
      props: {
        initial: { title: 'Old', description: 'Text', category: 'support' },
        withPriority: false,
        submitLabel: 'Save changes',
        busyLabel: 'Saving…',
        onSubmit,
        onCancel,
      },
    });
    expect(screen.queryByLabelText('Priority')).toBeNull();
    expect(screen.getByLabelText('Category')).toHaveValue('support');
    await userEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(onCancel).toHaveBeenCalled();
  });
});
