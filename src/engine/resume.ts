/**
 * Resuming a `waitForEvent` step (resumeRun, POST /v1/runs/:runId/waits/:stepId/resume): the
 * wait token is the capability (security/wait-tokens.ts), checked inside the token's tenant.
 * One transaction: the waiting StepRun takes the payload as its output, the run's job becomes
 * due now (NOTIFY: a worker claims it at once and goes on), and the audit event. Only a
 * `waiting` StepRun is resolved, so a payload is taken once; a second resume, or one after the
 * timeout, says what happened (E_WAIT_NOT_WAITING), one before the wait began says to retry.
 */
import { resolveWaitingStep, selectWaitState } from '../db/queries/waits.ts';
import { withTenant } from '../db/tenant.ts';
import { SwitchyardError } from '../model/errors.ts';
import { isUuid, type RunId, type StepRunId, type TenantId } from '../model/ids.ts';
import { recordAudit } from '../observability/audit.ts';
import { parseWaitToken, type WaitTokens } from '../security/wait-tokens.ts';
import type { Actor } from './cancel.ts';
import type { EngineDeps } from './deps.ts';

export type ResumeDeps = Pick<EngineDeps, 'pool' | 'clock'> & {
  waitTokens: WaitTokens;
  /** The largest payload (as JSON) taken; the webhook's body limit by default. */
  maxPayloadBytes: number;
};

export type ResumeInput = {
  runId: string;
  token: string;
  payload: unknown;
  actor: Actor;
  /** The caller's tenant (resumeRun): a token of another tenant opens nothing. */
  tenantId?: TenantId;
  /** The step the caller names (the webhook's path): must be the token's. */
  stepId?: string;
};

export type ResumeResult = {
  tenantId: TenantId;
  runId: RunId;
  stepId: string;
  stepRunId: StepRunId;
};

const REDACTED = '[redacted]';

export async function resumeWait(deps: ResumeDeps, p: ResumeInput): Promise<ResumeResult> {
  const invalid = () =>
    new SwitchyardError(
      'E_WAIT_TOKEN_INVALID',
      'The wait token does not open a wait of this run: use the token of this run and step ({{ run.waits.<stepId>.token }}).',
    );
  const parsed = parseWaitToken(p.token);
  if (
    !parsed ||
    !isUuid(p.runId) ||
    (p.tenantId !== undefined && parsed.tenantId !== p.tenantId) ||
    (p.stepId !== undefined && parsed.stepId !== p.stepId)
  )
    throw invalid();
  const target = { tenantId: parsed.tenantId, runId: p.runId as RunId, stepId: parsed.stepId };
  const output = payloadJson(p.payload, p.token, deps.maxPayloadBytes);
  return withTenant(deps.pool, target.tenantId, async (db) => {
    if (!(await deps.waitTokens.verify(db, p.token, target))) throw invalid();
    const resolved = await resolveWaitingStep(db, {
      ...target,
      status: 'succeeded',
      output,
      error: null,
      now: deps.clock.now(),
    });
    if (!resolved) throw whyNotWaiting(await selectWaitState(db, target), target);
    await recordAudit(db, {
      tenantId: target.tenantId,
      actorKind: p.actor.kind,
      actorId: p.actor.id,
      ip: p.actor.ip ?? null,
      requestId: p.actor.requestId ?? null,
      action: 'run.resumed',
      targetKind: 'workflow_run',
      targetId: target.runId,
      metadata: { stepId: target.stepId, payloadBytes: output.length },
    });
    return { ...target, stepRunId: resolved.stepRunId };
  });
}

/**
 * The payload as the step's output: JSON, at most `max` bytes, and without the token itself
 * (a sender echoing the link's token must not leave it readable to every member, as webhook
 * input drops credential headers: webhooks/run-input.ts).
 */
export function payloadJson(payload: unknown, token: string, max: number): string {
  const text = JSON.stringify(payload === undefined ? null : payload);
  if (Buffer.byteLength(text) > max)
    throw new SwitchyardError(
      'E_PAYLOAD_TOO_LARGE',
      `The payload is larger than ${max} bytes; send a smaller one (e.g. a reference to the data).`,
      { maxBytes: max },
    );
  return text.includes(token) ? text.replaceAll(token, REDACTED) : text;
}

function whyNotWaiting(
  state: Awaited<ReturnType<typeof selectWaitState>>,
  t: { runId: string; stepId: string },
): SwitchyardError {
  if (!state) return new SwitchyardError('E_RUN_NOT_FOUND', `Run ${t.runId} does not exist.`);
  const final = ['succeeded', 'failed', 'canceled', 'dead'].includes(state.runStatus);
  if (state.stepStatus === null && !final)
    return new SwitchyardError(
      'E_WAIT_NOT_STARTED',
      `Run ${t.runId} has not reached step ${t.stepId} yet; retry in a moment.`,
      { status: state.runStatus },
    );
  const what =
    state.stepErrorCode === 'E_WAIT_TIMEOUT'
      ? 'it timed out'
      : state.stepStatus === 'succeeded'
        ? 'it was resumed already'
        : state.stepStatus === null
          ? `the run ended (${state.runStatus}) before it`
          : `it is ${state.stepStatus}${final ? ` and the run ${state.runStatus}` : ''}`;
  return new SwitchyardError(
    'E_WAIT_NOT_WAITING',
    `Step ${t.stepId} of run ${t.runId} is not waiting: ${what}. A wait takes one payload.`,
    { status: state.stepStatus ?? state.runStatus, runStatus: state.runStatus },
  );
}
