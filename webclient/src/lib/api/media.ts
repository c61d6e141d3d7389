/** S5 media, under /media (docs/api.md "S5 Media"). */

import type { ApiClient, UploadOptions } from './client';
import type { Attachment, AttachmentPage, MessageOut } from './types';
import { PAGE_SIZE } from '../vocabulary';

export function mediaApi(client: ApiClient) {
  return {
    /** `ticket_id` goes first, so S5 can refuse (404, 409) before the file is read. */
    upload: (ticketId: number, file: File, options: UploadOptions = {}) => {
      const form = new FormData();
      form.append('ticket_id', String(ticketId));
      form.append('file', file, file.name);
      return client.upload<Attachment>('/media/upload', form, options);
    },

    list: (ticketId: number, cursor: string | null = null, signal?: AbortSignal) =>
      client.request<AttachmentPage>(`/media/ticket/${ticketId}`, {
        query: { cursor, limit: PAGE_SIZE },
        signal,
      }),

    download: (file: Attachment) => client.download(`/media/${file.id}`, file.original_filename),

    remove: (id: number) => client.request<MessageOut>(`/media/${id}`, { method: 'DELETE' }),
  };
}
