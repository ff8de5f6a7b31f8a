/** The engine's observer that counts into the process's Prometheus metrics. */
import type { EngineObserver } from '../engine/observer.ts';
import type { Metrics } from '../observability/metrics.ts';

export function metricsObserver(metrics: Metrics): EngineObserver {
  return {
    stepFinished: (e) =>
      metrics.stepAttempts.inc({ kind: e.actionKind ?? 'none', outcome: e.outcome }),
    runFinished: (e) => metrics.runDurationSeconds.observe({ status: e.status }, e.durationSeconds),
  };
}
