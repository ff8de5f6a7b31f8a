/**
 * How many code steps (JavaScript and Python) one process runs at once. A worker's slots are
 * sized for steps that wait on the network (WORKER_CONCURRENCY, 64 by default); a code step
 * holds an isolate or a sandboxed interpreter (up to CODE_MEMORY_LIMIT_MB each) and CPU, so
 * more of them than this only adds memory: the others wait here, in arrival order, their lease
 * renewed as for any running step. An abort (cancel, lost lease, shutdown) ends the wait.
 */
import { SwitchyardError } from '../../model/errors.ts';

export type CodeSlots = {
  run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T>;
  inUse(): number;
  waiting(): number;
};

export function createCodeSlots(max: number): CodeSlots {
  let inUse = 0;
  const queue: { grant: () => void }[] = [];
  const release = () => {
    const next = queue.shift();
    if (next) next.grant();
    else inUse--;
  };
  const acquire = (signal: AbortSignal): Promise<void> => {
    if (signal.aborted) return Promise.reject(aborted());
    if (inUse < max) {
      inUse++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = queue.indexOf(entry);
        if (i >= 0) queue.splice(i, 1);
        reject(aborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(entry);
    });
  };
  return {
    async run(signal, fn) {
      await acquire(signal);
      try {
        return await fn();
      } finally {
        release();
      }
    },
    inUse: () => inUse,
    waiting: () => queue.length,
  };
}

const aborted = () =>
  new SwitchyardError('E_STEP_CANCELED', 'The code step was aborted while waiting to run');
