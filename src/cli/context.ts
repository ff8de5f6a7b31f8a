import { loadConfig, type Config } from '../config/index.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { pino } from 'pino';

export type CliContext = { config: Config; logger: Logger };

/** Config parsed once; logs go to stdout for servers and stderr for one-shot commands. */
export function createContext(opts: { logsTo: 'stdout' | 'stderr'; name: string }): CliContext {
  const config = loadConfig(process.env);
  const destination = pino.destination({ fd: opts.logsTo === 'stdout' ? 1 : 2, sync: false });
  const logger = createLogger({ level: config.log.level, name: opts.name }, destination);
  return { config, logger };
}
