import 'vuetify/styles';
import { createVuetify } from 'vuetify';
import { aliases, mdi } from 'vuetify/iconsets/mdi-svg';

/** Light and dark themes; the choice is the user's (app bar), the default the system's. */
export default defineNuxtPlugin((nuxtApp) => {
  const stored = globalThis.localStorage?.getItem('sy-theme');
  const prefersDark = globalThis.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false;
  const vuetify = createVuetify({
    icons: { defaultSet: 'mdi', aliases, sets: { mdi } },
    theme: {
      defaultTheme: stored === 'dark' || (stored === null && prefersDark) ? 'dark' : 'light',
      themes: {
        light: {
          dark: false,
          colors: {
            primary: '#0d47a1',
            secondary: '#37474f',
            error: '#b00020',
            success: '#1b5e20',
          },
          // Vuetify's 0.6 gives hints and labels 4.3:1 on white; WCAG AA asks 4.5:1.
          variables: { 'medium-emphasis-opacity': 0.72 },
        },
        dark: {
          dark: true,
          colors: {
            primary: '#90caf9',
            secondary: '#b0bec5',
            error: '#ff8a80',
            success: '#a5d6a7',
          },
          variables: { 'medium-emphasis-opacity': 0.78 },
        },
      },
    },
    defaults: {
      VTextField: { variant: 'outlined', density: 'comfortable' },
      VTextarea: { variant: 'outlined', density: 'comfortable' },
      VSelect: { variant: 'outlined', density: 'comfortable' },
      VAutocomplete: { variant: 'outlined', density: 'comfortable' },
      VCombobox: { variant: 'outlined', density: 'comfortable' },
      VBtn: { rounded: 'lg' },
    },
  });
  nuxtApp.vueApp.use(vuetify);
});
