import { listCircuitBreakers } from '../../../db/queries/circuit-breakers.ts';
import { builder } from '../builder.ts';
import { inTenant } from '../context.ts';

type BreakerShape = Awaited<ReturnType<typeof listCircuitBreakers>>[number];

export const CircuitBreakerRef = builder.objectRef<BreakerShape>('CircuitBreaker').implement({
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
