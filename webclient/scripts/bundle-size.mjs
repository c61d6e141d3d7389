// The JavaScript a browser downloads, gzipped, to show each route on a first visit: the entry
// chunk, the route's own chunk, and every chunk they import statically (from Vite's manifest).
// Fails when a route is over its budget (docs/performance.md reports the figures).
//
//   node scripts/bundle-size.mjs            (after `npm run build`)

import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const BUDGET_KB = 150;
// Each route's screen, as src/routes.ts loads it; the list is the one the budget is set for.
const ROUTES = {
  '/login': 'src/features/auth/LoginPage.svelte',
  '/register': 'src/features/auth/RegisterPage.svelte',
  '/tickets': 'src/features/tickets/TicketListPage.svelte',
  '/tickets/new': 'src/features/tickets/NewTicketPage.svelte',
  '/tickets/:id': 'src/features/tickets/TicketPage.svelte',
  '/admin/users': 'src/features/admin/UsersPage.svelte',
  '/forgot-password': 'src/features/auth/ForgotPasswordPage.svelte',
  '/reset-password': 'src/features/auth/ResetPasswordPage.svelte',
  '/account': 'src/features/account/AccountPage.svelte',
  '/queue': 'src/features/queue/QueuePage.svelte',
  '/dashboard': 'src/features/dashboard/DashboardPage.svelte',
};
const BUDGETED = new Set(['/login', '/tickets']);

const dist = new URL('../dist/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('.vite/manifest.json', dist), 'utf8'));

function closure(keys, seen = new Set()) {
  for (const key of keys) {
    if (seen.has(key)) continue;
    const chunk = manifest[key];
    if (!chunk) throw new Error(`${key} is not in the build manifest`);
    seen.add(key);
    closure(chunk.imports ?? [], seen);
  }
  return seen;
}

function gzippedKb(keys) {
  let bytes = 0;
  for (const key of keys) {
    bytes += gzipSync(readFileSync(new URL(manifest[key].file, dist)), { level: 9 }).length;
  }
  return bytes / 1024;
}

const entry = Object.keys(manifest).find((key) => manifest[key].isEntry);
let failed = false;
console.log(
  `First-load JavaScript per route, gzipped (budget ${BUDGET_KB} KB for ${[...BUDGETED].join(', ')}):`,
);
for (const [route, page] of Object.entries(ROUTES)) {
  const kb = gzippedKb(closure([entry, page]));
  const over = BUDGETED.has(route) && kb > BUDGET_KB;
  failed ||= over;
  console.log(
    `  ${route.padEnd(16)} ${kb.toFixed(1).padStart(6)} KB${over ? '  OVER BUDGET' : ''}`,
  );
}
if (failed) process.exit(1);
