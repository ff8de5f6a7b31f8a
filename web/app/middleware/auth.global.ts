/**
 * Every page but sign-in, setup and accepting an invitation needs a session. A fresh install
 * goes to setup; an expired session goes to sign-in with the page the user asked for kept in
 * `next`.
 */
const openPages = new Set(['/sign-in', '/setup']);
/** Pages for everyone, signed in or not: an invitation is accepted either way. */
const everyonePages = new Set(['/invitations/accept']);

export default defineNuxtRouteMiddleware(async (to) => {
  const session = useSession();
  if (session.viewer.value === undefined) await session.load();
  if (everyonePages.has(to.path)) return undefined;
  const signedIn = Boolean(session.viewer.value);
  if (signedIn) return openPages.has(to.path) ? navigateTo('/workflows') : undefined;
  if (to.path === '/setup')
    return (await session.setupRequired()) ? undefined : navigateTo('/sign-in');
  if (await session.setupRequired()) return navigateTo('/setup');
  if (to.path === '/sign-in') return undefined;
  return navigateTo({ path: '/sign-in', query: { next: to.fullPath } });
});
