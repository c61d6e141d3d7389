import { session, STORAGE_KEY } from '../lib/session/session.svelte';
import { userToken } from './fake-api';

/** Sign `user` in as a stored session would be restored at start (no API call waited for). */
export function signIn(user: { id: number; email: string; role: string }): string {
  const token = userToken(user);
  localStorage.setItem(STORAGE_KEY, token);
  session.restore();
  return token;
}

export function signOut(): void {
  // Locally only: no logout call goes to the (fake) API.
  localStorage.clear();
  session.expire('');
  session.notice = null;
}
