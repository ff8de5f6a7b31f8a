/**
 * Transport security of the HTTP server: TLS options (TLS 1.2 minimum), HSTS on answers sent
 * over HTTPS, and, with REQUIRE_HTTPS, refusal of plain-HTTP requests (behind a proxy the
 * scheme comes from X-Forwarded-Proto, trusted only with TRUST_PROXY). /livez and /readyz
 * stay reachable over plain HTTP for load balancers and orchestrators that probe that way.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { SwitchyardError } from '../model/errors.ts';

export type TlsServerOptions = { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2' };

export async function loadTlsServerOptions(files: {
  certFile: string;
  keyFile: string;
}): Promise<TlsServerOptions> {
  const read = async (file: string, name: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new SwitchyardError(
        'E_CONFIG_INVALID',
        `Invalid configuration:\n${name}=${JSON.stringify(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        { variable: name },
      );
    }
  };
  return {
    cert: await read(files.certFile, 'TLS_CERT_FILE'),
    key: await read(files.keyFile, 'TLS_KEY_FILE'),
    minVersion: 'TLSv1.2',
  };
}

export type TransportPolicy = {
  requireHttps: boolean;
  hstsMaxAgeS: number;
  /** Paths answered over plain HTTP even with requireHttps (health probes). */
  plainHttpPaths?: readonly string[];
};

const DEFAULT_PLAIN_PATHS = ['/livez', '/readyz'];
/** A host name or IP literal with an optional port: anything else is not redirected to. */
const HOST_PATTERN = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function registerTransportSecurity(app: FastifyInstance, policy: TransportPolicy): void {
  const plain = new Set(policy.plainHttpPaths ?? DEFAULT_PLAIN_PATHS);
  const hsts = `max-age=${policy.hstsMaxAgeS}; includeSubDomains`;
  app.addHook('onRequest', async (req, reply) => {
    if (req.protocol === 'https') {
      // RFC 6797: HSTS is only meaningful (and only honoured) on a secure answer.
      void reply.header('strict-transport-security', hsts);
      return;
    }
    if (!policy.requireHttps || plain.has(req.url.split('?')[0] ?? '')) return;
    if ((req.method === 'GET' || req.method === 'HEAD') && HOST_PATTERN.test(req.host)) {
      return reply
        .code(308)
        .header('location', `https://${req.host}${req.url}`)
        .header('cache-control', 'no-store') // the target depends on the Host header
        .send();
    }
    // Anything with a body or side effect was already sent in the clear: refuse it, do not
    // redirect it (a 308 would make clients resend the same data).
    return reply.code(403).send({
      code: 'E_HTTPS_REQUIRED',
      message: 'This server accepts HTTPS only; send the request to its https:// URL.',
    });
  });
}
