/**
 * Row types of the tables of migration 0001, for the Kysely query builder (db/sql.ts), which
 * composes the statements whose shape depends on optional filters (runs by status, workflow,
 * trigger and time). snake_case as in the database; db/queries/ maps them to camelCase. Add a
 * later table here when a query of it needs the builder.
 */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string | undefined, string>;
type Defaulted<T> = ColumnType<T, T | undefined, T>;

export interface TenantsTable {
  id: Generated<string>;
  name: string;
  settings: Json;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface UsersTable {
  id: Generated<string>;
  email: string;
  display_name: string | null;
  password_hash: string | null;
  disabled_at: Date | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface MembershipsTable {
  tenant_id: string;
  user_id: string;
  role: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface InvitationsTable {
  tenant_id: string;
  id: Generated<string>;
  email: string;
  role: string;
  token_hash: Buffer;
  invited_by: string | null;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_by: string | null;
  revoked_at: Date | null;
  created_at: Timestamp;
}
export interface ApiTokensTable {
  tenant_id: string;
  id: Generated<string>;
  name: string;
  role: string;
  prefix: string;
  secret_hash: Buffer;
  created_by: string | null;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Timestamp;
}
export interface AppsTable {
  tenant_id: string;
  id: Generated<string>;
  key: string;
  name: string;
  base_url: string | null;
  auth_kind: Defaulted<string>;
  auth_config: Json;
  connection_schema: Json;
  is_builtin: Defaulted<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface ActionsTable {
  tenant_id: string;
  id: Generated<string>;
  app_id: string;
  key: string;
  name: string;
  kind: string;
  input_schema: Json;
  output_schema: Json;
  implementation: Json;
  retry_strategy: Defaulted<string>;
  max_attempts: Defaulted<number>;
  initial_delay_ms: Defaulted<number>;
  max_delay_ms: Defaulted<number>;
  timeout_ms: Defaulted<number>;
  rate_limit_requests: number | null;
  rate_limit_per_seconds: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface ConnectionsTable {
  tenant_id: string;
  id: Generated<string>;
  app_id: string;
  name: string;
  config: Json;
  secret_cipher: Buffer | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface WorkflowsTable {
  tenant_id: string;
  id: Generated<string>;
  name: string;
  description: Defaulted<string>;
  current_version_id: string | null;
  archived_at: Date | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface WorkflowVersionsTable {
  tenant_id: string;
  id: Generated<string>;
  workflow_id: string;
  version: number;
  definition: Json;
  created_by: string | null;
  is_test: Defaulted<boolean>;
  parent_run_id: string | null;
  parent_step_index: number | null;
  created_at: Timestamp;
}
export interface TriggersTable {
  tenant_id: string;
  id: Generated<string>;
  workflow_id: string;
  kind: string;
  name: Defaulted<string>;
  enabled: Defaulted<boolean>;
  config: Json;
  webhook_secret_cipher: Buffer | null;
  previous_webhook_secret_cipher: Buffer | null;
  previous_secret_expires_at: Date | null;
  cron_next_fire_at: Date | null;
  cron_last_fired_at: Date | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}
export interface WorkflowRunsTable {
  tenant_id: string;
  id: Generated<string>;
  workflow_id: string;
  workflow_version_id: string;
  trigger_id: string | null;
  idempotency_key: string | null;
  input_hash: Buffer | null;
  input: Json;
  status: Defaulted<string>;
  output: Json | null;
  error: Json | null;
  trace_context: string | null;
  replay_of_run_id: string | null;
  origin_run_id: string | null;
  is_test: Defaulted<boolean>;
  parent_run_id: string | null;
  parent_step_index: number | null;
  created_at: Timestamp;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Timestamp;
}
export interface StepRunsTable {
  tenant_id: string;
  id: Generated<string>;
  run_id: string;
  step_id: string;
  step_index: number;
  attempt: number;
  status: string;
  input: Json | null;
  output: Json | null;
  error_code: string | null;
  error_message: string | null;
  error_retryable: boolean | null;
  started_at: Timestamp;
  finished_at: Date | null;
  item_index: number | null;
  branch: string | null;
  wait_until: Date | null;
  child_run_id: string | null;
}
export interface DeadLettersTable {
  tenant_id: string;
  id: Generated<string>;
  run_id: string;
  workflow_id: string;
  failed_step_id: string | null;
  error: Json;
  context: Json;
  retry_count: Defaulted<number>;
  replayed_at: Date | null;
  replay_run_id: string | null;
  created_at: Timestamp;
}
export interface ExecutionLogsTable {
  tenant_id: string;
  id: Generated<number>;
  run_id: string;
  step_run_id: string | null;
  level: string;
  message: string;
  data: Json | null;
  logged_at: Timestamp;
}
export interface AccessLogTable {
  tenant_id: string | null;
  id: Generated<number>;
  actor_kind: string;
  actor_id: string | null;
  token_id: string | null;
  operation_kind: string;
  operation_name: string | null;
  outcome: string;
  duration_ms: number | null;
  ip: string | null;
  request_id: string | null;
  occurred_at: Timestamp;
}
export interface AuditEventsTable {
  tenant_id: string;
  seq: Generated<number>;
  id: Generated<string>;
  actor_kind: string;
  actor_id: string | null;
  action: string;
  target_kind: string | null;
  target_id: string | null;
  outcome: Defaulted<string>;
  metadata: Json;
  ip: string | null;
  request_id: string | null;
  occurred_at: Timestamp;
  prev_hash: Generated<Buffer>;
  hash: Generated<Buffer>;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  invitations: InvitationsTable;
  api_tokens: ApiTokensTable;
  apps: AppsTable;
  actions: ActionsTable;
  connections: ConnectionsTable;
  workflows: WorkflowsTable;
  workflow_versions: WorkflowVersionsTable;
  triggers: TriggersTable;
  workflow_runs: WorkflowRunsTable;
  step_runs: StepRunsTable;
  dead_letters: DeadLettersTable;
  execution_logs: ExecutionLogsTable;
  access_log: AccessLogTable;
  audit_events: AuditEventsTable;
}
