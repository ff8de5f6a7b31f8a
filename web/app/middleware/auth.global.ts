/**
 * Every page but sign-in and setup needs a session. A fresh install goes to setup; an expired
 * session goes to sign-in with the page the user asked for kept in `next`.
 */
const openPages = new Set(['/sign-in', '/setup']);

export default defineNuxtRouteMiddleware(async (to) => {
  const session = useSession();
  if (session.viewer.value === undefined) await session.load();
  const signedIn = Boolean(session.viewer.value);
  if (signedIn) return openPages.has(to.path) ? navigateTo('/workflows') : undefined;
  if (to.path === '/setup')
    return (await session.setupRequired()) ? undefined : navigateTo('/sign-in');
  if (await session.setupRequired()) return navigateTo('/setup');
  if (to.path === '/sign-in') return undefined;
  return navigateTo({ path: '/sign-in', query: { next: to.fullPath } });
});
