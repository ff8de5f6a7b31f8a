import { setUnauthenticatedHandler } from '~/graphql/client';

/** A session that expires mid-use sends the user to sign-in, keeping the page they were on. */
export default defineNuxtPlugin(() => {
  const router = useRouter();
  setUnauthenticatedHandler(() => {
    const session = useSession();
    // null: already signed out; undefined: the first load is asking (it handles the answer).
    if (session.viewer.value == null) return;
    session.viewer.value = null;
    const here = router.currentRoute.value;
    if (here.path === '/sign-in' || here.path === '/setup') return;
    void router.push({ path: '/sign-in', query: { next: here.fullPath, expired: '1' } });
  });
});
