/**
 * switch: the first branch whose `when` is truthy, else `default` (else straight to the join).
 * The steps of the branches not taken are recorded `skipped`, so the run's steps show the path.
 */
import type { ControlHandler } from './index.ts';
import { mappingOf, stepOf } from './support.ts';

export const switchHandler: ControlHandler<'switch'> = {
  start({ instruction: ins, context, run }, deps) {
    const mapping = mappingOf(deps);
    const chosen = ins.branches.find((b) => mapping.condition(b.when, context));
    const name = chosen?.name ?? 'default';
    const next = chosen ? chosen.pc : ins.defaultPc;
    const skip = ins.bodyPcs
      .filter((b) => b.branch !== name)
      .flatMap((b) => b.pcs.map((pc) => stepOf(run, pc)));
    return { kind: 'succeed', output: { branch: name }, next, branch: name, skip };
  },
};
