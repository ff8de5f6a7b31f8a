import vuetify from 'vite-plugin-vuetify';

/**
 * The web app is a static single-page app (no server rendering): `nuxt generate` writes it to
 * .output/public, and the API serves those files at `/` (src/api/routes/web-app.ts) with a
 * strict Content-Security-Policy. Nothing here may need inline script: the one Nuxt writes
 * (its runtime config) is moved to a file by scripts/externalize-inline-scripts.ts.
 */
export default defineNuxtConfig({
  ssr: false,
  compatibilityDate: '2026-11-01',
  telemetry: false,
  devtools: { enabled: false },
  app: {
    head: {
      htmlAttrs: { lang: 'en' },
      title: 'Switchyard',
      meta: [{ name: 'description', content: 'Switchyard: durable workflows between your tools' }],
      link: [{ rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }],
    },
  },
  experimental: {
    // An import map is an inline script; CSP `script-src 'self'` refuses it.
    entryImportMap: false,
  },
  build: { transpile: ['vuetify'] },
  vite: {
    plugins: [vuetify({ autoImport: true })],
    build: { sourcemap: false },
  },
  typescript: { strict: true },
});
