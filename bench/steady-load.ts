/**
 * Open-loop load at a steady rate: request i is due at start + i / rate, whether or not the
 * earlier ones have been answered, over a pool of keep-alive connections. Latency is counted
 * from the moment a request was due, so a server (or a generator) that falls behind shows it
 * instead of hiding it (no coordinated omission).
 *
 * Why not autocannon's `overallRate`: it lets each connection send its quota for the second
 * back to back, then waits for the next second (lib/httpClient.js, `reqsMadeThisSecond`), so
 * "200 requests/s over 10 connections" is a burst of 200 at concurrency 10 once a second.
 */
import http from 'node:http';

export type SteadyResult = {
  rps: number;
  latencies: number[];
  errors: number;
  non2xx: number;
};

export async function steadyLoad(opts: {
  url: string;
  ratePerSecond: number;
  durationS: number;
  method: string;
  headers: Record<string, string>;
  body: string;
  /** Connections at most (a request waits for a free one when all are busy). */
  maxConnections?: number;
  /**
   * Seconds of the same load before the measured part, not counted: the connections are
   * opened and the server's first-use paths (query plans, compiled GraphQL documents) warmed.
   */
  warmupS?: number;
  /** A body and headers per request (e.g. signed webhooks), instead of `body` and `headers`. */
  sign?: () => { body: string; headers: Record<string, string> };
}): Promise<SteadyResult> {
  const target = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxConnections ?? 64 });
  const body = Buffer.from(opts.body);
  const headers = { ...opts.headers, 'content-length': String(body.length) };
  const warmup = Math.round(opts.ratePerSecond * (opts.warmupS ?? 1));
  const total = warmup + Math.round(opts.ratePerSecond * opts.durationS);
  const intervalMs = 1000 / opts.ratePerSecond;
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const inFlight = new Set<Promise<void>>();

  const send = (dueAt: number, counted: boolean): Promise<void> =>
    new Promise<void>((resolve) => {
      const own = opts.sign?.();
      const reqBody = own ? Buffer.from(own.body) : body;
      const reqHeaders = own
        ? { ...own.headers, 'content-length': String(reqBody.length) }
        : headers;
      const req = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: opts.method,
          headers: reqHeaders,
          agent,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (counted) {
              latencies.push(performance.now() - dueAt);
              if (!res.statusCode || res.statusCode < 200 || res.statusCode > 299) non2xx++;
            }
            resolve();
          });
        },
      );
      req.on('error', () => {
        if (counted) errors++;
        resolve();
      });
      req.end(reqBody);
    });

  const start = performance.now();
  let measuredFrom = start;
  for (let i = 0; i < total; i++) {
    const dueAt = start + i * intervalMs;
    if (i === warmup) measuredFrom = dueAt;
    const wait = dueAt - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const p = send(dueAt, i >= warmup).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  const elapsedS = (performance.now() - measuredFrom) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsedS, latencies, errors, non2xx };
}
