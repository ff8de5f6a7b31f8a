/**
 * The shape of a version-2 definition (model/workflow-v2.ts), checked field by field and
 * normalised (defaults filled), into a tree of nodes that the reference check
 * (definition-v2-references.ts) walks. Pure: what needs the database (actions, connections,
 * called workflows) is checked by definition-v2.ts afterwards.
 *
 * Every refusal is E_VALIDATION with `field` = the JSON path of what to fix
 * (`definition.steps[2].branches[0].steps[1].input.to`).
 */
import { SwitchyardError } from '../model/errors.ts';
import { isUuid } from '../model/ids.ts';
import type { OnErrorV2, StepKindV2, StepV2 } from '../model/workflow-v2.ts';

/** At most this many steps in a definition, block steps, nested steps and onFailure included. */
export const MAX_STEPS_V2 = 200;
/** Blocks (switch, forEach) nest at most this deep: a step sits inside at most 5 blocks. */
export const MAX_DEPTH_V2 = 5;
export const MAX_BRANCHES = 20;
export const MAX_CONCURRENCY = 100;
export const DEFAULT_WAIT_TIMEOUT = '30d';

const stepIdPattern = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Durations as builders write them: units d, h, m, s, ms, largest first, each at most once
 * ("90s", "1h30m", "30d"). Stricter than what the compiler reads (model/compile-program.ts),
 * so that a saved duration always means what it looks like.
 */
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1_000, 1];
/** The longest wait a definition may ask for: a year. */
export const MAX_DURATION_MS = 365 * 86_400_000;

/** Milliseconds, or null when `text` is not a duration. */
export function parseDurationStrict(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim() === '') return null;
  return UNIT_MS.reduce((ms, unit, i) => ms + Number(m[i + 1] ?? 0) * unit, 0);
}

const fieldsOf: Record<StepKindV2, readonly string[]> = {
  action: ['id', 'type', 'actionId', 'connectionId', 'input', 'if', 'onError'],
  switch: ['id', 'type', 'if', 'value', 'branches', 'default'],
  forEach: ['id', 'type', 'if', 'items', 'concurrency', 'onItemError', 'steps', 'onError'],
  delay: ['id', 'type', 'if', 'duration'],
  waitUntil: ['id', 'type', 'if', 'until'],
  waitForEvent: ['id', 'type', 'if', 'timeout', 'onTimeout'],
  callWorkflow: ['id', 'type', 'if', 'workflowId', 'input', 'wait', 'onError'],
};

export function invalid(message: string, field: string): SwitchyardError {
  return new SwitchyardError('E_VALIDATION', `${field}: ${message}`, { field });
}

/** A list of steps: the main path, onFailure, a branch, a default or a loop body. */
export type Block = {
  kind: 'main' | 'onFailure' | 'branch' | 'default' | 'loop';
  /** The switch or forEach step that holds it; null for main and onFailure. */
  owner: StepNode | null;
  /** The branch's name (kind 'branch'). */
  name: string | null;
  nodes: StepNode[];
};

/** A step with where it is: its path, its block, and its pc (its index in the flat program). */
export type StepNode = {
  id: string;
  kind: StepKindV2;
  path: string;
  block: Block;
  /** Pre-order position: main steps with each block's body right after it, then onFailure. */
  order: number;
  /** The normalised step (its nested `steps` are the normalised children). */
  step: StepV2;
  /** The blocks this step holds (a switch's branches then default, a forEach's body). */
  children: Block[];
};

export type ShapeResult = {
  main: Block;
  onFailure: Block | null;
  /** Every step in pre-order (= pc order). */
  nodes: StepNode[];
  byId: Map<string, StepNode>;
  normalised: { version: 2; steps: StepV2[]; onFailure?: { steps: StepV2[] } };
};

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function refuseUnknown(o: Raw, allowed: readonly string[], where: string, what: string): void {
  const unknown = Object.keys(o).find((k) => !allowed.includes(k));
  if (unknown !== undefined)
    throw invalid(
      `"${unknown}" is not a field of ${what} (${allowed.join(', ')}; docs/workflows.md, "Definition version 2").`,
      `${where}.${unknown}`,
    );
}

