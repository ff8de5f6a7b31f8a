/**
 * LISTEN on a dedicated connection (a pooled one would lose its LISTEN when returned). The
 * connection is re-opened with backoff whenever it fails (a PostgreSQL restart); after each
 * reconnect `onReconnect` runs, because notifications sent meanwhile are lost. Workers also
 * poll, so a lost notification only costs latency.
 */
import pg from 'pg';
import { describePgError } from '../db/pool.ts';
import type { Logger } from '../observability/logger.ts';

export type Wakeups = { close(): Promise<void> };

export function listenForWakeups(opts: {
  connectionString: string;
  channels: string[];
  logger: Logger;
  onNotify: (channel: string, payload: string) => void;
  onReconnect: () => void;
}): Wakeups {
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delayMs = 100;
  let everConnected = false;

  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delayMs);
    delayMs = Math.min(delayMs * 2, 5_000);
  };

  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({
      connectionString: opts.connectionString,
      application_name: 'switchyard-listen',
    });
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      if (client === c) client = undefined;
      c.removeAllListeners('notification');
      void c.end().catch(() => undefined);
      if (!closed) {
        opts.logger.warn({ err: describePgError(err) }, 'LISTEN connection lost; reconnecting');
        scheduleReconnect();
      }
    };
    c.on('error', fail);
    c.on('end', () => fail(new Error('connection ended')));
    c.on('notification', (n) => opts.onNotify(n.channel, n.payload ?? ''));
    try {
      await c.connect();
      for (const ch of opts.channels) await c.query(`listen ${pg.escapeIdentifier(ch)}`);
      if (closed) {
        await c.end();
        return;
      }
      client = c;
      delayMs = 100;
      if (everConnected) opts.onReconnect();
      everConnected = true;
    } catch (err) {
      fail(err);
    }
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners();
        c.on('error', () => undefined);
        await c.end().catch(() => undefined);
      }
    },
  };
}
