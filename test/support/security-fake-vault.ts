/**
 * A small stand-in for HashiCorp Vault's Transit engine (HTTP API v1), enough to test the Vault
 * key provider: encrypt, decrypt, rewrap, read key, rotate, config (min_decryption_version),
 * derived keys with `context`, and Vault's error answers ({"errors": [...]}) with its status
 * codes: 403 permission denied, 400 bad input / auth failure / missing key, 503 sealed.
 * The crypto is real AES-256-GCM under a per-version key (derived with HMAC when `derived`).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type TransitKey = {
  derived: boolean;
  versions: Map<number, Buffer>;
  latest: number;
  minDecryptionVersion: number;
};

export type FakeVault = {
  address: string;
  token: string;
  mount: string;
  /** Answer 503 "Vault is sealed" to everything. */
  sealed: boolean;
  /** Delay every answer (for timeout tests). */
  delayMs: number;
  /** Answer the next n requests with this status and error. */
  failNext(status: number, error: string, times?: number): void;
  createKey(name: string, opts?: { derived?: boolean }): void;
  keys: Map<string, TransitKey>;
  requests: { method: string; path: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
};

export async function startFakeVault(
  opts: { mount?: string; token?: string } = {},
): Promise<FakeVault> {
  const mount = opts.mount ?? 'transit';
  const token = opts.token ?? `hvs.${randomBytes(12).toString('hex')}`;
  const keys = new Map<string, TransitKey>();
  const failures: { status: number; error: string }[] = [];
  const requests: FakeVault['requests'] = [];

  const keyFor = (k: TransitKey, version: number, context: string | undefined): Buffer => {
    const base = k.versions.get(version)!;
    return k.derived
      ? createHmac('sha256', base)
          .update(Buffer.from(context ?? '', 'base64'))
          .digest()
      : base;
  };
  const seal = (k: TransitKey, version: number, context: string | undefined, plain: Buffer) => {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', keyFor(k, version, context), nonce);
    const body = Buffer.concat([c.update(plain), c.final()]);
    return `vault:v${version}:${Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64')}`;
  };
  type Answer = { status: number; body?: unknown };
  const err = (status: number, ...errors: string[]): Answer => ({ status, body: { errors } });
  const open = (
    k: TransitKey,
    ciphertext: unknown,
    context: string | undefined,
  ): Buffer | Answer => {
    const m = typeof ciphertext === 'string' ? /^vault:v(\d+):(.+)$/.exec(ciphertext) : null;
    if (!m) return err(400, 'invalid ciphertext: no prefix');
    const version = Number(m[1]);
    if (version < k.minDecryptionVersion)
      return err(400, 'ciphertext or signature version is disallowed by policy (too old)');
    if (!k.versions.has(version)) return err(400, 'invalid ciphertext: key version not found');
    const raw = Buffer.from(m[2]!, 'base64');
    try {
      const d = createDecipheriv('aes-256-gcm', keyFor(k, version, context), raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
    } catch {
      return err(400, 'cipher: message authentication failed');
    }
  };
  const keyInfo = (name: string, k: TransitKey) => ({
    data: {
      name,
      type: 'aes256-gcm96',
      derived: k.derived,
      latest_version: k.latest,
      min_decryption_version: k.minDecryptionVersion,
      min_encryption_version: 0,
      supports_encryption: true,
      supports_decryption: true,
      supports_derivation: true,
      keys: Object.fromEntries([...k.versions.keys()].map((v) => [String(v), 1_700_000_000 + v])),
    },
  });

  const handle = (
    method: string,
    path: string,
    body: Record<string, unknown>,
    tok: string | undefined,
  ): Answer => {
    if (fake.sealed) return err(503, 'Vault is sealed');
    const f = failures.shift();
    if (f) return err(f.status, f.error);
    if (tok !== token) return err(403, 'permission denied');
    const prefix = `/v1/${mount}/`;
    if (!path.startsWith(prefix))
      return err(404, `no handler for route "${path.slice(4)}". route entry not found.`);
    const parts = path.slice(prefix.length).split('/').map(decodeURIComponent);
    const [op, name, action] = parts;
    const k = name === undefined ? undefined : keys.get(name);
    const context = typeof body.context === 'string' ? body.context : undefined;
    if (k?.derived && ['encrypt', 'decrypt', 'rewrap'].includes(op ?? '') && !context) {
      return err(
        400,
        "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key",
      );
    }
    if (method === 'POST' && op === 'encrypt') {
      if (!k) return err(400, 'encryption key not found');
      if (typeof body.plaintext !== 'string') return err(400, 'missing plaintext to encrypt');
      const ciphertext = seal(k, k.latest, context, Buffer.from(body.plaintext, 'base64'));
      return { status: 200, body: { data: { ciphertext, key_version: k.latest } } };
    }
    if (method === 'POST' && op === 'decrypt') {
      if (!k) return err(400, 'encryption key not found');
      const plain = open(k, body.ciphertext, context);
      if (!Buffer.isBuffer(plain)) return plain;
      return { status: 200, body: { data: { plaintext: plain.toString('base64') } } };
    }
    if (method === 'POST' && op === 'rewrap') {
      if (!k) return err(400, 'encryption key not found');
      const plain = open(k, body.ciphertext, context);
      if (!Buffer.isBuffer(plain)) return plain;
      const ciphertext = seal(k, k.latest, context, plain);
      return { status: 200, body: { data: { ciphertext, key_version: k.latest } } };
    }
    if (op === 'keys' && name !== undefined) {
      if (!k)
        return method === 'GET'
          ? { status: 404, body: { errors: [] } }
          : err(400, 'encryption key not found');
      if (method === 'GET' && action === undefined) return { status: 200, body: keyInfo(name, k) };
      if (method === 'POST' && action === 'rotate') {
        k.latest += 1;
        k.versions.set(k.latest, randomBytes(32));
        return { status: 200, body: keyInfo(name, k) };
      }
      if (method === 'POST' && action === 'config') {
        const min = body.min_decryption_version;
        if (typeof min === 'number') {
          if (min > k.latest)
            return err(400, 'cannot set min decryption version beyond the latest version');
          k.minDecryptionVersion = min;
        }
        return { status: 200, body: keyInfo(name, k) };
      }
    }
    return err(405, 'unsupported operation');
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length
          ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
          : {};
      } catch {
        body = {};
      }
      const path = (req.url ?? '/').split('?')[0]!;
      requests.push({ method: req.method ?? 'GET', path, body });
      const answer = handle(
        req.method ?? 'GET',
        path,
        body,
        req.headers['x-vault-token'] as string | undefined,
      );
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      };
      if (fake.delayMs > 0) setTimeout(send, fake.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const fake: FakeVault = {
    address: `http://127.0.0.1:${port}`,
    token,
    mount,
    sealed: false,
    delayMs: 0,
    failNext(status, error, times = 1) {
      for (let i = 0; i < times; i++) failures.push({ status, error });
    },
    createKey(name, o = {}) {
      keys.set(name, {
        derived: o.derived ?? true,
        versions: new Map([[1, randomBytes(32)]]),
        latest: 1,
        minDecryptionVersion: 1,
      });
    },
    keys,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
