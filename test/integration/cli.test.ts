import { createHash } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { runCli, spawnCli, stopProcess, waitForStatus, cliEnvFor } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort } from '../support/free-port.ts';

let db: TestDatabase;
/** Env for the CLI against this file's database, as an operator with an external server. */
let external: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  external = cliEnvFor(db, {
    // Several processes share one database, so they must share the key-encryption key.
    SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
  });
});
afterAll(async () => {
  await db.drop();
});

describe('switchyard command line', () => {
  it('prints usage on stderr and exits 2 for an unknown command or flag', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command: frobnicate/);
    expect(unknown.stderr).toMatch(/Usage: switchyard <command>/);
    const badFlag = await runCli(['start', '--turbo']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/--turbo/);
    expect(badFlag.stderr).toMatch(/Usage:/);
    const missing = await runCli(['tenant', 'create', '--name', 'Acme']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--owner-email/);
  });

  it('stops on a bad configuration value with a line naming it', async () => {
    const r = await runCli(['start'], { PORT: 'eighty' });
    expect(r.code).toBe(1);
    // One line (issue 12): `switchyard: E_CODE: message`, each bad variable named in it.
    expect(r.stderr).toBe(
      'switchyard: E_CONFIG_INVALID: Invalid configuration: PORT="eighty": expected a whole number from 1 to 65535\n',
    );
  });

  it('creates a tenant and prints the owner token once, storing only its hash', async () => {
    const r = await runCli(
      ['tenant', 'create', '--name', 'Acme', '--owner-email', 'Owner@Acme.test', '--json'],
      external,
    );
    expect(r.stderr).not.toMatch(/sy_/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { tenantId: string; apiToken: string; ownerEmail: string };
    expect(out.ownerEmail).toBe('owner@acme.test');
    expect(out.apiToken).toMatch(/^sy_[A-Za-z0-9_-]{65}$/);
    const rows = await db.ownerPool.query<{ secret_hash: Buffer; prefix: string; role: string }>(
      'select secret_hash, prefix, role from api_tokens where tenant_id = $1',
      [out.tenantId],
    );
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]!.role).toBe('owner');
    expect(
      rows.rows[0]!.secret_hash.equals(createHash('sha256').update(out.apiToken).digest()),
    ).toBe(true);
    expect(out.apiToken.startsWith(rows.rows[0]!.prefix)).toBe(true);
    // The token itself is nowhere in the database.
    const tables = await db.ownerPool.query<{ relname: string }>(
      `select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and not relispartition`,
    );
    for (const { relname } of tables.rows) {
      const hit = await db.ownerPool.query(
        `select 1 from ${relname} t where to_jsonb(t)::text like $1 limit 1`,
        [`%${out.apiToken.slice(3)}%`],
      );
      expect({ table: relname, found: hit.rowCount }).toEqual({ table: relname, found: 0 });
    }
    const human = await runCli(
      ['tenant', 'create', '--name', 'Beta', '--owner-email', 'b@beta.test'],
      external,
    );
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/Owner API token \(shown once, store it now\):\nsy_/);
  });

  it('refuses a bad tenant name or email without writing anything', async () => {
    const before = await db.ownerPool.query<{ n: number }>(
      'select count(*)::int as n from tenants',
    );
    const r = await runCli(
      ['tenant', 'create', '--name', 'X', '--owner-email', 'not-an-email'],
      external,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_VALIDATION: Owner email "not-an-email" is not an email address/);
    const after = await db.ownerPool.query<{ n: number }>('select count(*)::int as n from tenants');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  it('gives up on an unreachable database with an error naming host and port', async () => {
    const port = await freePort();
    const r = await runCli(['migrate'], {
      DATABASE_URL: `postgres://owner:secret-pw@127.0.0.1:${port}/nothing`,
      DATABASE_APP_PASSWORD: 'app-password-123',
      DATABASE_CONNECT_RETRY_MS: '1500',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`E_DB_UNREACHABLE: Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}`),
    );
    expect(r.stderr).not.toMatch(/secret-pw/);
  });

  it('refuses to serve with a runtime role that owns the tables', async () => {
    const r = await runCli(['start'], {
      DATABASE_APP_URL: db.ownerUrl,
      PORT: String(await freePort()),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /E_DB_ROLE_PRIVILEGED: The runtime database role "postgres" is a superuser/,
    );
  });

  it('reports a port in use in one line and exits 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['start'], { ...external, PORT: String(port) });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `switchyard: E_PORT_IN_USE: Cannot listen on 127.0.0.1:${port}: the port is in use. Set PORT to a free port.`,
      );
    } finally {
      blocker.close();
    }
  });

  it('reports a data directory that cannot be written in one line and exits 1', async () => {
    // Root may write anywhere, so the unwritable place is a path below a regular file.
    const r = await runCli(['start'], {
      SWITCHYARD_DATA_DIR: '/etc/hostname/switchyard-data',
      PORT: String(await freePort()),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^switchyard: E_DATA_DIR_NOT_WRITABLE: The data directory \/etc\/hostname\/switchyard-data is not writable \(ENOTDIR\)/,
    );
  });

  it('runs the API alone (`switchyard api`) and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const created = await runCli(
      ['tenant', 'create', '--name', 'Api', '--owner-email', 'api@api.test', '--json'],
      external,
    );
    const { apiToken } = JSON.parse(created.stdout) as { apiToken: string };
    const child = spawnCli(['api'], { ...external, PORT: String(port) });
    try {
      await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200, 30_000);
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
        body: JSON.stringify({ query: '{ viewer { kind currentTenant { name } } }' }),
      });
      expect(await res.json()).toEqual({
        data: { viewer: { kind: 'token', currentTenant: { name: 'Api' } } },
      });
    } finally {
      expect(await stopProcess(child)).toBe(0);
    }
  });

  it('uses the runtime role, not the owner, once started', async () => {
    const c = new pg.Client({ connectionString: db.appUrl });
    await c.connect();
    const me = await c.query<{ u: string }>('select current_user as u');
    await c.end();
    expect(me.rows[0]!.u).toBe(inject('pgAppRole'));
  });
});
