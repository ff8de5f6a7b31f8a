/**
 * The web app at `/`: the files `nuxt generate` wrote (web/.output/public), read once at
 * start into memory (the whole app is a few hundred KB) with a gzip copy of each text file.
 * Hashed assets under /_nuxt/ are immutable; HTML is never cached and carries a strict
 * Content-Security-Policy: no inline script, no eval, nothing from another origin, no framing.
 * Any other GET that asks for HTML gets the SPA's entry page, so deep links work.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

type Asset = { body: Buffer; gzip: Buffer | null; type: string; etag: string };
export type WebAssets = { files: Map<string, Asset>; entry: Asset };

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // Vuetify writes its theme as a <style> element at run time.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** Reads the built app; null when it was not built (the API then serves no UI). */
export async function loadWebAssets(dir: string): Promise<WebAssets | null> {
  let paths: string[];
  try {
    paths = await listFiles(dir);
  } catch {
    return null;
  }
  const files = new Map<string, Asset>();
  for (const file of paths) {
    const body = await readFile(file);
    const ext = path.extname(file);
    const type = types[ext] ?? 'application/octet-stream';
    const compressible = type.startsWith('text/') || type.includes('json') || ext === '.svg';
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(`/${path.relative(dir, file).split(path.sep).join('/')}`, {
      body,
      gzip: compressible && body.length > 512 ? gzipSync(body, { level: 9 }) : null,
      type,
      etag,
    });
  }
  const entry = files.get('/200.html') ?? files.get('/index.html');
  return entry ? { files, entry } : null;
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset, immutable: boolean) {
  void reply.header('content-type', asset.type);
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('etag', asset.etag);
  void reply.header('vary', 'accept-encoding');
  if (immutable) void reply.header('cache-control', 'public, max-age=31536000, immutable');
  else void reply.header('cache-control', 'no-cache');
  if (asset.type.startsWith('text/html')) {
    void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    void reply.header('referrer-policy', 'no-referrer');
    void reply.header('x-frame-options', 'DENY');
  }
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  const acceptsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (asset.gzip && acceptsGzip) {
    void reply.header('content-encoding', 'gzip');
    return reply.send(asset.gzip);
  }
  return reply.send(asset.body);
}

/** Paths the API owns: never answered with the app's entry page. */
const apiPrefixes = ['/graphql', '/hooks/', '/livez', '/readyz', '/metrics', '/oauth/'];

export function registerWebApp(app: FastifyInstance, assets: WebAssets): void {
  app.get('/*', (req, reply) => {
    const url = req.url.split('?')[0] ?? '/';
    const asset = assets.files.get(url === '/' ? '/index.html' : url);
    if (asset && !asset.type.startsWith('text/html')) {
      return send(req, reply, asset, url.startsWith('/_nuxt/'));
    }
    if (url.startsWith('/_nuxt/') || apiPrefixes.some((p) => url.startsWith(p))) {
      return reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: 'Not found' } });
    }
    return send(req, reply, asset ?? assets.entry, false);
  });
}
