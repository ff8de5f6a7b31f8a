/**
 * docs/workflows.md's complete example, run as written: every ```sh block marked
 * `<!-- example -->` is executed in order by bash against a real `switchyard start`, with a
 * local HTTP server standing in for httpbin.org (allowed through GATE_ALLOW_HTTP_HOSTS, as the
 * page explains). If the page and the product drift apart, this test fails.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnvFor, repoRoot, spawnCli, stopProcess, waitForStatus } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort } from '../support/free-port.ts';

type Received = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };

let db: TestDatabase;
let echo: http.Server;
let echoPort: number;
const received: Received[] = [];

/** Like httpbin.org/anything: answers with what it received. */
function startEcho(): Promise<void> {
  echo = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          headers: req.headers,
          json: JSON.parse(body || 'null') as unknown,
        }),
      );
    });
  });
  return new Promise((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
}

function exampleBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/<!-- example -->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function runBash(script: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: repoRoot, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  await startEcho();
  const address = echo.address();
  echoPort = typeof address === 'object' && address ? address.port : 0;
});
afterAll(async () => {
  await new Promise((r) => echo.close(r));
  await db.drop();
});

describe('docs/workflows.md, "A complete example from zero"', () => {
  it('runs as written: a signed webhook starts a run whose step calls the external API', async () => {
    const blocks = exampleBlocks(await readFile(path.join(repoRoot, 'docs/workflows.md'), 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const port = await freePort();
    const env = cliEnvFor(db, {
      SWITCHYARD_MASTER_KEY: Buffer.alloc(32, 5).toString('base64'),
      PORT: String(port),
      GATE_ALLOW_HTTP_HOSTS: `127.0.0.1:${echoPort}`,
    });
    const server = spawnCli(['start'], env);
    try {
      await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200, 60_000);
      const result = await runBash(`set -euo pipefail\n${blocks.join('\n')}`, {
        ...env,
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        LOG_LEVEL: 'warn',
        SWITCHYARD_URL: `http://127.0.0.1:${port}`,
        API_BASE: `http://127.0.0.1:${echoPort}`,
      });
      expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/"status": "succeeded"/);
      expect(received).toHaveLength(1);
      const call = received[0]!;
      expect(call.method).toBe('POST');
      expect(call.url).toBe('/anything/orders/ord_1001');
      expect(call.headers['x-api-key']).toBe('demo-api-key');
      expect(JSON.parse(call.body)).toEqual({ cents: 1250, source: 'switchyard' });
    } finally {
      await stopProcess(server);
    }
  }, 120_000);
});
