/** The engine's observer that counts into the process's Prometheus metrics. */
import type { EngineObserver } from '../engine/observer.ts';
import type { Metrics } from '../observability/metrics.ts';

export function metricsObserver(metrics: Metrics): EngineObserver {
  return {
    stepFinished: (e) => {
      const labels = { kind: e.actionKind ?? 'none', outcome: e.outcome };
      metrics.stepAttempts.inc(labels);
      metrics.stepDurationSeconds.observe(labels, e.durationSeconds);
    },
    runFinished: (e) => metrics.runDurationSeconds.observe({ status: e.status }, e.durationSeconds),
  };
}
