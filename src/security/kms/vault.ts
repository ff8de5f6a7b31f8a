/**
 * The Vault provider: HashiCorp Vault's Transit secrets engine over its HTTP API (v1), with a
 * derived key (`derived=true`) so that each data key is wrapped under a key derived from its
 * context (tenant and data key id). Endpoints used (docs/security.md lists them):
 *
 *   POST /v1/{mount}/encrypt/{key}        {plaintext, context} -> {ciphertext, key_version}
 *   POST /v1/{mount}/decrypt/{key}        {ciphertext, context} -> {plaintext}
 *   POST /v1/{mount}/rewrap/{key}         {ciphertext, context} -> {ciphertext, key_version}
 *   GET  /v1/{mount}/keys/{key}           -> {latest_version, min_decryption_version, derived}
 *   POST /v1/{mount}/keys/{key}/rotate
 *   POST /v1/{mount}/keys/{key}/config    {min_decryption_version}
 *
 * Network errors, timeouts, 412, 429, 5xx (including 503 "Vault is sealed") are
 * E_KMS_UNAVAILABLE; a 400 on decrypt/rewrap about the ciphertext itself (authentication
 * failed, malformed) is E_SECRET_DECRYPT_FAILED; 403, 404 and other 4xx are E_KMS_REJECTED.
 */
import http from 'node:http';
import https from 'node:https';
import { SwitchyardError } from '../../model/errors.ts';
import { decryptFailed } from '../crypto/aead.ts';
import {
  kmsRejected,
  kmsUnavailable,
  type KeyProvider,
  type WrapContext,
  type WrappedKey,
} from './provider.ts';

export type VaultOptions = {
  address: string;
  token: string;
  transitMount: string;
  transitKey: string;
  namespace?: string;
  /** PEM of the CA that signed Vault's certificate, when not a public one. */
  caPem?: string;
  timeoutMs: number;
};

type VaultAnswer = { status: number; body: unknown };

