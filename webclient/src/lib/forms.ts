import { tick } from 'svelte';

/** After a refused submit, put the cursor in the first field that needs fixing. */
export async function focusFirstInvalid(form: HTMLFormElement | undefined): Promise<void> {
  await tick();
  form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
}
