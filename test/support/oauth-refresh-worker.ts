/**
 * A separate worker process for the OAuth refresh race: its own pool, secret box and step
 * executor (the composition root's), its clock `aheadMs` in the future so that the stored
 * access token is due for refresh; runs `steps` steps of the connection at once and prints
 * their results as one JSON line.
 * Usage: node oauth-refresh-worker.ts <appUrl> <tenantId> <connectionId> <resourceUrl>
 *        <allowHttpHosts,comma-separated> <aheadMs> <steps>
 */
import pg from 'pg';
import { createStepExecutor } from '../../src/cli/executor.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { ConnectionId, TenantId } from '../../src/model/ids.ts';
import { openSecretBox } from '../../src/security/open-secrets.ts';
import { testLogger } from './db.ts';
import { codeConfig, gateConfig, makeRequest, never } from './runner-harness.ts';

const [appUrl, tenantId, connectionId, resourceUrl, allow, aheadMs, steps] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: appUrl, max: 4 });
// The test API's master key (test/support/api.ts).
const config = loadConfig({ SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') });
const box = await openSecretBox(config.security, {
  dataDir: '/nonexistent',
  embeddedDatabase: false,
  logger: testLogger,
  pool,
});
const executor = createStepExecutor({
  logger: testLogger,
  pool,
  secretBox: box,
  clock: { now: () => new Date(Date.now() + Number(aheadMs)) },
  config: {
    gate: gateConfig(allow!.split(',')),
    code: codeConfig(),
    breaker: { failureThreshold: 50, cooldownMs: 30_000 },
  },
});
const results = await Promise.all(
  Array.from({ length: Number(steps) }, () =>
    executor.execute(
      makeRequest({
        action: {
          baseUrl: resourceUrl!,
          implementation: { method: 'GET', path: '/me' },
          retry: { strategy: 'none', maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
        },
        step: { connectionId: connectionId as ConnectionId },
        context: { tenantId: tenantId as TenantId },
      }),
      never,
    ),
  ),
);
await pool.end();
process.stdout.write(`${JSON.stringify(results.map((r) => r.status))}\n`);
