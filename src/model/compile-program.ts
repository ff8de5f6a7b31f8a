/**
 * compileProgram: a stored definition (version 1 or 2) → the flat program the engine runs
 * (model/program.ts). Pure and total: definitions are validated at save (catalog), but a
 * version stored before a rule existed, or a shape nobody expected, must not crash a worker —
 * such a step compiles to an `invalid` instruction, which fails its StepRun with E_VALIDATION
 * naming what is wrong (as version 1's parseStep did).
 *
 * Layout (program.ts): pre-order. A step's subtree takes `sizeOf(step)` consecutive pcs, so the
 * next sibling of the step at pc p is at p + sizeOf(step), known before its body is compiled;
 * the last step of a list goes to the list's continuation (the block's `next`, 'item-end' for a
 * loop body, 'end' for the main and the failure path).
 */
import type { ActionId, ConnectionId } from './ids.ts';
import type { ErrorRoute, Instruction, Next, Program } from './program.ts';
import type { OnError, StepDefinition } from './step.ts';
import { definitionVersionOf } from './workflow-v2.ts';

/** forEach's concurrency when the definition gives none, and its bounds. */
export const DEFAULT_CONCURRENCY = 10;
export const MAX_CONCURRENCY = 100;
/** waitForEvent's timeout (and any wait's longest deadline) when none is given: 30 days. */
export const DEFAULT_WAIT_TIMEOUT_MS = 30 * 24 * 3600_000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** `"90s"`, `"1h30m"`, `"250ms"` → milliseconds; null when it is not a positive duration. */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string' || !/^(\d+(ms|s|m|h|d))+$/.test(text.trim())) return null;
  let total = 0;
  for (const m of text.trim().matchAll(/(\d+)(ms|s|m|h|d)/g))
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isSafeInteger(total) && total > 0 ? total : null;
}

/** A version-1 (or version-2 action) step, or a message saying what is wrong with it. */
export function parseStep(raw: unknown): StepDefinition | string {
  if (typeof raw !== 'object' || raw === null) return 'The step definition is not an object.';
  const s = raw as Record<string, unknown>;
  if (typeof s.id !== 'string' || s.id.length === 0) return 'The step has no id.';
  if (typeof s.actionId !== 'string') return `Step ${s.id} has no actionId.`;
  const onError: OnError = s.onError === 'continue' ? 'continue' : 'fail';
  const step: StepDefinition = {
    id: s.id,
    actionId: s.actionId as ActionId,
    input: s.input ?? {},
    onError,
    connectionId: typeof s.connectionId === 'string' ? (s.connectionId as ConnectionId) : null,
    if: typeof s.if === 'string' ? s.if : null,
  };
  // Only a test version carries pins (test-run.ts); saved versions refuse the field.
  if ('pinnedOutput' in s) step.pinnedOutput = s.pinnedOutput;
  return step;
}

export function compileProgram(definition: unknown): Program {
  const steps = listOf((definition as { steps?: unknown } | null)?.steps);
  if (definitionVersionOf(definition) === 1) return compileV1(steps);
  return new Compiler().compile(definition as Record<string, unknown>, steps);
}

function compileV1(steps: unknown[]): Program {
  const instructions = steps.map((raw, pc): Instruction => {
    const next: Next = pc + 1 < steps.length ? pc + 1 : 'end';
    const base = {
      pc,
      path: `definition.steps[${pc}]`,
      next,
      loopPc: null,
    };
    const step = parseStep(raw);
    if (typeof step === 'string')
      return {
        ...base,
        stepId: `#${pc}`,
        if: null,
        onError: { kind: 'fail' },
        kind: 'invalid',
        message: step,
      };
    return {
      ...base,
      stepId: step.id,
      if: step.if ?? null,
      onError: { kind: step.onError },
      kind: 'action',
      step,
    };
  });
  return { version: 1, instructions, failurePc: null };
}

