import type { ObjectRef, SchemaTypes } from '@pothos/core';
import { builder } from './builder.ts';
import type { Page } from './pagination.ts';

/**
 * The page type of a list (`WorkflowPage` …), the shape of `runs` (WorkflowRunPage): the
 * nodes, the cursor of the last one for `after`, and whether more follow.
 */
export function pageRef<Types extends SchemaTypes, T>(
  name: string,
  node: ObjectRef<Types, T>,
  what: string,
) {
  return builder.objectRef<Page<T>>(name).implement({
    description: `A page of ${what}: pass \`endCursor\` as \`after\` for the next one while \`hasNextPage\`.`,
    fields: (t) => ({
      nodes: t.field({ type: [node], resolve: (p) => p.nodes }),
      endCursor: t.exposeString('endCursor', { nullable: true }),
      hasNextPage: t.exposeBoolean('hasNextPage'),
    }),
  });
}
