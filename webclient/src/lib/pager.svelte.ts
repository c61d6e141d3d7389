/**
 * A list the API hands out a page at a time (`next_cursor`), for "load more": the first page
 * for some filters, then the next ones appended. A new `load` cancels the one in flight, so
 * typing in a search box never shows the answer to an older query. Items are kept as raw
 * state (replaced, never deeply proxied): a thousand tickets stay cheap.
 */

import { errorMessage, isAbort } from './api';

export interface PageOf<Item> {
  items: Item[];
  next_cursor: string | null;
}

export type FetchPage<Item, Filters> = (
  filters: Filters,
  cursor: string | null,
  signal: AbortSignal,
) => Promise<PageOf<Item>>;

export type Phase = 'idle' | 'loading' | 'ready' | 'error';

export class Pager<Item extends { id: number }, Filters> {
  items = $state.raw<Item[]>([]);
  nextCursor = $state<string | null>(null);
  phase = $state<Phase>('idle');
  error = $state<string | null>(null);
  loadingMore = $state(false);
  moreError = $state<string | null>(null);

  readonly hasMore = $derived(this.nextCursor !== null);

  #filters: Filters | undefined;
  #controller: AbortController | null = null;

  constructor(private readonly fetchPage: FetchPage<Item, Filters>) {}

  /** The first page for `filters` (the list starts over). */
  async load(filters: Filters): Promise<void> {
    this.#controller?.abort();
    const controller = new AbortController();
    this.#controller = controller;
    this.#filters = filters;
    this.phase = 'loading';
    this.error = null;
    this.moreError = null;
    this.loadingMore = false;
    try {
      const page = await this.fetchPage(filters, null, controller.signal);
      if (controller.signal.aborted) return;
      this.items = page.items;
      this.nextCursor = page.next_cursor;
      this.phase = 'ready';
    } catch (error) {
      if (controller.signal.aborted || isAbort(error)) return;
      this.items = [];
      this.nextCursor = null;
      this.error = errorMessage(error);
      this.phase = 'error';
    }
  }

  /** The next page, appended. */
  async loadMore(): Promise<void> {
    const cursor = this.nextCursor;
    if (cursor === null || this.loadingMore || this.phase !== 'ready') return;
    const controller = this.#controller;
    if (!controller) return;
    this.loadingMore = true;
    this.moreError = null;
    try {
      const page = await this.fetchPage(this.#filters as Filters, cursor, controller.signal);
      if (controller.signal.aborted) return;
      // Keyset pages never overlap; skipping known ids anyway keeps the keyed list valid.
      const known = new Set(this.items.map((item) => item.id));
      this.items = [...this.items, ...page.items.filter((item) => !known.has(item.id))];
      this.nextCursor = page.next_cursor;
    } catch (error) {
      if (controller.signal.aborted || isAbort(error)) return;
      this.moreError = errorMessage(error);
    } finally {
      if (this.#controller === controller) this.loadingMore = false;
    }
  }

  /** Put a changed item in its place (after an edit or a role change). */
  replace(item: Item): void {
    this.items = this.items.map((existing) => (existing.id === item.id ? item : existing));
  }

  /** Stop listening for the page in flight (the screen is closing). */
  cancel(): void {
    this.#controller?.abort();
  }
}
