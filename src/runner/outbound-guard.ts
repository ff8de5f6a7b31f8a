/**
 * Wraps the gate with the circuit breaker of (tenant, host, connection): a request to a host
 * whose breaker is open fails fast with E_CIRCUIT_OPEN (retryable, with the remaining
 * cool-down as retryAfterMs); transport failures and 408/429/5xx answers count against it.
 *
 * Recording the outcome is best effort: once the request went out, its answer is the step's
 * result. A breaker write that fails (the database restarting, a revoked grant) is logged and
 * costs the breaker one data point; failing the step for it would repeat a call that worked.
 */
import { SwitchyardError, isSwitchyardError } from '../model/errors.ts';
import type { TenantId } from '../model/ids.ts';
import type { Outbound } from './actions/outbound.ts';
import type { BreakerKey, CircuitBreaker } from './breaker.ts';
import type { Gate } from './gate/gate.ts';

const transportFailures = new Set(['E_NETWORK', 'E_GATE_TIMEOUT']);

export function guardedOutbound(p: {
  gate: Gate;
  breaker: CircuitBreaker;
  tenantId: TenantId;
  connectionId: string | null;
  /** The step sent before (attempt > 1): preferred as the half-open probe. */
  retry?: boolean;
  signal: AbortSignal;
  /** Where a failed breaker write is reported (the process log). */
  warn: (message: string, err: unknown) => void;
}): Outbound {
  return async (req) => {
    let host: string;
    try {
      host = new URL(req.url).host.toLowerCase();
    } catch {
      throw new SwitchyardError('E_GATE_BLOCKED', 'Not a valid URL');
    }
    const key: BreakerKey = { tenantId: p.tenantId, host, connectionId: p.connectionId };
    const permit = await p.breaker.acquire(key, { retry: p.retry ?? false });
    if (!permit.allowed)
      throw new SwitchyardError(
        'E_CIRCUIT_OPEN',
        `The circuit breaker for ${host} is open after repeated failures; retrying in ${permit.retryAfterMs} ms`,
        { host, retryAfterMs: permit.retryAfterMs },
      );
    const record = async (outcome: 'success' | 'failure') => {
      try {
        await p.breaker.record(key, outcome, { retry: p.retry ?? false });
      } catch (err) {
        p.warn(`recording a ${outcome} in the circuit breaker of ${host} failed`, err);
      }
    };
    let res;
    try {
      res = await p.gate.request(req, p.signal);
    } catch (err) {
      if (isSwitchyardError(err) && transportFailures.has(err.code)) await record('failure');
      throw err;
    }
    const failed = res.status === 408 || res.status === 429 || res.status >= 500;
    await record(failed ? 'failure' : 'success');
    return res;
  };
}
