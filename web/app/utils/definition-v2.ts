/**
 * A version-2 definition as the editor holds it (docs/workflows.md, "Definition version 2";
 * the server's types are src/model/workflow-v2.ts). Steps nest: a branch's steps, a loop's
 * body, the failure path. The editor names a step by its JSON path in the definition
 * (`steps[2].branches[0].steps[1]`), the same path the server's E_VALIDATION names
 * (`definition.steps[2].branches[0].steps[1].input.to`), so an error lands on its node.
 *
 * One loose step type (every kind's fields optional) rather than a union: a form edits one
 * field at a time, and `kindOf` says which fields mean something.
 */
export type OnErrorV2 = 'fail' | 'continue' | { goto: string };
export type StepKindV2 =
  'action' | 'switch' | 'forEach' | 'delay' | 'waitUntil' | 'waitForEvent' | 'callWorkflow';
/** A branch matches when `when` is truthy — or, when the switch has a `value`, when it equals `equals`. */
export type BranchV2 = { name: string; when?: string; equals?: unknown; steps: StepV2[] };
export type StepV2 = {
  id: string;
  type?: StepKindV2;
  if?: string | null;
  // action
  actionId?: string;
  connectionId?: string | null;
  input?: Record<string, unknown>;
  onError?: OnErrorV2;
  // switch
  value?: string;
  branches?: BranchV2[];
  default?: { steps: StepV2[] };
  // forEach (and its body in `steps`)
  items?: string;
  concurrency?: number;
  onItemError?: 'fail' | 'continue';
  steps?: StepV2[];
  // delay, waitUntil, waitForEvent
  duration?: string;
  until?: string;
  timeout?: string;
  onTimeout?: OnErrorV2;
  // callWorkflow
  workflowId?: string;
  wait?: boolean;
};
export type DefinitionV2 = { version: 2; steps: StepV2[]; onFailure?: { steps: StepV2[] } };

/** What the add-step menu offers, in the builder's words. */
export const stepKindChoices: { kind: StepKindV2; title: string; subtitle: string }[] = [
  { kind: 'action', title: 'Action', subtitle: 'Call an app, or run code' },
  { kind: 'switch', title: 'Branch', subtitle: 'Go one of several ways, by conditions' },
  { kind: 'forEach', title: 'For each', subtitle: 'Repeat steps for every item of a list' },
  { kind: 'delay', title: 'Wait', subtitle: 'Pause for a while (15m, 2h, 3d)' },
  { kind: 'waitUntil', title: 'Wait until a date', subtitle: 'Pause until a date from the data' },
  {
    kind: 'waitForEvent',
    title: 'Wait for an event',
    subtitle: 'Pause until resumed (an approval), or time out',
  },
  { kind: 'callWorkflow', title: 'Call a workflow', subtitle: 'Run another workflow as a child' },
];
export const kindTitle = (k: StepKindV2): string =>
  stepKindChoices.find((c) => c.kind === k)?.title ?? k;

export const kindOf = (s: StepV2): StepKindV2 => s.type ?? 'action';

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1_000, 1];
/**
 * A duration as the server reads it (src/model/duration.ts): `90s`, `15m`, `2h`, `30d`,
 * `1h30m` — units d, h, m, s, ms, largest first, each once; from 1ms to 365d.
 */
export function isDuration(text: string): boolean {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim() === '') return false;
  let ms = 0;
  for (let i = 0; i < UNIT_MS.length; i++)
    if (m[i + 1] !== undefined) ms += Number(m[i + 1]) * UNIT_MS[i]!;
  return ms >= 1 && ms <= 365 * 86_400_000;
}

/** A deep copy that also reads through Vue's reactive proxies (structuredClone refuses them). */
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function parseDefinitionV2(value: unknown): DefinitionV2 {
  const v = (value ?? {}) as { steps?: unknown; onFailure?: { steps?: unknown } };
  const def: DefinitionV2 = {
    version: 2,
    steps: Array.isArray(v.steps) ? copy(v.steps as StepV2[]) : [],
  };
  if (v.onFailure && Array.isArray(v.onFailure.steps))
    def.onFailure = { steps: copy(v.onFailure.steps as StepV2[]) };
  return def;
}

/** A version-1 definition is a valid version-2 one once it says `"version": 2`. */
export function convertToV2(v1: { steps: unknown[] }): DefinitionV2 {
  return parseDefinitionV2({ steps: v1.steps });
}

