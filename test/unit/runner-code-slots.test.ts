/**
 * Code steps beyond CODE_MAX_CONCURRENT wait their turn (each holds an isolate or a sandboxed
 * interpreter): at most `max` run at once, the others start in arrival order as they finish,
 * and an aborted step stops waiting without taking a turn.
 */
import { describe, expect, it } from 'vitest';
import { createCodeSlots } from '../../src/runner/code/code-slots.ts';

const tick = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('code step slots', () => {
  it('runs at most max at once and the rest in arrival order', async () => {
    const slots = createCodeSlots(2);
    const signal = new AbortController().signal;
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        slots.run(signal, async () => {
          started.push(i);
          peak = Math.max(peak, ++running);
          await tick(15);
          running--;
          return i * 10;
        }),
      ),
    );
    expect(results).toEqual([0, 10, 20, 30, 40]);
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(slots.inUse()).toBe(0);
    expect(slots.waiting()).toBe(0);
  });

  it('a failing step frees its turn', async () => {
    const slots = createCodeSlots(1);
    const signal = new AbortController().signal;
    const failed = slots.run(signal, () => Promise.reject(new Error('boom')));
    const next = slots.run(signal, () => Promise.resolve('ran'));
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });

  it('an aborted step stops waiting, and the one after it still runs', async () => {
    const slots = createCodeSlots(1);
    const free = new AbortController().signal;
    let release!: () => void;
    const first = slots.run(free, () => new Promise<void>((r) => (release = r)));
    const canceled = new AbortController();
    const waiting = slots.run(canceled.signal, () => Promise.resolve('should not run'));
    const third = slots.run(free, () => Promise.resolve('third'));
    await tick(5);
    expect(slots.waiting()).toBe(2);
    canceled.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'E_STEP_CANCELED' });
    expect(slots.waiting()).toBe(1);
    release();
    await first;
    await expect(third).resolves.toBe('third');
    expect(slots.inUse()).toBe(0);
  });
});
