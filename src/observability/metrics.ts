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