export function newStep(kind: StepKindV2, id: string): StepV2 {
  switch (kind) {
    case 'action':
      return { id, actionId: '', input: {} };
    case 'switch':
      return { id, type: 'switch', branches: [{ name: 'first', when: '', steps: [] }] };
    case 'forEach':
      return { id, type: 'forEach', items: '', concurrency: 10, steps: [] };
    case 'delay':
      return { id, type: 'delay', duration: '1h' };
    case 'waitUntil':
      return { id, type: 'waitUntil', until: '' };
    case 'waitForEvent':
      return { id, type: 'waitForEvent', timeout: '30d' };
    case 'callWorkflow':
      return { id, type: 'callWorkflow', workflowId: '', input: {}, wait: true };
  }
}

/** The step lists inside a step: a branch's, the default's, a loop's body. */
export function childLists(step: StepV2, path: string): { list: string; steps: StepV2[] }[] {
  const kind = kindOf(step);
  if (kind === 'switch') {
    const out = (step.branches ?? []).map((b, i) => ({
      list: `${path}.branches[${i}].steps`,
      steps: b.steps,
    }));
    if (step.default) out.push({ list: `${path}.default.steps`, steps: step.default.steps });
    return out;
  }
  if (kind === 'forEach') return [{ list: `${path}.steps`, steps: step.steps ?? [] }];
  return [];
}

export type Located = {
  path: string;
  step: StepV2;
  /** The paths of the forEach steps around it, innermost last. */
  loops: string[];
  onFailure: boolean;
};

/** Every step in reading order (a block, then its body), the failure path last. */
export function allSteps(def: DefinitionV2): Located[] {
  const out: Located[] = [];
  const walk = (steps: StepV2[], list: string, loops: string[], onFailure: boolean) =>
    steps.forEach((step, i) => {
      const path = `${list}[${i}]`;
      out.push({ path, step, loops, onFailure });
      const inner = kindOf(step) === 'forEach' ? [...loops, path] : loops;
      for (const c of childLists(step, path)) walk(c.steps, c.list, inner, onFailure);
    });
  walk(def.steps, 'steps', [], false);
  if (def.onFailure) walk(def.onFailure.steps, 'onFailure.steps', [], true);
  return out;
}

/** The list a path names (`steps`, `steps[0].branches[1].steps`, `onFailure.steps` …). */
export function listAt(def: DefinitionV2, list: string, create = false): StepV2[] | undefined {
  if (list === 'steps') return def.steps;
  if (list === 'onFailure.steps') {
    if (!def.onFailure && create) def.onFailure = { steps: [] };
    return def.onFailure?.steps;
  }
  const m = /^(.*?)\.(branches\[(\d+)\]\.steps|default\.steps|steps)$/.exec(list);
  if (!m) return undefined;
  const owner = stepAt(def, m[1]!);
  if (!owner) return undefined;
  if (m[3] !== undefined) return owner.branches?.[Number(m[3])]?.steps;
  if (m[2] === 'default.steps') {
    if (!owner.default && create) owner.default = { steps: [] };
    return owner.default?.steps;
  }
  if (!owner.steps && create) owner.steps = [];
  return owner.steps;
}

export function splitPath(path: string): { list: string; index: number } {
  const m = /^(.*)\[(\d+)\]$/.exec(path);
  return m ? { list: m[1]!, index: Number(m[2]) } : { list: 'steps', index: -1 };
}

export function stepAt(def: DefinitionV2, path: string): StepV2 | undefined {
  const { list, index } = splitPath(path);
  return index < 0 ? undefined : listAt(def, list)?.[index];
}

/** Unique in the whole definition: `step_1`, `step_2`, … */
export function nextStepIdV2(def: DefinitionV2): string {
  const used = new Set(allSteps(def).map((l) => l.step.id));
  for (let i = used.size + 1; ; i++) if (!used.has(`step_${i}`)) return `step_${i}`;
}

/** Inserts `step` into `list` at `index` and answers its path. */
export function insertStep(def: DefinitionV2, list: string, index: number, step: StepV2): string {
  const steps = listAt(def, list, true);
  if (!steps) throw new Error(`No step list at ${list}`);
  const at = Math.max(0, Math.min(index, steps.length));
  steps.splice(at, 0, step);
  return `${list}[${at}]`;
}

export function removeStep(def: DefinitionV2, path: string): void {
  const { list, index } = splitPath(path);
  listAt(def, list)?.splice(index, 1);
  if (list === 'onFailure.steps' && def.onFailure?.steps.length === 0) delete def.onFailure;
}

/** Moves a step up or down within its list; answers its new path (the same at an end). */
export function moveStep(def: DefinitionV2, path: string, delta: -1 | 1): string {
  const { list, index } = splitPath(path);
  const steps = listAt(def, list);
  const j = index + delta;
  if (!steps || j < 0 || j >= steps.length) return path;
  [steps[index], steps[j]] = [steps[j]!, steps[index]!];
  return `${list}[${j}]`;
}

