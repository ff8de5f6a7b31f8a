/**
 * Testing the draft in the editor (docs/workflows.md, "Test before publishing"): one state per
 * workflow, shared by the test panel and the step panel's "Test this step" — the last test run
 * (polled until it ends), the pinned outputs, and where the input comes from. Pins live here,
 * in the page's memory: they are test data (often a real response), never part of a saved
 * definition, and are sent with each test as `pinnedOutputs`.
 */
import { ApiError, graphql, request, type ResultOf } from '~/graphql/client';
import { allSteps, definitionVersionOf, type DefinitionV2 } from '~/utils/definition-v2';

/** A draft of either version: the test mutations take both (the server checks). */
type Draft = { steps: { id: string }[] } | DefinitionV2;
/** Every step id of a draft, nested ones included (version 2), in reading order. */
function stepIdsOf(definition: Draft): string[] {
  return definitionVersionOf(definition) === 2
    ? allSteps(definition as DefinitionV2).map((l) => l.step.id)
    : definition.steps.map((s) => s.id);
}

const TestWorkflow = graphql(`
  mutation TestWorkflow(
    $workflowId: ID!
    $definition: JSON!
    $input: JSON
    $useTriggerSample: ID
    $pinnedOutputs: JSON
  ) {
    testWorkflow(
      workflowId: $workflowId
      definition: $definition
      input: $input
      useTriggerSample: $useTriggerSample
      pinnedOutputs: $pinnedOutputs
    ) {
      id
    }
  }
`);
const TestStep = graphql(`
  mutation TestStep(
    $workflowId: ID!
    $definition: JSON!
    $stepId: String!
    $input: JSON
    $useTriggerSample: ID
    $stepOutputs: JSON
  ) {
    testStep(
      workflowId: $workflowId
      definition: $definition
      stepId: $stepId
      input: $input
      useTriggerSample: $useTriggerSample
      stepOutputs: $stepOutputs
    ) {
      id
    }
  }
`);
const TestRunQuery = graphql(`
  query TestRun($id: ID!) {
    run(id: $id) {
      id
      status
      error
      pinnedStepIds
      steps {
        id
        stepId
        attempt
        status
        input
        output
        errorCode
        errorMessage
      }
      logs(first: 100) {
        id
        stepRunId
        level
        message
      }
    }
  }
`);

export type TestRun = NonNullable<ResultOf<typeof TestRunQuery>['run']>;
export type TestStepRun = TestRun['steps'][number];

const finalStatuses = ['succeeded', 'failed', 'dead', 'canceled'];
const POLL_MS = 400;

type TestState = {
  run: TestRun | null;
  /** What the last test ran: the whole draft, or one step (its id). */
  scope: { kind: 'workflow' } | { kind: 'step'; stepId: string } | null;
  pins: Record<string, unknown>;
  source: 'sample' | 'paste';
  triggerId: string | null;
  pasted: string;
  /** The test being started or followed: 'workflow' or a step id. */
  busy: string | null;
  error: { message: string; code: string; field: string | null } | null;
};

export function useWorkflowTest(workflowId: string) {
  const state = useState<TestState>(`workflow-test:${workflowId}`, () => ({
    run: null,
    scope: null,
    pins: {},
    source: 'sample',
    triggerId: null,
    pasted: JSON.stringify({ body: {}, headers: {}, query: {} }, null, 2),
    busy: null,
    error: null,
  }));
  let following = 0;

  function input(): { input?: unknown; useTriggerSample?: string } {
    const s = state.value;
    if (s.source === 'sample') {
      if (!s.triggerId)
        throw new ApiError(
          'Choose the trigger whose last delivery is the input, or paste a payload.',
          'E_VALIDATION',
          'useTriggerSample',
        );
      return { useTriggerSample: s.triggerId };
    }
    try {
      return { input: JSON.parse(s.pasted) as unknown };
    } catch (err) {
      throw new ApiError(
        `The payload is not JSON: ${(err as Error).message}`,
        'E_VALIDATION',
        'input',
      );
    }
  }

  /** Pins of steps the draft still has (a removed step's pin would be refused). */
  function pinsFor(definition: Draft): Record<string, unknown> {
    const ids = new Set(stepIdsOf(definition));
    return Object.fromEntries(Object.entries(state.value.pins).filter(([id]) => ids.has(id)));
  }

  async function follow(runId: string): Promise<void> {
    const mine = ++following;
    for (;;) {
      const res = await request(TestRunQuery, { id: runId });
      if (mine !== following) return;
      state.value.run = res.run;
      if (!res.run || finalStatuses.includes(res.run.status)) return;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  async function start(busy: string, startRun: () => Promise<string>): Promise<void> {
    state.value.busy = busy;
    state.value.error = null;
    try {
      const runId = await startRun();
      await follow(runId);
    } catch (err) {
      state.value.error =
        err instanceof ApiError
          ? { message: err.message, code: err.code, field: err.field }
          : { message: 'Could not run the test.', code: 'E_INTERNAL', field: null };
    } finally {
      state.value.busy = null;
    }
  }

  function testWorkflow(definition: Draft): Promise<void> {
    return start('workflow', async () => {
      state.value.scope = { kind: 'workflow' };
      const res = await request(TestWorkflow, {
        workflowId,
        definition,
        ...input(),
        pinnedOutputs: pinsFor(definition),
      });
      return res.testWorkflow.id;
    });
  }

  /** The earlier steps' outputs: their pins, else what the last test run produced. */
  function earlierOutputs(definition: Draft, stepId: string): Record<string, unknown> {
    const ids = stepIdsOf(definition);
    const index = ids.indexOf(stepId);
    const out: Record<string, unknown> = {};
    for (const id of ids.slice(0, Math.max(0, index))) {
      if (id in state.value.pins) out[id] = state.value.pins[id];
      else {
        const ran = lastAttempt(id);
        if (ran?.status === 'succeeded') out[id] = ran.output;
      }
    }
    return out;
  }

  function testStep(definition: Draft, stepId: string): Promise<void> {
    return start(stepId, async () => {
      const stepOutputs = earlierOutputs(definition, stepId);
      state.value.scope = { kind: 'step', stepId };
      const res = await request(TestStep, {
        workflowId,
        definition,
        stepId,
        ...input(),
        stepOutputs,
      });
      return res.testStep.id;
    });
  }

  /** The last attempt of a step in the last test run. */
  function lastAttempt(stepId: string): TestStepRun | null {
    const steps = state.value.run?.steps.filter((s) => s.stepId === stepId) ?? [];
    return steps.reduce<TestStepRun | null>((a, s) => (!a || s.attempt > a.attempt ? s : a), null);
  }

  function pin(stepId: string, output: unknown): void {
    state.value.pins = { ...state.value.pins, [stepId]: output ?? null };
  }
  function unpin(stepId: string): void {
    const { [stepId]: _gone, ...rest } = state.value.pins;
    state.value.pins = rest;
  }

  return { state, testWorkflow, testStep, lastAttempt, pin, unpin };
}
