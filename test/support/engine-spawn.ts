import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./engine-process.ts', import.meta.url));

export type EngineProcess = {
  child: ChildProcess;
  events: Record<string, unknown>[];
  ready: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** ROLE=worker with INTAKE=1: starts a run through the process's own intake. */
  startRun(p: { tenantId: string; workflowId: string; input: unknown }): void;
};

/**
 * A worker process's environment for the fault tests: a short lease (1.5 s, heartbeat 0.5 s)
 * and a 100 ms poll, so that a killed worker's steps are taken over within seconds; `extra`
 * overrides (WORKER_CONCURRENCY, EXECUTOR, INTAKE…).
 */
export function shortLeaseWorkerEnv(
  appUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ROLE: 'worker',
    DATABASE_APP_URL: appUrl,
    WORKER_LEASE_MS: '1500',
    WORKER_HEARTBEAT_MS: '500',
    WORKER_POLL_MS: '100',
    WORKER_CONCURRENCY: '4',
    ...extra,
  };
}

/** Spawns test/support/engine-process.ts; kill() it in afterAll. */
export function spawnEngineProcess(env: Record<string, string>): EngineProcess {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: Record<string, unknown>[] = [];
  let buffer = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        if (e.event === 'ready') onReady();
      } catch {
        // not one of ours
      }
    }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    events,
    ready,
    startRun(p) {
      child.stdin.write(`${JSON.stringify(p)}\n`);
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
