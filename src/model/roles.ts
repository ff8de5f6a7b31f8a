/** Membership and token roles, weakest first. */
export const roles = ['viewer', 'editor', 'admin', 'owner'] as const;
export type Role = (typeof roles)[number];

export function roleRank(role: Role): number {
  return roles.indexOf(role);
}

/** True when `held` grants at least what `required` grants. */
export function roleAtLeast(held: Role, required: Role): boolean {
  return roleRank(held) >= roleRank(required);
}
