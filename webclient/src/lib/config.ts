/**
 * Where the API is. One build serves any deployment: the server that serves the files writes
 * `/config.js` (window.__HELPDESK_CONFIG__) at run time; `npm run dev` falls back to
 * VITE_API_BASE_URL, then to the gateway's local address.
 */

export interface RuntimeConfig {
  /** The gateway's origin (and path prefix, if any), e.g. `http://localhost:8080`. */
  apiBaseUrl?: string;
}

declare global {
  interface Window {
    __HELPDESK_CONFIG__?: RuntimeConfig;
  }
}

export const DEFAULT_API_BASE_URL = 'http://localhost:8080';

export function apiBaseUrl(
  runtime: RuntimeConfig | undefined = globalThis.window?.__HELPDESK_CONFIG__,
  buildTime: string | undefined = import.meta.env.VITE_API_BASE_URL,
): string {
  const chosen = runtime?.apiBaseUrl || buildTime || DEFAULT_API_BASE_URL;
  // Paths are joined as `${base}/tickets`: a trailing slash would double it.
  return chosen.replace(/\/+$/, '');
}
