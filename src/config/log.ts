import { z } from 'zod';

export const logSchema = z.object({
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    }, 'expected an http(s) URL of an OTLP/HTTP collector, like http://127.0.0.1:4318')
    .optional(),
});

export type LogConfig = {
  level: z.infer<typeof logSchema>['LOG_LEVEL'];
  /** OTLP/HTTP collector that receives traces (`<endpoint>/v1/traces`); null: no tracing. */
  otlpEndpoint: string | null;
};

export function toLogConfig(env: z.infer<typeof logSchema>): LogConfig {
  return { level: env.LOG_LEVEL, otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT ?? null };
}
