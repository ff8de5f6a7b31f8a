/**
 * Prometheus metrics: one registry per process, served at GET /metrics. Label values come from
 * small closed sets (outcomes, codes), never from user input, so cardinality stays bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_process_' });
  return {
    registry,
    webhookRequests: new Counter({
      name: 'switchyard_webhook_requests_total',
      help: 'Webhook ingress requests by outcome (accepted, duplicate, unsigned, bad_signature, stale_timestamp, not_found, rate_limited, overloaded, unavailable, rejected, too_large, error).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    apiRequestSeconds: new Histogram({
      name: 'switchyard_api_request_duration_seconds',
      help: 'HTTP request latency by route and status class.',
      labelNames: ['route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    stepAttempts: new Counter({
      name: 'switchyard_step_attempts_total',
      help: 'Step attempts recorded, by action kind (http, javascript, python; none when the action is gone) and outcome (succeeded, failed, skipped).',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    stepDurationSeconds: new Histogram({
      name: 'switchyard_step_duration_seconds',
      help: "Step attempts recorded, by action kind (http, javascript, python; none when the action is gone) and outcome (succeeded, failed, skipped): time from the attempt's start to its recorded outcome.",
      labelNames: ['kind', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    runDurationSeconds: new Histogram({
      name: 'switchyard_run_duration_seconds',
      help: "Runs ended by the engine, by final status (succeeded, failed, dead): time from the run's creation to its end, queueing and retries included. _count is the number of runs ended.",
      labelNames: ['status'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    retentionDeletedRows: new Counter({
      name: 'switchyard_retention_deleted_rows_total',
      help: 'Rows removed by retention, by table (workflow_runs, step_runs, dead_letters, jobs, idempotency_keys, invitations, execution_logs, audit_events, sessions).',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    retentionDroppedPartitions: new Counter({
      name: 'switchyard_retention_dropped_partitions_total',
      help: 'Day partitions dropped by retention, by parent table (execution_logs, access_log).',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    retentionLastSuccess: new Gauge({
      name: 'switchyard_retention_last_success_timestamp_seconds',
      help: 'When this process last finished a retention run without errors (alert when it gets old).',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
