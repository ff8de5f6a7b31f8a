import type pg from 'pg';
import { createLastUsedTracker } from '../accounts/last-used.ts';
import { createSmtpMailer } from '../accounts/mailer.ts';
import type { GraphqlOptions } from '../api/graphql/plugin.ts';
import { createRateLimiter } from '../api/rate-limit.ts';
import { createRunChangeHub } from '../api/run-changes.ts';
import type { HooksOptions } from '../api/routes/hooks.ts';
import type { OAuthRouteOptions } from '../api/routes/oauth.ts';
import { createGate } from '../runner/gate/gate.ts';
import { createTriggerLookup } from '../api/webhooks/trigger-lookup.ts';
import type { Config } from '../config/index.ts';
import type { Engine } from '../engine/engine.ts';
import { resumeWait, type ResumeInput } from '../engine/resume.ts';
import { createSampleRecorder } from '../engine/trigger-sample.ts';
import { createWaitTokens } from '../security/wait-tokens.ts';
import { createAccessLog } from '../observability/access-log.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { registerQueueGauges } from '../observability/queue-gauges.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';
import { createConnectionTester } from './connection-tester.ts';
import { createDocumentFetcher } from './document-fetcher.ts';
import { withTenant } from '../db/tenant.ts';
import { recordFilteredEvent } from '../db/queries/webhook-filtered-events.ts';
import type { TenantId, TriggerId } from '../model/ids.ts';

export type ApiWiring = {
  graphql: GraphqlOptions;
  hooks: HooksOptions;
  oauth: OAuthRouteOptions;
  stop: () => Promise<void>;
};

/**
 * The product API's dependencies (GraphQL and webhook ingress, the queue gauges of /metrics),
 * and how to flush them on stop.
 */
export function wireApi(
  config: Config,
  deps: { pool: pg.Pool; logger: Logger; engine: Engine; secrets: SecretBox; metrics: Metrics },
): ApiWiring {
  const { pool, logger } = deps;
  registerQueueGauges(deps.metrics.registry, { pool, logger });
  const lastUsed = createLastUsedTracker(pool, logger);
  const accessLog = createAccessLog(pool, logger, { registry: deps.metrics.registry });
  const rateLimiter = createRateLimiter();
  const samples = createSampleRecorder(pool, logger);
  const clock = { now: () => new Date() };
  // LISTEN needs a session: DATABASE_LISTEN_URL behind a transaction pooler, else the pool's URL.
  const runChanges = createRunChangeHub({
    listenUrl: config.database.listenUrl ?? pool.options.connectionString,
    maxSubscriptions: config.api.subscriptionsMax,
    logger,
  });
  const https = Boolean(config.security.tls) || config.security.requireHttps;
  // The OAuth code exchange is an outgoing request like a step's: through the same gate rules.
  const gate = createGate(config.runner.gate);
  const publicUrl = (
    config.api.publicUrl ??
    `${https ? 'https' : 'http'}://${config.server.host}:${config.server.port}`
  ).replace(/\/$/, '');
  // Wait tokens are derived from the tenant's data key: the API verifies what workers hand out.
  const resume = (p: ResumeInput) =>
    resumeWait(
      {
        pool,
        clock,
        waitTokens: createWaitTokens({ secretBox: deps.secrets, publicUrl }),
        maxPayloadBytes: config.api.webhooks.maxBodyBytes,
      },
      p,
    );
  return {
    graphql: {
      services: {
        pool,
        engine: deps.engine,
        runChanges,
        secrets: deps.secrets,
        mailer: config.api.smtp ? createSmtpMailer(config.api.smtp) : null,
        lastUsed,
        clock,
        connectionTester: createConnectionTester({
          pool,
          secretBox: deps.secrets,
          gate: config.runner.gate,
        }),
        fetchDocument: createDocumentFetcher(config.runner.gate),
        resume,
        settings: {
          signIn: { sessionTtlMs: config.api.sessionTtlMs, ...config.api.signIn },
          invitationTtlMs: config.api.invitationTtlMs,
          webhookSecretOverlapMs: config.api.webhooks.secretOverlapMs,
          secureCookies: https,
          publicUrl,
          retention: config.retention.defaults,
        },
      },
      logger,
      accessLog,
      rateLimiter,
      limits: config.api.graphql,
      rateLimits: config.api.rateLimits,
    },
    oauth: {
      pool,
      box: deps.secrets,
      outbound: (req) => gate.request(req),
      now: clock.now,
      publicUrl,
      logger,
    },
    hooks: {
      engine: deps.engine,
      triggers: createTriggerLookup({
        pool,
        secrets: deps.secrets,
        ttlMs: config.api.webhooks.triggerCacheMs,
        now: clock.now,
      }),
      metrics: deps.metrics,
      accessLog,
      rateLimiter,
      maxBodyBytes: config.api.webhooks.maxBodyBytes,
      recordFiltered: (p) =>
        withTenant(pool, p.tenantId as TenantId, (db) =>
          recordFilteredEvent(db, { ...p, triggerId: p.triggerId as TriggerId, at: clock.now() }),
        ),
      rateLimits: {
        perTriggerPerMinute: config.api.webhooks.perTriggerPerMinute,
        perIpPerMinute: config.api.webhooks.perIpPerMinute,
      },
      now: clock.now,
      samples,
      resume: {
        resume,
        accessLog,
        rateLimiter,
        perIpPerMinute: config.api.webhooks.perIpPerMinute,
        now: clock.now,
      },
    },
    async stop() {
      await runChanges.close();
      await deps.engine.drain();
      await samples.idle();
      await lastUsed.stop();
      await accessLog.stop();
    },
  };
}
