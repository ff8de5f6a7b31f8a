/**
 * A workflow definition as the editor holds it (docs/workflows.md, "The definition"), and the
 * graph drawn from it. The graph is built from a list of nodes with a `kind` and an optional
 * `parent` so that blocks (branches, loops, waits) can be drawn as frames around their steps
 * when the language grows them; today's definitions are a list of steps.
 */
export type StepDefinition = {
  id: string;
  actionId: string;
  connectionId?: string;
  input?: Record<string, unknown>;
  if?: string;
  /** `goto` only in a version-2 definition (utils/definition-v2.ts). */
  onError?: 'fail' | 'continue' | { goto: string };
};
export type WorkflowDefinition = { steps: StepDefinition[] };

export type GraphNodeKind = 'trigger' | 'step' | 'end';
export type GraphNode = {
  id: string;
  kind: GraphNodeKind;
  label: string;
  detail: string;
  stepIndex: number | null;
  parent: string | null;
  position: { x: number; y: number };
};
export type GraphEdge = { id: string; source: string; target: string; label?: string };

const ROW_HEIGHT = 140;

export function parseDefinition(value: unknown): WorkflowDefinition {
  const steps = (value as { steps?: unknown } | null)?.steps;
  return { steps: Array.isArray(steps) ? (steps as StepDefinition[]) : [] };
}

/** Drops empty optional fields so a saved definition holds only what the builder set. */
export function cleanDefinition(def: WorkflowDefinition): WorkflowDefinition {
  return {
    steps: def.steps.map((s) => {
      const out: StepDefinition = { id: s.id, actionId: s.actionId };
      if (s.connectionId) out.connectionId = s.connectionId;
      if (s.input && Object.keys(s.input).length > 0) out.input = s.input;
      if (s.if && s.if.trim() !== '') out.if = s.if;
      if (s.onError && s.onError !== 'fail') out.onError = s.onError;
      return out;
    }),
  };
}

export function definitionToGraph(
  def: WorkflowDefinition,
  describe: (step: StepDefinition) => string,
): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes: GraphNode[] = [
    {
      id: 'trigger',
      kind: 'trigger',
      label: 'Trigger',
      detail: 'webhook, schedule or by hand',
      stepIndex: null,
      parent: null,
      position: { x: 0, y: 0 },
    },
  ];
  def.steps.forEach((step, i) => {
    nodes.push({
      id: `step:${i}`,
      kind: 'step',
      label: step.id || `step ${i + 1}`,
      detail: describe(step),
      stepIndex: i,
      parent: null,
      position: { x: 0, y: (i + 1) * ROW_HEIGHT },
    });
  });
  nodes.push({
    id: 'end',
    kind: 'end',
    label: 'End',
    detail: 'the run succeeds',
    stepIndex: null,
    parent: null,
    position: { x: 0, y: (def.steps.length + 1) * ROW_HEIGHT },
  });
  const edges: GraphEdge[] = nodes.slice(1).map((n, i) => ({
    id: `e:${nodes[i]!.id}->${n.id}`,
    source: nodes[i]!.id,
    target: n.id,
    ...(n.kind === 'step' && def.steps[n.stepIndex!]?.if ? { label: 'if' } : {}),
  }));
  return { nodes, edges };
}

/** A step id not yet used: `step_1`, `step_2`, … */
export function nextStepId(def: WorkflowDefinition): string {
  const used = new Set(def.steps.map((s) => s.id));
  for (let i = def.steps.length + 1; ; i++) if (!used.has(`step_${i}`)) return `step_${i}`;
}
