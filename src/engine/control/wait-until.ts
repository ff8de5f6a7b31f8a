/** waitUntil: waits until a date resolved from the mapping; a date already past goes on. */
import { SwitchyardError } from '../../model/errors.ts';
import type { ControlHandler } from './index.ts';
import { mappingOf } from './support.ts';

export const waitUntilHandler: ControlHandler<'waitUntil'> = {
  start({ instruction, context, now }, deps) {
    const value = mappingOf(deps).resolve(instruction.until, context);
    const until = typeof value === 'string' ? new Date(value) : null;
    if (!until || Number.isNaN(until.getTime()))
      throw new SwitchyardError(
        'E_VALIDATION',
        `${instruction.path}.until: ${JSON.stringify(value)} is not an ISO 8601 date.`,
      );
    if (until <= now) return { kind: 'succeed', output: { waitedUntil: until.toISOString() } };
    return { kind: 'wait', until, input: { until: until.toISOString() } };
  },
};
