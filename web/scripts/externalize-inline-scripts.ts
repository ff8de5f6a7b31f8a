/**
 * CSP `script-src 'self'` refuses every inline script. `nuxt generate` writes one into each
 * HTML file (window.__NUXT__ with the runtime config); this moves each inline script into a
 * content-hashed file under /_nuxt/ and points the HTML at it. JSON data blocks
 * (type="application/json") are not scripts and stay. Fails the build if an inline script
 * of another kind appears, so a future Nuxt cannot slip one past the policy.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const out = path.resolve(import.meta.dirname, '..', '.output', 'public');
const inline = /<script(?![^>]*\bsrc=)([^>]*)>([\s\S]*?)<\/script>/g;

let moved = 0;
const pages = readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) =>
  f.endsWith('.html'),
);
for (const name of pages) {
  const file = path.join(out, name);
  const html = readFileSync(file, 'utf8').replace(inline, (whole, attrs: string, body: string) => {
    if (/type="application\/json"/.test(attrs)) return whole;
    if (/type="(importmap|module)"/.test(attrs) || attrs.trim() !== '') {
      throw new Error(`${name}: an inline <script${attrs}> cannot be externalized safely`);
    }
    const hash = createHash('sha256').update(body).digest('base64url').slice(0, 12);
    const asset = `/_nuxt/inline.${hash}.js`;
    writeFileSync(path.join(out, asset), body);
    moved += 1;
    return `<script src="${asset}"></script>`;
  });
  writeFileSync(file, html);
}
console.log(`externalized ${moved} inline script(s)`);
