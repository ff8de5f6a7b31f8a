import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  isAbstractType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  type DocumentNode,
  type FieldNode,
  type GraphQLSchema,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';

export type QueryLimits = { maxDepth: number; maxCost: number };

/** Page size assumed for a list field whose `first` is a variable or absent. */
const ASSUMED_PAGE_SIZE = 100;

/**
 * Aliases per document. Aliases let one request run the same field many times (5,000 aliased
 * `connections` took 2.7 s); clients need a few, so a small cap costs them nothing.
 */
export const MAX_ALIASES = 20;

/** Mutation fields per request: each is a write (and counts as one request of the budget). */
export const MAX_MUTATION_FIELDS = 10;

/**
 * Tokens per document, checked while parsing: a document past this is refused before any
 * validation rule walks it (5,000 aliases are about 30,000 tokens; the standard introspection
 * query about 300). Big values belong in variables, which are not tokens.
 */
export const MAX_TOKENS = 10_000;

type ListSizes = Readonly<Record<string, number>>;
const listSizesBySchema = new WeakMap<GraphQLSchema, ListSizes>();

/**
 * Introspection lists have no `first`: each counts as its average size in this schema (types:
 * all of them; fields: the average per object type …), so the cost of an introspection query
 * is about the number of objects in its answer: the standard query of tools (about 1,300
 * objects here, estimated at about 5,000) is accepted, while nesting `fields { type { fields … } }`
 * multiplies its cost as it multiplies the answer.
 */
function introspectionListSizes(schema: GraphQLSchema): ListSizes {
  let sizes = listSizesBySchema.get(schema);
  if (sizes) return sizes;
  const types = Object.values(schema.getTypeMap());
  const avg = (xs: number[]) =>
    Math.max(1, Math.ceil(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)));
  const composite = types.filter((t) => isObjectType(t) || isInterfaceType(t));
  const fields = composite.flatMap((t) => Object.values(t.getFields()));
  sizes = {
    types: types.length,
    fields: avg(composite.map((t) => Object.keys(t.getFields()).length)),
    args: avg(fields.map((f) => f.args.length)),
    inputFields: avg(types.filter(isInputObjectType).map((t) => Object.keys(t.getFields()).length)),
    enumValues: avg(types.filter(isEnumType).map((t) => t.getValues().length)),
    interfaces: avg(types.filter(isObjectType).map((t) => t.getInterfaces().length)),
    possibleTypes: avg(types.filter(isAbstractType).map((t) => schema.getPossibleTypes(t).length)),
    directives: schema.getDirectives().length,
    // A type reference is rarely wrapped more than twice (`[Run!]!`): each `ofType` level is
    // half as likely to be there as the one above it.
    ofType: 0.5,
  };
  listSizesBySchema.set(schema, sizes);
  return sizes;
}

const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);

/**
 * Cost units per request unit of the rate limits: a request spends ceil(cost / 100) of each
 * budget, at least one (so `runs(first: 50) { nodes { id status } }`, cost 151, spends 2).
 */
export const COST_PER_REQUEST = 100;

export type OperationMeasure = {
  depth: number;
  /** Every field once per parent item it can be resolved for: under `runs(first: 50)`, 50. */
  cost: number;
  aliases: number;
  /** Top-level fields (after fragments), i.e. separate operations in one request. */
  rootFields: number;
  /** Whether it reads `__schema` or `__type`. */
  introspection: boolean;
};

/** Depth, cost, aliases and root fields of one operation, fragments expanded. */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): OperationMeasure {
  const listSizes = introspectionListSizes(schema);
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  let aliases = 0;
  let introspection = false;
  const measure = (
    set: SelectionSetNode,
    multiplier: number,
    seen: Set<string>,
    inIntrospection: boolean,
  ): { depth: number; cost: number; fields: number } => {
    let depth = 0;
    let cost = 0;
    let fields = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const name = sel.name.value;
        // __typename is answered from the type itself: free, like a constant.
        if (name === '__typename') continue;
        fields++;
        if (sel.alias) aliases++;
        const introspecting = inIntrospection || INTROSPECTION_ROOTS.has(name);
        if (introspecting) introspection = true;
        const page = introspecting ? (listSizes[name] ?? 1) : pageOf(sel);
        // Introspection is answered from the schema in memory: its objects cost (one per item
        // of a list), its scalars do not.
        if (!introspecting) cost += multiplier;
        else if (sel.selectionSet) cost += multiplier * page;
        if (sel.selectionSet) {
          const child = measure(sel.selectionSet, multiplier * page, seen, introspecting);
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
          inIntrospection,
        );
        depth = Math.max(depth, child.depth);
        cost += child.cost;
        fields += child.fields;
      }
    }
    return { depth, cost, fields };
  };
  const { depth, cost, fields } = measure(operation.selectionSet, 1, new Set(), false);
  return { depth, cost: Math.ceil(cost), aliases, rootFields: fields, introspection };
}

function pageOf(field: FieldNode): number {
  const first = field.arguments?.find((a) => a.name.value === 'first');
  if (!first) return 1;
  return first.value.kind === Kind.INT ? Math.max(1, Number(first.value.value)) : ASSUMED_PAGE_SIZE;
}

/** What one request spends of each rate-limit budget. */
export function requestWeight(m: OperationMeasure, operation: OperationDefinitionNode): number {
  const byCost = Math.max(1, Math.ceil(m.cost / COST_PER_REQUEST));
  return operation.operation === OperationTypeNode.MUTATION
    ? Math.max(byCost, m.rootFields)
    : byCost;
}

/**
 * Depth, cost, alias and mutation-field limits, checked before execution (introspection
 * included: its fields count like any other).
 */
export function queryLimitsRule(limits: QueryLimits): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const m = measureOperation(context.getSchema(), context.getDocument(), node);
      const refuse = (message: string) =>
        context.reportError(
          new GraphQLError(message, { nodes: [node], extensions: { code: 'E_QUERY_TOO_COMPLEX' } }),
        );
      if (m.aliases > MAX_ALIASES) {
        refuse(`The document has ${m.aliases} aliases; the limit is ${MAX_ALIASES}.`);
      } else if (
        node.operation === OperationTypeNode.MUTATION &&
        m.rootFields > MAX_MUTATION_FIELDS
      ) {
        refuse(
          `The mutation has ${m.rootFields} fields; the limit is ${MAX_MUTATION_FIELDS} per request.`,
        );
      } else if (m.depth > limits.maxDepth) {
        refuse(`The query is ${m.depth} levels deep; the limit is ${limits.maxDepth}.`);
      } else if (m.cost > limits.maxCost) {
        refuse(
          `The query costs ${m.cost}; the limit is ${limits.maxCost}. Ask for smaller pages or fewer fields.`,
        );
      }
    },
  });
}
