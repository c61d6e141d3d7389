/**
 * Users by id, as staff see them (S1 `/auth/users?ids=`), fetched once and kept for the page's
 * life, so lists and ticket pages show email addresses, never raw ids. Also the list of staff,
 * for the "assigned to" filter now and the assign picker later.
 */

import { SvelteMap } from 'svelte/reactivity';

import { api } from './api';
import type { User } from './api/types';
import { session } from './session/session.svelte';

/** The API's largest page: a small team's staff fit in one. */
const STAFF_PAGE = 200;

class People {
  readonly #known = new SvelteMap<number, User | null>();
  readonly #asked = new Set<number>();
  #staffRequest: Promise<void> | null = null;

  /** Staff and admins, by email; null until loaded. */
  staff = $state.raw<User[] | null>(null);
  staffError = $state<string | null>(null);

  /**
   * Fetch the users not yet known (staff only: others may not look anyone else up), in one
   * `GET /auth/users?ids=` call per 200 of them: a page of tickets costs S1 one request, and an
   * id S1 does not know is simply absent from the answer (shown as "User #id"), not a 404.
   */
  ensure(ids: Iterable<number | null | undefined>): void {
    if (!session.isStaff) return;
    const wanted = [...new Set(ids)].filter(
      (id): id is number => id != null && !this.#asked.has(id),
    );
    for (const id of wanted) this.#asked.add(id);
    for (let start = 0; start < wanted.length; start += STAFF_PAGE) {
      const part = wanted.slice(start, start + STAFF_PAGE);
      const unknown = () => {
        for (const id of part) if (!this.#known.has(id)) this.#known.set(id, null);
      };
      api.auth.users({ ids: part, limit: STAFF_PAGE }).then((page) => {
        for (const user of page.users) this.#known.set(user.id, user);
        unknown();
      }, unknown);
    }
  }

  user(id: number): User | null | undefined {
    if (id === session.user?.id) return session.user;
    return this.#known.get(id);
  }

  /** A display name or else an email address, or "User #7" while it is not known (or cannot be). */
  label(id: number): string {
    const user = this.user(id);
    return user?.name || user?.email || `User #${id}`;
  }

  /**
   * Staff and admins whose name or email begins with `q` (S1's user search, by role), for the
   * assign picker: one page of each role, by name.
   */
  async searchStaff(q: string, signal?: AbortSignal): Promise<User[]> {
    const query = q.trim();
    const [staff, admins] = await Promise.all(
      (['staff', 'admin'] as const).map((role) =>
        api.auth.users({ role, q: query || undefined, limit: STAFF_PAGE }, signal),
      ),
    );
    const found = [...staff!.users, ...admins!.users];
    for (const user of found) {
      this.#known.set(user.id, user);
      this.#asked.add(user.id);
    }
    return found.sort((a, b) => staffName(a).localeCompare(staffName(b)));
  }

  loadStaff(): Promise<void> {
    this.#staffRequest ??= this.#fetchStaff();
    return this.#staffRequest;
  }

  async #fetchStaff(): Promise<void> {
    try {
      const [staff, admins] = await Promise.all([
        api.auth.users({ role: 'staff', limit: STAFF_PAGE }),
        api.auth.users({ role: 'admin', limit: STAFF_PAGE }),
      ]);
      const everyone = [...staff.users, ...admins.users];
      for (const user of everyone) {
        this.#known.set(user.id, user);
        this.#asked.add(user.id);
      }
      this.staff = everyone.sort((a, b) => a.email.localeCompare(b.email));
      this.staffError = null;
    } catch (error) {
      this.#staffRequest = null; // let a later visit try again
      this.staffError = error instanceof Error ? error.message : String(error);
    }
  }

  /** After a role change or a logout, what was learned may be out of date. */
  forget(): void {
    this.#known.clear();
    this.#asked.clear();
    this.staff = null;
    this.#staffRequest = null;
  }
}

/** How a staff member is named in pickers: the name and the address, or the address alone. */
export function staffName(user: User): string {
  return user.name ? `${user.name} (${user.email})` : user.email;
}

export const people = new People();
