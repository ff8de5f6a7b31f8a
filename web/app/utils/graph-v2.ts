/**
 * The graph drawn from a version-2 definition (components/workflow/GraphV2.vue): each step a
 * node, a branch's columns side by side under it with their names and conditions and a join
 * below, a loop as a frame around its body, `onError: { goto }` as a dashed edge to its target,
 * the failure path in a column of its own. Empty lists (a branch, a loop body, the failure
 * path) are "slot" nodes the builder selects to add steps there.
 *
 * Positions are computed here (measure, then place), in reading order, so Tab walks the nodes
 * as the definition reads; 100 steps lay out in well under a millisecond per step.
 */
import {
  childLists,
  kindOf,
  kindTitle,
  type DefinitionV2,
  type StepKindV2,
  type StepV2,
} from './definition-v2.ts';

export type GraphNodeV2Kind = 'trigger' | 'end' | 'step' | 'slot' | 'frame' | 'join';
export type GraphNodeV2 = {
  id: string;
  kind: GraphNodeV2Kind;
  label: string;
  detail: string;
  /** A step's path (`steps[1].branches[0].steps[0]`), or a slot's list (`steps[1].default.steps`). */
  path: string | null;
  stepKind: StepKindV2 | null;
  /** What a screen reader says for the node. */
  ariaLabel: string;
  position: { x: number; y: number };
  /** A frame's size. */
  size?: { width: number; height: number };
  /** The step's state in a run (run detail): succeeded, failed, skipped, waiting, … or null. */
  status: string | null;
};
export type GraphEdgeV2 = {
  id: string;
  source: string;
  target: string;
  label?: string;
  kind: 'flow' | 'branch' | 'error';
  /** A branch edge in a run: taken, or not taken (greyed). */
  taken?: boolean;
};

export type GraphOptions = {
  /** An action step's detail line (its app and action), a called workflow's name. */
  describe?: (step: StepV2) => string;
  /** In a run: a step's latest status, and a switch's chosen branch. */
  statusOf?: (stepId: string) => string | null;
  branchOf?: (stepId: string) => string | null;
  /** Run detail: empty lists say so, without the editor's "select, then Add step". */
  readonly?: boolean;
};

const W = 260;
const H = 76;
const GX = 40;
const GY = 48;
const PAD = 20;
const JOIN = 24;
const FRAME_TOP = PAD;

type Size = { w: number; h: number };
type Placed = { entry: string; exit: string };

const truncate = (s: string, n = 40) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function stepDetail(step: StepV2, describe?: (s: StepV2) => string): string {
  const kind: StepKindV2 = kindOf(step);
  switch (kind) {
    case 'action':
      return describe?.(step) ?? 'an action';
    case 'switch': {
      const n = step.branches?.length ?? 0;
      return `${n} branch${n === 1 ? '' : 'es'}${step.default ? ' and a default' : ''}`;
    }
    case 'forEach':
      return `items: ${truncate(step.items || '(not set)', 30)} · ${step.concurrency ?? 10} at once`;
    case 'delay':
      return `for ${step.duration || '(not set)'}`;
    case 'waitUntil':
      return `until ${truncate(step.until || '(not set)', 34)}`;
    case 'waitForEvent':
      return `until resumed; times out after ${step.timeout || '30d'}`;
    case 'callWorkflow':
      return `${describe?.(step) ?? 'a workflow'} · ${step.wait === false ? 'does not wait' : 'waits for its result'}`;
  }
}

