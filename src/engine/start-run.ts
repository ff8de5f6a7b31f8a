/**
 * Starting a run: one transaction creates the run (pinned to the workflow's current version)
 * and the job of its first step, and wakes the workers at commit. An idempotency key makes a
 * repeated start harmless: same key and payload return the existing run, another payload is a
 * conflict.
 */
import { randomUUID } from 'node:crypto';
import { claimIdempotencyKey, selectIdempotencyKey } from '../db/queries/idempotency-keys.ts';
import { insertRunWithJob } from '../db/queries/workflow-runs.ts';
import { selectWorkflowState } from '../db/queries/workflows.ts';
import type { Queryable } from '../db/pool.ts';
import { withTenant } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import type { RunId, TenantId, TriggerId, WorkflowId } from '../model/ids.ts';
import type { Backpressure } from './backpressure.ts';
import { addMs, type EngineDeps } from './deps.ts';
import { hashInput } from './input-hash.ts';

export type StartRunInput = {
  tenantId: TenantId;
  workflowId: WorkflowId;
  input: unknown;
  idempotencyKey?: string | null;
  triggerId?: TriggerId | null;
  /** W3C traceparent of whatever started the run; an invalid value is dropped. */
  traceparent?: string | null;
  /**
   * What the idempotency check compares (default: `input`). Webhooks pass the body alone: a
   * redelivery carries new timestamps and signatures but is the same delivery.
   */
  idempotencyPayload?: unknown;
};

export type StartRunResult = { runId: RunId; duplicate: boolean };

const traceparentPattern = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

export function validTraceparent(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.trim().toLowerCase();
  return traceparentPattern.test(v) && !v.startsWith('ff') ? v : null;
}

export async function startRun(
  deps: Pick<EngineDeps, 'pool' | 'clock' | 'config'> & { backpressure?: Backpressure },
  p: StartRunInput,
): Promise<StartRunResult> {
  if (deps.backpressure) await deps.backpressure.assertAccepting(p.tenantId);
  return withTenant(deps.pool, p.tenantId, (client) => startRunInTransaction(client, deps, p));
}

/** The same, inside the caller's transaction (tenant scope set), e.g. a cron fire. */
export async function startRunInTransaction(
  db: Queryable,
  deps: Pick<EngineDeps, 'clock' | 'config'>,
  p: StartRunInput,
): Promise<StartRunResult> {
  const now = deps.clock.now();
  const runId = randomUUID() as RunId;
  const { key, inputHash } = idempotencyOf(p);
  if (key !== null && inputHash !== null) {
    const taken = await claimIdempotencyKey(db, {
      tenantId: p.tenantId,
      workflowId: p.workflowId,
      key,
      inputHash,
      runId,
      now,
      expiresAt: addMs(now, deps.config.idempotencyKeyTtlMs),
    });
    if (!taken) {
      const existing = await selectIdempotencyKey(db, {
        tenantId: p.tenantId,
        workflowId: p.workflowId,
        key,
      });
      if (!existing) {
        // Only possible if the key was deleted between the two statements (retention).
        throw new SwitchyardError('E_CONFLICT', 'The idempotency key changed meanwhile; retry.');
      }
      return duplicateOf(existing, key, inputHash);
    }
  }
  const created = await insertRunWithJob(db, {
    tenantId: p.tenantId,
    runId,
    workflowId: p.workflowId,
    versionId: null,
    triggerId: p.triggerId ?? null,
    idempotencyKey: key,
    inputHash,
    input: p.input,
    traceContext: validTraceparent(p.traceparent),
    replayOfRunId: null,
    firstStepIndex: 0,
    now,
  });
  if (!created) throw await whyNotStartable(db, p);
  return { runId, duplicate: false };
}

/** The idempotency key (checked) and the hash of what it dedupes. */
export function idempotencyOf(p: StartRunInput): { key: string | null; inputHash: Buffer | null } {
  const key = p.idempotencyKey ?? null;
  if (key === null) return { key, inputHash: null };
  if (key.length === 0 || key.length > 500) {
    throw new SwitchyardError('E_VALIDATION', 'An idempotency key must be 1 to 500 characters.', {
      field: 'idempotencyKey',
    });
  }
  return { key, inputHash: hashInput(p.idempotencyPayload ?? p.input) };
}

/** A live key's run: the same payload is a duplicate start, another one a conflict. */
export function duplicateOf(
  existing: { runId: RunId; inputHash: Buffer },
  key: string,
  inputHash: Buffer,
): StartRunResult {
  if (!existing.inputHash.equals(inputHash)) {
    throw new SwitchyardError(
      'E_IDEMPOTENCY_CONFLICT',
      `Idempotency key "${key}" was already used for this workflow with another payload (run ${existing.runId}). Use a new key, or send the same payload.`,
      { runId: existing.runId },
    );
  }
  return { runId: existing.runId, duplicate: true };
}

/** The error for a workflow that cannot start runs: missing, archived or unpublished. */
export async function whyNotStartable(
  db: Queryable,
  p: Pick<StartRunInput, 'tenantId' | 'workflowId'>,
): Promise<SwitchyardError> {
  const state = await selectWorkflowState(db, { tenantId: p.tenantId, workflowId: p.workflowId });
  if (!state) {
    return new SwitchyardError('E_NOT_FOUND', `Workflow ${p.workflowId} does not exist.`, {
      workflowId: p.workflowId,
    });
  }
  if (state.published && !state.archived) {
    // It could start: the workflow or the idempotency key changed between two statements.
    return new SwitchyardError('E_CONFLICT', 'The workflow changed while the run started; retry.');
  }
  return new SwitchyardError(
    'E_WORKFLOW_NOT_PUBLISHED',
    state.archived
      ? `Workflow ${p.workflowId} is archived; unarchive it to start runs.`
      : `Workflow ${p.workflowId} has no published version; publish one first.`,
    { workflowId: p.workflowId },
  );
}
