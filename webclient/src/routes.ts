/**
 * Every screen of the client: its path, who may see it, its title and its place in the
 * navigation. Each page is loaded on first visit (its own chunk), so the first load carries
 * only the shell and the screen asked for.
 *
 * To add a screen: one entry here (and a `nav` entry if it belongs in the header). The
 * screens planned for the services still to come are listed in webclient/README.md.
 */

import type { Component } from 'svelte';

import { compile, matchPath, type Params, type Pattern } from './lib/router/router.svelte';
import type { SessionUser } from './lib/session/session.svelte';

/** `guest`: only signed out (login, register); `public`: anyone (a reset link); `user`: anyone
 * signed in; then staff, admin. */
export type Access = 'guest' | 'public' | 'user' | 'staff' | 'admin';

export interface PageProps {
  params: Params;
}

/** A screen's module. Screens take `params` (the ticket page) or no props at all; Svelte types
 * the latter as `Record<string, never>`, which no single props type admits besides `any`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PageModule = { default: Component<any> };

export interface NavEntry {
  label: (user: SessionUser) => string;
  /** The entry is marked current on these paths too (a ticket page under "Tickets"). */
  activeOn?: RegExp;
}

export interface RouteDef {
  path: string;
  access: Access;
  title: string;
  load: () => Promise<PageModule>;
  nav?: NavEntry;
}

export interface CompiledRoute extends RouteDef {
  pattern: Pattern;
}

const staffRoles = new Set(['staff', 'admin']);

export const routes: RouteDef[] = [
  {
    path: '/login',
    access: 'guest',
    title: 'Log in',
    load: () => import('./features/auth/LoginPage.svelte'),
  },
  {
    path: '/register',
    access: 'guest',
    title: 'Create an account',
    load: () => import('./features/auth/RegisterPage.svelte'),
  },
  {
    path: '/forgot-password',
    access: 'guest',
    title: 'Forgot your password?',
    load: () => import('./features/auth/ForgotPasswordPage.svelte'),
  },
  {
    path: '/reset-password',
    access: 'public',
    title: 'Choose a new password',
    load: () => import('./features/auth/ResetPasswordPage.svelte'),
  },
  {
    path: '/queue',
    access: 'staff',
    title: 'Queue',
    load: () => import('./features/queue/QueuePage.svelte'),
    nav: { label: () => 'Queue' },
  },
  {
    path: '/tickets',
    access: 'user',
    title: 'Tickets',
    load: () => import('./features/tickets/TicketListPage.svelte'),
    nav: {
      label: (user) => (staffRoles.has(user.role) ? 'All tickets' : 'My tickets'),
      activeOn: /^\/tickets\/\d+$/,
    },
  },
  {
    path: '/tickets/new',
    access: 'user',
    title: 'New ticket',
    load: () => import('./features/tickets/NewTicketPage.svelte'),
    nav: { label: () => 'New ticket' },
  },
  {
    path: '/tickets/:id',
    access: 'user',
    title: 'Ticket',
    load: () => import('./features/tickets/TicketPage.svelte'),
  },
  {
    path: '/dashboard',
    access: 'staff',
    title: 'Dashboard',
    load: () => import('./features/dashboard/DashboardPage.svelte'),
    nav: { label: () => 'Dashboard' },
  },
  {
    path: '/account',
    access: 'user',
    title: 'Your account',
    load: () => import('./features/account/AccountPage.svelte'),
  },
  {
    path: '/admin/users',
    access: 'admin',
    title: 'Users',
    load: () => import('./features/admin/UsersPage.svelte'),
    nav: { label: () => 'Users' },
  },
];

/** Where `/` and a signed-in visit to a guest page lead. */
export const HOME = '/tickets';
export const LOGIN = '/login';

export const compiledRoutes: CompiledRoute[] = routes.map((route) => ({
  ...route,
  pattern: compile(route.path),
}));

// One import per screen for the page's life; a failed one (offline) is tried again next visit.
const loaded = new Map<RouteDef, Promise<PageModule>>();

export function loadPage(route: RouteDef): Promise<PageModule> {
  let module = loaded.get(route);
  if (!module) {
    module = route.load();
    loaded.set(route, module);
    module.catch(() => loaded.delete(route));
  }
  return module;
}

export interface Match {
  route: CompiledRoute;
  params: Params;
}

export function resolve(path: string, table: CompiledRoute[] = compiledRoutes): Match | null {
  for (const route of table) {
    const params = matchPath(route.pattern, path);
    if (params) return { route, params };
  }
  return null;
}

export function mayVisit(access: Access, user: SessionUser | null): boolean {
  switch (access) {
    case 'guest':
      return user === null;
    case 'public':
      return true;
    case 'user':
      return user !== null;
    case 'staff':
      return user !== null && staffRoles.has(user.role);
    case 'admin':
      return user?.role === 'admin';
  }
}

export type Decision =
  | { kind: 'render'; match: Match }
  | { kind: 'redirect'; to: string }
  | { kind: 'forbidden' }
  | { kind: 'not-found' };

/** What to do with a visit to `path` (with `search`) by `user`. */
export function decide(path: string, search: string, user: SessionUser | null): Decision {
  if (path === '/' || path === '') return { kind: 'redirect', to: user ? HOME : LOGIN };
  const match = resolve(path);
  if (!match) return { kind: 'not-found' };
  const { access } = match.route;
  if (mayVisit(access, user)) return { kind: 'render', match };
  if (access === 'guest') return { kind: 'redirect', to: safeNext(new URLSearchParams(search)) };
  if (user === null) {
    return { kind: 'redirect', to: `${LOGIN}?next=${encodeURIComponent(path + search)}` };
  }
  return { kind: 'forbidden' };
}

/** The `next=` page after logging in: a path of ours, never another site. */
export function safeNext(query: URLSearchParams): string {
  const next = query.get('next');
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\'))
    return HOME;
  if (
    next === LOGIN ||
    next.startsWith(`${LOGIN}?`) ||
    next.startsWith('/register') ||
    next.startsWith('/forgot-password') ||
    next.startsWith('/reset-password')
  )
    return HOME;
  return next;
}
