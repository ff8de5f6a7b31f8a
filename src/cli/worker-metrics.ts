/**
 * `switchyard worker`'s own /metrics (WORKER_METRICS_PORT): the engine's counters of this
 * process and its process metrics. A plain HTTP server: a worker serves nothing else.
 */
import http from 'node:http';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { SwitchyardError } from '../model/errors.ts';

export async function serveWorkerMetrics(
  metrics: Metrics,
  at: { host: string; port: number },
  logger: Logger,
): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        logger.warn({ err }, 'could not render the worker metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Metrics unavailable\n');
      },
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new SwitchyardError(
        'E_PORT_IN_USE',
        `Cannot listen on ${at.host}:${at.port}: the port is in use. Set WORKER_METRICS_PORT to a free port.`,
      );
    throw err;
  }
  logger.info({ host: at.host, port: at.port }, 'worker metrics at /metrics');
  return {
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
