import { z } from 'zod';

export const logSchema = z.object({
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

export type LogConfig = { level: z.infer<typeof logSchema>['LOG_LEVEL'] };

export function toLogConfig(env: z.infer<typeof logSchema>): LogConfig {
  return { level: env.LOG_LEVEL };
}
