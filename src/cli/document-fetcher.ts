/**
 * Fetches an OpenAPI document for importOpenApi through the outgoing gate: the URL is the
 * user's, so it gets the same address policy (no private or metadata addresses unless the
 * operator allows them), timeouts and redirect rules as a step's request. Only the size cap is
 * larger than a step's: public API descriptions run to tens of megabytes (GitHub's is 13 MB).
 */
import type { GateConfig } from '../config/runner.ts';
import { SwitchyardError } from '../model/errors.ts';
import { createGate } from '../runner/gate/gate.ts';

export const OPENAPI_MAX_BYTES = 50 * 1024 * 1024;

export function createDocumentFetcher(config: GateConfig): (url: string) => Promise<string> {
  const gate = createGate({
    ...config,
    maxResponseBytes: Math.max(config.maxResponseBytes, OPENAPI_MAX_BYTES),
  });
  return async (url) => {
    const res = await gate.request({
      method: 'GET',
      url,
      headers: {
        accept: 'application/json, application/yaml;q=0.9, text/yaml;q=0.9, */*;q=0.5',
        'user-agent': 'Switchyard/0.1 (OpenAPI import)',
      },
    });
    if (res.status < 200 || res.status > 299)
      throw new SwitchyardError(
        'E_OPENAPI_FETCH_FAILED',
        `${new URL(url).origin} answered HTTP ${res.status} for the document.`,
        { field: 'url', status: res.status },
      );
    return res.body.toString('utf8');
  };
}
