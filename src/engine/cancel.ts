/**
 * Cancel: queued steps stop at once (the job is deleted in the same statement that marks the
 * run canceled) and a running step gets an abort signal (NOTIFY to the worker holding it, at
 * commit; the lease renewal notices too if the notification is lost). A run that already
 * finished cannot be canceled: E_CONFLICT, naming its final status.
 */
import { cancelRun as cancelRunQuery, selectRun } from '../db/queries/workflow-runs.ts';
import { withTenant } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { RunId, TenantId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import type { EngineDeps } from './deps.ts';

/** Who asked, for the audit event (`ip` and `requestId` when the request came over the API). */
export type Actor = {
  kind: 'user' | 'token' | 'system';
  id: string | null;
  ip?: string | null;
  requestId?: string | null;
};

export async function cancelRun(
  deps: Pick<EngineDeps, 'pool' | 'clock'>,
  p: { tenantId: TenantId; runId: RunId; actor: Actor },
): Promise<{ canceled: true; status: 'canceled' }> {
  return withTenant(deps.pool, p.tenantId, async (db) => {
    const canceled = await cancelRunQuery(db, {
      tenantId: p.tenantId,
      runId: p.runId,
      now: deps.clock.now(),
      error: { code: 'E_RUN_CANCELED', message: 'The run was canceled.', retryable: false },
    });
    if (canceled) {
      await recordAudit(db, {
        tenantId: p.tenantId,
        actorKind: p.actor.kind,
        actorId: p.actor.id,
        ip: p.actor.ip ?? null,
        requestId: p.actor.requestId ?? null,
        action: 'run.canceled',
        targetKind: 'workflow_run',
        targetId: p.runId,
      });
      return { canceled: true, status: 'canceled' };
    }
    const run = await selectRun(db, p);
    if (!run) throw new SwitchyardError('E_RUN_NOT_FOUND', `Run ${p.runId} does not exist.`);
    // Answering the run as it is would read as a successful cancel: say it was too late.
    throw new SwitchyardError(
      'E_CONFLICT',
      `Run ${p.runId} already finished (${run.status}); only a queued, running or waiting run can be canceled.`,
      { status: run.status },
    );
  });
}