export function createVaultProvider(opts: VaultOptions): KeyProvider {
  const base = new URL(opts.address);
  const mount = opts.transitMount.replace(/^\/+|\/+$/g, '');
  const key = encodeURIComponent(opts.transitKey);
  const kekId = `vault:${mount}/${opts.transitKey}`;
  const context = (ctx: WrapContext) =>
    Buffer.from(`switchyard|${ctx.tenantId.toLowerCase()}|${ctx.dataKeyId.toLowerCase()}`).toString(
      'base64',
    );

  const call = async (
    method: 'GET' | 'POST',
    path: string,
    body: Record<string, unknown> | undefined,
    op: string,
  ): Promise<Record<string, unknown>> => {
    let answer: VaultAnswer;
    try {
      answer = await request(base, method, `/v1/${mount}/${path}`, body, opts);
    } catch (err) {
      throw kmsUnavailable(`${op}: ${(err as NodeJS.ErrnoException).code ?? 'network error'}`, err);
    }
    const { status } = answer;
    if (status >= 200 && status < 300) {
      const data = (answer.body as { data?: unknown } | undefined)?.data;
      return data && typeof data === 'object' ? (data as Record<string, unknown>) : {};
    }
    const detail = vaultErrors(answer.body);
    if (status === 429 || status === 412 || status >= 500) {
      throw kmsUnavailable(`${op}: Vault answered ${status}${detail}`);
    }
    // A ciphertext Vault cannot authenticate or parse is a tampered wrapped key; a missing key,
    // a retired version or a missing context is a configuration matter (rejected).
    if (
      status === 400 &&
      (op === 'decrypt' || op === 'rewrap') &&
      !/version|policy|not found|context/i.test(detail) &&
      /authentic|ciphertext|decrypt/i.test(detail)
    )
      throw decryptFailed('authentication');
    throw kmsRejected(`${op}: Vault answered ${status}${detail}`);
  };

  const parseWrapped = (data: Record<string, unknown>, op: string): WrappedKey => {
    const ciphertext = data.ciphertext;
    if (typeof ciphertext !== 'string') throw kmsUnavailable(`${op}: malformed answer`);
    return { wrapped: Buffer.from(ciphertext, 'utf8'), kekId, kekVersion: versionOf(ciphertext) };
  };
  const checkRing = (w: WrappedKey) => {
    if (w.kekId !== kekId) throw kmsRejected(`key ring ${w.kekId} is not ${kekId}`);
  };

  return {
    kind: 'vault',
    kekId,
    async wrap(plaintextKey, ctx) {
      const data = await call(
        'POST',
        `encrypt/${key}`,
        { plaintext: plaintextKey.toString('base64'), context: context(ctx) },
        'encrypt',
      );
      return parseWrapped(data, 'encrypt');
    },
    async unwrap(w, ctx) {
      checkRing(w);
      const data = await call(
        'POST',
        `decrypt/${key}`,
        { ciphertext: w.wrapped.toString('utf8'), context: context(ctx) },
        'decrypt',
      );
      if (typeof data.plaintext !== 'string') throw kmsUnavailable('decrypt: malformed answer');
      const plain = Buffer.from(data.plaintext, 'base64');
      if (plain.length !== 32) throw decryptFailed('authentication');
      return plain;
    },
    async rewrap(w, ctx) {
      checkRing(w);
      const data = await call(
        'POST',
        `rewrap/${key}`,
        { ciphertext: w.wrapped.toString('utf8'), context: context(ctx) },
        'rewrap',
      );
      return parseWrapped(data, 'rewrap');
    },
    async latestVersion() {
      const data = await call('GET', `keys/${key}`, undefined, 'read key');
      if (data.derived === false) {
        throw kmsRejected(
          `Transit key ${opts.transitKey} is not derived; create it with derived=true (docs/security.md)`,
        );
      }
      const latest = data.latest_version;
      if (typeof latest !== 'number') throw kmsUnavailable('read key: malformed answer');
      return latest;
    },
    async rotate() {
      await call('POST', `keys/${key}/rotate`, {}, 'rotate');
      return this.latestVersion();
    },
    async retire(version) {
      if (version >= (await this.latestVersion()))
        throw kmsRejected('the latest Transit key version cannot be retired');
      await call('POST', `keys/${key}/config`, { min_decryption_version: version + 1 }, 'config');
    },
  };
}

function versionOf(ciphertext: string): number {
  const m = /^vault:v(\d+):/.exec(ciphertext);
  if (!m) throw new SwitchyardError('E_KMS_UNAVAILABLE', 'Vault returned a malformed ciphertext');
  return Number(m[1]);
}

/** Vault's `{"errors": [...]}`, shortened; it names keys and policies, never key material. */
function vaultErrors(body: unknown): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return '';
  return `: ${errors.map(String).join('; ').slice(0, 300)}`;
}

function request(
  base: URL,
  method: 'GET' | 'POST',
  path: string,
  body: Record<string, unknown> | undefined,
  opts: VaultOptions,
): Promise<VaultAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {
    'x-vault-token': opts.token,
    accept: 'application/json',
  };
  if (opts.namespace) headers['x-vault-namespace'] = opts.namespace;
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  const reqOpts: https.RequestOptions = {
    method,
    protocol: base.protocol,
    hostname: base.hostname.replace(/^\[|\]$/g, ''),
    port: base.port || (base.protocol === 'https:' ? 443 : 80),
    path: prefix + path,
    headers,
    timeout: opts.timeoutMs,
    ...(base.protocol === 'https:' ? { minVersion: 'TLSv1.2' as const } : {}),
    ...(opts.caPem ? { ca: opts.caPem } : {}),
  };
  return new Promise((resolve, reject) => {
    const lib = base.protocol === 'https:' ? https : http;
    const req = lib.request(reqOpts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1_048_576) req.destroy(new Error('answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text.length > 0 ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end(payload);
  });
}
