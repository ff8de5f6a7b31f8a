/** The worker thread of run.ts: one document in, one plan (or failure) out. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ImportOptions } from './convert.ts';
import { readAndPlan } from './parse.ts';

const { text, options } = workerData as { text: string; options: ImportOptions };
parentPort!.postMessage(await readAndPlan(text, options));
