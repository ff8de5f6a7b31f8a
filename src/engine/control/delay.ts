/** delay: waits `duration` from the moment the step is reached (the generic wait). */
import type { ControlHandler } from './index.ts';

export const delayHandler: ControlHandler<'delay'> = {
  start: ({ instruction, now }) => ({
    kind: 'wait',
    until: new Date(now.getTime() + instruction.durationMs),
    input: { durationMs: instruction.durationMs },
  }),
};
