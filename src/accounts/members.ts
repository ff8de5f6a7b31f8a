import type { Queryable } from '../db/pool.ts';
import {
  countOwners,
  deleteMembership,
  selectMembership,
  updateMembershipRole,
} from '../db/queries/memberships.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { UserId } from '../model/ids.ts';
import type { Role } from '../model/roles.ts';

/**
 * Changing roles: admins manage editors and viewers (and other admins); only owners grant,
 * change or remove the owner role, and the last owner cannot be demoted or removed.
 */
export async function changeMemberRole(
  db: Queryable,
  p: { userId: UserId; role: Role; actorRole: Role },
): Promise<void> {
  const member = await selectMembership(db, { userId: p.userId });
  if (!member) throw new SwitchyardError('E_NOT_FOUND', 'No such member.');
  assertMayManage(member.role, p.role, p.actorRole);
  if (member.role === 'owner' && p.role !== 'owner') await assertNotLastOwner(db);
  await updateMembershipRole(db, { userId: p.userId, role: p.role });
}

export async function removeMember(
  db: Queryable,
  p: { userId: UserId; actorRole: Role },
): Promise<void> {
  const member = await selectMembership(db, { userId: p.userId });
  if (!member) throw new SwitchyardError('E_NOT_FOUND', 'No such member.');
  assertMayManage(member.role, member.role, p.actorRole);
  if (member.role === 'owner') await assertNotLastOwner(db);
  await deleteMembership(db, { userId: p.userId });
}

function assertMayManage(current: Role, next: Role, actor: Role): void {
  if ((current === 'owner' || next === 'owner') && actor !== 'owner') {
    throw new SwitchyardError(
      'E_FORBIDDEN',
      'Only an owner can grant, change or remove the owner role.',
    );
  }
}

async function assertNotLastOwner(db: Queryable): Promise<void> {
  if ((await countOwners(db)) <= 1) {
    throw new SwitchyardError(
      'E_LAST_OWNER',
      'A tenant keeps at least one owner: make someone else owner first.',
    );
  }
}
