import type pg from 'pg';
import type { Queryable } from '../db/pool.ts';
import {
  acceptInvitation as markAccepted,
  insertInvitation,
  revokeInvitation,
  selectInvitationByHash,
  type InvitationRow,
} from '../db/queries/invitations.ts';
import { insertMembership, selectMembership } from '../db/queries/memberships.ts';
import {
  selectUserByEmail,
  selectUserById,
  updateUserPassword,
  upsertUserByEmail,
  type UserRow,
} from '../db/queries/users.ts';
import { withTenant, withUser } from '../db/tenant.ts';
import type { RequestMeta } from '../model/actor.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { TenantId, UserId } from '../model/ids.ts';
import { roleAtLeast, type Role } from '../model/roles.ts';
import { recordAudit } from '../observability/audit.ts';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../security/passwords.ts';
import { generateInvitationToken, hashToken, tenantOfToken } from '../security/tokens.ts';

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export type CreatedInvitation = { invitation: InvitationRow; token: string };

export async function createInvitation(
  db: Queryable,
  p: {
    tenantId: TenantId;
    email: string;
    role: Role;
    inviterRole: Role;
    invitedBy: UserId | null;
    ttlMs: number;
    now: Date;
  },
): Promise<CreatedInvitation> {
  const email = p.email.trim().toLowerCase();
  if (!emailPattern.test(email))
    throw new SwitchyardError('E_VALIDATION', `"${p.email}" is not an email address.`, {
      field: 'email',
    });
  if (!roleAtLeast(p.inviterRole, p.role)) {
    throw new SwitchyardError(
      'E_ROLE_TOO_HIGH',
      `A ${p.inviterRole} cannot invite with the role ${p.role}.`,
      { field: 'role' },
    );
  }
  const token = generateInvitationToken(p.tenantId);
  const invitation = await insertInvitation(db, {
    tenantId: p.tenantId,
    email,
    role: p.role,
    tokenHash: token.hash,
    invitedBy: p.invitedBy,
    expiresAt: new Date(p.now.getTime() + p.ttlMs),
  });
  return { invitation, token: token.token };
}

export async function revokeInvitationById(db: Queryable, id: string): Promise<InvitationRow> {
  const row = await revokeInvitation(db, { id });
  if (!row) throw new SwitchyardError('E_NOT_FOUND', 'No open invitation with that id.');
  return row;
}

export type AcceptedInvitation = { tenantId: TenantId; userId: UserId; role: Role };

/**
 * Accepts an invitation link once: by the signed-in user whose email it names, or by a new
 * person who chooses a password (an existing account must sign in first).
 */
export async function acceptInvitation(
  pool: pg.Pool,
  p: { token: string; signedInUserId: UserId | null; password: string | null } & RequestMeta,
): Promise<AcceptedInvitation> {
  const invalid = new SwitchyardError(
    'E_INVITATION_INVALID',
    'This invitation link is invalid, expired, revoked or already used.',
  );
  const tenantId = tenantOfToken(p.token, 'invitation');
  if (!tenantId) throw invalid;
  const tokenHash = hashToken(p.token);
  // users has row security: the signed-in user's row is read as that user, before the tenant's
  // transaction (naming the user there would also show their memberships of other tenants).
  const signedInId = p.signedInUserId;
  const signedIn = signedInId
    ? await withUser(pool, signedInId, (db) => selectUserById(db, { id: signedInId }))
    : undefined;
  return withTenant(pool, tenantId, async (db) => {
    const pending = await selectInvitationByHash(db, { tokenHash });
    if (!pending || pending.acceptedAt || pending.revokedAt || pending.expiresAt <= new Date())
      throw invalid;
    const userId = await userForInvitation(db, pending.email, { ...p, signedIn });
    const accepted = await markAccepted(db, { tokenHash, userId });
    if (!accepted) throw invalid;
    if (await selectMembership(db, { userId })) {
      throw new SwitchyardError('E_CONFLICT', 'You are already a member of this tenant.');
    }
    await insertMembership(db, { tenantId, userId, role: accepted.role });
    await recordAudit(db, {
      tenantId,
      actorKind: 'user',
      actorId: userId,
      action: 'invitation.accepted',
      targetKind: 'invitation',
      targetId: accepted.id,
      metadata: { role: accepted.role },
      ip: p.ip,
      requestId: p.requestId,
    });
    return { tenantId, userId, role: accepted.role };
  });
}

async function userForInvitation(
  db: Queryable,
  email: string,
  p: { signedInUserId: UserId | null; signedIn: UserRow | undefined; password: string | null },
): Promise<UserId> {
  if (p.signedInUserId) {
    const me = p.signedIn;
    if (!me || me.email !== email) {
      throw new SwitchyardError('E_FORBIDDEN', 'This invitation is for another email address.');
    }
    return me.id;
  }
  const existing = await selectUserByEmail(db, { email });
  if (existing?.passwordHash)
    throw new SwitchyardError(
      'E_UNAUTHENTICATED',
      'An account with this email exists: sign in, then accept.',
    );
  if (!p.password || p.password.length < MIN_PASSWORD_LENGTH) {
    throw new SwitchyardError(
      'E_VALIDATION',
      `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
      { field: 'password' },
    );
  }
  const user = await upsertUserByEmail(db, { email });
  await updateUserPassword(db, { id: user.id, passwordHash: await hashPassword(p.password) });
  return user.id;
}