/** Checks the shape of a version-2 definition and numbers its steps. */
export function checkShapeV2(definition: unknown): ShapeResult {
  const where = 'definition';
  if (!isObject(definition))
    throw invalid('must be an object {"version": 2, "steps": [...]}.', where);
  refuseUnknown(definition, ['version', 'steps', 'onFailure'], where, 'a definition');
  const nodes: StepNode[] = [];
  const byId = new Map<string, StepNode>();
  const ctx = { nodes, byId };
  const main: Block = { kind: 'main', owner: null, name: null, nodes: [] };
  if (!Array.isArray(definition.steps) || definition.steps.length === 0)
    throw invalid('must be a list of at least one step.', `${where}.steps`);
  const steps = walkSteps(ctx, definition.steps, `${where}.steps`, main, 0);
  let onFailure: Block | null = null;
  const normalised: ShapeResult['normalised'] = { version: 2, steps };
  if (definition.onFailure !== undefined && definition.onFailure !== null) {
    const at = `${where}.onFailure`;
    if (!isObject(definition.onFailure)) throw invalid('must be an object {"steps": [...]}.', at);
    refuseUnknown(definition.onFailure, ['steps'], at, 'onFailure');
    if (!Array.isArray(definition.onFailure.steps) || definition.onFailure.steps.length === 0)
      throw invalid('must be a list of at least one step.', `${at}.steps`);
    onFailure = { kind: 'onFailure', owner: null, name: null, nodes: [] };
    normalised.onFailure = {
      steps: walkSteps(ctx, definition.onFailure.steps, `${at}.steps`, onFailure, 0),
    };
  }
  return { main, onFailure, nodes, byId, normalised };
}

type Ctx = { nodes: StepNode[]; byId: Map<string, StepNode> };

function walkSteps(ctx: Ctx, raw: unknown[], where: string, block: Block, depth: number): StepV2[] {
  return raw.map((value, i) => walkStep(ctx, value, `${where}[${i}]`, block, depth));
}

function walkStep(ctx: Ctx, value: unknown, where: string, block: Block, depth: number): StepV2 {
  if (!isObject(value)) throw invalid('must be an object (a step).', where);
  const s = value;
  if ('pinnedOutput' in s)
    throw invalid(
      'pins are for test runs only and are never saved or published; pass them to testWorkflow as pinnedOutputs (docs/workflows.md, "Test before publishing").',
      `${where}.pinnedOutput`,
    );
  const kind = (s.type ?? 'action') as StepKindV2;
  if (typeof kind !== 'string' || !Object.hasOwn(fieldsOf, kind))
    throw invalid(
      `unknown step type ${JSON.stringify(s.type)}: use action, switch, forEach, delay, waitUntil, waitForEvent or callWorkflow.`,
      `${where}.type`,
    );
  refuseUnknown(s, fieldsOf[kind], where, `a ${kind} step`);
  if (typeof s.id !== 'string' || !stepIdPattern.test(s.id))
    throw invalid(
      'a step id is lower-case letters, digits or _, starting with a letter (at most 63).',
      `${where}.id`,
    );
  const twin = ctx.byId.get(s.id);
  if (twin)
    throw invalid(
      `"${s.id}" is already the id of ${twin.path}; step ids are unique in the whole definition, branches, loop bodies and onFailure included.`,
      `${where}.id`,
    );
  if (ctx.nodes.length >= MAX_STEPS_V2)
    throw invalid(
      `a definition holds at most ${MAX_STEPS_V2} steps, nested ones and onFailure included; move a part into another workflow (callWorkflow).`,
      where,
    );
  if (s.if != null && typeof s.if !== 'string')
    throw invalid('must be a mapping expression string.', `${where}.if`);
  const node: StepNode = {
    id: s.id,
    kind,
    path: where,
    block,
    order: ctx.nodes.length,
    step: undefined as unknown as StepV2,
    children: [],
  };
  ctx.nodes.push(node);
  ctx.byId.set(s.id, node);
  block.nodes.push(node);
  const base = { id: s.id, if: s.if ?? null };
  node.step = normalisedStep(ctx, s, kind, base, node, where, depth);
  return node.step;
}

