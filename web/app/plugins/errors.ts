/**
 * A component that fails to render must not fail silently: the error reaches the console,
 * where the browser tests look for it (they fail on any console error).
 */
export default defineNuxtPlugin((nuxtApp) => {
  nuxtApp.hook('vue:error', (err, _instance, info) => {
    console.error('[switchyard] render error', info, err);
  });
});
