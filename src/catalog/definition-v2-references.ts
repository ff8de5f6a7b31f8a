/**
 * The paths of a version-2 definition (docs/workflows.md, "Definition version 2"): where each
 * `onError: {goto}` may lead, which branches can ever be taken, and what each mapping
 * reference may name on every path that reaches it. A reference that could only fail at run
 * time is refused at save, naming where it is.
 *
 * "May have run" is judged on the tree (model/workflow-v2.ts): a step's output is visible to
 * the later steps of its own block and of the blocks nested after it, never after the join of
 * a branch, outside a loop body, past a `goto` that may skip it, or on the onFailure path —
 * except as a non-last alternative of `??` (`{{ steps.a.output.x ?? "none" }}`), which exists
 * for exactly that. A loop body's steps are refused outside the loop even then: they ran once
 * per item, so "their output" names nothing; the forEach's own output lists them.
 */
import { isDeepStrictEqual } from 'node:util';
import { isSwitchyardError } from '../model/errors.ts';
import {
  checkTemplate,
  expressionReferences,
  type TemplateReference,
} from '../model/mapping-syntax.ts';
import type { OnErrorV2 } from '../model/workflow-v2.ts';
import { invalid, type Block, type ShapeResult, type StepNode } from './definition-v2-shape.ts';

/** What a version-2 step's mapping may reference. */
const rootsV2 = ['trigger', 'steps', 'run', 'loop', 'error'] as const;
/** What `run.` offers (runner/mapping.ts stepScope; `waits` from definition version 2 on). */
const runFields = ['id', 'attempt', 'time', 'workflowId', 'waits'];

type Goto = { source: StepNode; target: StepNode; where: string };

/** Checks gotos, reachability and every reference of the definition. */
export function checkPathsV2(shape: ShapeResult): void {
  const gotos = checkGotos(shape);
  checkReachable(shape);
  for (const node of shape.nodes)
    for (const ref of referencesOf(node)) checkReference(shape, gotos, node, ref);
}

/** The blocks around a node, innermost first. */
export function blocksAround(node: StepNode): Block[] {
  const out: Block[] = [];
  for (let b: Block | null = node.block; b; b = b.owner?.block ?? null) out.push(b);
  return out;
}

/** The forEach steps around a node, innermost first. */
function loopsAround(node: StepNode): StepNode[] {
  return blocksAround(node).flatMap((b) => (b.kind === 'loop' && b.owner ? [b.owner] : []));
}

function onErrorOf(node: StepNode): Array<{ route: OnErrorV2; where: string }> {
  const s = node.step as { onError?: OnErrorV2; onTimeout?: OnErrorV2 };
  const out: Array<{ route: OnErrorV2; where: string }> = [];
  if (s.onError !== undefined) out.push({ route: s.onError, where: `${node.path}.onError.goto` });
  if (s.onTimeout !== undefined)
    out.push({ route: s.onTimeout, where: `${node.path}.onTimeout.goto` });
  return out;
}

/**
 * A goto leads to a later step of the same block or of an enclosing one, inside the same
 * loop body (an item cannot jump out of its loop: let it fail, and use the forEach's onError).
 * Forward only, so a definition never loops.
 */
function checkGotos(shape: ShapeResult): Goto[] {
  const out: Goto[] = [];
  for (const source of shape.nodes)
    for (const { route, where } of onErrorOf(source)) {
      if (typeof route !== 'object') continue;
      const target = shape.byId.get(route.goto);
      if (!target) throw invalid(`no step has the id "${route.goto}".`, where);
      if (target.order <= source.order)
        throw invalid(
          `"${route.goto}" is not after this step: a goto only leads forward (an earlier step would make a cycle).`,
          where,
        );
      if (!blocksAround(source).includes(target.block))
        throw invalid(
          `"${route.goto}" is inside a block that does not enclose this step (another branch, a loop body or the other path): a goto leads to a later step of the same block or of an enclosing block.`,
          where,
        );
      if (loopsAround(source)[0] !== loopsAround(target)[0])
        throw invalid(
          `"${route.goto}" is outside the loop body this step runs in: an item cannot leave its loop; let it fail and give the forEach an onError.`,
          where,
        );
      out.push({ source, target, where });
    }
  return out;
}

