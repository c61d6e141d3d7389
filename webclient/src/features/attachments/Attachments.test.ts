import { fireEvent, render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { CUSTOMER, fakeApi, json } from '../../test/fake-api';
import { signIn, signOut } from '../../test/session';
import Attachments from './Attachments.svelte';

/** XMLHttpRequest as the API client's `upload` uses it; the test answers it. */
class FakeXhr {
  static last: FakeXhr | null = null;
  readonly upload: { onprogress: ((event: ProgressEvent) => void) | null } = { onprogress: null };
  readonly headers: Record<string, string> = {};
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;
  onabort: (() => void) | null = null;
  withCredentials = false;
  method = '';
  url = '';
  body: FormData | null = null;
  status = 0;
  responseText = '';
  responseHeaders: Record<string, string> = {};

  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }
  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name] ?? null;
  }
  send(body: FormData): void {
    this.body = body;
    FakeXhr.last = this;
  }
  abort(): void {
    this.onabort?.();
  }
  progress(loaded: number, total: number): void {
    this.upload.onprogress?.({ lengthComputable: true, loaded, total } as ProgressEvent);
  }
  answer(status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.responseHeaders = { 'Content-Type': 'application/json', ...headers };
    this.onload?.();
  }
}

const stored = {
  id: 11,
  ticket_id: 1,
  filename: 'a1b2.txt',
  original_filename: 'notes.txt',
  mime_type: 'text/plain',
  file_size: 2048,
  uploaded_by: CUSTOMER.id,
  uploaded_at: '2026-11-24T10:30:00+00:00',
};

beforeEach(() => {
  FakeXhr.last = null;
  vi.stubGlobal('XMLHttpRequest', FakeXhr);
});
afterEach(() => signOut());

function pick(file: File): Promise<boolean> {
  const input = screen.getByLabelText('Add a file') as HTMLInputElement;
  Object.defineProperty(input, 'files', { value: [file], configurable: true });
  return fireEvent.change(input);
}

describe('Attachments', () => {
  it('uploads with the ticket id first, shows the progress, then lists the file', async () => {
    fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'GET /media/ticket/1': () => json(200, { files: [], next_cursor: null }),
    });
    const token = signIn(CUSTOMER);
    render(Attachments, { props: { ticketId: 1 } });
    expect(await screen.findByText('No files yet.')).toBeVisible();

    await pick(new File(['x'.repeat(2048)], 'notes.txt', { type: 'text/plain' }));
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    const xhr = FakeXhr.last!;
    expect(xhr.url).toBe('http://localhost:8080/media/upload');
    expect(xhr.headers.Authorization).toBe(`Bearer ${token}`);
    expect([...xhr.body!.keys()]).toEqual(['ticket_id', 'file']);
    expect(xhr.body!.get('ticket_id')).toBe('1');

    xhr.progress(512, 2048);
    const bar = await screen.findByRole('progressbar', { name: 'Uploading notes.txt' });
    await vi.waitFor(() => expect((bar as HTMLProgressElement).value).toBe(0.25));
    expect(screen.getByText('25%')).toBeVisible();

    xhr.answer(201, stored);
    expect(await screen.findByText('"notes.txt" is attached.')).toBeVisible();
    expect(screen.getByRole('list', { name: 'Attached files' })).toHaveTextContent('notes.txt');
    expect(screen.queryByRole('progressbar')).toBeNull();
  });

  it('refuses in words, before sending, a file too large or of a kind not accepted', async () => {
    fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'GET /media/ticket/1': () => json(200, { files: [], next_cursor: null }),
    });
    signIn(CUSTOMER);
    render(Attachments, { props: { ticketId: 1 } });
    const big = new File(['x'], 'video.png', { type: 'image/png' });
    Object.defineProperty(big, 'size', { value: 11 * 1024 * 1024 });
    await pick(big);
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    expect(screen.getByText('"video.png" is 11 MB; files can be at most 10 MB.')).toBeVisible();

    await pick(new File(['MZ'], 'setup.exe', { type: 'application/x-msdownload' }));
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    expect(
      screen.getByText(/"setup.exe" is not a kind of file the helpdesk accepts/),
    ).toBeVisible();
    expect(FakeXhr.last).toBeNull();
  });

  it("shows S5's refusal in its words", async () => {
    fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'GET /media/ticket/1': () => json(200, { files: [], next_cursor: null }),
    });
    signIn(CUSTOMER);
    render(Attachments, { props: { ticketId: 1 } });
    await pick(new File(['%PDF'], 'scan.pdf', { type: 'application/pdf' }));
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    FakeXhr.last!.answer(415, {
      error: 'This type of file is not allowed (it looks like a ZIP archive)',
    });
    expect(
      await screen.findByText('This type of file is not allowed (it looks like a ZIP archive)'),
    ).toBeVisible();
  });

  it('deletes after a second click, for the one who uploaded it', async () => {
    const api = fakeApi({
      'GET /auth/me': () => new Promise(() => {}),
      'GET /media/ticket/1': () => json(200, { files: [stored], next_cursor: null }),
      'DELETE /media/11': () => json(200, { message: 'File deleted.' }),
    });
    signIn(CUSTOMER);
    render(Attachments, { props: { ticketId: 1 } });
    await userEvent.click(await screen.findByRole('button', { name: 'Delete notes.txt' }));
    expect(api.to('DELETE /media/11')).toHaveLength(0);
    await userEvent.click(screen.getByRole('button', { name: 'Delete for good' }));
    expect(await screen.findByText('No files yet.')).toBeVisible();
    expect(api.to('DELETE /media/11')).toHaveLength(1);
  });
});
