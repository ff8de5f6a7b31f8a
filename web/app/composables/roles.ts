const order = ['viewer', 'editor', 'admin', 'owner'] as const;

/** Whether the signed-in user's role in the current tenant is at least `role`. */
export function useRoleAtLeast(role: (typeof order)[number]) {
  const session = useSession();
  return computed(() => {
    const mine = session.viewer.value?.currentTenant?.role;
    return mine ? order.indexOf(mine) >= order.indexOf(role) : false;
  });
}

/** Editors and above change apps, connections, workflows and triggers, and start runs. */
export function useCanEdit() {
  return useRoleAtLeast('editor');
}
