/** One outgoing request as the actions see it: the gate behind the circuit breaker. */
import type { GateRequest, GateResponse } from '../gate/gate.ts';

export type Outbound = (req: GateRequest) => Promise<GateResponse>;

/** Parses a response body: JSON when it says so (or looks like it), text otherwise. */
export function parseBody(res: GateResponse): unknown {
  const text = res.body.toString('utf8');
  const type = res.headers['content-type'] ?? '';
  if (/[/+]json\b/i.test(type) || (type === '' && /^\s*[[{]/.test(text))) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
