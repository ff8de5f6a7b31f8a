import { z } from 'zod';
import { port } from './env.ts';

export const serverSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port(3000),
});

export type ServerConfig = { host: string; port: number };

export function toServerConfig(env: z.infer<typeof serverSchema>): ServerConfig {
  return { host: env.HOST, port: env.PORT };
}
