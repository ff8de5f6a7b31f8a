import { z } from 'zod';
import { boolFlag, positiveInt } from './env.ts';

export const apiSchema = z.object({
  PUBLIC_URL: z
    .url({
      error: 'expected the URL users reach Switchyard at, e.g. https://switchyard.example.com',
    })
    .optional(),
  SESSION_TTL_MS: positiveInt(7 * 24 * 3600_000),
  SIGN_IN_MAX_FAILURES: positiveInt(10, 1000),
  SIGN_IN_MAX_FAILURES_PER_IP: positiveInt(100, 100_000),
  SIGN_IN_FAILURE_WINDOW_MS: positiveInt(15 * 60_000),
  SIGN_IN_LOCK_MS: positiveInt(15 * 60_000),
  INVITATION_TTL_MS: positiveInt(7 * 24 * 3600_000),
  GRAPHQL_INTROSPECTION: boolFlag(true),
  GRAPHQL_MAX_DEPTH: positiveInt(15, 100),
  GRAPHQL_MAX_COST: positiveInt(20_000),
  API_SUBSCRIPTIONS_MAX: positiveInt(1_000, 100_000),
  RATE_LIMIT_TENANT_PER_MINUTE: positiveInt(6_000),
  RATE_LIMIT_PRINCIPAL_PER_MINUTE: positiveInt(1_200),
  RATE_LIMIT_IP_PER_MINUTE: positiveInt(600),
  RATE_LIMIT_PROCESS_SHARE: positiveInt(1, 1000),
  RATE_LIMIT_WEBHOOK_TRIGGER_PER_MINUTE: positiveInt(600_000),
  RATE_LIMIT_WEBHOOK_IP_PER_MINUTE: positiveInt(600_000),
  WEBHOOK_MAX_BODY_BYTES: positiveInt(1_048_576, 100 * 1_048_576),
  WEBHOOK_SECRET_OVERLAP_MS: positiveInt(24 * 3600_000),
  SMTP_URL: z
    .string()
    .refine(
      (v) => /^smtps?:\/\/[^/]+/.test(v),
      'expected smtp://user:password@host:587 or smtps://…:465',
    )
    .optional(),
  SMTP_FROM: z.string().min(3).default('Switchyard <no-reply@localhost>'),
  SMTP_TIMEOUT_MS: positiveInt(10_000, 120_000),
  WEBHOOK_TRIGGER_CACHE_MS: z.coerce
    .number({ error: 'expected milliseconds (0 disables the cache)' })
    .int()
    .min(0)
    .max(60_000)
    .default(5_000),
});

export type ApiConfig = {
  publicUrl: string | undefined;
  sessionTtlMs: number;
  signIn: {
    maxFailures: number;
    maxFailuresPerIp: number;
    failureWindowMs: number;
    lockMs: number;
  };
  invitationTtlMs: number;
  smtp: { url: string; from: string; timeoutMs: number } | null;
  graphql: { introspection: boolean; maxDepth: number; maxCost: number };
  /** Open GraphQL subscriptions (live runs) this process serves at once. */
  subscriptionsMax: number;
  /** Requests per minute per key, already divided by the number of API processes sharing it. */
  rateLimits: { tenantPerMinute: number; principalPerMinute: number; ipPerMinute: number };
  webhooks: {
    maxBodyBytes: number;
    secretOverlapMs: number;
    triggerCacheMs: number;
    perTriggerPerMinute: number;
    perIpPerMinute: number;
  };
};

export function toApiConfig(env: z.infer<typeof apiSchema>): ApiConfig {
  const share = (n: number) => Math.max(1, Math.floor(n / env.RATE_LIMIT_PROCESS_SHARE));
  return {
    publicUrl: env.PUBLIC_URL,
    sessionTtlMs: env.SESSION_TTL_MS,
    signIn: {
      maxFailures: env.SIGN_IN_MAX_FAILURES,
      maxFailuresPerIp: env.SIGN_IN_MAX_FAILURES_PER_IP,
      failureWindowMs: env.SIGN_IN_FAILURE_WINDOW_MS,
      lockMs: env.SIGN_IN_LOCK_MS,
    },
    invitationTtlMs: env.INVITATION_TTL_MS,
    smtp: env.SMTP_URL
      ? { url: env.SMTP_URL, from: env.SMTP_FROM, timeoutMs: env.SMTP_TIMEOUT_MS }
      : null,
    graphql: {
      introspection: env.GRAPHQL_INTROSPECTION,
      maxDepth: env.GRAPHQL_MAX_DEPTH,
      maxCost: env.GRAPHQL_MAX_COST,
    },
    subscriptionsMax: env.API_SUBSCRIPTIONS_MAX,
    rateLimits: {
      tenantPerMinute: share(env.RATE_LIMIT_TENANT_PER_MINUTE),
      principalPerMinute: share(env.RATE_LIMIT_PRINCIPAL_PER_MINUTE),
      ipPerMinute: share(env.RATE_LIMIT_IP_PER_MINUTE),
    },
    webhooks: {
      maxBodyBytes: env.WEBHOOK_MAX_BODY_BYTES,
      secretOverlapMs: env.WEBHOOK_SECRET_OVERLAP_MS,
      triggerCacheMs: env.WEBHOOK_TRIGGER_CACHE_MS,
      perTriggerPerMinute: share(env.RATE_LIMIT_WEBHOOK_TRIGGER_PER_MINUTE),
      perIpPerMinute: share(env.RATE_LIMIT_WEBHOOK_IP_PER_MINUTE),
    },
  };
}
