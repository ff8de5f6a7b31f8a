import type { FastifyReply } from 'fastify';
import type pg from 'pg';
import type { LastUsedTracker } from '../../accounts/last-used.ts';
import type { SignInPolicy } from '../../accounts/sign-in.ts';
import type { Queryable } from '../../db/pool.ts';
import type { Engine } from '../../engine/engine.ts';
import type { ResumeInput, ResumeResult } from '../../engine/resume.ts';
import type { RunChangeHub } from '../run-changes.ts';
import type { Mailer } from '../../accounts/mailer.ts';
import type { SecretBox } from '../../security/crypto/secret-box.ts';
import { withTenant } from '../../db/tenant.ts';
import type { Actor, RequestMeta } from '../../model/actor.ts';
import { SwitchyardError } from '../../model/errors.ts';
import type { ConnectionId, TenantId, UserId } from '../../model/ids.ts';
import type { RetentionDefaults } from '../../model/retention.ts';
import type { Role } from '../../model/roles.ts';

export type ApiSettings = {
  signIn: SignInPolicy;
  invitationTtlMs: number;
  /** How long a rotated webhook secret stays valid by default. */
  webhookSecretOverlapMs: number;
  /** Secure cookies (HTTPS, or HTTPS behind a trusted proxy). */
  secureCookies: boolean;
  publicUrl: string;
  /** The operator's retention (RETENTION_*_DAYS), which tenant settings override. */
  retention: RetentionDefaults;
};

/** What "test connection" found: the app's answer, or the registry code of why there was none. */
export type ConnectionTestResult = {
  ok: boolean;
  status: number | null;
  code: string | null;
  message: string;
};
/** Calls the app's base URL with the connection's credentials (cli/connection-tester.ts). */
export type ConnectionTester = (
  tenantId: TenantId,
  connectionId: ConnectionId,
) => Promise<ConnectionTestResult>;

export type ApiServices = {
  pool: pg.Pool;
  engine: Engine;
  /** Live run changes for subscriptions (one LISTEN connection per process). */
  runChanges: RunChangeHub;
  secrets: SecretBox;
  /** Invitation mail; null without SMTP_URL (links are shown to the inviter). */
  mailer: Mailer | null;
  settings: ApiSettings;
  lastUsed: LastUsedTracker;
  clock: { now(): Date };
  /** Absent where no gate is wired: testConnection then answers E_RUNNER_UNAVAILABLE. */
  connectionTester?: ConnectionTester;
  /** Fetches an OpenAPI document through the outgoing gate (importOpenApi with a url). */
  fetchDocument?: (url: string) => Promise<string>;
  /** Resumes a waitForEvent step (resumeRun, engine/resume.ts); absent: not wired. */
  resume?: (p: ResumeInput) => Promise<ResumeResult>;
};

export type GraphQLContext = {
  actor: Actor;
  meta: RequestMeta;
  services: ApiServices;
  reply: FastifyReply;
};

/** The tenant and role of the request, or an error saying what is missing. */
export function tenantOf(ctx: GraphQLContext): {
  tenantId: TenantId;
  role: Role;
  userId: UserId | null;
} {
  const a = ctx.actor;
  if (a.kind === 'token') return { tenantId: a.tenantId, role: a.role, userId: null };
  if (a.kind === 'user' && a.tenantId && a.role)
    return { tenantId: a.tenantId, role: a.role, userId: a.userId };
  if (a.kind === 'user')
    throw new SwitchyardError('E_FORBIDDEN', 'Choose a tenant first (switchTenant).');
  throw new SwitchyardError('E_UNAUTHENTICATED', 'Sign in or send a valid API token.');
}

/**
 * The member a request acts for: the signed-in user, or the member who created the token. A
 * token created by a token acts for the same member, so that removing that member ends both.
 */
export function principalUserId(ctx: GraphQLContext): UserId | null {
  const a = ctx.actor;
  if (a.kind === 'user') return a.userId;
  if (a.kind === 'token') return a.creatorUserId;
  return null;
}

/** Runs `fn` in the request's tenant (RLS), as one transaction. */
export function inTenant<T>(
  ctx: GraphQLContext,
  fn: (db: Queryable, tenantId: TenantId) => Promise<T>,
): Promise<T> {
  const { tenantId, userId } = tenantOf(ctx);
  return withTenant(
    ctx.services.pool,
    tenantId,
    (db) => fn(db, tenantId),
    userId ? { userId } : {},
  );
}

/** The audit fields for the request's actor. */
export function auditActor(ctx: GraphQLContext): {
  actorKind: 'user' | 'token';
  actorId: string;
  ip: string | null;
  requestId: string | null;
} {
  const a = ctx.actor;
  if (a.kind === 'anonymous')
    throw new SwitchyardError('E_UNAUTHENTICATED', 'Sign in or send a valid API token.');
  return {
    actorKind: a.kind,
    actorId: a.kind === 'user' ? a.userId : a.tokenId,
    ip: ctx.meta.ip,
    requestId: ctx.meta.requestId,
  };
}
