import { loadConfig, type Config } from '../config/index.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { pino } from 'pino';
import { startTracing } from '../observability/tracing.ts';
import type { Lifecycle } from './lifecycle.ts';

export type CliContext = { config: Config; logger: Logger };

/** Config parsed once; logs go to stdout for servers and stderr for one-shot commands. */
export function createContext(opts: { logsTo: 'stdout' | 'stderr'; name: string }): CliContext {
  const config = loadConfig(process.env);
  const destination = pino.destination({ fd: opts.logsTo === 'stdout' ? 1 : 2, sync: false });
  const logger = createLogger({ level: config.log.level, name: opts.name }, destination);
  return { config, logger };
}

/**
 * Tracing for a long-running process (OTEL_EXPORTER_OTLP_ENDPOINT): installed now; register it
 * first so that it stops last, exporting the spans of everything that stopped before it.
 */
export function startProcessTracing(config: Config, name: string, lifecycle: Lifecycle): void {
  const tracing = startTracing({ endpoint: config.log.otlpEndpoint, serviceName: name });
  lifecycle.onStop('tracing', () => tracing.shutdown());
}
