/**
 * The read-only root of a Python step's sandbox: only the files the interpreter needs. They
 * are found once, at start, by running the configured interpreter (outside any sandbox: it is
 * the operator's binary, running our bootstrap in `discover` mode, no user code) with every
 * allowed module imported; it reports its executable, its standard library directory and
 * every file mapped into its memory (shared libraries, locale data). We bind exactly those,
 * plus the symlinks through which the dynamic loader finds them (`/lib64` → `usr/lib64`,
 * `libz.so.1` → `libz.so.1.2.13`) and the time-zone database for `zoneinfo`. No /etc, no
 * /proc, no home, no data dir, no /tmp.
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  lstatSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

export type InterpreterLayout = {
  /** The real path of the interpreter binary (what the sandbox executes). */
  executable: string;
  /** The path the interpreter reported (may be a symlink to `executable`). */
  reportedExecutable: string;
  /** Directories bound whole: the standard library (with lib-dynload), the zoneinfo data. */
  dirs: string[];
  /** Files bound one by one: shared libraries, locale data, the dynamic loader. */
  files: string[];
};

type Discovered = {
  executable: string;
  stdlib: string[];
  tzpath: string[];
  mapped: string[];
};

/** Runs the interpreter once, unsandboxed, in `discover` mode; rejects with ENOENT etc. */
export function discoverInterpreter(
  pythonPath: string,
  bootstrap: string,
  timeoutMs = 15_000,
): Promise<InterpreterLayout> {
  return new Promise((resolvePromise, reject) => {
    // An absolute path: with an empty environment a bare name would leave the interpreter
    // unable to tell where it is (pyenv shims, for one, then report no executable).
    const child = spawn(onPath(pythonPath), ['-I', '-S', '-c', bootstrap, 'discover'], {
      env: {},
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${pythonPath} exited with ${code}: ${err.trim().slice(-300)}`));
        return;
      }
      try {
        resolvePromise(layoutOf(JSON.parse(out) as Discovered));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/** `python3` → the first executable `python3` on the worker's PATH (as a shell would). */
function onPath(name: string): string {
  if (name.includes('/')) return name;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir || '.', name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return resolve(p);
    } catch {
      // Not in this PATH entry.
    }
  }
  return name; // spawn then fails with ENOENT, reported as "python3 not found"
}

function layoutOf(d: Discovered): InterpreterLayout {
  if (!d.executable)
    throw new Error('the interpreter could not tell its own path (sys.executable is empty)');
  const executable = realpathSync(d.executable);
  const dirs = new Set<string>();
  for (const dir of d.stdlib) dirs.add(realpathSync(dir));
  for (const dir of d.tzpath) {
    try {
      if (statSync(dir).isDirectory()) dirs.add(realpathSync(dir));
    } catch {
      // A TZPATH entry that does not exist on this host: nothing to bind.
    }
  }
  const files = new Set<string>();
  const interp = elfInterpreter(executable);
  if (interp) files.add(interp);
  for (const f of d.mapped) {
    const real = realpathSync(f);
    if (real === executable || [...dirs].some((dir) => real.startsWith(`${dir}/`))) continue;
    files.add(f);
    for (const alias of sonameAliases(real)) files.add(alias);
  }
  return {
    executable,
    reportedExecutable: d.executable,
    dirs: [...dirs],
    files: [...files],
  };
}

/** The PT_INTERP of a 64-bit little-endian ELF (the dynamic loader's path), if any. */
function elfInterpreter(path: string): string | null {
  const b = readFileSync(path);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return null;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (b.readUInt32LE(at) !== 3) continue; // PT_INTERP
    const off = Number(b.readBigUInt64LE(at + 8));
    const size = Number(b.readBigUInt64LE(at + 32));
    return b
      .subarray(off, off + size)
      .toString('latin1')
      .replace(/\0+$/, '');
  }
  return null;
}

const dirCache = new Map<string, string[]>();

/** Symlinks next to a library that point to it: the names the loader looks for (sonames). */
function sonameAliases(real: string): string[] {
  const dir = dirname(real);
  let entries = dirCache.get(dir);
  if (!entries) {
    entries = readdirSync(dir);
    dirCache.set(dir, entries);
  }
  const out: string[] = [];
  for (const name of entries) {
    const p = join(dir, name);
    try {
      if (lstatSync(p).isSymbolicLink() && realpathSync(p) === real) out.push(p);
    } catch {
      // A dangling symlink is no alias of ours.
    }
  }
  return out;
}

/**
 * bubblewrap arguments that make each path of the layout resolve inside the sandbox as on
 * the host: every symlink on the way is recreated (`--symlink`), the final file or directory
 * is bound read-only at its real path.
 */
export function mountArgs(layout: InterpreterLayout): string[] {
  const links = new Map<string, string>();
  const binds = new Set<string>();
  const expose = (path: string, depth = 0): void => {
    if (depth > 40) throw new Error(`too many symlinks resolving ${path}`);
    const parts = resolve(path).split('/').filter(Boolean);
    let prefix = '';
    for (let i = 0; i < parts.length; i++) {
      prefix = `${prefix}/${parts[i]}`;
      if (!lstatSync(prefix).isSymbolicLink()) continue;
      const target = readlinkSync(prefix);
      links.set(prefix, target);
      const base = isAbsolute(target) ? target : join(dirname(prefix), target);
      expose(join(base, ...parts.slice(i + 1)), depth + 1);
      return;
    }
    binds.add(prefix);
  };
  expose(layout.reportedExecutable);
  expose(layout.executable);
  for (const d of layout.dirs) expose(d);
  for (const f of layout.files) expose(f);
  const args: string[] = [];
  // Binds first (they create their parent directories), then the symlinks beside them.
  for (const b of [...binds].sort()) args.push('--ro-bind', b, b);
  for (const [at, target] of [...links].sort(([a], [b]) => a.localeCompare(b)))
    args.push('--symlink', target, at);
  return args;
}
