/** The DB-backed runner stores are the composition root's own (src/cli/executor.ts). */
export {
  dbBreakerStore,
  dbConnectionLoader,
  dbLogSink,
  dbRateLimiter,
} from '../../src/cli/executor.ts';
