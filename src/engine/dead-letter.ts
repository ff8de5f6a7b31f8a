/**
 * The dead-letter queue: every run that ended in failure — `dead` (retries exhausted) or
 * `failed` (a non-retryable error) — so that anything that failed can be brought back. A replay
 * creates a new run linked to the old one (replay_of_run_id), pinned to the same workflow
 * version, either from the failed step (the outputs of the steps before it are reused) or
 * from the start; the dead letter records the replay, and an audit event is written.
 *
 * A dead letter is replayed once: replaying it again answers the existing replay run (a user
 * who clicks twice, or a script that retries its request, must not call the external API
 * twice). A new replay is made only when asked for (`again`). Every replay's outgoing calls
 * carry the idempotency keys of the original run (origin_run_id), so that an upstream that
 * dedupes by key drops what it already did.
 */
import {
  markDeadLetterReplayed,
  selectDeadLetters,
  type DeadLetterFilter,
  type DeadLetterRow,
} from '../db/queries/dead-letters.ts';
import { copySucceededSteps } from '../db/queries/step-runs.ts';
import { insertRunWithJob, selectRun, setRunErrorContext } from '../db/queries/workflow-runs.ts';
import { withTenant } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { RunId, TenantId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import { randomUUID } from 'node:crypto';
import type { Actor } from './cancel.ts';
import type { EngineDeps } from './deps.ts';

export type ReplayFrom = 'failed-step' | 'start';

export type Replayed = {
  deadLetterId: string;
  runId: RunId;
  newRunId: RunId;
  /** True: the dead letter had been replayed before and `newRunId` is that replay (no new run). */
  alreadyReplayed: boolean;
};

export type ReplayRequest = {
  tenantId: TenantId;
  from: ReplayFrom;
  actor: Actor;
  /** Make a new replay even when the dead letter was replayed before. */
  again?: boolean;
};

export async function listDeadLetters(
  deps: Pick<EngineDeps, 'pool'>,
  p: { tenantId: TenantId; filter: DeadLetterFilter },
): Promise<DeadLetterRow[]> {
  return withTenant(deps.pool, p.tenantId, (db) =>
    selectDeadLetters(db, { tenantId: p.tenantId, filter: p.filter, lock: false }),
  );
}

/** Replays the dead letters matching the filter (each in its own transaction). */
export async function replayDeadLetters(
  deps: Pick<EngineDeps, 'pool' | 'clock'>,
  p: ReplayRequest & { filter: DeadLetterFilter },
): Promise<Replayed[]> {
  const candidates = await listDeadLetters(deps, p);
  const out: Replayed[] = [];
  for (const c of candidates) {
    const r = await replayOne(deps, { ...p, deadLetterId: c.id });
    if (r) out.push(r);
  }
  return out;
}

export async function replayDeadLetter(
  deps: Pick<EngineDeps, 'pool' | 'clock'>,
  p: ReplayRequest & { deadLetterId: string },
): Promise<Replayed> {
  const r = await replayOne(deps, p);
  if (!r) throw new SwitchyardError('E_NOT_FOUND', `Dead letter ${p.deadLetterId} does not exist.`);
  return r;
}

async function replayOne(
  deps: Pick<EngineDeps, 'pool' | 'clock'>,
  p: ReplayRequest & { deadLetterId: string },
): Promise<Replayed | undefined> {
  return withTenant(deps.pool, p.tenantId, async (db) => {
    // Locked (waiting for a concurrent replay of the same dead letter to commit): the second
    // of two replays at once then sees the first one's run and answers it.
    const [dl] = await selectDeadLetters(db, {
      tenantId: p.tenantId,
      filter: { ids: [p.deadLetterId], limit: 1 },
      lock: true,
    });
    if (!dl) return undefined;
    if (dl.replayRunId && !p.again)
      return {
        deadLetterId: dl.id,
        runId: dl.runId,
        newRunId: dl.replayRunId,
        alreadyReplayed: true,
      };
    const old = await selectRun(db, { tenantId: p.tenantId, runId: dl.runId });
    if (!old) return undefined;
    const now = deps.clock.now();
    const failedIndex = dl.context.failedStepIndex ?? 0;
    const firstStepIndex = p.from === 'failed-step' ? failedIndex : 0;
    const newRunId = randomUUID() as RunId;
    const created = await insertRunWithJob(db, {
      tenantId: p.tenantId,
      runId: newRunId,
      workflowId: old.workflowId,
      versionId: old.workflowVersionId,
      triggerId: old.triggerId,
      idempotencyKey: null,
      inputHash: null,
      input: old.input,
      traceContext: old.traceContext,
      replayOfRunId: old.id,
      originRunId: old.originRunId ?? old.id,
      firstStepIndex,
      now,
    });
    if (!created) return undefined;
    if (firstStepIndex > 0) {
      await copySucceededSteps(db, {
        tenantId: p.tenantId,
        fromRunId: old.id,
        toRunId: newRunId,
        beforeStepIndex: firstStepIndex,
      });
      // Resumed after a goto: the steps from here on see the failure it took over.
      if (dl.context.error)
        await setRunErrorContext(db, {
          tenantId: p.tenantId,
          runId: newRunId,
          errorContext: dl.context.error,
        });
    }
    await markDeadLetterReplayed(db, {
      tenantId: p.tenantId,
      id: dl.id,
      replayRunId: newRunId,
      now,
    });
    await recordAudit(db, {
      tenantId: p.tenantId,
      actorKind: p.actor.kind,
      actorId: p.actor.id,
      ip: p.actor.ip ?? null,
      requestId: p.actor.requestId ?? null,
      action: 'run.replayed',
      targetKind: 'workflow_run',
      targetId: old.id,
      metadata: { newRunId, from: p.from, deadLetterId: dl.id, again: dl.replayRunId !== null },
    });
    return { deadLetterId: dl.id, runId: old.id, newRunId, alreadyReplayed: false };
  });
}
