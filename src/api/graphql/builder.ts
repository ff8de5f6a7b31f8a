import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { roleAtLeast, type Role } from '../../model/roles.ts';
import type { GraphQLContext } from './context.ts';

/**
 * Role checks live here, in one place: every field names the weakest role it needs
 * (`authScopes: { editor: true }`), and scopes are computed once per request.
 */
export type Scopes = {
  /** Any signed-in user or token, with or without a tenant. */
  authenticated: boolean;
  /** A session user (not a token). */
  user: boolean;
  viewer: boolean;
  editor: boolean;
  admin: boolean;
  owner: boolean;
};

function roleOf(ctx: GraphQLContext): Role | null {
  const a = ctx.actor;
  return a.kind === 'anonymous' ? null : a.role;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: Scopes;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
}>({
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  plugins: [ScopeAuthPlugin],
  scopeAuth: {
    authScopes: (ctx) => {
      const role = roleOf(ctx);
      const has = (r: Role) => role !== null && roleAtLeast(role, r);
      return {
        authenticated: ctx.actor.kind !== 'anonymous',
        user: ctx.actor.kind === 'user',
        viewer: has('viewer'),
        editor: has('editor'),
        admin: has('admin'),
        owner: has('owner'),
      };
    },
    unauthorizedError: (_parent, ctx) =>
      ctx.actor.kind === 'anonymous'
        ? new GraphQLError('Sign in or send a valid API token.', {
            extensions: { code: 'E_UNAUTHENTICATED' },
          })
        : new GraphQLError('Your role does not allow this.', {
            extensions: { code: 'E_FORBIDDEN' },
          }),
  },
});

builder.addScalarType(
  'DateTime',
  new GraphQLScalarType<Date, string>({
    name: 'DateTime',
    description: 'An ISO-8601 timestamp in UTC.',
    serialize: (v) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString()),
    parseValue: (v) => parseDate(v),
    parseLiteral: (ast) => (ast.kind === Kind.STRING ? parseDate(ast.value) : invalidDate()),
  }),
);

builder.addScalarType(
  'JSON',
  new GraphQLScalarType<unknown, unknown>({
    name: 'JSON',
    description: 'Any JSON value.',
    serialize: (v) => v,
    parseValue: (v) => v,
    parseLiteral: () => {
      throw new GraphQLError('Pass JSON values as variables.', {
        extensions: { code: 'E_VALIDATION' },
      });
    },
  }),
);

function parseDate(v: unknown): Date {
  const d = typeof v === 'string' ? new Date(v) : null;
  return d && !Number.isNaN(d.getTime()) ? d : invalidDate();
}

function invalidDate(): never {
  throw new GraphQLError('Expected an ISO-8601 timestamp, e.g. 2026-01-31T12:00:00Z.', {
    extensions: { code: 'E_VALIDATION' },
  });
}

builder.queryType({});
builder.mutationType({});

export const RoleEnum = builder.enumType('Role', {
  values: ['viewer', 'editor', 'admin', 'owner'] as const,
});
