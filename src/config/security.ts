import { z } from 'zod';
import { boolFlag, positiveInt } from './env.ts';

/** One base64 key of 32 bytes, or `<version>:<base64>` entries separated by commas. */
const masterKeyList = z.string().refine(
  (v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .every((e) => {
        const m = /^(?:\d{1,9}:)?([A-Za-z0-9+/_-]+={0,2})$/.exec(e);
        return m?.[1] !== undefined && Buffer.from(m[1], 'base64').length === 32;
      }),
  'expected a base64 key of 32 bytes (openssl rand -base64 32), or "<version>:<base64>" entries separated by commas',
);

const httpsUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    // Plain HTTP only to a Vault agent or proxy on this machine.
    return (
      u.protocol === 'https:' ||
      (u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))
    );
  } catch {
    return false;
  }
}, 'expected an https:// URL (http:// only for 127.0.0.1, localhost or [::1])');

export const securitySchema = z
  .object({
    KMS_PROVIDER: z.enum(['local', 'vault'], { error: 'expected local or vault' }).default('local'),
    SWITCHYARD_MASTER_KEY: masterKeyList.optional(),
    SWITCHYARD_MASTER_KEY_FILE: z.string().min(1).optional(),
    VAULT_ADDR: httpsUrl.optional(),
    VAULT_TOKEN: z.string().min(1).optional(),
    VAULT_NAMESPACE: z.string().min(1).optional(),
    VAULT_TRANSIT_MOUNT: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'expected a mount path like transit')
      .default('transit'),
    VAULT_TRANSIT_KEY: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'expected a Transit key name')
      .default('switchyard'),
    VAULT_CA_FILE: z.string().min(1).optional(),
    VAULT_TIMEOUT_MS: positiveInt(5_000, 120_000),
    KMS_KEY_CACHE_TTL_MS: z.coerce
      .number({ error: 'expected a whole number of milliseconds (0 disables the cache)' })
      .int('expected a whole number of milliseconds (0 disables the cache)')
      .min(0, 'expected a whole number of milliseconds (0 disables the cache)')
      .max(3_600_000, 'expected at most 3600000')
      .default(300_000),
    KMS_KEY_CACHE_MAX: positiveInt(1_000, 1_000_000),
    TLS_CERT_FILE: z.string().min(1).optional(),
    TLS_KEY_FILE: z.string().min(1).optional(),
    HSTS_MAX_AGE_S: positiveInt(31_536_000, 63_072_000),
    TRUST_PROXY: z
      .string()
      .regex(
        /^(true|false|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$/,
        'expected true, false, or comma-separated proxy addresses/CIDRs (e.g. 10.0.0.0/8,127.0.0.1)',
      )
      .default('false'),
    REQUIRE_HTTPS: boolFlag(false),
  })
  .superRefine((env, ctx) => {
    if (env.KMS_PROVIDER === 'vault') {
      for (const name of ['VAULT_ADDR', 'VAULT_TOKEN'] as const) {
        if (!env[name])
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'required with KMS_PROVIDER=vault',
          });
      }
    }
    if (env.SWITCHYARD_MASTER_KEY && env.SWITCHYARD_MASTER_KEY_FILE) {
      ctx.addIssue({
        code: 'custom',
        path: ['SWITCHYARD_MASTER_KEY_FILE'],
        message: 'set SWITCHYARD_MASTER_KEY or SWITCHYARD_MASTER_KEY_FILE, not both',
      });
    }
    if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'],
        message: 'TLS_CERT_FILE and TLS_KEY_FILE go together',
      });
    }
  });

export type KmsConfig =
  | {
      provider: 'local';
      /** From SWITCHYARD_MASTER_KEY (never logged). */
      masterKey: string | undefined;
      /** SWITCHYARD_MASTER_KEY_FILE; unset: <data dir>/master.key with the embedded database. */
      masterKeyFile: string | undefined;
    }
  | {
      provider: 'vault';
      address: string;
      token: string;
      namespace: string | undefined;
      transitMount: string;
      transitKey: string;
      caFile: string | undefined;
      timeoutMs: number;
    };

export type SecurityConfig = {
  kms: KmsConfig;
  keyCacheTtlMs: number;
  keyCacheMax: number;
  tls: { certFile: string; keyFile: string } | undefined;
  hstsMaxAgeS: number;
  /** Fastify's trustProxy: every proxy (true), none (false), or these addresses/CIDRs. */
  trustProxy: boolean | string[];
  requireHttps: boolean;
};

export function toSecurityConfig(env: z.infer<typeof securitySchema>): SecurityConfig {
  const kms: KmsConfig =
    env.KMS_PROVIDER === 'vault'
      ? {
          provider: 'vault',
          address: env.VAULT_ADDR!,
          token: env.VAULT_TOKEN!,
          namespace: env.VAULT_NAMESPACE,
          transitMount: env.VAULT_TRANSIT_MOUNT,
          transitKey: env.VAULT_TRANSIT_KEY,
          caFile: env.VAULT_CA_FILE,
          timeoutMs: env.VAULT_TIMEOUT_MS,
        }
      : {
          provider: 'local',
          masterKey: env.SWITCHYARD_MASTER_KEY,
          masterKeyFile: env.SWITCHYARD_MASTER_KEY_FILE,
        };
  const tp = env.TRUST_PROXY;
  return {
    kms,
    keyCacheTtlMs: env.KMS_KEY_CACHE_TTL_MS,
    keyCacheMax: env.KMS_KEY_CACHE_MAX,
    tls:
      env.TLS_CERT_FILE && env.TLS_KEY_FILE
        ? { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE }
        : undefined,
    hstsMaxAgeS: env.HSTS_MAX_AGE_S,
    trustProxy: tp === 'true' ? true : tp === 'false' ? false : tp.split(','),
    requireHttps: env.REQUIRE_HTTPS,
  };
}
