import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import './types/account.ts';
import './types/own-account.ts';
import './types/members.ts';
import './types/tokens.ts';
import './types/audit.ts';
import './types/audit-verify.ts';
import './types/apps.ts';
import './types/openapi-import.ts';
import './types/workflows.ts';
import './types/connections.ts';
import './types/oauth.ts';
import './types/connection-test.ts';
import './types/triggers.ts';
import './types/trigger-samples.ts';
import './types/trigger-events.ts';
import './types/runs.ts';
import './types/test-runs.ts';
import './types/waits.ts';
import './types/execution-logs.ts';
import './types/run-changes.ts';
import './types/breakers.ts';
import './types/health.ts';
import './types/notifications.ts';
import './types/settings.ts';
import './types/setup-status.ts';

let schema: GraphQLSchema | undefined;

/** The whole product API, built once. */
export function getSchema(): GraphQLSchema {
  schema ??= builder.toSchema();
  return schema;
}

/** The SDL printed to docs/schema.graphql (CI fails when it is stale). */
export function printApiSchema(): string {
  return `${printSchema(lexicographicSortSchema(getSchema()))}\n`;
}
