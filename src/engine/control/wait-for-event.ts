/**
 * waitForEvent: waits until resumed (resumeRun, the resume webhook: engine/resume.ts), whose
 * payload becomes the step's output, or until `timeout`, when `onTimeout` routes the failure
 * (E_WAIT_TIMEOUT). Both ends go through the generic wait (control/index.ts): the resumer
 * resolves the `waiting` StepRun and wakes the job; the engine's claim at the deadline finds
 * it still waiting and asks `due`. Exactly one of the two writes the StepRun.
 */
import type { ControlHandler } from './index.ts';

export const waitForEventHandler: ControlHandler<'waitForEvent'> = {
  start: ({ instruction, now }) => ({
    kind: 'wait',
    until: new Date(now.getTime() + instruction.timeoutMs),
    input: { timeoutMs: instruction.timeoutMs },
  }),
  due: ({ instruction, latest }) => ({
    kind: 'fail',
    error: {
      code: 'E_WAIT_TIMEOUT',
      message: `${instruction.stepId}: no event resumed the run before ${latest?.wait_until ? new Date(latest.wait_until).toISOString() : 'its timeout'} (timeout ${instruction.timeoutMs} ms).`,
    },
    route: instruction.onTimeout,
  }),
};