/** A literal condition: true, false, or null when it depends on the run. */
function constantOf(condition: string): boolean | null {
  const c = condition.trim();
  return c === 'true' ? true : c === 'false' ? false : null;
}

/** Branches after one that is always taken, and a branch never taken, are refused. */
function checkReachable(shape: ShapeResult): void {
  for (const node of shape.nodes) {
    if (node.step.type !== 'switch') continue;
    const { branches, default: otherwise } = node.step;
    branches.forEach((b, i) => {
      const at = `${node.path}.branches[${i}]`;
      if (b.when === undefined) {
        // Compared with the switch's value: an earlier branch with the same `equals` wins.
        const same = branches.findIndex(
          (o, j) =>
            j < i &&
            o !== undefined &&
            o.when === undefined &&
            isDeepStrictEqual(o.equals, b.equals),
        );
        if (same >= 0)
          throw invalid(
            `equals what branches[${same}] equals: this branch can never be taken; remove it or change the value.`,
            `${at}.equals`,
          );
        return;
      }
      const constant = constantOf(b.when);
      if (constant === false)
        throw invalid(
          'is always false: the steps of this branch never run; remove it.',
          `${at}.when`,
        );
      if (constant === true && (i < branches.length - 1 || otherwise !== undefined))
        throw invalid(
          `is always true: ${i < branches.length - 1 ? `branches[${i + 1}]` : 'default'} and what follows can never be taken; remove them or make this branch the default.`,
          `${at}.when`,
        );
    });
  }
}

/** Every reference a step's mapping holds: input, if, when, items, until. */
function referencesOf(node: StepNode): TemplateReference[] {
  const s = node.step as Record<string, unknown>;
  const out: TemplateReference[] = [];
  try {
    if (s.input !== undefined) out.push(...checkTemplate(s.input, `${node.path}.input`, rootsV2));
    if (typeof s.if === 'string') out.push(...conditionReferences(s.if, `${node.path}.if`));
    if (node.step.type === 'switch') {
      if (node.step.value !== undefined)
        out.push(...checkTemplate(node.step.value, `${node.path}.value`, rootsV2));
      node.step.branches.forEach((b, i) => {
        if (b.when !== undefined)
          out.push(...conditionReferences(b.when, `${node.path}.branches[${i}].when`));
      });
    }
    if (node.step.type === 'forEach')
      out.push(...checkTemplate(node.step.items, `${node.path}.items`, rootsV2));
    if (node.step.type === 'waitUntil')
      out.push(...checkTemplate(node.step.until, `${node.path}.until`, rootsV2));
  } catch (err) {
    if (isSwitchyardError(err, 'E_MAPPING_INVALID')) {
      const field = typeof err.details.field === 'string' ? err.details.field : node.path;
      throw invalid(
        err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message,
        field,
      );
    }
    throw err;
  }
  return out;
}

/** `if` / `when`: "true", "false", a template, or a bare path (runner/mapping.ts). */
function conditionReferences(condition: string, where: string): TemplateReference[] {
  if (constantOf(condition) !== null) return [];
  if (condition.includes('{{')) return checkTemplate(condition, where, rootsV2);
  return expressionReferences(condition.trim(), where, rootsV2);
}

