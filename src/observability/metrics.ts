/**
 * Prometheus metrics: one registry per process, served at GET /metrics. Label values come from
 * small closed sets (outcomes, codes), never from user input, so cardinality stays bounded.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
