/**
 * Wraps the gate with the circuit breaker of (tenant, host, connection): a request to a host
 * whose breaker is open fails fast with E_CIRCUIT_OPEN (retryable, with the remaining
 * cool-down as retryAfterMs); transport failures and 408/429/5xx answers count against it.
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
  signal: AbortSignal;
}): Outbound {
  return async (req) => {
    let host: string;
    try {
      host = new URL(req.url).host.toLowerCase();
    } catch {
      throw new SwitchyardError('E_GATE_BLOCKED', 'Not a valid URL');
    }
    const key: BreakerKey = { tenantId: p.tenantId, host, connectionId: p.connectionId };
    const permit = await p.breaker.acquire(key);
    if (!permit.allowed)
      throw new SwitchyardError(
        'E_CIRCUIT_OPEN',
        `The circuit breaker for ${host} is open after repeated failures; retrying in ${permit.retryAfterMs} ms`,
        { host, retryAfterMs: permit.retryAfterMs },
      );
    let res;
    try {
      res = await p.gate.request(req, p.signal);
    } catch (err) {
      if (isSwitchyardError(err) && transportFailures.has(err.code))
        await p.breaker.record(key, 'failure');
      throw err;
    }
    const failed = res.status === 408 || res.status === 429 || res.status >= 500;
    await p.breaker.record(key, failed ? 'failure' : 'success');
    return res;
  };
}