function checkReference(
  shape: ShapeResult,
  gotos: Goto[],
  node: StepNode,
  ref: TemplateReference,
): void {
  const [root, second, third, fourth] = ref.segments;
  const fail = (why: string) => invalid(`"{{ ${ref.path} }}": ${why}`, ref.where);
  if (root === 'loop') {
    if (loopsAround(node).length === 0)
      throw fail('loop. names the item of an enclosing forEach; this step is in no loop body.');
    if (second !== undefined && second !== 'item' && second !== 'index')
      throw fail('loop offers item and index.');
  }
  if (root === 'error') {
    if (!mayHaveError(shape, gotos, node))
      throw fail(
        'error. is set only on the onFailure path and from the target of an onError goto on; this step is neither.',
      );
    if (second !== undefined && !['code', 'message', 'stepId'].includes(String(second)))
      throw fail('error offers code, message and stepId.');
  }
  if (root === 'run' && second !== undefined) {
    if (!runFields.includes(String(second))) throw fail(`run offers ${runFields.join(', ')}.`);
    if (second === 'waits') {
      const wait = typeof third === 'string' ? shape.byId.get(third) : undefined;
      if (!wait || wait.kind !== 'waitForEvent')
        throw fail('run.waits.<id> names a waitForEvent step of this definition.');
      if (ref.segments.length !== 4 || (fourth !== 'token' && fourth !== 'url'))
        throw fail(`run.waits.${third} offers token and url: {{ run.waits.${third}.url }}.`);
    }
  }
  if (root === 'steps') checkStepReference(gotos, node, ref, second, third, fail, shape);
}

/** After a goto's target (in its block, on) and anywhere on the onFailure path. */
function mayHaveError(shape: ShapeResult, gotos: Goto[], node: StepNode): boolean {
  const around = blocksAround(node);
  if (around.at(-1) === shape.onFailure) return true;
  return gotos.some((g) => around.includes(g.target.block) && node.order >= g.target.order);
}

function checkStepReference(
  gotos: Goto[],
  node: StepNode,
  ref: TemplateReference,
  second: unknown,
  third: unknown,
  fail: (why: string) => Error,
  shape: ShapeResult,
): void {
  const target = typeof second === 'string' ? shape.byId.get(second) : undefined;
  if (!target) throw fail(`no step has the id "${String(second)}".`);
  if (third !== undefined && third !== 'output')
    throw fail(`a step offers only "output" (steps.${target.id}.output…).`);
  if (target === node || target.order > node.order)
    throw fail(
      `"${target.id}" runs ${target === node ? 'as this step' : 'after this step'}: only steps that run before it can be referenced.`,
    );
  const around = blocksAround(node);
  if (around.some((b) => b.owner === target)) {
    // An enclosing block: a switch's output (the branch taken) exists before its branches run.
    if (target.kind === 'forEach')
      throw fail(
        `this step is inside the loop "${target.id}", whose output (the list of item results) exists only after it; inside, use loop.item, loop.index and the body's earlier steps.`,
      );
    return;
  }
  if (!around.includes(target.block)) {
    const loop = blocksAround(target).find((b) => b.kind === 'loop' && !around.includes(b));
    if (loop)
      throw fail(
        `"${target.id}" runs once per item inside the loop "${loop.owner!.id}": outside it, use steps.${loop.owner!.id}.output (the list of each item's last step output).`,
      );
    if (ref.guarded) return;
    const why =
      around.at(-1) === shape.onFailure && target.block.kind !== 'onFailure'
        ? 'the onFailure path runs after a failure at any step, so it may not have run'
        : `it is in ${describeBlock(target.block)}, which may not have been taken on the way here`;
    throw fail(
      `"${target.id}" may not have run: ${why}. Reference it inside that block, or as a non-last alternative of ?? (steps.${target.id}.output… ?? "fallback").`,
    );
  }
  const skipping = gotos.find(
    (g) =>
      g.source.order < target.order &&
      target.order < g.target.order &&
      node.order >= g.target.order,
  );
  if (skipping && !ref.guarded)
    throw fail(
      `"${target.id}" may not have run: the onError goto of "${skipping.source.id}" (${skipping.where}) skips it. Write steps.${target.id}.output… ?? "fallback", or move the reference before "${skipping.target.id}".`,
    );
}

function describeBlock(block: Block): string {
  const owner = block.owner?.id ?? '';
  if (block.kind === 'branch') return `branch "${block.name}" of switch "${owner}"`;
  if (block.kind === 'default') return `the default branch of switch "${owner}"`;
  if (block.kind === 'onFailure') return 'the onFailure path';
  return 'another block';
}
