/**
 * Email + password sign-in with sessions. Failures are throttled per account and per IP (state
 * in PostgreSQL, so shared by every API process) and audited in the user's tenants.
 */
import type pg from 'pg';
import { selectMembershipsOfUser } from '../db/queries/memberships.ts';
import {
  insertSession,
  revokeSession,
  setSessionTenant,
  touchLiveSession,
  type SessionRow,
} from '../db/queries/sessions.ts';
import {
  clearFailures,
  recordFailures,
  selectLockedUntil,
} from '../db/queries/sign-in-failures.ts';
import { selectUserByEmail } from '../db/queries/users.ts';
import { withTenant, withUser } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { TenantId, UserId } from '../model/ids.ts';
import type { RequestMeta } from '../model/actor.ts';
import type { Role } from '../model/roles.ts';
import { recordAudit } from '../observability/audit.ts';
import { burnPasswordCheck, verifyPassword } from '../security/passwords.ts';
import { generateSessionToken, hashToken } from '../security/tokens.ts';

export type SignInPolicy = {
  sessionTtlMs: number;
  /** Failures per account within the window before the account is locked. */
  maxFailures: number;
  /** Failures per client IP within the window before the IP is locked (many accounts, one source). */
  maxFailuresPerIp: number;
  failureWindowMs: number;
  lockMs: number;
};

export type SignedIn = { sessionToken: string; session: SessionRow; userId: UserId };

export async function signIn(
  pool: pg.Pool,
  policy: SignInPolicy,
  p: { email: string; password: string; userAgent: string | null } & RequestMeta,
): Promise<SignedIn> {
  const email = p.email.trim().toLowerCase();
  const keys = [`email:${email}`, ...(p.ip ? [`ip:${p.ip}`] : [])];
  const lockedUntil = await selectLockedUntil(pool, { keys });
  if (lockedUntil) {
    throw new SwitchyardError('E_SIGN_IN_THROTTLED', 'Too many failed sign-ins. Try again later.', {
      retryAfterMs: Math.max(1000, lockedUntil.getTime() - Date.now()),
    });
  }
  const user = await selectUserByEmail(pool, { email });
  const ok =
    user?.passwordHash && !user.disabledAt
      ? await verifyPassword(user.passwordHash, p.password)
      : (await burnPasswordCheck(p.password), false);
  if (!user || !ok) {
    const window = { windowMs: policy.failureWindowMs, lockMs: policy.lockMs };
    await recordFailures(pool, { keys: [`email:${email}`], limit: policy.maxFailures, ...window });
    if (p.ip)
      await recordFailures(pool, {
        keys: [`ip:${p.ip}`],
        limit: policy.maxFailuresPerIp,
        ...window,
      });
    if (user) await auditInTenants(pool, user.id, 'user.sign_in_failed', 'failure', p);
    throw new SwitchyardError('E_UNAUTHENTICATED', 'Email or password is wrong.');
  }
  await clearFailures(pool, { key: `email:${email}` });
  const memberships = await withUser(pool, user.id, (db) =>
    selectMembershipsOfUser(db, { userId: user.id }),
  );
  const token = generateSessionToken();
  const session = await withUser(pool, user.id, (db) =>
    insertSession(db, {
      userId: user.id,
      tokenHash: token.hash,
      tenantId: memberships[0]?.tenantId ?? null,
      ip: p.ip,
      userAgent: p.userAgent,
      expiresAt: new Date(Date.now() + policy.sessionTtlMs),
    }),
  );
  await auditInTenants(pool, user.id, 'user.signed_in', 'success', p);
  return { sessionToken: token.token, session, userId: user.id };
}

export type ResolvedSession = { session: SessionRow; role: Role | null };

/** The live session for a cookie secret, with the user's role in its current tenant. */
export async function resolveSession(
  pool: pg.Pool,
  sessionToken: string,
): Promise<ResolvedSession | undefined> {
  const session = await touchLiveSession(pool, { tokenHash: hashToken(sessionToken) });
  if (!session) return undefined;
  const memberships = await withUser(pool, session.userId, (db) =>
    selectMembershipsOfUser(db, { userId: session.userId }),
  );
  const current = memberships.find((m) => m.tenantId === session.currentTenantId);
  return { session, role: current?.role ?? null };
}

export async function signOut(pool: pg.Pool, sessionId: string): Promise<void> {
  await revokeSession(pool, { id: sessionId });
}

/** Switches the session to another tenant the user belongs to; "not found" otherwise. */
export async function switchTenant(
  pool: pg.Pool,
  p: { sessionId: string; userId: UserId; tenantId: TenantId },
): Promise<Role> {
  const memberships = await withUser(pool, p.userId, (db) =>
    selectMembershipsOfUser(db, { userId: p.userId }),
  );
  const target = memberships.find((m) => m.tenantId === p.tenantId);
  if (!target) throw new SwitchyardError('E_NOT_FOUND', 'No such tenant.');
  await withUser(pool, p.userId, (db) =>
    setSessionTenant(db, { id: p.sessionId, tenantId: p.tenantId }),
  );
  return target.role;
}

async function auditInTenants(
  pool: pg.Pool,
  userId: UserId,
  action: string,
  outcome: 'success' | 'failure',
  meta: RequestMeta,
): Promise<void> {
  const memberships = await withUser(pool, userId, (db) => selectMembershipsOfUser(db, { userId }));
  for (const m of memberships) {
    await withTenant(pool, m.tenantId, (db) =>
      recordAudit(db, {
        tenantId: m.tenantId,
        actorKind: 'user',
        actorId: userId,
        action,
        outcome,
        targetKind: 'user',
        targetId: userId,
        ip: meta.ip,
        requestId: meta.requestId,
      }),
    );
  }
}
