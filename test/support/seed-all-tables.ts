/**
 * One row in every tenant table for a tenant, written as the runtime role through
 * withTenant(). The isolation test (test/integration/rls-isolation.test.ts) finds tenant tables
 * from the catalog and fails, naming the table, when one has no seed row here: a new table
 * must be seeded (one insert below) to be covered.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { withTenant } from '../../src/db/tenant.ts';
import type { TenantId } from '../../src/model/ids.ts';

export async function seedAllTables(pool: pg.Pool, tenantId: TenantId): Promise<void> {
  await withTenant(pool, tenantId, async (db) => {
    const one = async (sql: string, params: unknown[] = []): Promise<string> => {
      const res = await db.query<{ id: string }>(sql, params);
      return res.rows[0]?.id ?? '';
    };
    await one(
      `insert into invitations (tenant_id, email, role, token_hash, expires_at)
       values ($1, 'invitee@example.test', 'viewer', $2, now() + interval '1 day') returning id`,
      [tenantId, randomBytes(32)],
    );
    const appId = await one(
      `insert into apps (tenant_id, key, name, base_url, auth_kind) values ($1, 'crm', 'CRM', 'https://crm.example.test', 'bearer') returning id`,
      [tenantId],
    );
    const actionId = await one(
      `insert into actions (tenant_id, app_id, key, name, kind, implementation)
       values ($1, $2, 'create-contact', 'Create contact', 'http', '{"method": "POST", "path": "/contacts"}') returning id`,
      [tenantId, appId],
    );
    const connectionId = await one(
      `insert into connections (tenant_id, app_id, name, config) values ($1, $2, 'CRM prod', '{}') returning id`,
      [tenantId, appId],
    );
    await one(
      `insert into oauth_states (tenant_id, state_hash, user_id, session_id, connection_id, verifier_cipher, redirect_uri, expires_at)
       values ($1, $2, gen_random_uuid(), gen_random_uuid(), $3, '\\x00', 'https://switchyard.example.test/oauth/callback', now() + interval '10 minutes')
       returning id`,
      [tenantId, randomBytes(32), connectionId],
    );
    const workflowId = await one(
      `insert into workflows (tenant_id, name) values ($1, 'Sync contacts') returning id`,
      [tenantId],
    );
    const versionId = await one(
      `insert into workflow_versions (tenant_id, workflow_id, version, definition)
       values ($1, $2, 1, $3) returning id`,
      [
        tenantId,
        workflowId,
        JSON.stringify({
          steps: [{ id: 's1', actionId, connectionId, input: {}, onError: 'fail' }],
        }),
      ],
    );
    await one(`update workflows set current_version_id = $2 where id = $1 returning id`, [
      workflowId,
      versionId,
    ]);
    const triggerId = await one(
      `insert into triggers (tenant_id, workflow_id, kind, webhook_secret_cipher) values ($1, $2, 'webhook', $3) returning id`,
      [tenantId, workflowId, randomBytes(48)],
    );
    await one(
      `insert into trigger_samples (tenant_id, trigger_id, payload, size_bytes, received_at)
       values ($1, $2, '{"body": {}}', 12, now()) returning trigger_id as id`,
      [tenantId, triggerId],
    );
    await one(
      `insert into webhook_filtered_events (tenant_id, trigger_id, event) values ($1, $2, 'push') returning event as id`,
      [tenantId, triggerId],
    );
    const runId = await one(
      `insert into workflow_runs (tenant_id, workflow_id, workflow_version_id, trigger_id, idempotency_key, status)
       values ($1, $2, $3, $4, 'key-1', 'dead') returning id`,
      [tenantId, workflowId, versionId, triggerId],
    );
    await one(
      `insert into step_runs (tenant_id, run_id, step_id, step_index, attempt, status) values ($1, $2, 's1', 0, 1, 'failed') returning id`,
      [tenantId, runId],
    );
    await one(`insert into jobs (tenant_id, run_id, step_index) values ($1, $2, 0) returning id`, [
      tenantId,
      runId,
    ]);
    // forEach (migration 0031): a loop, a chunk of its list and an item's result.
    await one(
      `insert into for_each_loops (tenant_id, run_id, loop_pc, item_count, chunk_size, spawned, created_at)
       values ($1, $2, 0, 1, 1, 1, now()) returning run_id as id`,
      [tenantId, runId],
    );
    await one(
      `insert into for_each_chunks (tenant_id, run_id, loop_pc, chunk_index, items)
       values ($1, $2, 0, 0, '["x"]') returning run_id as id`,
      [tenantId, runId],
    );
    await one(
      `insert into for_each_results (tenant_id, run_id, loop_pc, item_index, failed, result)
       values ($1, $2, 0, 0, false, '{}') returning run_id as id`,
      [tenantId, runId],
    );
    await one(
      `insert into dead_letters (tenant_id, run_id, workflow_id, failed_step_id, error) values ($1, $2, $3, 's1', '{}') returning id`,
      [tenantId, runId, workflowId],
    );
    await one(
      `insert into execution_logs (tenant_id, run_id, level, message) values ($1, $2, 'info', 'hello') returning id`,
      [tenantId, runId],
    );
    await one(
      `insert into access_log (tenant_id, actor_kind, operation_kind, outcome) values ($1, 'user', 'query', 'ok') returning id`,
      [tenantId],
    );
    await one(
      `insert into idempotency_keys (tenant_id, workflow_id, key, input_hash, run_id, expires_at)
       values ($1, $2, 'key-1', $3, $4, now() + interval '1 day') returning id`,
      [tenantId, workflowId, randomBytes(32), runId],
    );
    await one(
      `insert into tenant_data_keys (tenant_id, version, wrapped_key, kek_id, kek_version)
       values ($1, 1, $2, 'local', 1) returning id`,
      [tenantId, randomBytes(60)],
    );
    await one(
      `insert into rate_limits (tenant_id, key, tat) values ($1, 'action:seed', now()) returning key as id`,
      [tenantId],
    );
    await one(
      `insert into tenant_settings (tenant_id, run_retention_days) values ($1, 30) returning tenant_id as id`,
      [tenantId],
    );
    await one(
      `insert into circuit_breakers (tenant_id, host, connection_key, state, failures)
       values ($1, 'api.example.test', '', 'closed', 1) returning host as id`,
      [tenantId],
    );
    const notificationId = await one(
      `insert into failure_notifications (tenant_id, workflow_id, channel, target)
       values ($1, $2, 'email', 'oncall@example.test') returning id`,
      [tenantId, workflowId],
    );
    await one(
      `insert into notification_outbox (tenant_id, notification_id, payload)
       values ($1, $2, '{"count": 1}') returning id`,
      [tenantId, notificationId],
    );
  });
}