/**
 * The step an E_VALIDATION field names (`definition.steps[2].branches[0].steps[1].input.to`)
 * and the rest of the field within it (`input.to`): the longest step path it starts with.
 */
export function errorTarget(
  def: DefinitionV2,
  field: string,
): { path: string; rest: string } | null {
  const f = field.replace(/^definition\./, '');
  let best: string | null = null;
  for (const l of allSteps(def))
    if ((f === l.path || f.startsWith(`${l.path}.`)) && (!best || l.path.length > best.length))
      best = l.path;
  return best ? { path: best, rest: f.slice(best.length + 1) } : null;
}

function cleanOnError(e: OnErrorV2 | undefined): OnErrorV2 | undefined {
  if (!e || e === 'fail') return undefined;
  return typeof e === 'object' ? { goto: e.goto } : e;
}
const filled = (s: string | null | undefined): s is string => !!s && s.trim() !== '';

/** Drops empty optional fields, so a saved definition holds only what the builder set. */
export function cleanStep(s: StepV2): StepV2 {
  const kind = kindOf(s);
  const out: StepV2 = { id: s.id };
  if (kind !== 'action') out.type = kind;
  if (filled(s.if)) out.if = s.if;
  const onError = cleanOnError(s.onError);
  switch (kind) {
    case 'action':
      out.actionId = s.actionId ?? '';
      if (s.connectionId) out.connectionId = s.connectionId;
      if (s.input && Object.keys(s.input).length > 0) out.input = s.input;
      break;
    case 'switch':
      // By value (the switch's `value`, each branch's `equals`), or by conditions (`when`).
      if (s.value !== undefined) out.value = s.value;
      out.branches = (s.branches ?? []).map((b) => ({
        name: b.name,
        ...(s.value !== undefined ? { equals: b.equals ?? '' } : { when: b.when ?? '' }),
        steps: b.steps.map(cleanStep),
      }));
      // An empty default is no default: the run goes on after the branch either way.
      if (s.default && s.default.steps.length > 0)
        out.default = { steps: s.default.steps.map(cleanStep) };
      break;
    case 'forEach':
      out.items = s.items ?? '';
      if (s.concurrency !== undefined && s.concurrency !== 10) out.concurrency = s.concurrency;
      if (s.onItemError === 'continue') out.onItemError = 'continue';
      out.steps = (s.steps ?? []).map(cleanStep);
      break;
    case 'delay':
      out.duration = (s.duration ?? '').trim();
      break;
    case 'waitUntil':
      out.until = s.until ?? '';
      break;
    case 'waitForEvent': {
      if (filled(s.timeout)) out.timeout = s.timeout.trim();
      const onTimeout = cleanOnError(s.onTimeout);
      if (onTimeout) out.onTimeout = onTimeout;
      break;
    }
    case 'callWorkflow':
      out.workflowId = s.workflowId ?? '';
      if (s.input && Object.keys(s.input).length > 0) out.input = s.input;
      if (s.wait === false) out.wait = false;
      break;
  }
  if (onError && (kind === 'action' || kind === 'forEach' || kind === 'callWorkflow'))
    out.onError = onError;
  return out;
}

export function cleanDefinitionV2(def: DefinitionV2): DefinitionV2 {
  const out: DefinitionV2 = { version: 2, steps: def.steps.map(cleanStep) };
  if (def.onFailure && def.onFailure.steps.length > 0)
    out.onFailure = { steps: def.onFailure.steps.map(cleanStep) };
  return out;
}

/** The ids a step's `onError: { goto }` may name: steps after it (the server checks the rest). */
export function gotoTargets(def: DefinitionV2, path: string): string[] {
  const all = allSteps(def);
  const at = all.findIndex((l) => l.path === path);
  const me = all[at];
  if (!me) return [];
  return all
    .slice(at + 1)
    .filter((l) => l.onFailure === me.onFailure)
    .map((l) => l.step.id);
}

/** The steps before `path` in reading order, and what roots it may use (loop.*, error.*). */
export function contextOf(
  def: DefinitionV2,
  path: string,
): { earlier: StepV2[]; inLoop: boolean; onFailure: boolean; waits: string[] } {
  const all = allSteps(def);
  const at = all.findIndex((l) => l.path === path);
  const me = all[at];
  return {
    earlier: all.slice(0, Math.max(0, at)).map((l) => l.step),
    inLoop: (me?.loops.length ?? 0) > 0,
    onFailure: me?.onFailure ?? false,
    waits: all.filter((l) => kindOf(l.step) === 'waitForEvent').map((l) => l.step.id),
  };
}

/** A stored definition's version: 2 when it says so, else 1 (src/model/workflow-v2.ts). */
export function definitionVersionOf(definition: unknown): 1 | 2 {
  return (definition as { version?: unknown } | null)?.version === 2 ? 2 : 1;
}
