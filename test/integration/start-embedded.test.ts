/**
 * The laptop path: `switchyard start` with no DATABASE_URL runs an embedded PostgreSQL in the
 * data dir, answers /readyz, keeps data between starts and stops cleanly on SIGTERM.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli, stopProcess, waitForStatus } from '../support/cli.ts';
import { freePort } from '../support/free-port.ts';

let dataDir: string;
let env: Record<string, string>;
let base: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'sy-start-'));
  const port = await freePort();
  env = {
    SWITCHYARD_DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_PG_PORT: String(await freePort()),
  };
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** A query as an operator's psql or pg_dump would make it: over 127.0.0.1. */
async function overTcp<T extends pg.QueryResultRow>(sql: string): Promise<T> {
  const creds = JSON.parse(await readFile(path.join(dataDir, 'credentials.json'), 'utf8')) as {
    ownerPassword: string;
  };
  const c = new pg.Client({
    connectionString: `postgres://postgres:${encodeURIComponent(creds.ownerPassword)}@127.0.0.1:${env.EMBEDDED_PG_PORT}/switchyard`,
  });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows[0]!;
  } finally {
    await c.end();
  }
}

async function countTenants(): Promise<number> {
  return (await overTcp<{ n: number }>('select count(*)::int as n from tenants')).n;
}

describe('switchyard start (embedded PostgreSQL)', () => {
  it('becomes ready, serves a one-shot command beside it, stops cleanly, and keeps data across starts', async () => {
    const first = spawnCli(['start'], { ...env, LOG_LEVEL: 'info' });
    let output = '';
    first.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const readyAfterMs = await waitForStatus(`${base}/readyz`, 200, 60_000);
      expect(readyAfterMs).toBeLessThan(60_000);
      const ready = (await (await fetch(`${base}/readyz`)).json()) as {
        checks: Record<string, { ok: boolean }>;
      };
      expect(ready.checks.database?.ok).toBe(true);
      expect(ready.checks.migrations?.ok).toBe(true);
      expect(await (await fetch(`${base}/livez`)).json()).toEqual({ status: 'ok' });
      expect(output).toContain(`Switchyard is running at ${base}`);
      // Switchyard's own connections use the server's Unix socket (client_port -1).
      const conns = await overTcp<{ all: number; socket: number }>(
        "select count(*)::int as all, (count(*) filter (where client_port = -1))::int as socket from pg_stat_activity where application_name like 'switchyard%'",
      );
      expect(conns.all).toBeGreaterThan(0);
      expect(conns.socket).toBe(conns.all);

      const created = await runCli(
        ['tenant', 'create', '--name', 'Kept', '--owner-email', 'k@kept.test', '--json'],
        env,
      );
      expect(created.code).toBe(0);
      expect(await countTenants()).toBe(1);
      // The process's own worker runs a workflow through the real runner.
      const { apiToken } = JSON.parse(created.stdout) as { apiToken: string };
      const gql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
        const res = await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await res.json()) as { data: T; errors?: unknown };
        expect(body.errors).toBeUndefined();
        return body.data;
      };
      const apps = await gql<{
        apps: { nodes: Array<{ key: string; actions: Array<{ id: string }> }> };
      }>('{ apps(first: 100) { nodes { key actions { id } } } }');
      const actionId = apps.apps.nodes.find((a) => a.key === 'javascript')!.actions[0]!.id;
      const wf = await gql<{ createWorkflow: { id: string } }>(
        'mutation { createWorkflow(name: "w") { id } }',
      );
      await gql(
        'mutation($w: ID!, $d: JSON!) { saveWorkflowVersion(workflowId: $w, definition: $d, publish: true) { id } }',
        {
          w: wf.createWorkflow.id,
          d: {
            steps: [
              {
                id: 'add',
                actionId,
                input: { code: 'return { sum: input.a + input.b };', a: 2, b: 3 },
              },
            ],
          },
        },
      );
      const started = await gql<{ triggerWorkflow: { run: { id: string } } }>(
        'mutation($w: ID!) { triggerWorkflow(workflowId: $w) { run { id } } }',
        {
          w: wf.createWorkflow.id,
        },
      );
      let run: { status: string; output: unknown } | undefined;
      for (
        let i = 0;
        i < 150 && !['succeeded', 'failed', 'dead'].includes(run?.status ?? '');
        i++
      ) {
        await new Promise((r) => setTimeout(r, 100));
        run = (
          await gql<{ run: { status: string; output: unknown } }>(
            'query($id: ID!) { run(id: $id) { status output } }',
            { id: started.triggerWorkflow.run.id },
          )
        ).run;
      }
      expect(run).toEqual({ status: 'succeeded', output: { add: { sum: 5 } } });
    } finally {
      expect(await stopProcess(first)).toBe(0);
    }
    expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    const credsMode =
      (await import('node:fs')).statSync(path.join(dataDir, 'credentials.json')).mode & 0o777;
    expect(credsMode).toBe(0o600);

    const second = spawnCli(['start'], env);
    try {
      await waitForStatus(`${base}/readyz`, 200, 60_000);
      expect(await countTenants()).toBe(1);
    } finally {
      expect(await stopProcess(second)).toBe(0);
    }
  }, 150_000);
});
