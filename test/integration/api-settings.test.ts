/** Tenant settings over GraphQL: who may read and change retention, and what is allowed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { makeTenant } from '../support/factories.ts';

let db: TestDatabase;
let api: TestApi;
let tenantId: string;
const tokens: Record<'owner' | 'admin' | 'editor' | 'viewer', string> = {
  owner: '',
  admin: '',
  editor: '',
  viewer: '',
};

const SETTINGS = `{ tenantSettings { updatedAt retention {
  runs { days tenantDays defaultDays minDays maxDays tenantConfigurable }
  executionLogs { days tenantDays defaultDays minDays maxDays tenantConfigurable }
  auditEvents { days tenantDays defaultDays minDays maxDays tenantConfigurable }
  accessLog { days tenantDays defaultDays minDays maxDays tenantConfigurable } } } }`;
const UPDATE = `mutation($r: RetentionSettingsInput!) { updateTenantSettings(retention: $r) {
  retention { runs { days tenantDays } executionLogs { days tenantDays } auditEvents { days tenantDays } } } }`;

type Setting = { days: number; tenantDays: number | null };
type Updated = {
  updateTenantSettings: { retention: Record<'runs' | 'executionLogs' | 'auditEvents', Setting> };
};

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { RETENTION_EXECUTION_LOG_DAYS: '14' });
  const created = await makeTenant(db.pool);
  tenantId = created.tenantId;
  tokens.owner = created.apiToken;
  for (const role of ['admin', 'editor', 'viewer'] as const) {
    const r = await api.gql<{ createApiToken: { secret: string } }>(
      `mutation($role: Role!) { createApiToken(name: "t", role: $role) { secret } }`,
      { role },
      { token: tokens.owner },
    );
    tokens[role] = r.data!.createApiToken.secret;
  }
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe('tenant settings', () => {
  it('shows every member the retention in force, with the server defaults and the allowed range', async () => {
    const r = await api.gql(SETTINGS, {}, { token: tokens.viewer });
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({
      tenantSettings: {
        updatedAt: null,
        retention: {
          runs: setting(90, 1, 3650),
          executionLogs: setting(14, 1, 14),
          auditEvents: setting(365, 30, 3650),
          accessLog: { ...setting(365, 30, 365), tenantConfigurable: false },
        },
      },
    });
  });

  it('lets admins and owners change it, and audits the change with its actor', async () => {
    const r = await api.gql<Updated>(
      UPDATE,
      { r: { runDays: 7, auditDays: 400 } },
      { token: tokens.admin },
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.updateTenantSettings.retention).toEqual({
      runs: { days: 7, tenantDays: 7 },
      executionLogs: { days: 14, tenantDays: null },
      auditEvents: { days: 400, tenantDays: 400 },
    });
    const owner = await api.gql<Updated>(
      UPDATE,
      { r: { executionLogDays: 3 } },
      { token: tokens.owner },
    );
    expect(owner.data?.updateTenantSettings.retention.executionLogs).toEqual({
      days: 3,
      tenantDays: 3,
    });
    const audited = await db.ownerPool.query<{ actor_kind: string; metadata: unknown }>(
      `select actor_kind, metadata from audit_events
        where tenant_id = $1 and action = 'tenant.settings_updated' order by seq`,
      [tenantId],
    );
    expect(audited.rows).toEqual([
      {
        actor_kind: 'token',
        metadata: {
          retention: { runDays: { from: null, to: 7 }, auditDays: { from: null, to: 400 } },
        },
      },
      { actor_kind: 'token', metadata: { retention: { executionLogDays: { from: null, to: 3 } } } },
    ]);
  });

  it('refuses editors and viewers', async () => {
    for (const role of ['editor', 'viewer'] as const) {
      const r = await api.gql(UPDATE, { r: { runDays: 1 } }, { token: tokens[role] });
      expect(r.errors?.[0]?.extensions?.code).toBe('E_FORBIDDEN');
    }
  });

  it('refuses values out of range, says what is allowed, and saves nothing of the request', async () => {
    const cases: Array<[Record<string, number>, string, RegExp]> = [
      [{ runDays: 0 }, 'retention.runDays', /Finished runs can be kept 1 to 3650 days/],
      [{ runDays: 5, auditDays: 10 }, 'retention.auditDays', /at least 30 days\); got 10/],
      [
        { executionLogDays: 30 },
        'retention.executionLogDays',
        /1 to 14 days \(this server drops them after RETENTION_EXECUTION_LOG_DAYS=14 days/,
      ],
    ];
    for (const [input, field, message] of cases) {
      const r = await api.gql(UPDATE, { r: input }, { token: tokens.owner });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'E_VALIDATION', field });
      expect(r.errors?.[0]?.message).toMatch(message);
    }
    const now = await api.gql<{ tenantSettings: { retention: { runs: Setting } } }>(
      SETTINGS,
      {},
      { token: tokens.viewer },
    );
    expect(now.data?.tenantSettings.retention.runs).toMatchObject({ days: 7, tenantDays: 7 });
  });

  it('goes back to the server default with null and leaves fields not given alone', async () => {
    const r = await api.gql<Updated>(UPDATE, { r: { runDays: null } }, { token: tokens.owner });
    expect(r.data?.updateTenantSettings.retention).toEqual({
      runs: { days: 90, tenantDays: null },
      executionLogs: { days: 3, tenantDays: 3 },
      auditEvents: { days: 400, tenantDays: 400 },
    });
  });

  it('keeps each tenant’s settings to itself', async () => {
    const other = await makeTenant(db.pool);
    const r = await api.gql<{ tenantSettings: { retention: { runs: Setting } } }>(
      SETTINGS,
      {},
      { token: other.apiToken },
    );
    expect(r.data?.tenantSettings.retention.runs).toMatchObject({ days: 90, tenantDays: null });
  });
});

function setting(defaultDays: number, minDays: number, maxDays: number) {
  return {
    days: defaultDays,
    tenantDays: null,
    defaultDays,
    minDays,
    maxDays,
    tenantConfigurable: true,
  };
}
