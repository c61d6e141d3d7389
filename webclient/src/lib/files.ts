/**
 * What S5 accepts, checked before an upload starts so a person hears at once, in words, why a
 * file will not go (S5 judges again by the content, and its answer is shown the same way).
 */

/** S5's default limit (MAX_UPLOAD_BYTES, 10 MiB). */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

/** The kinds S5 allows: images, PDF, plain text, Word and Excel documents. */
export const ALLOWED_TYPES: Record<string, string> = {
  'image/jpeg': 'JPEG image',
  'image/png': 'PNG image',
  'image/gif': 'GIF image',
  'image/webp': 'WebP image',
  'application/pdf': 'PDF',
  'text/plain': 'text file',
  'application/msword': 'Word document',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'Word document',
  'application/vnd.ms-excel': 'Excel workbook',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'Excel workbook',
};

const ALLOWED_EXTENSIONS = [
  'jpg',
  'jpeg',
  'png',
  'gif',
  'webp',
  'pdf',
  'txt',
  'log',
  'doc',
  'docx',
  'xls',
  'xlsx',
];

/** For the file input's `accept`. */
export const ACCEPT = [
  ...Object.keys(ALLOWED_TYPES),
  ...ALLOWED_EXTENSIONS.map((e) => `.${e}`),
].join(',');

export const ALLOWED_SUMMARY =
  'images (JPEG, PNG, GIF, WebP), PDF, plain text, Word and Excel documents';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toLocaleString('en', { maximumFractionDigits: value < 10 ? 1 : 0 })} ${units[unit]}`;
}

/** Why this file cannot be uploaded, or undefined when it may go. */
export function fileError(file: { name: string; size: number; type: string }): string | undefined {
  if (file.size === 0) return `"${file.name}" is empty.`;
  if (file.size > MAX_UPLOAD_BYTES) {
    return `"${file.name}" is ${formatBytes(file.size)}; files can be at most ${formatBytes(MAX_UPLOAD_BYTES)}.`;
  }
  const extension = file.name.includes('.') ? file.name.split('.').pop()!.toLowerCase() : '';
  const typeKnown = file.type !== '' && file.type in ALLOWED_TYPES;
  if (!typeKnown && !ALLOWED_EXTENSIONS.includes(extension)) {
    return `"${file.name}" is not a kind of file the helpdesk accepts: send ${ALLOWED_SUMMARY}.`;
  }
  return undefined;
}

/** Hand a downloaded file to the browser to save. */
export function saveFile(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  // The click has handed the blob over; let the browser start before the URL goes.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
