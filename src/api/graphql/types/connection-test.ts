import { selectConnection } from '../../../db/queries/connections.ts';
import { SwitchyardError } from '../../../model/errors.ts';
import type { ConnectionId } from '../../../model/ids.ts';
import { recordAudit } from '../../../observability/audit.ts';
import { builder } from '../builder.ts';
import { auditActor, inTenant, tenantOf, type ConnectionTestResult } from '../context.ts';

const ConnectionTestRef = builder.objectRef<ConnectionTestResult>('ConnectionTest').implement({
  description:
    'What one GET to the app’s base URL, with the connection’s credentials, through the gate, met.',
  fields: (t) => ({
    ok: t.exposeBoolean('ok', { description: 'The app answered 2xx or 3xx.' }),
    status: t.exposeInt('status', {
      nullable: true,
      description: 'The app’s HTTP status; null when no answer came (see code).',
    }),
    code: t.exposeString('code', {
      nullable: true,
      description:
        'Why not ok, from the error registry: E_UPSTREAM_REJECTED (4xx, e.g. refused credentials), E_UPSTREAM_UNAVAILABLE, E_GATE_BLOCKED, E_GATE_TIMEOUT, E_CONNECTION_INVALID …',
    }),
    message: t.exposeString('message'),
  }),
});

builder.mutationField('testConnection', (t) =>
  t.field({
    type: ConnectionTestRef,
    authScopes: { editor: true },
    description:
      'Calls the app’s base URL once (GET) with the connection’s credentials, through the gate, and says what came back; audited. Nothing of the answer’s body is returned.',
    args: { id: t.arg.id() },
    resolve: async (_r, args, ctx) => {
      const id = String(args.id) as ConnectionId;
      const { tenantId } = tenantOf(ctx);
      const exists = await inTenant(ctx, (db) => selectConnection(db, { id }));
      if (!exists) throw new SwitchyardError('E_NOT_FOUND', 'No such connection.');
      const tester = ctx.services.connectionTester;
      if (!tester)
        throw new SwitchyardError(
          'E_RUNNER_UNAVAILABLE',
          'This API process cannot make outgoing requests (no gate is wired).',
        );
      // The call runs outside any transaction: a slow service must not hold a connection.
      const result = await tester(tenantId, id);
      await inTenant(ctx, (db) =>
        recordAudit(db, {
          tenantId,
          ...auditActor(ctx),
          action: 'connection.tested',
          targetKind: 'connection',
          targetId: id,
          metadata: { ok: result.ok, status: result.status, code: result.code },
        }),
      );
      return result;
    },
  }),
);