type Raw = Record<string, unknown>;

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function isRaw(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The nested lists of a step, in layout order, with their JSON paths and branch names. */
function childListsOf(
  step: unknown,
  path: string,
): { name: string; path: string; steps: unknown[] }[] {
  if (!isRaw(step)) return [];
  if (step.type === 'switch') {
    const lists = listOf(step.branches).map((b, i) => ({
      name: isRaw(b) && typeof b.name === 'string' ? b.name : `#${i}`,
      path: `${path}.branches[${i}].steps`,
      steps: isRaw(b) ? listOf(b.steps) : [],
    }));
    if (isRaw(step.default))
      lists.push({
        name: 'default',
        path: `${path}.default.steps`,
        steps: listOf(step.default.steps),
      });
    return lists;
  }
  if (step.type === 'forEach')
    return [{ name: 'body', path: `${path}.steps`, steps: listOf(step.steps) }];
  return [];
}

function sizeOf(step: unknown, path: string): number {
  return (
    1 +
    childListsOf(step, path).reduce(
      (n, l) => n + l.steps.reduce<number>((m, s, i) => m + sizeOf(s, `${l.path}[${i}]`), 0),
      0,
    )
  );
}

class Compiler {
  private readonly out: Instruction[] = [];
  /** Step id → pc, for `goto` (resolved when every id is known). */
  private readonly pcOf = new Map<string, number>();
  /** The gotos to resolve: the instruction, its target, the pcs of the enclosing lists' ends. */
  private readonly gotos: { pc: number; target: string; field: 'onError' | 'onTimeout' }[] = [];

  compile(definition: Raw, steps: unknown[]): Program {
    const mainEnd = this.list(steps, 'definition.steps', 0, 'end', null);
    const failure = isRaw(definition.onFailure) ? listOf(definition.onFailure.steps) : [];
    const failurePc = failure.length > 0 ? mainEnd : null;
    this.list(failure, 'definition.onFailure.steps', mainEnd, 'end', null);
    for (const g of this.gotos) this.resolveGoto(g);
    return { version: 2, instructions: this.out, failurePc };
  }

  /** Compiles a list from `pc`; its last step goes to `cont`. Returns the pc after the list. */
  private list(
    steps: unknown[],
    path: string,
    pc: number,
    cont: Next,
    loopPc: number | null,
  ): number {
    steps.forEach((raw, i) => {
      const where = `${path}[${i}]`;
      const size = sizeOf(raw, where);
      const next: Next = i + 1 < steps.length ? pc + size : cont;
      this.step(raw, where, pc, next, loopPc);
      pc += size;
    });
    return pc;
  }

  private step(raw: unknown, path: string, pc: number, next: Next, loopPc: number | null): void {
    const s: Raw = isRaw(raw) ? raw : {};
    const stepId = typeof s.id === 'string' && s.id.length > 0 ? s.id : `#${pc}`;
    if (!this.pcOf.has(stepId)) this.pcOf.set(stepId, pc);
    const base = {
      pc,
      stepId,
      path,
      if: typeof s.if === 'string' ? s.if : null,
      next,
      onError: this.route(pc, s.onError, 'onError'),
      loopPc,
    };
    const invalid = (message: string): void => {
      this.out[pc] = {
        ...base,
        onError: { kind: 'fail' },
        kind: 'invalid',
        message: `${path}: ${message}`,
      };
    };
    if (!isRaw(raw)) return invalid('the step is not an object.');
    if (stepId.startsWith('#')) return invalid('the step has no id.');
    const type = s.type ?? 'action';
    switch (type) {
      case 'action': {
        const step = parseStep({ ...s, onError: s.onError === 'continue' ? 'continue' : 'fail' });
        if (typeof step === 'string') return invalid(step);
        this.out[pc] = { ...base, kind: 'action', step };
        return;
      }
      case 'switch': {
        const lists = childListsOf(raw, path);
        const branches: { name: string; when: string; pc: Next }[] = [];
        const bodyPcs: { branch: string; pcs: number[] }[] = [];
        let at = pc + 1;
        let defaultPc: Next = next;
        const rawBranches = listOf(s.branches);
        lists.forEach((l, i) => {
          const first: Next = l.steps.length > 0 ? at : next;
          const end = this.list(l.steps, l.path, at, next, loopPc);
          bodyPcs.push({ branch: l.name, pcs: range(at, end) });
          if (i < rawBranches.length) {
            const b = rawBranches[i];
            const when = isRaw(b) && typeof b.when === 'string' ? b.when : null;
            branches.push({ name: l.name, when: when ?? 'false', pc: first });
            if (when === null) invalid(`branches[${i}] has no "when".`);
          } else defaultPc = first;
          at = end;
        });
        if (this.out[pc]) return; // a branch made it invalid
        if (rawBranches.length === 0) return invalid('a switch needs at least one branch.');
        this.out[pc] = { ...base, kind: 'switch', branches, defaultPc, bodyPcs };
        return;
      }
      case 'forEach': {
        const body = listOf(s.steps);
        const end = this.list(body, `${path}.steps`, pc + 1, 'item-end', pc);
        if (body.length === 0) return invalid('a forEach needs at least one step.');
        if (typeof s.items !== 'string') return invalid('"items" must be a mapping expression.');
        const concurrency = s.concurrency ?? DEFAULT_CONCURRENCY;
        if (
          !Number.isInteger(concurrency) ||
          (concurrency as number) < 1 ||
          (concurrency as number) > MAX_CONCURRENCY
        )
          return invalid(`"concurrency" must be an integer from 1 to ${MAX_CONCURRENCY}.`);
        let lastPc = pc + 1;
        for (let i = 0, at = pc + 1; i < body.length; i++) {
          lastPc = at;
          at += sizeOf(body[i], `${path}.steps[${i}]`);
        }
        void end;
        this.out[pc] = {
          ...base,
          kind: 'forEach',
          items: s.items,
          concurrency: concurrency as number,
          onItemError: s.onItemError === 'continue' ? 'continue' : 'fail',
          bodyPc: pc + 1,
          lastPc,
        };
        return;
      }
      case 'delay': {
        const durationMs = parseDuration(s.duration);
        if (durationMs === null)
          return invalid(`"duration" is not a duration (e.g. "90s", "1h30m").`);
        this.out[pc] = { ...base, kind: 'delay', durationMs };
        return;
      }
      case 'waitUntil':
        if (typeof s.until !== 'string') return invalid('"until" must be a mapping expression.');
        this.out[pc] = { ...base, kind: 'waitUntil', until: s.until };
        return;
      case 'waitForEvent': {
        const timeoutMs =
          s.timeout === undefined ? DEFAULT_WAIT_TIMEOUT_MS : parseDuration(s.timeout);
        if (timeoutMs === null) return invalid(`"timeout" is not a duration (e.g. "2h", "30d").`);
        this.out[pc] = {
          ...base,
          kind: 'waitForEvent',
          timeoutMs,
          onTimeout: this.route(pc, s.onTimeout, 'onTimeout'),
        };
        return;
      }
      case 'callWorkflow':
        if (typeof s.workflowId !== 'string') return invalid('"workflowId" is missing.');
        this.out[pc] = {
          ...base,
          kind: 'callWorkflow',
          workflowId: s.workflowId,
          input: s.input ?? {},
          wait: s.wait !== false,
        };
        return;
      default:
        return invalid(`unknown step type ${JSON.stringify(type)}.`);
    }
  }

  private route(pc: number, raw: unknown, field: 'onError' | 'onTimeout'): ErrorRoute {
    if (raw === 'continue') return { kind: 'continue' };
    if (isRaw(raw) && typeof raw.goto === 'string') {
      this.gotos.push({ pc, target: raw.goto, field });
      return { kind: 'goto', pc: -1 };
    }
    return { kind: 'fail' };
  }

  private resolveGoto(g: { pc: number; target: string; field: 'onError' | 'onTimeout' }): void {
    const ins = this.out[g.pc];
    if (!ins || ins.kind === 'invalid') return;
    const target = this.pcOf.get(g.target);
    if (target === undefined || target <= g.pc) {
      this.out[g.pc] = {
        ...ins,
        onError: { kind: 'fail' },
        kind: 'invalid',
        message: `${ins.path}.${g.field}.goto: ${target === undefined ? 'no step' : 'a goto goes forward only, not to step'} "${g.target}".`,
      };
      return;
    }
    if (g.field === 'onTimeout' && ins.kind === 'waitForEvent')
      ins.onTimeout = { kind: 'goto', pc: target };
    else ins.onError = { kind: 'goto', pc: target };
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
