import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getNamedType, isObjectType } from 'graphql';
import { getSchema, printApiSchema } from '../../src/api/graphql/schema.ts';

describe('docs/schema.graphql', () => {
  it('is the schema the server serves (run `npm run schema:print` after changing the API)', async () => {
    const printed = await readFile(
      path.resolve(import.meta.dirname, '../../docs/schema.graphql'),
      'utf8',
    );
    expect(printed).toBe(printApiSchema());
  });

  it('returns secrets only from the create/rotate answers that show them once', () => {
    const schema = getSchema();
    const secretLooking: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (
        !isObjectType(type) ||
        type.name.startsWith('__') ||
        type.name === 'Mutation' ||
        type.name === 'Query'
      )
        continue;
      for (const field of Object.values(type.getFields())) {
        const named = getNamedType(field.type).name;
        if (/secret|password|cipher|hash|token|key$/i.test(field.name) && named === 'String') {
          secretLooking.push(`${type.name}.${field.name}`);
        }
      }
    }
    expect(secretLooking.sort()).toEqual(
      [
        'CreatedApiToken.secret',
        'CreatedFailureNotification.signingSecret',
        'CreatedInvitation.token',
        'TriggerWithSecret.secret',
        'WorkflowRun.idempotencyKey',
        'App.key',
        'CircuitBreaker.connectionKey',
        'Action.key',
        'ImportedOperation.key',
        'OpenApiImportResult.appKey',
        'HealthActionDuration.appKey',
        'HealthActionDuration.actionKey',
      ].sort(),
    );
  });
});
