import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetentionReport } from '../../src/retention/report.ts';
import { runCli, cliEnvFor } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';
import { daysAgo, makeRun, makeTestWorkflow } from '../support/retention-factories.ts';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = cliEnvFor(db, {
    RETENTION_RUN_DAYS: '30',
  });
});
afterAll(async () => {
  await db.drop();
});

async function runCount(tenantId: string): Promise<number> {
  const res = await db.ownerPool.query<{ n: number }>(
    'select count(*)::int as n from workflow_runs where tenant_id = $1',
    [tenantId],
  );
  return res.rows[0]!.n;
}

describe('switchyard retention run', () => {
  it('--dry-run counts and changes nothing; a real run deletes and prints per table', async () => {
    const wf = await makeTestWorkflow(db.pool, (await makeTenant(db.pool)).tenantId);
    const now = new Date();
    await makeRun(db.pool, wf, { status: 'succeeded', createdAt: daysAgo(now, 40), steps: 2 });
    await makeRun(db.pool, wf, { status: 'succeeded', createdAt: daysAgo(now, 20) });

    const dry = await runCli(['retention', 'run', '--dry-run', '--json'], env);
    expect(dry.code, dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout) as RetentionReport;
    expect(planned).toMatchObject({
      dryRun: true,
      skipped: null,
      failures: [],
      deleted: { workflowRuns: 1, stepRuns: 2 },
    });
    expect(await runCount(wf.tenantId)).toBe(2);

    const real = await runCli(['retention', 'run'], env);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/^Retention run:/);
    expect(real.stdout).toMatch(/workflow_runs\s+deleted 1\n/);
    expect(real.stdout).toMatch(/step_runs\s+deleted 2\n/);
    expect(await runCount(wf.tenantId)).toBe(1);
  });

  it('refuses an unknown subcommand or flag with usage and exit code 2', async () => {
    const results = await Promise.all(
      [['retention'], ['retention', 'purge'], ['retention', 'run', '--force']].map((args) =>
        runCli(args, env),
      ),
    );
    for (const r of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/retention run \[--dry-run\] \[--json\]/);
    }
  });

  it('names a bad retention variable and what is allowed', async () => {
    const r = await runCli(['retention', 'run'], { ...env, RETENTION_AUDIT_DAYS: '7' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/RETENTION_AUDIT_DAYS="7": expected at least 30 days/);
  });
});
