import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { optionalPort, port } from './env.ts';

export const serverSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port(3000),
  WORKER_METRICS_PORT: optionalPort(),
  WEB_APP_DIR: z
    .string()
    .min(1)
    .default(fileURLToPath(new URL('../../web/.output/public', import.meta.url))),
});

export type ServerConfig = {
  host: string;
  port: number;
  /** Where `switchyard worker` serves /metrics (on `host`); null: it serves none. */
  workerMetricsPort: number | null;
  /** The built web app (`npm run build:web`), served at `/` by `start` and `api`. */
  webAppDir: string;
};

export function toServerConfig(env: z.infer<typeof serverSchema>): ServerConfig {
  return {
    host: env.HOST,
    port: env.PORT,
    workerMetricsPort: env.WORKER_METRICS_PORT ?? null,
    webAppDir: env.WEB_APP_DIR,
  };
}
