/** An action row (actions + apps, as the engine's statements load it) as the runner needs it. */
import type { ActionRow } from '../db/queries/workflow-runs.ts';
import type { ActionId, AppId } from '../model/ids.ts';
import type { ActionKind, ActionSpec, RetryStrategy } from '../model/step.ts';

export function toActionSpec(a: ActionRow): ActionSpec {
  return {
    id: a.id as ActionId,
    appId: a.app_id as AppId,
    appKey: a.app_key,
    key: a.key,
    kind: a.kind as ActionKind,
    inputSchema: a.input_schema,
    outputSchema: a.output_schema,
    implementation: a.implementation,
    baseUrl: a.base_url,
    retry: {
      strategy: a.retry_strategy as RetryStrategy,
      maxAttempts: a.max_attempts,
      initialDelayMs: a.initial_delay_ms,
      maxDelayMs: a.max_delay_ms,
    },
    timeoutMs: a.timeout_ms,
    rateLimit:
      a.rate_limit_requests !== null && a.rate_limit_per_seconds !== null
        ? { requests: a.rate_limit_requests, perSeconds: a.rate_limit_per_seconds }
        : null,
  };
}
