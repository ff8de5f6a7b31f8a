/**
 * `npm install` builds the web app once, so that `npm start` serves it at `/` with no extra
 * command. Skipped when the build is newer than every source of the app (a repeated install
 * costs nothing) and when SWITCHYARD_SKIP_WEB_BUILD=1 (images that build it in their own stage).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const web = path.join(root, 'web');
const built = path.join(web, '.output', 'public', 'index.html');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

if (process.env.SWITCHYARD_SKIP_WEB_BUILD === '1') process.exit(0);
if (!existsSync(path.join(web, 'package.json'))) process.exit(0);
const schema = statSync(path.join(root, 'docs', 'schema.graphql')).mtimeMs;
if (existsSync(built) && statSync(built).mtimeMs > Math.max(newestMtime(web), schema)) {
  process.exit(0);
}
const started = Date.now();
execFileSync('npm', ['run', 'build:web'], { cwd: root, stdio: 'inherit' });
console.log(`switchyard: web app built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
