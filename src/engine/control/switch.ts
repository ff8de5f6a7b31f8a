/**
 * switch: the first branch that matches — its `when` truthy, or the switch's `value` equal to
 * its `equals` — else `default` (else straight to the join). The steps of the branches not
 * taken are recorded `skipped`, so the run's steps show the path.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ControlHandler } from './index.ts';
import { mappingOf, stepOf } from './support.ts';

export const switchHandler: ControlHandler<'switch'> = {
  start({ instruction: ins, context, run }, deps) {
    const mapping = mappingOf(deps);
    // Resolved once, as JSON: `equals` compares by value and type ("1" is not 1).
    const value =
      ins.value === null
        ? undefined
        : jsonOf(mapping.resolve({ value: ins.value }, context) as { value?: unknown });
    const chosen = ins.branches.find((b, i) =>
      b.when !== null
        ? mapping.condition(b.when, context, `${ins.path}.branches[${i}].when`)
        : isDeepStrictEqual(value, b.equals),
    );
    const name = chosen?.name ?? 'default';
    const next = chosen ? chosen.pc : ins.defaultPc;
    const skip = ins.bodyPcs
      .filter((b) => b.branch !== name)
      .flatMap((b) => b.pcs.map((pc) => stepOf(run, pc)));
    return {
      kind: 'succeed',
      output: { branch: name },
      ...(ins.value === null ? {} : { input: { value } }),
      next,
      branch: name,
      skip,
    };
  },
};

/** The value as JSON would carry it (what `equals` was written as): no undefined, no Dates. */
function jsonOf(resolved: { value?: unknown }): unknown {
  return resolved.value === undefined ? null : JSON.parse(JSON.stringify(resolved.value));
}
