import {
  GraphQLError,
  Kind,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';

export type QueryLimits = { maxDepth: number; maxCost: number };

/** Page size assumed for a list field whose `first` is a variable or absent. */
const ASSUMED_PAGE_SIZE = 100;

/**
 * Depth and cost limits, checked before execution. Cost counts every field once per parent
 * item it can be resolved for: a field under `runs(first: 50)` costs 50.
 */
export function queryLimitsRule(limits: QueryLimits): ValidationRule {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
    const measure = (
      set: SelectionSetNode,
      multiplier: number,
      seen: Set<string>,
    ): { depth: number; cost: number } => {
      let depth = 0;
      let cost = 0;
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          if (sel.name.value.startsWith('__')) continue;
          cost += multiplier;
          if (sel.selectionSet) {
            const first = sel.arguments?.find((a) => a.name.value === 'first');
            const page =
              first?.value.kind === Kind.INT
                ? Number(first.value.value)
                : first
                  ? ASSUMED_PAGE_SIZE
                  : 1;
            const child = measure(sel.selectionSet, multiplier * Math.max(1, page), seen);
            depth = Math.max(depth, child.depth + 1);
            cost += child.cost;
          } else depth = Math.max(depth, 1);
        } else {
          let inner: SelectionSetNode | undefined;
          if (sel.kind === Kind.INLINE_FRAGMENT) inner = sel.selectionSet;
          else if (!seen.has(sel.name.value)) inner = fragments.get(sel.name.value)?.selectionSet;
          if (!inner) continue;
          const child = measure(
            inner,
            multiplier,
            sel.kind === Kind.FRAGMENT_SPREAD ? new Set([...seen, sel.name.value]) : seen,
          );
          depth = Math.max(depth, child.depth);
          cost += child.cost;
        }
      }
      return { depth, cost };
    };
    return {
      OperationDefinition(node) {
        const { depth, cost } = measure(node.selectionSet, 1, new Set());
        if (depth > limits.maxDepth) {
          context.reportError(
            new GraphQLError(
              `The query is ${depth} levels deep; the limit is ${limits.maxDepth}.`,
              {
                nodes: [node],
                extensions: { code: 'E_QUERY_TOO_COMPLEX' },
              },
            ),
          );
        } else if (cost > limits.maxCost) {
          context.reportError(
            new GraphQLError(
              `The query costs ${cost}; the limit is ${limits.maxCost}. Ask for smaller pages or fewer fields.`,
              {
                nodes: [node],
                extensions: { code: 'E_QUERY_TOO_COMPLEX' },
              },
            ),
          );
        }
      },
    };
  };
}
