import type pg from 'pg';
import { createNotifier, type Notifier } from '../accounts/failure-notices.ts';
import { createSmtpMailer } from '../accounts/mailer.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../observability/logger.ts';
import { createGate } from '../runner/gate/gate.ts';
import type { SecretBox } from '../security/crypto/secret-box.ts';

/** How often a worker looks for failures to notify and notices to deliver. */
const NOTIFIER_INTERVAL_MS = 15_000;

/**
 * The failure notifier of a worker process: email through SMTP_URL (as invitations), webhooks
 * through the runner's gate (its SSRF policy and timeouts), links to PUBLIC_URL. Every worker
 * runs one; notifications and notices are locked while handled, so they do not send twice.
 */
export function startNotifier(
  pool: pg.Pool,
  config: Config,
  logger: Logger,
  secrets: SecretBox,
): Notifier {
  const gate = createGate(config.runner.gate);
  const notifier = createNotifier({
    pool,
    secrets,
    mailer: config.api.smtp ? createSmtpMailer(config.api.smtp) : null,
    post: async (r) => gate.request({ method: 'POST', ...r }),
    publicUrl: config.api.publicUrl ?? `http://${config.server.host}:${config.server.port}`,
    logger,
    clock: { now: () => new Date() },
  });
  notifier.start(NOTIFIER_INTERVAL_MS);
  return notifier;
}
