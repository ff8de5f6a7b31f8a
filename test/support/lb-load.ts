/**
 * Clients of the scale-out tests: signed webhook deliveries through the load balancer (a
 * delivery is retried with the same webhook-id until an API accepts it, as a sender would),
 * GraphQL set-up calls, and the workflow every delivery runs.
 */
import { signedHeaders } from './webhook-signing.ts';

export type Trigger = { id: string; secret: string };

export type Attempt = { status: number; runId?: string; ms: number };

/** One try: the status (0 when the connection failed) and the run id when accepted. */
export async function deliverOnce(
  lbUrl: string,
  trigger: Trigger,
  id: string,
  payload: unknown,
): Promise<Attempt> {
  const body = JSON.stringify(payload);
  const started = performance.now();
  try {
    const res = await fetch(`${lbUrl}/hooks/${trigger.id}`, {
      method: 'POST',
      body,
      headers: signedHeaders(body, trigger.secret, id),
      signal: AbortSignal.timeout(10_000),
    });
    const json = (await res.json().catch(() => ({}))) as { runId?: string };
    const ms = performance.now() - started;
    return json.runId ? { status: res.status, runId: json.runId, ms } : { status: res.status, ms };
  } catch {
    return { status: 0, ms: performance.now() - started };
  }
}

/**
 * Delivers until accepted (202, or 200 for a redelivery of an id already accepted: the
 * response to the first try was lost with its process) or until `deadline`.
 */
export async function deliver(
  lbUrl: string,
  trigger: Trigger,
  id: string,
  payload: unknown,
  deadline: number,
): Promise<{ runId: string | undefined; attempts: Attempt[] }> {
  const attempts: Attempt[] = [];
  while (Date.now() < deadline) {
    const a = await deliverOnce(lbUrl, trigger, id, payload);
    attempts.push(a);
    if ((a.status === 202 || a.status === 200) && a.runId) return { runId: a.runId, attempts };
    await new Promise((r) => setTimeout(r, a.status === 429 ? 1_000 : 250));
  }
  return { runId: undefined, attempts };
}

export async function gql<T>(
  lbUrl: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const res = await fetch(`${lbUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const json = (await res.json()) as { data?: T; errors?: unknown };
  if (!json.data || json.errors) throw new Error(`GraphQL failed: ${JSON.stringify(json.errors)}`);
  return json.data;
}

/**
 * A published two-step JavaScript workflow (n → 2n → 4n + 1) and `triggers` webhook triggers.
 * Its action retries (fixed, 10 attempts): the built-in "Run JavaScript" never retries, so a
 * worker SIGKILLed in the middle of one of its steps would end the run (E_WORKER_LOST).
 */
export async function makeHookWorkflow(
  lbUrl: string,
  token: string,
  triggers: number,
): Promise<{ workflowId: string; triggers: Trigger[] }> {
  const { createApp } = await gql<{ createApp: { id: string } }>(
    lbUrl,
    token,
    'mutation($i: AppInput!) { createApp(input: $i) { id } }',
    { i: { key: 'scale-out', name: 'Scale-out', authKind: 'none' } },
  );
  const { createAction } = await gql<{ createAction: { id: string } }>(
    lbUrl,
    token,
    'mutation($i: ActionInput!) { createAction(input: $i) { id } }',
    {
      i: {
        appId: createApp.id,
        key: 'step',
        name: 'Step',
        kind: 'javascript',
        implementation: { code: 'return { v: input.n * 2 + input.add };' },
        retryStrategy: 'fixed',
        maxAttempts: 10,
        initialDelayMs: 200,
      },
    },
  );
  const { createWorkflow } = await gql<{ createWorkflow: { id: string } }>(
    lbUrl,
    token,
    'mutation { createWorkflow(name: "Scale-out") { id } }',
  );
  const steps = [
    {
      id: 'double',
      actionId: createAction.id,
      input: { n: '{{ trigger.body.n }}', add: 0 },
    },
    {
      id: 'inc',
      actionId: createAction.id,
      input: { n: '{{ steps.double.output.v }}', add: 1 },
    },
  ];
  await gql(
    lbUrl,
    token,
    'mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { version } }',
    { w: createWorkflow.id, d: { steps } },
  );
  const made: Trigger[] = [];
  for (let i = 0; i < triggers; i++) {
    const t = await gql<{ createTrigger: { secret: string; trigger: { id: string } } }>(
      lbUrl,
      token,
      'mutation($w: ID!) { createTrigger(workflowId: $w, kind: webhook) { secret trigger { id } } }',
      { w: createWorkflow.id },
    );
    made.push({ id: t.createTrigger.trigger.id, secret: t.createTrigger.secret });
  }
  return { workflowId: createWorkflow.id, triggers: made };
}

/** Runs `tasks` with at most `concurrency` at a time. */
export async function pooled<T>(tasks: Array<() => Promise<T>>, concurrency: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
