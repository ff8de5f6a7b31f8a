/**
 * A resume token is a capability: a step that sends it (an approval mail) gets the real value
 * through `{{ run.waits.<id>.token }}`, while its StepRun's input and output, which every
 * member who can read runs sees, keep only `[secret]` — through the real runner, as
 * `switchyard worker` wires the wait links.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRun } from '../../src/engine/start-run.ts';
import type { Worker } from '../../src/engine/worker.ts';
import type { ActionId, TenantId } from '../../src/model/ids.ts';
import { SCRUBBED } from '../../src/security/scrub.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { engineDeps, waitFor } from '../support/engine-factories.ts';
import { makeWorkflowV2, runOf, stepRunsOf } from '../support/engine-v2.ts';
import { makeTenant } from '../support/factories.ts';
import { startTestWorker } from '../support/test-worker.ts';

let db: TestDatabase;
let api: TestApi;
let worker: Worker;
let tenantId: TenantId;
let js: ActionId;
beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  worker = startTestWorker(db, { secretBox: api.secrets, publicUrl: api.url });
  tenantId = (await makeTenant(db.pool)).tenantId;
  const r = await db.ownerPool.query<{ id: ActionId }>(
    `select a.id from actions a join apps ap on ap.tenant_id = a.tenant_id and ap.id = a.app_id
      where a.tenant_id = $1 and ap.key = 'javascript' and a.kind = 'javascript'`,
    [tenantId],
  );
  js = r.rows[0]!.id;
});
afterAll(async () => {
  await worker.stop();
  await api.close();
  await db.drop();
});

it('sends the real token and stores [secret] in its place', async () => {
  const { workflowId } = await makeWorkflowV2(db.pool, tenantId, {
    version: 2,
    steps: [
      {
        id: 'mail',
        actionId: js,
        input: {
          code: 'return { length: input.token.length, prefix: input.token.slice(0, 4), echo: input.token };',
          token: '{{ run.waits.approve.token }}',
          url: '{{ run.waits.approve.url }}',
        },
      },
      { id: 'approve', type: 'waitForEvent', timeout: '1h' },
    ],
  });
  const { runId } = await startRun(engineDeps(db.pool), { tenantId, workflowId, input: {} });
  await waitFor(async () => (await runOf(db, runId)).status === 'waiting', {
    what: 'the run to wait',
  });
  const mail = (await stepRunsOf(db, runId)).find((s) => s.step_id === 'mail')!;
  expect(mail.status).toBe('succeeded');
  // The code saw the real token (syw_…, long) …
  const out = mail.output as { length: number; prefix: string; echo: string };
  expect(out.prefix).toBe('syw_');
  expect(out.length).toBeGreaterThan(40);
  // … but neither the stored input nor the output holds it.
  expect(out.echo).toBe(SCRUBBED);
  const { input } = (
    await db.ownerPool.query<{ input: { token: string; url: string } }>(
      `select input from step_runs where run_id = $1 and step_id = 'mail'`,
      [runId],
    )
  ).rows[0]!;
  expect(input.token).toBe(SCRUBBED);
  expect(input.url).toBe(`${api.url}/v1/runs/${runId}/waits/approve/resume`);
  const raw = await db.ownerPool.query<{ t: string }>(
    `select input::text || output::text as t from step_runs where run_id = $1`,
    [runId],
  );
  expect(raw.rows.map((r) => r.t).join(' ')).not.toMatch(/syw_[a-z_]+\./);
});
