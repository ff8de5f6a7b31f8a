/**
 * What the trigger list shows: a cron trigger's next five fire times, on its time zone's
 * calendar; a manual trigger's optional input schema (the Run now form), checked on save.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let token: string;
let workflowId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  token = (await makeTenant(db.pool)).apiToken;
  const r = await api.gql<{ createWorkflow: { id: string } }>(
    `mutation { createWorkflow(name: "Scheduled") { id } }`,
    {},
    { token },
  );
  workflowId = r.data!.createWorkflow.id;
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const CREATE = `mutation($w: ID!, $k: TriggerKind!, $c: JSON) {
  createTrigger(workflowId: $w, kind: $k, config: $c) {
    trigger { id kind config nextFireTimes cronNextFireAt three: nextFireTimes(count: 3) }
  }
}`;
type Created = {
  createTrigger: {
    trigger: {
      config: unknown;
      nextFireTimes: string[] | null;
      cronNextFireAt: string | null;
      three: string[] | null;
    };
  };
};

it('answers a cron trigger’s next five fire times in its time zone', async () => {
  const r = await api.gql<Created>(
    CREATE,
    { w: workflowId, k: 'cron', c: { expression: '0 9 * * 1-5', timezone: 'Europe/Paris' } },
    { token },
  );
  expect(r.errors).toBeUndefined();
  const t = r.data!.createTrigger.trigger;
  expect(t.nextFireTimes).toHaveLength(5);
  expect(t.three).toEqual(t.nextFireTimes!.slice(0, 3));
  expect(t.nextFireTimes![0]).toBe(t.cronNextFireAt);
  for (const iso of t.nextFireTimes!) {
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Paris',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    }).format(new Date(iso));
    expect(local).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:00$/);
  }
  const times = t.nextFireTimes!.map((x) => Date.parse(x));
  expect([...times].sort((a, b) => a - b)).toEqual(times);

  const tooMany = await api.gql(
    `query($w: ID!) { triggers(workflowId: $w) { nodes { nextFireTimes(count: 21) } } }`,
    { w: workflowId },
    { token },
  );
  expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field: 'count' });
});

it('keeps a manual trigger’s input schema, and refuses one that is not a JSON Schema', async () => {
  const schema = { type: 'object', properties: { orderId: { type: 'string' } } };
  const ok = await api.gql<Created>(
    CREATE,
    { w: workflowId, k: 'manual', c: { inputSchema: schema } },
    { token },
  );
  expect(ok.errors).toBeUndefined();
  expect(ok.data!.createTrigger.trigger).toMatchObject({
    config: { inputSchema: schema },
    nextFireTimes: null,
  });
  const bad = await api.gql(
    CREATE,
    { w: workflowId, k: 'manual', c: { inputSchema: { type: 'no-such-type' } } },
    { token },
  );
  expect(bad.errors?.[0]?.extensions).toMatchObject({
    code: 'E_VALIDATION',
    field: 'config.inputSchema',
  });
  const typo = await api.gql(CREATE, { w: workflowId, k: 'manual', c: { schema: {} } }, { token });
  expect(typo.errors?.[0]?.extensions).toMatchObject({ field: 'config.schema' });
});
