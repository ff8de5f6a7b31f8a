/** Branded ids: a RunId cannot be passed where a TenantId is expected. */
export type Brand<T, B extends string> = T & { readonly __brand: B };

export type TenantId = Brand<string, 'TenantId'>;
export type UserId = Brand<string, 'UserId'>;
export type ApiTokenId = Brand<string, 'ApiTokenId'>;
export type AppId = Brand<string, 'AppId'>;
export type ActionId = Brand<string, 'ActionId'>;
export type ConnectionId = Brand<string, 'ConnectionId'>;
export type WorkflowId = Brand<string, 'WorkflowId'>;
export type WorkflowVersionId = Brand<string, 'WorkflowVersionId'>;
export type TriggerId = Brand<string, 'TriggerId'>;
export type RunId = Brand<string, 'RunId'>;
export type StepRunId = Brand<string, 'StepRunId'>;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}
