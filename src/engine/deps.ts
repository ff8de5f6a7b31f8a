/**
 * What every engine system receives explicitly: no globals, no container. Time and randomness
 * are injected so that backoff, leases and cron are tested exactly (a fake clock in tests).
 */
import type pg from 'pg';
import type { EngineConfig } from '../config/engine.ts';
import type { Logger } from '../observability/logger.ts';

export type Clock = { now(): Date };
/** A number in [0, 1), like Math.random. */
export type Random = () => number;

export const systemClock: Clock = { now: () => new Date() };
export const systemRandom: Random = () => Math.random();

export type EngineDeps = {
  pool: pg.Pool;
  clock: Clock;
  random: Random;
  logger: Logger;
  config: EngineConfig;
};

export function addMs(d: Date, ms: number): Date {
  return new Date(d.getTime() + ms);
}
