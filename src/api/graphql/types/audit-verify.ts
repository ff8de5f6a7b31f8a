/**
 * The audit chain's check on demand: an admin (or an auditor's script) asks whether the
 * tenant's chain is intact, and where it first breaks. The request itself is recorded in the
 * access history, like every GraphQL operation; it changes nothing, so it adds no audit event.
 */
import type { ChainVerdict } from '../../../observability/audit.ts';
import { verifyAuditChain } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';

const AuditChainVerdictRef = builder.objectRef<ChainVerdict>('AuditChainVerdict').implement({
  description: 'The result of recomputing the tenant’s audit hash chain.',
  fields: (t) => ({
    ok: t.exposeBoolean('ok', {
      description: 'True when every event’s hash, link and sequence number check out.',
    }),
    checked: t.int({
      description: 'Events checked (up to and including the first broken one).',
      resolve: (v) => v.events,
    }),
    firstBrokenSeq: t.int({
      nullable: true,
      description: 'The `seq` of the first event that does not check out; null when ok.',
      resolve: (v) => (v.ok ? null : v.brokenAtSeq),
    }),
    reason: t.string({
      nullable: true,
      description:
        '`hash-mismatch` (the event was altered), `link-mismatch` (its predecessor was replaced) or `gap` (events were removed); null when ok.',
      resolve: (v) => (v.ok ? null : v.reason),
    }),
  }),
});

builder.queryField('verifyAuditChain', (t) =>
  t.field({
    type: AuditChainVerdictRef,
    authScopes: { admin: true },
    description:
      'Recomputes the tenant’s audit hash chain from its first kept event and names the first broken link, if any.',
    resolve: (_r, _a, ctx) => inTenant(ctx, (db, tenantId) => verifyAuditChain(db, tenantId)),
  }),
);
