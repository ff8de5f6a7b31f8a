/**
 * The one way the web app talks to Switchyard: typed GraphQL documents (gql.tada, from
 * docs/schema.graphql, so a schema change that breaks a page fails `npm run typecheck`) sent
 * to /graphql with the session cookie. Errors come back as ApiError with the registry's code
 * and, where the server named one, the input field to show the message on.
 */
import { initGraphQLTada, type TadaDocumentNode } from 'gql.tada';
import { print } from 'graphql';
import type { introspection } from './graphql-env.d.ts';

export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: { DateTime: string; JSON: unknown; ID: string };
}>();

export type { ResultOf, VariablesOf } from 'gql.tada';

export class ApiError extends Error {
  readonly code: string;
  readonly field: string | null;
  constructor(message: string, code: string, field: string | null) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

type GraphqlResponse<R> = {
  data?: R | null;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
};

/** Set by the session plugin: called when the server says the session is gone. */
let onUnauthenticated: (() => void) | null = null;
export function setUnauthenticatedHandler(fn: () => void): void {
  onUnauthenticated = fn;
}

export async function request<R, V extends Record<string, unknown>>(
  document: TadaDocumentNode<R, V>,
  ...[variables]: V extends Record<string, never> ? [] | [V] : [V]
): Promise<R> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-graphql-yoga-csrf': '1' },
      body: JSON.stringify({ query: print(document), variables: variables ?? {} }),
    });
  } catch {
    throw new ApiError(
      'Switchyard cannot be reached. Check your connection and try again.',
      'E_NETWORK',
      null,
    );
  }
  let body: GraphqlResponse<R>;
  try {
    body = (await res.json()) as GraphqlResponse<R>;
  } catch {
    throw new ApiError(`The server answered ${res.status} without a result.`, 'E_INTERNAL', null);
  }
  const first = body.errors?.[0];
  if (first) {
    const code = first.extensions?.code ?? 'E_INTERNAL';
    if (code === 'E_UNAUTHENTICATED') onUnauthenticated?.();
    throw new ApiError(first.message, code, first.extensions?.field ?? null);
  }
  if (!body.data) throw new ApiError('The server sent no data.', 'E_INTERNAL', null);
  return body.data;
}
