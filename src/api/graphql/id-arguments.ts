import {
  BREAK,
  getOperationAST,
  GraphQLError,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  TypeInfo,
  valueFromAST,
  visit,
  visitWithTypeInfo,
  getVariableValues,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isUuid } from '../../model/ids.ts';

/**
 * Every id this API takes is a UUID. The built-in `ID` scalar accepts any string, so a bad id
 * used to reach PostgreSQL and fail there as an internal error; checked here once, for every
 * argument of every field (nested input fields and lists included), literal or variable,
 * before anything runs, and answered `E_VALIDATION` naming the argument.
 */
export function findInvalidId(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Readonly<Record<string, unknown>> | null | undefined,
): string | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  // Variables as execution will see them (defaults applied); invalid ones are GraphQL's to report.
  const coerced = getVariableValues(
    schema,
    operation.variableDefinitions ?? [],
    rawVariables ?? {},
  );
  if (coerced.errors) return null;
  const variables = coerced.coerced;
  const typeInfo = new TypeInfo(schema);
  let invalid: string | null = null;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Argument(node) {
        const arg = typeInfo.getArgument();
        if (!arg) return;
        // An uncoercible value is left to GraphQL's own validation (undefined here).
        const value: unknown = valueFromAST(node.value, arg.type, variables);
        invalid = invalidIdIn(arg.type, value, arg.name);
        return invalid ? BREAK : undefined;
      },
    }),
  );
  return invalid;
}

/** The path of the first value of `ID` type in `value` that is not a UUID. */
function invalidIdIn(type: GraphQLInputType, value: unknown, path: string): string | null {
  if (value === null || value === undefined) return null;
  if (isNonNullType(type)) return invalidIdIn(type.ofType, value, path);
  if (isListType(type)) {
    const items: unknown[] = Array.isArray(value) ? value : [value];
    for (const [i, item] of items.entries()) {
      const found = invalidIdIn(type.ofType, item, `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (isInputObjectType(type)) {
    if (typeof value !== 'object') return null;
    for (const field of Object.values(type.getFields())) {
      const found = invalidIdIn(
        field.type,
        (value as Record<string, unknown>)[field.name],
        `${path}.${field.name}`,
      );
      if (found) return found;
    }
    return null;
  }
  if (isScalarType(type) && type.name === 'ID') {
    return (typeof value === 'string' || typeof value === 'number') && isUuid(String(value))
      ? null
      : path;
  }
  return null;
}

export function idArgumentsPlugin(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const field = findInvalidId(
        args.schema as GraphQLSchema,
        args.document as DocumentNode,
        args.operationName as string | undefined,
        args.variableValues as Record<string, unknown> | undefined,
      );
      if (!field) return;
      setResultAndStopExecution({
        errors: [
          new GraphQLError(`"${field}" is not an id: ids are UUIDs, as this API returns them.`, {
            extensions: { code: 'E_VALIDATION', field },
          }),
        ],
      });
    },
  };
}
