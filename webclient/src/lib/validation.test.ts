// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { ApiError } from './api/client';
import {
  apiFieldErrors,
  descriptionError,
  emailError,
  newPasswordError,
  titleError,
  validateTicket,
} from './validation';

describe('ticket rules, as S2 applies them', () => {
  it('trims before counting, and counts characters as Python does', () => {
    expect(titleError('   ')).toBe('Enter a title.');
    expect(titleError(` ${'a'.repeat(200)} `)).toBeUndefined();
    expect(titleError('a'.repeat(201))).toBe('Keep the title to 200 characters (it has 201).');
    // 200 emoji are 400 UTF-16 units but 200 characters: allowed, as the API allows them.
    expect(titleError('😀'.repeat(200))).toBeUndefined();
    expect(titleError('😀'.repeat(201))).toMatch(/it has 201/);
  });

  it('keeps control characters out of titles, and allows tabs and newlines in descriptions', () => {
    expect(titleError('two\nlines')).toMatch(/control characters/);
    expect(titleError('bell\u0007')).toMatch(/control characters/);
    expect(descriptionError('line one\n\tline two\r\n')).toBeUndefined();
    expect(descriptionError('form\u000cfeed')).toMatch(/control characters/);
    expect(descriptionError('x'.repeat(20001))).toBe(
      'Keep the description to 20,000 characters (it has 20,001).',
    );
  });

  it('names every field that needs fixing', () => {
    expect(validateTicket({ title: '', description: '', category: '', priority: 'soon' })).toEqual({
      title: 'Enter a title.',
      description: 'Describe the problem or the request.',
      category: 'Choose a category.',
      priority: 'Choose a priority.',
    });
    expect(
      validateTicket({ title: 'T', description: 'D', category: 'bug', priority: 'urgent' }),
    ).toEqual({});
  });
});

describe('account rules, as S1 applies them', () => {
  it('checks the form of an address lightly', () => {
    expect(emailError('')).toBe('Enter your email address.');
    expect(emailError('no-at-sign')).toMatch(/like name@example.com/);
    expect(emailError(' person@example.com ')).toBeUndefined();
  });

  it('counts a password after NFKC normalisation', () => {
    expect(newPasswordError('')).toBe('Choose a password.');
    expect(newPasswordError('1234567')).toBe('Use at least 8 characters.');
    expect(newPasswordError('12345678')).toBeUndefined();
    // "ﬃ" (one character) becomes "ffi" (three) under NFKC, as S1 counts it.
    expect(newPasswordError('ﬃﬃ12')).toBeUndefined();
  });
});

describe('apiFieldErrors', () => {
  it("picks the API's messages for the form's own fields", () => {
    const error = new ApiError('Invalid title.', 400, [
      { field: 'title', message: 'Too long.' },
      { field: 'body', message: 'Malformed JSON.' },
    ]);
    expect(apiFieldErrors(error, ['title', 'description'] as const)).toEqual({
      title: 'Too long.',
    });
    expect(apiFieldErrors(new Error('x'), ['title'] as const)).toEqual({});
  });
});
