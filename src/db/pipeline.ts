/**
 * One socket write per query instead of five. node-postgres sends an extended-protocol query
 * as five messages (Parse, Bind, Describe, Execute, Sync), each its own `stream.write`: on an
 * idle socket each is its own system call, and PostgreSQL may wake up for each. Corking the
 * socket from the first message of a turn of the event loop to the end of that turn sends them
 * in one `writev` (bench/RESULTS.md, "End to end": the socket writes were the largest Node
 * cost of a run). Nothing waits longer than the current turn; the order is unchanged.
 */
import type pg from 'pg';

type Stream = { cork(): void; uncork(): void };
type Connection = { stream?: Stream; _send?: (buffer: Buffer) => boolean };

export function coalesceWrites(client: pg.ClientBase): void {
  const conn = (client as unknown as { connection?: Connection }).connection;
  const stream = conn?.stream;
  const original = conn?._send;
  if (!conn || !stream || typeof stream.cork !== 'function' || typeof original !== 'function')
    return;
  const send = original.bind(conn);
  let corked = false;
  conn._send = (buffer) => {
    if (!corked) {
      corked = true;
      stream.cork();
      process.nextTick(() => {
        corked = false;
        stream.uncork();
      });
    }
    return send(buffer);
  };
}
