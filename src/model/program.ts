/**
 * The flat program a definition compiles to (compileProgram, model/compile-program.ts). The
 * engine runs instructions, never the nested tree: an instruction's index (`pc`) is what a job's
 * and a StepRun's `step_index` hold, so the queue, leases, retries, dead letters and replay work
 * on version-2 runs exactly as on version-1 runs, whose program is their steps in order
 * (`next = pc + 1`).
 *
 * Layout: the main steps first, in definition order with each block's body right after its
 * block instruction (a switch's branches one after the other, then its default), then the
 * `onFailure` path. Every jump goes forward (definitions have no cycles), so "the steps that ran
 * before pc" are among the lower indexes.
 */
import type { StepDefinition } from './step.ts';
import type { OnErrorV2 } from './workflow-v2.ts';

/** Where control goes next. A pc, or one of the ends. */
export type Next =
  | number
  /** The run succeeded (main path), or its failure path is done (the run ends failed). */
  | 'end'
  /** A forEach item finished its body. */
  | 'item-end';

export type ErrorRoute =
  | { kind: 'fail' }
  | { kind: 'continue' }
  /** Go on at this pc (a later step), with `{{ error }}` set to the failure. */
  | { kind: 'goto'; pc: number };

type InstructionBase = {
  pc: number;
  /** The step's id (unique in the definition). */
  stepId: string;
  /** The JSON path of the step in the definition, for errors: `definition.steps[2].branches[0].steps[1]`. */
  path: string;
  /** The step's `if`, or null. A falsy `if` records `skipped` and goes to `next`. */
  if: string | null;
  next: Next;
  onError: ErrorRoute;
  /** The pc of the innermost enclosing forEach, or null. */
  loopPc: number | null;
};

export type Instruction = InstructionBase &
  (
    | { kind: 'action'; step: StepDefinition }
    | {
        kind: 'switch';
        /** A branch's first pc; an empty branch's is the join (`next`). */
        branches: { name: string; when: string; pc: Next }[];
        /** The default branch's first pc, or the join (`next`) when there is none. */
        defaultPc: number | Next;
        /** Every pc inside the switch's branches: the ones not taken are recorded `skipped`. */
        bodyPcs: { branch: string; pcs: number[] }[];
      }
    | {
        kind: 'forEach';
        items: string;
        concurrency: number;
        onItemError: 'fail' | 'continue';
        /** The body's first pc; its last instruction's `next` is 'item-end'. */
        bodyPc: number;
        /** The pc of the body's last top-level instruction (its output is the item's result). */
        lastPc: number;
      }
    | { kind: 'delay'; durationMs: number }
    | { kind: 'waitUntil'; until: string }
    | { kind: 'waitForEvent'; timeoutMs: number; onTimeout: ErrorRoute }
    | { kind: 'callWorkflow'; workflowId: string; input: unknown; wait: boolean }
    /**
     * A step of a shape validation should have refused (a version stored before a rule
     * existed): its StepRun fails with E_VALIDATION and `message`, as version 1's did.
     */
    | { kind: 'invalid'; message: string }
  );

export type InstructionKind = Instruction['kind'];

export type Program = {
  version: 1 | 2;
  instructions: Instruction[];
  /** The first pc of the `onFailure` path, or null. */
  failurePc: number | null;
};

export type { OnErrorV2 };
