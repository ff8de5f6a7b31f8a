/**
 * Plans an import off the event loop: a 13 MB document would hold the API's loop for about a
 * second (JSON parse, YAML, schema conversion), stalling every other request. Small
 * documents run in-process, where a worker's start-up (~50 ms) would cost more than it saves.
 */
import { Worker } from 'node:worker_threads';
import { SwitchyardError } from '../../model/errors.ts';
import type { ImportOptions, PreparedPlan } from './convert.ts';
import { readAndPlan, type ParseFailure } from './parse.ts';

export const IN_PROCESS_MAX_CHARS = 200_000;
/** Generous: GitHub's document plans in about 2 s here, and a worker is killed past this. */
const WORKER_TIMEOUT_MS = 60_000;
/**
 * Big imports at once per process: each worker may take a core and up to ~500 MB, and the API
 * shares its machine with the workers. Others wait their turn (an import is rare and slow).
 */
const MAX_CONCURRENT_WORKERS = 2;
let running = 0;
const waiting: Array<() => void> = [];

async function withWorkerSlot<T>(fn: () => Promise<T>): Promise<T> {
  // A waiter is handed the slot of the import that ends (running stays as it is).
  if (running >= MAX_CONCURRENT_WORKERS) await new Promise<void>((r) => waiting.push(r));
  else running += 1;
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  }
}

export async function planOpenApiImport(
  text: string,
  options: ImportOptions,
): Promise<PreparedPlan> {
  const result =
    text.length <= IN_PROCESS_MAX_CHARS
      ? await readAndPlan(text, options)
      : await withWorkerSlot(() => inWorker(text, options));
  if ('error' in result)
    throw new SwitchyardError('E_OPENAPI_INVALID', result.error, { field: 'document' });
  return result;
}

function inWorker(text: string, options: ImportOptions): Promise<PreparedPlan | ParseFailure> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: { text, options },
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(
        new SwitchyardError('E_OPENAPI_INVALID', 'The document took too long to read.', {
          field: 'document',
        }),
      );
    }, WORKER_TIMEOUT_MS);
    worker.once('message', (m: PreparedPlan | ParseFailure) => {
      clearTimeout(timer);
      resolve(m);
      void worker.terminate();
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof Error ? err : new Error(String(err)));
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0)
        reject(
          new SwitchyardError(
            'E_OPENAPI_INVALID',
            `Reading the document failed (worker exit ${code}).`,
            { field: 'document' },
          ),
        );
    });
  });
}
