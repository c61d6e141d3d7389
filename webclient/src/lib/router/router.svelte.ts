/**
 * A small history-API router: the current path and query as runes, `navigate()`, and plain
 * `<a href="/tickets/7">` links that stay in the page (one click listener on the document).
 * Patterns are regexparam's (`/tickets/:id`); the route table is `src/routes.ts`.
 *
 * Why not a router package: the Svelte 5 ones are hash-only or far larger than this file, and
 * this is all the client needs (no nested routers, no SSR). The servers answer index.html for
 * any path without a file (history fallback), so deep links and reloads work.
 */

import { parse } from 'regexparam';

export type Params = Record<string, string>;

export interface Pattern {
  path: string;
  keys: string[];
  regex: RegExp;
}

export function compile(path: string): Pattern {
  const { keys, pattern } = parse(path);
  return { path, keys, regex: pattern };
}

/** The params of `path` if it matches `pattern`, else null. */
export function matchPath(pattern: Pattern, path: string): Params | null {
  const found = pattern.regex.exec(path);
  if (!found) return null;
  const params: Params = {};
  pattern.keys.forEach((key, index) => {
    const value = found[index + 1];
    if (value !== undefined) params[key] = decodeURIComponent(value);
  });
  return params;
}

export type QueryUpdate = Record<string, string | number | null | undefined>;

export class Router {
  path = $state('/');
  search = $state('');
  readonly query: URLSearchParams = $derived(new URLSearchParams(this.search));

  /** Increases on every navigation that changes the path (not on query-only changes). */
  visits = $state(0);

  constructor(private readonly win: Window | undefined = globalThis.window) {
    if (win) this.#sync();
  }

  /** Listen to back/forward and to link clicks. Returns the function that stops listening. */
  start(): () => void {
    const win = this.win;
    if (!win) return () => {};
    const onPop = () => this.#sync();
    const onClick = (event: MouseEvent) => this.#onClick(event);
    win.addEventListener('popstate', onPop);
    win.document.addEventListener('click', onClick);
    return () => {
      win.removeEventListener('popstate', onPop);
      win.document.removeEventListener('click', onClick);
    };
  }

  /** The path and query together, as a `next=` parameter keeps it. */
  get href(): string {
    return this.path + this.search;
  }

  navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
    const win = this.win;
    if (!win) return;
    const target = new URL(to, win.location.href);
    if (target.origin !== win.location.origin) {
      win.location.assign(target.href);
      return;
    }
    const href = target.pathname + target.search + target.hash;
    if (href === win.location.pathname + win.location.search + win.location.hash) return;
    if (replace) win.history.replaceState(null, '', href);
    else win.history.pushState(null, '', href);
    this.#sync();
  }

  /** Change query parameters of the current page (filters), keeping the others. */
  setQuery(update: QueryUpdate, { replace = true }: { replace?: boolean } = {}): void {
    const query = new URLSearchParams(this.search);
    for (const [key, value] of Object.entries(update)) {
      if (value === null || value === undefined || value === '') query.delete(key);
      else query.set(key, String(value));
    }
    const search = query.toString();
    this.navigate(this.path + (search ? `?${search}` : ''), { replace });
  }

  #sync(): void {
    const location = this.win!.location;
    if (location.pathname !== this.path) this.visits += 1;
    this.path = location.pathname;
    this.search = location.search;
  }

  #onClick(event: MouseEvent): void {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.('a');
    if (!anchor || !anchor.href || anchor.hasAttribute('download')) return;
    if (anchor.target && anchor.target !== '_self') return;
    const here = this.win!.location;
    if (anchor.origin !== here.origin) return;
    // In-page anchors (the skip link) keep the browser's own scrolling and focus.
    if (anchor.hash && anchor.pathname === here.pathname && anchor.search === here.search) return;
    event.preventDefault();
    this.navigate(anchor.pathname + anchor.search + anchor.hash);
  }
}

export const router = new Router();
