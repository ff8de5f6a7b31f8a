/**
 * "Test connection": one GET to the app's base URL with the connection's credentials applied
 * as a step would apply them (runner/actions/auth.ts), through the outgoing-request gate, so
 * the answer says what a step would meet: the credentials accepted, refused, or the service
 * or its address unreachable. Built here, where cli wires the runner to the database; the API
 * receives it as a function (api/ does not import runner/).
 */
import type pg from 'pg';
import type { GateConfig } from '../config/runner.ts';
import { selectApp } from '../db/queries/apps.ts';
import { withTenant } from '../db/tenant.ts';
import type { ConnectionTestResult, ConnectionTester } from '../api/graphql/context.ts';
import { isSwitchyardError } from '../model/errors.ts';
import type { ConnectionId, TenantId } from '../model/ids.ts';
import { applyAuth, createTokenCache } from '../runner/actions/auth.ts';
import { createGate } from '../runner/gate/gate.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';
import { dbConnectionLoader } from './executor.ts';

/** A test is one request a person waits for: shorter than a step's default timeout. */
const TEST_TIMEOUT_MS = 10_000;

export function createConnectionTester(deps: {
  pool: pg.Pool;
  secretBox: SecretBox;
  gate: GateConfig;
}): ConnectionTester {
  const gate = createGate(deps.gate);
  const connections = dbConnectionLoader(deps.pool, deps.secretBox);
  // Not shared with the workers: a test never reuses (or leaves behind) a step's OAuth token.
  const tokens = createTokenCache();
  const clock = { now: () => new Date() };

  return async (tenantId: TenantId, connectionId: ConnectionId): Promise<ConnectionTestResult> => {
    const conn = await connections.load(tenantId, connectionId);
    const app = await withTenant(deps.pool, tenantId, (c) => selectApp(c, { id: conn.appId }));
    if (!app?.baseUrl)
      return {
        ok: false,
        status: null,
        code: 'E_CONNECTION_INVALID',
        message: 'This app has no base URL to call: its actions use absolute URLs.',
      };
    try {
      const auth = await applyAuth(conn, {
        tenantId,
        outbound: (req) => gate.request(req),
        tokens,
        clock,
      });
      const url = new URL(app.baseUrl);
      for (const [k, v] of Object.entries(auth.query)) url.searchParams.set(k, v);
      const res = await gate.request({
        method: 'GET',
        url: url.toString(),
        headers: { accept: 'application/json, */*;q=0.5', ...auth.headers },
        sensitiveHeaders: Object.keys(auth.headers),
        timeoutMs: TEST_TIMEOUT_MS,
      });
      if (res.status >= 200 && res.status < 400)
        return {
          ok: true,
          status: res.status,
          code: null,
          message: `${app.name} answered ${res.status}.`,
        };
      const refused = res.status === 401 || res.status === 403;
      return {
        ok: false,
        status: res.status,
        code:
          res.status >= 500 || res.status === 429
            ? 'E_UPSTREAM_UNAVAILABLE'
            : 'E_UPSTREAM_REJECTED',
        message: refused
          ? `${app.name} refused the credentials (${res.status}): check the secret.`
          : `${app.name} answered ${res.status}.`,
      };
    } catch (err) {
      if (!isSwitchyardError(err)) throw err;
      return { ok: false, status: null, code: err.code, message: err.message };
    }
  };
}