export function definitionToGraphV2(
  def: DefinitionV2,
  opts: GraphOptions = {},
): { nodes: GraphNodeV2[]; edges: GraphEdgeV2[] } {
  const nodes: GraphNodeV2[] = [];
  const edges: GraphEdgeV2[] = [];
  const sizes = new Map<string, Size>();
  const entryOf = new Map<string, string>();

  const node = (n: Omit<GraphNodeV2, 'status' | 'stepKind'> & Partial<GraphNodeV2>) =>
    nodes.push({ status: null, stepKind: null, ...n });
  const edge = (source: string, target: string, extra: Partial<GraphEdgeV2> = {}) =>
    edges.push({ id: `e:${source}->${target}`, source, target, kind: 'flow', ...extra });

  function measureList(steps: StepV2[], list: string): Size {
    if (steps.length === 0) return { w: W, h: H };
    let w = 0;
    let h = 0;
    steps.forEach((s, i) => {
      const m = measureStep(s, `${list}[${i}]`);
      w = Math.max(w, m.w);
      h += m.h + (i > 0 ? GY : 0);
    });
    return { w, h };
  }
  function columnsOf(step: StepV2, path: string) {
    const cols = childLists(step, path);
    if (!step.default) cols.push({ list: `${path}.default.steps`, steps: [] });
    return cols;
  }
  function measureStep(step: StepV2, path: string): Size {
    const known = sizes.get(path);
    if (known) return known;
    let size: Size = { w: W, h: H };
    const kind = kindOf(step);
    if (kind === 'switch') {
      const cols = columnsOf(step, path).map((c) => measureList(c.steps, c.list));
      const colsW = cols.reduce((a, c) => a + c.w, 0) + GX * (cols.length - 1);
      const colsH = Math.max(...cols.map((c) => c.h));
      size = { w: Math.max(W, colsW), h: H + GY + colsH + GY + JOIN };
    } else if (kind === 'forEach') {
      const body = measureList(step.steps ?? [], `${path}.steps`);
      size = { w: Math.max(W, body.w) + 2 * PAD, h: FRAME_TOP + H + GY + body.h + PAD };
    }
    sizes.set(path, size);
    return size;
  }

  function stepNode(step: StepV2, path: string, x: number, y: number): string {
    const id = `n:${path}`;
    const kind = kindOf(step);
    const detail = stepDetail(step, opts.describe);
    const status = opts.statusOf?.(step.id) ?? null;
    node({
      id,
      kind: 'step',
      label: step.id || '(no id)',
      detail,
      path,
      stepKind: kind,
      ariaLabel: `${kindTitle(kind)} ${step.id}: ${detail}${status ? ` (${status})` : ''}`,
      position: { x, y },
      status,
    });
    return id;
  }

  function placeList(
    steps: StepV2[],
    list: string,
    x: number,
    y: number,
    w: number,
    slot: { label: string; detail: string },
  ): Placed {
    if (steps.length === 0) {
      const id = `slot:${list}`;
      node({
        id,
        kind: 'slot',
        label: slot.label,
        detail: slot.detail,
        path: list,
        ariaLabel: `${slot.label}: ${slot.detail}`,
        position: { x: x + (w - W) / 2, y },
      });
      return { entry: id, exit: id };
    }
    let first: Placed | null = null;
    let prev: Placed | null = null;
    let cy = y;
    steps.forEach((s, i) => {
      const path = `${list}[${i}]`;
      const m = measureStep(s, path);
      const placed = placeStep(s, path, x + (w - m.w) / 2, cy);
      if (prev) edge(prev.exit, placed.entry);
      first ??= placed;
      prev = placed;
      cy += m.h + GY;
    });
    return { entry: first!.entry, exit: prev!.exit };
  }

  function placeStep(step: StepV2, path: string, x: number, y: number): Placed {
    const kind = kindOf(step);
    const size = measureStep(step, path);
    if (kind === 'switch') {
      const id = stepNode(step, path, x + (size.w - W) / 2, y);
      const cols = columnsOf(step, path);
      const colSizes = cols.map((c) => measureList(c.steps, c.list));
      const colsW = colSizes.reduce((a, c) => a + c.w, 0) + GX * (cols.length - 1);
      const colsH = Math.max(...colSizes.map((c) => c.h));
      const joinId = `join:${path}`;
      const chosen = opts.branchOf?.(step.id) ?? null;
      let cx = x + (size.w - colsW) / 2;
      cols.forEach((c, i) => {
        const branch = step.branches?.[i];
        const name = branch?.name ?? 'default';
        const placed = placeList(c.steps, c.list, cx, y + H + GY, colSizes[i]!.w, {
          label: branch ? `Branch ${name}` : 'Otherwise',
          detail: branch
            ? opts.readonly
              ? 'No steps'
              : 'No steps yet: select, then Add step'
            : 'No default steps: the run goes on after the branch',
        });
        edge(id, placed.entry, {
          kind: 'branch',
          label: branch ? `${name}: ${truncate(branchTest(branch), 40)}` : 'otherwise',
          ...(chosen !== null ? { taken: chosen === name } : {}),
        });
        edge(placed.exit, joinId, chosen !== null ? { taken: chosen === name } : {});
        cx += colSizes[i]!.w + GX;
      });
      node({
        id: joinId,
        kind: 'join',
        label: '',
        detail: '',
        path: null,
        ariaLabel: `The branches of ${step.id} join`,
        position: { x: x + (size.w - JOIN) / 2, y: y + H + GY + colsH + GY },
      });
      entryOf.set(step.id, id);
      return { entry: id, exit: joinId };
    }
    if (kind === 'forEach') {
      const frameId = `f:${path}`;
      node({
        id: frameId,
        kind: 'frame',
        label: `For each item`,
        detail: '',
        path: null,
        ariaLabel: `Loop ${step.id}`,
        position: { x, y },
        size: { width: size.w, height: size.h },
      });
      const id = stepNode(step, path, x + (size.w - W) / 2, y + FRAME_TOP);
      const body = placeList(
        step.steps ?? [],
        `${path}.steps`,
        x + PAD,
        y + FRAME_TOP + H + GY,
        size.w - 2 * PAD,
        {
          label: 'Loop body',
          detail: opts.readonly ? 'No steps' : 'No steps yet: select, then Add step',
        },
      );
      edge(id, body.entry, { label: 'each item' });
      entryOf.set(step.id, frameId);
      return { entry: frameId, exit: frameId };
    }
    const id = stepNode(step, path, x, y);
    entryOf.set(step.id, id);
    return { entry: id, exit: id };
  }

  // The main path: trigger, steps, end.
  const main = measureList(def.steps, 'steps');
  const mainW = Math.max(W, main.w);
  node({
    id: 'trigger',
    kind: 'trigger',
    label: 'Trigger',
    detail: 'webhook, schedule or by hand',
    path: null,
    ariaLabel: 'Trigger',
    position: { x: (mainW - W) / 2, y: 0 },
  });
  const placed = placeList(def.steps, 'steps', 0, H + GY, mainW, {
    label: 'No steps yet',
    detail: opts.readonly ? 'The workflow has no steps' : 'Add step to start',
  });
  edge('trigger', placed.entry);
  const endY = H + GY + main.h + GY;
  node({
    id: 'end',
    kind: 'end',
    label: 'End',
    detail: 'the run succeeds',
    path: null,
    ariaLabel: 'End: the run succeeds',
    position: { x: (mainW - W) / 2, y: endY },
  });
  edge(placed.exit, 'end');

  // The failure path, apart on the right.
  const failSteps = def.onFailure?.steps ?? [];
  const failX = mainW + 3 * GX;
  const fail = measureList(failSteps, 'onFailure.steps');
  const failW = Math.max(W, fail.w);
  const header = 'slot:onFailure';
  node({
    id: header,
    kind: 'slot',
    label: 'If the run fails',
    detail: failSteps.length
      ? 'These steps run with {{ error }}; the run still fails'
      : opts.readonly
        ? 'No failure path'
        : 'No failure path: select, then Add step',
    path: 'onFailure.steps',
    ariaLabel: 'If the run fails: the failure path',
    position: { x: failX + (failW - W) / 2, y: 0 },
  });
  if (failSteps.length) {
    const f = placeList(failSteps, 'onFailure.steps', failX, H + GY, failW, {
      label: '',
      detail: '',
    });
    edge(header, f.entry);
  }

  // onError goto and onTimeout goto: dashed edges to their targets.
  const visit = (steps: StepV2[], list: string) =>
    steps.forEach((s, i) => {
      const path = `${list}[${i}]`;
      const routes: [string, unknown][] = [
        ['on error', s.onError],
        ['on timeout', s.onTimeout],
      ];
      for (const [label, route] of routes) {
        const target = (route as { goto?: string } | undefined)?.goto;
        const to = target ? entryOf.get(target) : undefined;
        if (to) edge(`n:${path}`, to, { kind: 'error', label, id: `goto:${path}:${label}` });
      }
      for (const c of childLists(s, path)) visit(c.steps, c.list);
    });
  visit(def.steps, 'steps');
  visit(failSteps, 'onFailure.steps');
  return { nodes, edges };
}

/** What a branch tests, as its edge says it: its condition, or `= <value>` by value. */
function branchTest(b: { when?: string; equals?: unknown }): string {
  if (b.when !== undefined) return b.when || '(no condition)';
  return `= ${JSON.stringify(b.equals ?? '')}`;
}
