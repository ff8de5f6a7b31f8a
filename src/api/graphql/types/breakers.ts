import { listCircuitBreakers, resetCircuitBreaker } from '../../../db/queries/circuit-breakers.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant } from '../context.ts';

type BreakerShape = Awaited<ReturnType<typeof listCircuitBreakers>>[number];

const CircuitBreakerRef = builder.objectRef<BreakerShape>('CircuitBreaker').implement({
  description:
    'An external host (per connection) whose calls currently fail fast, or are being probed.',
  fields: (t) => ({
    host: t.exposeString('host'),
    connectionKey: t.exposeString('connectionKey', {
      description: 'The connection id, or empty for calls without one.',
    }),
    state: t.exposeString('state', {
      description: 'open (failing fast) or half_open (a few probe calls allowed).',
    }),
    failures: t.exposeInt('failures'),
    openedAt: t.expose('openedAt', { type: 'DateTime', nullable: true }),
    openUntil: t.expose('openUntil', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryField('circuitBreakers', (t) =>
  t.field({
    type: [CircuitBreakerRef],
    authScopes: { viewer: true },
    description: 'The tenant’s breakers that are not closed (closed ones are not listed).',
    resolve: (_r, _a, ctx) =>
      inTenant(ctx, (db, tenantId) => listCircuitBreakers(db, { tenantId })),
  }),
);

builder.mutationField('resetCircuitBreaker', (t) =>
  t.boolean({
    authScopes: { admin: true },
    description:
      'Closes an open or half-open breaker by hand (the host is known to be back): the next call goes through. Audited.',
    args: {
      host: t.arg.string(),
      connectionKey: t.arg.string({ required: false, description: 'Empty or absent: none.' }),
    },
    resolve: (_r, args, ctx) =>
      inTenant(ctx, async (db, tenantId) => {
        const key = { tenantId, host: args.host, connectionKey: args.connectionKey ?? '' };
        if (!(await resetCircuitBreaker(db, key)))
          throw new SwitchyardError(
            'E_NOT_FOUND',
            `No open circuit breaker for ${args.host}: it may have closed on its own.`,
            { field: 'host' },
          );
        await recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'circuit_breaker.reset',
          targetKind: 'circuit_breaker',
          targetId: key.connectionKey ? `${key.host} ${key.connectionKey}` : key.host,
          metadata: { host: key.host, connectionKey: key.connectionKey },
        });
        return true;
      }),
  }),
);
