/**
 * Server errors shown where the user can fix them: on the field the server named
 * (`extensions.field`), otherwise above the form, always with the registry's code.
 */
import { ApiError } from '~/graphql/client';

export function useFormErrors() {
  const fields = ref<Record<string, string>>({});
  const general = ref<string | null>(null);

  function clear(): void {
    fields.value = {};
    general.value = null;
  }

  function show(err: unknown): void {
    clear();
    if (err instanceof ApiError) {
      if (err.field) fields.value = { [err.field]: err.message };
      else general.value = `${err.message} (${err.code})`;
      return;
    }
    general.value = err instanceof Error ? err.message : 'Something went wrong.';
  }

  /** For `:error-messages`: the server's message for this field, if any. */
  function on(field: string): string[] {
    const message = fields.value[field];
    return message ? [message] : [];
  }

  return { fields, general, clear, show, on };
}
