/**
 * Who is signed in, in which tenant. Loaded once per page load (the route middleware asks),
 * cleared when the server says the session is gone, so every page sends the user to sign-in
 * with the page they were on kept in `next`.
 */
import { graphql, request, type ResultOf, ApiError } from '~/graphql/client';

export const ViewerQuery = graphql(`
  query Viewer {
    viewer {
      kind
      email
      userId
      currentTenant {
        id
        name
        role
      }
      tenants {
        id
        name
        role
      }
    }
  }
`);
const SetupRequiredQuery = graphql(`
  query SetupRequired {
    setupRequired
  }
`);
const SignOutMutation = graphql(`
  mutation SignOut {
    signOut
  }
`);
const SwitchTenantMutation = graphql(`
  mutation SwitchTenant($tenantId: ID!) {
    switchTenant(tenantId: $tenantId) {
      id
      name
      role
    }
  }
`);

export type Viewer = ResultOf<typeof ViewerQuery>['viewer'];

export function useSession() {
  /** undefined: not asked yet; null: nobody is signed in. */
  const viewer = useState<Viewer | null | undefined>('viewer', () => undefined);

  async function load(): Promise<Viewer | null> {
    try {
      viewer.value = (await request(ViewerQuery)).viewer;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'E_UNAUTHENTICATED') viewer.value = null;
      else throw err;
    }
    return viewer.value;
  }

  async function setupRequired(): Promise<boolean> {
    return (await request(SetupRequiredQuery)).setupRequired;
  }

  async function signOut(): Promise<void> {
    try {
      await request(SignOutMutation);
    } finally {
      viewer.value = null;
      clearNuxtState((key) => key !== 'viewer');
      await navigateTo('/sign-in');
    }
  }

  async function switchTenant(tenantId: string): Promise<void> {
    await request(SwitchTenantMutation, { tenantId });
    clearNuxtState((key) => key !== 'viewer');
    await load();
    // Every page's data belongs to the tenant: reload the current page's data.
    await refreshNuxtData();
  }

  return { viewer, load, setupRequired, signOut, switchTenant };
}
