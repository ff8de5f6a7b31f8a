import { useTheme } from 'vuetify';

export function useThemeToggle() {
  const theme = useTheme();
  const dark = computed(() => theme.global.current.value.dark);
  function toggle(): void {
    const next = dark.value ? 'light' : 'dark';
    theme.change(next);
    globalThis.localStorage?.setItem('sy-theme', next);
  }
  return { dark, toggle };
}
