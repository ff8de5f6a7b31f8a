import { describe, expect, it } from 'vitest';
import { queueOverloadCheck } from '../../src/api/readiness.ts';

describe('queue readiness check', () => {
  it('is not ready while the queue is past QUEUE_MAX_DEPTH', async () => {
    const over = queueOverloadCheck(() =>
      Promise.resolve({ overloaded: true, depth: 12, maxDepth: 10 }),
    );
    expect(over.name).toBe('queue');
    expect(await over.check()).toEqual({ ok: false, detail: 'overloaded: 12 queued (limit 10)' });
    const fine = queueOverloadCheck(() =>
      Promise.resolve({ overloaded: false, depth: 3, maxDepth: 10 }),
    );
    expect(await fine.check()).toEqual({ ok: true, detail: '3 queued (limit 10)' });
  });
});
