/**
 * A one-time message for the next screen ("Ticket #12 created."), or for this one. It is shown
 * on the visit it was meant for and gone after the next navigation.
 */

import { router } from './router/router.svelte';

export type FlashKind = 'success' | 'info';

class Flash {
  message = $state<string | null>(null);
  kind = $state<FlashKind>('success');
  #visit = $state(-1);

  /** The message to show now, if it belongs to the current visit. */
  readonly current = $derived(this.#visit === router.visits ? this.message : null);

  /** For the screen the next navigation leads to. */
  next(message: string, kind: FlashKind = 'success'): void {
    this.#set(message, kind, router.visits + 1);
  }

  /** For the screen on show. */
  now(message: string, kind: FlashKind = 'success'): void {
    this.#set(message, kind, router.visits);
  }

  clear(): void {
    this.message = null;
  }

  #set(message: string, kind: FlashKind, visit: number): void {
    this.message = message;
    this.kind = kind;
    this.#visit = visit;
  }
}

export const flash = new Flash();
