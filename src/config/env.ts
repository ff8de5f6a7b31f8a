import { z } from 'zod';

/** Helpers shared by the per-domain schemas: every variable has a unit in its name and a default. */

const portNumber = () =>
  z.coerce
    .number({ error: 'expected a whole number from 1 to 65535' })
    .int('expected a whole number from 1 to 65535')
    .min(1, 'expected a whole number from 1 to 65535')
    .max(65535, 'expected a whole number from 1 to 65535');

export const port = (fallback: number) => portNumber().default(fallback);

/** A port that is off unless set. */
export const optionalPort = () => portNumber().optional();

export const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'expected a positive whole number' })
    .int('expected a positive whole number')
    .min(1, 'expected a positive whole number')
    .max(max, `expected at most ${max}`)
    .default(fallback);

export const boolFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const postgresUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
  } catch {
    return false;
  }
}, 'expected a URL like postgres://user:password@host:5432/database');

/** Empty strings count as unset, as most shells and compose files produce them. */
export function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}