function normalisedStep(
  ctx: Ctx,
  s: Raw,
  kind: StepKindV2,
  base: { id: string; if: string | null },
  node: StepNode,
  where: string,
  depth: number,
): StepV2 {
  const nested = (): number => {
    if (depth + 1 > MAX_DEPTH_V2)
      throw invalid(
        `blocks nest at most ${MAX_DEPTH_V2} deep; move the inner part into another workflow (callWorkflow).`,
        where,
      );
    return depth + 1;
  };
  switch (kind) {
    case 'action': {
      if (typeof s.actionId !== 'string' || !isUuid(s.actionId))
        throw invalid('must be an action id.', `${where}.actionId`);
      if (s.connectionId != null && (typeof s.connectionId !== 'string' || !isUuid(s.connectionId)))
        throw invalid('must be a connection id or null.', `${where}.connectionId`);
      return {
        ...base,
        type: 'action',
        actionId: s.actionId as never,
        connectionId: (s.connectionId as never) ?? null,
        input: s.input ?? {},
        onError: onErrorOf(s.onError, `${where}.onError`),
      };
    }
    case 'switch': {
      const d = nested();
      if (!Array.isArray(s.branches) || s.branches.length === 0 || s.branches.length > MAX_BRANCHES)
        throw invalid(`must be a list of 1 to ${MAX_BRANCHES} branches.`, `${where}.branches`);
      const value = s.value;
      if (value !== undefined && (typeof value !== 'string' || !value.includes('{{')))
        throw invalid(
          'must be a mapping template whose value the branches\' "equals" are compared with, e.g. "{{ trigger.body.status }}".',
          `${where}.value`,
        );
      const names = new Set<string>();
      const branches = s.branches.map((b: unknown, i) => {
        const at = `${where}.branches[${i}]`;
        if (!isObject(b)) throw invalid('must be an object {"name", "when", "steps"}.', at);
        refuseUnknown(b, ['name', 'when', 'equals', 'steps'], at, 'a branch');
        if (typeof b.name !== 'string' || !stepIdPattern.test(b.name) || b.name === 'default')
          throw invalid(
            'a branch name is lower-case letters, digits or _, starting with a letter, and not "default".',
            `${at}.name`,
          );
        if (names.has(b.name))
          throw invalid(`"${b.name}" names two branches of this switch.`, `${at}.name`);
        names.add(b.name);
        const byValue = 'equals' in b;
        if (byValue && b.when !== undefined)
          throw invalid('give either "when" or "equals", not both.', `${at}.when`);
        if (byValue && value === undefined)
          throw invalid(
            'compares with the switch\'s "value": give the switch a "value" (e.g. "{{ trigger.body.status }}"), or use "when".',
            `${at}.equals`,
          );
        if (!byValue && (typeof b.when !== 'string' || b.when.trim() === ''))
          throw invalid(
            'must be a condition (a mapping expression, as for "if"), or give "equals" to compare with the switch\'s "value".',
            `${at}.when`,
          );
        if (!Array.isArray(b.steps))
          throw invalid('must be a list of steps (it may be empty).', `${at}.steps`);
        const block: Block = { kind: 'branch', owner: node, name: b.name, nodes: [] };
        node.children.push(block);
        return {
          name: b.name,
          ...(byValue ? { equals: b.equals } : { when: b.when as string }),
          steps: walkSteps(ctx, b.steps, `${at}.steps`, block, d),
        };
      });
      const out: StepV2 = {
        ...base,
        type: 'switch',
        ...(value === undefined ? {} : { value }),
        branches,
      };
      if (s.default != null) {
        const at = `${where}.default`;
        if (!isObject(s.default)) throw invalid('must be an object {"steps": [...]}.', at);
        refuseUnknown(s.default, ['steps'], at, 'a default branch');
        if (!Array.isArray(s.default.steps))
          throw invalid('must be a list of steps (it may be empty).', `${at}.steps`);
        const block: Block = { kind: 'default', owner: node, name: 'default', nodes: [] };
        node.children.push(block);
        out.default = { steps: walkSteps(ctx, s.default.steps, `${at}.steps`, block, d) };
      }
      return out;
    }
    case 'forEach': {
      const outer = enclosingLoop(node);
      if (outer)
        throw invalid(
          `a forEach inside the body of forEach "${outer.id}" is not supported yet: move the inner loop into another workflow and call it (callWorkflow) from the body.`,
          where,
        );
      const d = nested();
      if (typeof s.items !== 'string' || !/^\s*\{\{[^{}]*\}\}\s*$/.test(s.items))
        throw invalid(
          'must be one reference to a list, e.g. "{{ steps.fetch.output.items }}".',
          `${where}.items`,
        );
      const concurrency = s.concurrency ?? 10;
      if (
        typeof concurrency !== 'number' ||
        !Number.isInteger(concurrency) ||
        concurrency < 1 ||
        concurrency > MAX_CONCURRENCY
      )
        throw invalid(
          `must be a whole number from 1 to ${MAX_CONCURRENCY}.`,
          `${where}.concurrency`,
        );
      const onItemError = s.onItemError ?? 'fail';
      if (onItemError !== 'fail' && onItemError !== 'continue')
        throw invalid('must be "fail" or "continue".', `${where}.onItemError`);
      if (!Array.isArray(s.steps) || s.steps.length === 0)
        throw invalid('must be a list of at least one step (the loop body).', `${where}.steps`);
      const block: Block = { kind: 'loop', owner: node, name: null, nodes: [] };
      node.children.push(block);
      return {
        ...base,
        type: 'forEach',
        items: s.items,
        concurrency,
        onItemError,
        steps: walkSteps(ctx, s.steps, `${where}.steps`, block, d),
        onError: onErrorOf(s.onError, `${where}.onError`),
      };
    }
    case 'delay':
      return { ...base, type: 'delay', duration: durationOf(s.duration, `${where}.duration`) };
    case 'waitUntil': {
      const until = s.until;
      if (typeof until !== 'string' || (!until.includes('{{') && Number.isNaN(Date.parse(until))))
        throw invalid(
          'must be a reference to an ISO 8601 date ("{{ trigger.body.remindAt }}") or such a date.',
          `${where}.until`,
        );
      return { ...base, type: 'waitUntil', until };
    }
    case 'waitForEvent': {
      const loop = enclosingLoop(node);
      if (loop)
        throw invalid(
          `a waitForEvent inside the body of forEach "${loop.id}" is not supported yet (its resume could not say which item it is for): wait in a workflow the body calls (callWorkflow), once per item.`,
          where,
        );
      return {
        ...base,
        type: 'waitForEvent',
        timeout: durationOf(s.timeout ?? DEFAULT_WAIT_TIMEOUT, `${where}.timeout`),
        onTimeout: onErrorOf(s.onTimeout, `${where}.onTimeout`),
      };
    }
    case 'callWorkflow': {
      if (typeof s.workflowId !== 'string' || !isUuid(s.workflowId))
        throw invalid('must be the id of a workflow of this tenant.', `${where}.workflowId`);
      const wait = s.wait ?? true;
      if (typeof wait !== 'boolean') throw invalid('must be true or false.', `${where}.wait`);
      return {
        ...base,
        type: 'callWorkflow',
        workflowId: s.workflowId as never,
        input: s.input ?? {},
        wait,
        onError: onErrorOf(s.onError, `${where}.onError`),
      };
    }
  }
}

function onErrorOf(value: unknown, where: string): OnErrorV2 {
  const v = value ?? 'fail';
  if (v === 'fail' || v === 'continue') return v;
  if (isObject(v) && Object.keys(v).length === 1 && typeof v.goto === 'string')
    return { goto: v.goto };
  throw invalid('must be "fail", "continue" or {"goto": "<a later step id>"}.', where);
}

function durationOf(value: unknown, where: string): string {
  const ms = typeof value === 'string' ? parseDurationStrict(value) : null;
  if (ms === null || ms <= 0 || ms > MAX_DURATION_MS)
    throw invalid(
      'must be a duration from 1ms to 365d: a number and a unit (d, h, m, s, ms), largest first, e.g. "90s", "1h30m", "30d".',
      where,
    );
  return (value as string).trim();
}

/** The forEach whose body holds `node` (at any depth), or null. */
function enclosingLoop(node: StepNode): StepNode | null {
  for (let b: Block | null = node.block; b; b = b.owner?.block ?? null)
    if (b.kind === 'loop') return b.owner;
  return null;
}
