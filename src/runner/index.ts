/** The runner's public surface, for the composition root (cli/) and tests. */
export { createRunner, type RunnerDeps } from './runner.ts';
export {
  createPythonSandbox,
  pythonReadinessCheck,
  type PythonSandbox,
  type PythonSandboxStatus,
} from './code/python-sandbox.ts';
export {
  createGate,
  type Gate,
  type GateRequest,
  type GateResponse,
  MAX_REDIRECTS,
} from './gate/gate.ts';
export { checkAddress } from './gate/address-policy.ts';
export { createCircuitBreaker, createMemoryBreakerStore } from './breaker.ts';
export type {
  BreakerKey,
  BreakerSnapshot,
  BreakerWrite,
  BreakerState,
  BreakerStore,
  CircuitBreaker,
} from './breaker.ts';
export { createMemoryRateLimiter, gcraTiming } from './rate-limit.ts';
export { signStandardWebhook } from './actions/standard-webhooks.ts';
export type * from './types.ts';
