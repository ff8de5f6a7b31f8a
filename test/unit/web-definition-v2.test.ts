/**
 * The web editor's model of a version-2 definition (web/app/utils/definition-v2.ts) and its
 * graph (graph-v2.ts): nested lists by path, the server's error path landing on its step,
 * what is saved, and a layout that draws every construct — fast with 100 steps.
 */
import { describe, expect, it } from 'vitest';
import {
  allSteps,
  cleanDefinitionV2,
  convertToV2,
  errorTarget,
  gotoTargets,
  insertStep,
  isDuration,
  listAt,
  moveStep,
  newStep,
  nextStepIdV2,
  removeStep,
  stepAt,
  type DefinitionV2,
} from '../../web/app/utils/definition-v2.ts';
import { definitionToGraphV2 } from '../../web/app/utils/graph-v2.ts';

function sample(): DefinitionV2 {
  return {
    version: 2,
    steps: [
      { id: 'fetch', actionId: 'a1', input: {}, onError: { goto: 'approve' } },
      {
        id: 'route',
        type: 'switch',
        branches: [
          { name: 'big', when: '{{ steps.fetch.output.total }}', steps: [] },
          { name: 'small', when: '{{ trigger.body.small }}', steps: [] },
        ],
      },
      { id: 'each', type: 'forEach', items: '{{ steps.fetch.output.items }}', steps: [] },
      { id: 'approve', type: 'waitForEvent', timeout: '' },
    ],
  };
}

describe('the editor’s definition', () => {
  it('adds, moves and removes steps in nested lists named by path', () => {
    const def = sample();
    const hold = insertStep(def, 'steps[1].branches[0].steps', 0, newStep('delay', 'hold'));
    expect(hold).toBe('steps[1].branches[0].steps[0]');
    const item = insertStep(def, 'steps[2].steps', 9, newStep('action', 'item'));
    expect(item).toBe('steps[2].steps[0]');
    insertStep(def, 'steps[2].steps', 1, newStep('callWorkflow', 'child'));
    expect(moveStep(def, 'steps[2].steps[1]', -1)).toBe('steps[2].steps[0]');
    expect(stepAt(def, 'steps[2].steps[0]')?.id).toBe('child');
    expect(insertStep(def, 'steps[1].default.steps', 0, newStep('action', 'other'))).toBe(
      'steps[1].default.steps[0]',
    );
    expect(insertStep(def, 'onFailure.steps', 0, newStep('action', 'notify'))).toBe(
      'onFailure.steps[0]',
    );
    expect(allSteps(def).map((l) => l.step.id)).toEqual([
      'fetch',
      'route',
      'hold',
      'other',
      'each',
      'child',
      'item',
      'approve',
      'notify',
    ]);
    expect(allSteps(def).find((l) => l.step.id === 'item')?.loops).toEqual(['steps[2]']);
    removeStep(def, 'onFailure.steps[0]');
    expect(def.onFailure).toBeUndefined();
    expect(listAt(def, 'steps[1].branches[1].steps')).toEqual([]);
    expect(nextStepIdV2(def)).toBe('step_9');
    expect(gotoTargets(def, 'steps[0]')).toContain('approve');
  });

  it('lands a server error on the deepest step it names, with the field inside it', () => {
    const def = sample();
    insertStep(def, 'steps[1].branches[0].steps', 0, newStep('delay', 'hold'));
    expect(errorTarget(def, 'definition.steps[1].branches[0].steps[0].duration')).toEqual({
      path: 'steps[1].branches[0].steps[0]',
      rest: 'duration',
    });
    expect(errorTarget(def, 'definition.steps[1].branches[1].when')).toEqual({
      path: 'steps[1]',
      rest: 'branches[1].when',
    });
    expect(errorTarget(def, 'definition.steps[3]')).toEqual({ path: 'steps[3]', rest: '' });
    expect(errorTarget(def, 'definition.version')).toBeNull();
  });

  it('saves only what the builder set', () => {
    const def = sample();
    expect(cleanDefinitionV2(def)).toEqual({
      version: 2,
      steps: [
        { id: 'fetch', actionId: 'a1', onError: { goto: 'approve' } },
        {
          id: 'route',
          type: 'switch',
          branches: [
            { name: 'big', when: '{{ steps.fetch.output.total }}', steps: [] },
            { name: 'small', when: '{{ trigger.body.small }}', steps: [] },
          ],
        },
        { id: 'each', type: 'forEach', items: '{{ steps.fetch.output.items }}', steps: [] },
        { id: 'approve', type: 'waitForEvent' },
      ],
    });
    expect(convertToV2({ steps: [{ id: 'a', actionId: 'x' }] })).toEqual({
      version: 2,
      steps: [{ id: 'a', actionId: 'x' }],
    });
  });

  it('reads durations as the server does', () => {
    for (const ok of ['90s', '15m', '2h', '30d', '1h30m', '250ms'])
      expect(isDuration(ok)).toBe(true);
    for (const bad of ['', '15', '15 minutes', '30m1h', '0s', '400d'])
      expect(isDuration(bad)).toBe(false);
  });
});

describe('the graph', () => {
  it('draws branches side by side, the loop as a frame, gotos and the failure path', () => {
    const def = sample();
    insertStep(def, 'steps[2].steps', 0, newStep('action', 'item'));
    insertStep(def, 'onFailure.steps', 0, newStep('action', 'notify'));
    const g = definitionToGraphV2(def, { branchOf: (id) => (id === 'route' ? 'small' : null) });
    const at = (id: string) => g.nodes.find((n) => n.id === id)!.position;
    const big = at('slot:steps[1].branches[0].steps');
    const small = at('slot:steps[1].branches[1].steps');
    expect(big.y).toBe(small.y);
    expect(big.x).toBeLessThan(small.x);
    const frame = g.nodes.find((n) => n.kind === 'frame')!;
    const item = at('n:steps[2].steps[0]');
    expect(item.x).toBeGreaterThan(frame.position.x);
    expect(item.y).toBeLessThan(frame.position.y + frame.size!.height);
    expect(g.edges.find((e) => e.kind === 'error')).toMatchObject({
      source: 'n:steps[0]',
      target: 'n:steps[3]',
      label: 'on error',
    });
    expect(g.edges.filter((e) => e.kind === 'branch').map((e) => [e.label, e.taken])).toEqual([
      ['big: {{ steps.fetch.output.total }}', false],
      ['small: {{ trigger.body.small }}', true],
      ['otherwise', false],
    ]);
    expect(at('n:onFailure.steps[0]').x).toBeGreaterThan(at('n:steps[3]').x + 260);
  });

  it('lays out 100 steps in reading order, quickly', () => {
    const def: DefinitionV2 = { version: 2, steps: [] };
    for (let i = 0; i < 25; i++) {
      const sw = newStep('switch', `s${i}`);
      sw.branches![0]!.steps.push(newStep('action', `a${i}`));
      def.steps.push(sw, newStep('delay', `d${i}`));
      const loop = newStep('forEach', `f${i}`);
      loop.steps!.push(newStep('action', `b${i}`));
      def.steps.push(loop);
    }
    expect(allSteps(def)).toHaveLength(125);
    const t0 = performance.now();
    const g = definitionToGraphV2(def);
    expect(performance.now() - t0).toBeLessThan(50);
    const steps = g.nodes.filter((n) => n.kind === 'step');
    expect(steps.map((n) => n.label)).toEqual(allSteps(def).map((l) => l.step.id));
  });
});
