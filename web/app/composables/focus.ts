/**
 * The field that takes the focus when a page opens: once, on mount, and only if nothing has it
 * yet. Vuetify's `autofocus` focuses a field when it comes into view, which can be after a quick
 * user (or a password manager) has moved on: on the sign-in and set-up pages the password then
 * went on being typed into the first field, in clear. Bind the returned ref to the field.
 */
export function useFocusOnOpen() {
  const field = ref<{ focus: () => void } | null>(null);
  onMounted(() => {
    const active = document.activeElement;
    if (!active || active === document.body) field.value?.focus();
  });
  return field;
}
