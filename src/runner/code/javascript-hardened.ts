/**
 * JavaScript steps in a hardened realm (ADR 0009, amended in stops 27 and 32). A warm isolate
 * of a tenant gets one context that SES's `lockdown()` has hardened — every built-in reachable
 * from it frozen, the legacy RegExp statics and the powers of Error's stack API removed — and one
 * `Compartment` in that context whose global object is hardened too: the frozen intrinsics,
 * the real `Date`, the frozen `Intl`, its own (frozen) evaluators. A step's code is evaluated
 * there once per isolate, as a function; each step calls it with bindings of its own: its
 * `input`, its `console` (lines kept for the step) and its `Math` (its own `random`, seeded by
 * the host for this step). A step can change nothing another step can see: everything it
 * shares with them is frozen, and what is not frozen is its own. On the runner's whole path
 * that costs ~0.3 ms of CPU a trivial step against ~0.55–0.65 ms with a compartment of its own
 * per step and ~0.8 ms with a fresh context (bench/js-isolates.ts, stop 32).
 *
 * What a compartment runs differs from a fresh context in ways the step's code could notice:
 * strict mode, frozen built-ins, no `http` helper, no direct `eval`, no `with`, some
 * non-standard or newer built-ins removed, a few identities (`new Date().constructor`). So a
 * step runs here only if its code passes `screen` (none of the identifiers whose meaning
 * differs); and whatever goes wrong in the compartment — a throw of any kind, a value that
 * cannot be copied out, a timeout — is not the step's answer: the step runs again in a fresh
 * context (javascript.ts), where its result is the one it always had, and its code is not tried
 * here again in this process (nor is code whose step took over 100 ms here). Nothing a step
 * does in the compartment leaves it but its result and its console lines, and those only when
 * it succeeded. The compartment's global object is hardened: a write to a global throws there.
 */
import ivm from 'isolated-vm';
import { getRandomValues } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { MAX_LOG_LINES, MAX_RAW_LOG_MESSAGE_CHARS } from './sandbox-api.ts';

/** Step functions an isolate's compartment keeps (all dropped when either bound is passed). */
const MAX_COMPILED = 256;
const MAX_COMPILED_CHARS = 2_000_000;

export type HardenedRealm = {
  readonly context: ivm.Context;
  /** (body, input, seed0..3) → Promise<{ output, lines }>, in the isolate's compartment. */
  readonly run: ivm.Reference<
    (src: string, input: unknown, ...seed: number[]) => Promise<HardenedResult>
  >;
};

export type HardenedResult = {
  output: unknown;
  /** Console lines in order: level, message, level, message… */
  lines: string[];
};

let sesSource: string | undefined;
function ses(): string {
  if (sesSource === undefined) {
    const pkg = createRequire(import.meta.url).resolve('ses/package.json');
    sesSource = readFileSync(path.join(path.dirname(pkg), 'dist', 'ses.umd.min.js'), 'utf8');
  }
  return sesSource;
}

/**
 * lockdown()'s options: the defaults, except what would change a step's answer without a
 * throw — locale methods keep their locale (`toLocaleString`), errors keep their stacks — and
 * what has no meaning in an isolate (Node's domains, a console, process-wide error traps).
 */
const LOCKDOWN = `lockdown({
  localeTaming: 'unsafe',
  errorTaming: 'unsafe',
  stackFiltering: 'verbose',
  consoleTaming: 'unsafe',
  domainTaming: 'unsafe',
  errorTrapping: 'none',
  unhandledRejectionTrapping: 'none',
  reporting: 'none',
});`;

/** Runs once in the locked-down context; returns the per-step runner (never a global). */
const SETUP = `
  const { Date: InitialDate, Math: InitialMath, Intl: SharedIntl } = globalThis;
  // Intl is not one of SES's shared intrinsics; frozen here, it is as shared as JSON.
  harden(SharedIntl);
  const { imul } = InitialMath;
  const randomDescriptor = Object.getOwnPropertyDescriptor(InitialMath, 'random');
  // xoshiro128**, seeded by the host for each step: a step cannot learn another's numbers
  // from its own (V8's generator is one stream per context).
  const randomFrom = (a, b, c, d) => {
    const next = () => {
      const r = imul(((imul(b, 5) << 7) | (imul(b, 5) >>> 25)), 9) >>> 0;
      const t = b << 9;
      c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = (d << 11) | (d >>> 21);
      return r;
    };
    return { random() { return ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992; } }.random;
  };
  const text = (a) => { if (typeof a === 'string') return a; try { return JSON.stringify(a); } catch { return String(a); } };
  // One compartment serves every step of this context: its global object (the frozen
  // intrinsics, the real Date, the frozen Intl, and its own evaluators) is hardened, so a step
  // can change nothing in it; what is a step's own — input, console, Math — are bindings of
  // that step's call. A step's code is evaluated there once and its function kept (the
  // evaluation is SES's costly part: its source checks and scope set-up).
  const shared = new Compartment({ globals: { Date: InitialDate, Intl: SharedIntl }, __options__: true });
  harden(shared.globalThis);
  const compiled = new Map();
  let compiledChars = 0;
  // The compartment's Function constructor parses the body on its own, as a function body:
  // no text of a step can close the function early and leave something else to be kept.
  const { Function: StepFunction } = shared.globalThis;
  const compile = (src) => {
    let fn = compiled.get(src);
    if (fn !== undefined) return fn;
    fn = new StepFunction(src);
    if (compiled.size >= ${MAX_COMPILED} || compiledChars + src.length > ${MAX_COMPILED_CHARS}) {
      compiled.clear();
      compiledChars = 0;
    }
    compiled.set(src, fn);
    compiledChars += src.length;
    return fn;
  };
  return harden((src, input, s0, s1, s2, s3) => {
    const fn = compile(src);
    const lines = [];
    // As many lines as the runner keeps, and one more (it then notes that some were dropped).
    const make = (level) => (...args) => {
      if (lines.length < ${2 * (MAX_LOG_LINES + 1)})
        lines.push(level, args.map(text).join(' ').slice(0, ${MAX_RAW_LOG_MESSAGE_CHARS}));
    };
    const console = Object.freeze({ log: make('info'), info: make('info'), warn: make('warn'), error: make('error'), debug: make('debug') });
    // The frozen Math's functions by inheritance, and a random of the step's own.
    const Math = Object.freeze(Object.create(InitialMath, {
      random: { ...randomDescriptor, value: Object.freeze(randomFrom(s0, s1, s2, s3)) },
    }));
    return fn(console, Math, input).then((output) => ({ output, lines }));
  });
`;

/**
 * Hardens a context of `isolate` and returns its runner. Asynchronous: the work (~20 ms: SES
 * compiled, lockdown() walking every built-in) runs on the isolate's thread, not the caller's.
 */
export async function hardenRealm(isolate: ivm.Isolate): Promise<HardenedRealm> {
  const context = await isolate.createContext();
  const script = await isolate.compileScript(ses(), { filename: 'ses.umd.min.js' });
  await script.run(context);
  script.release();
  await context.eval(LOCKDOWN);
  const run = (await context.evalClosure(SETUP, [], {
    result: { reference: true },
  })) as HardenedRealm['run'];
  return { context, run };
}

/**
 * The body of the function the shared compartment makes of a step's code (once per isolate):
 * strict, its arguments the step's own bindings, constants as the frozen globals of a
 * compartment of its own were, so a write to one throws as it did there (and the step goes to a
 * fresh context). The code's own declarations shadow them, as they shadowed those globals.
 */
export const compartmentSource = (code: string) =>
  `'use strict'; const console = arguments[0], Math = arguments[1], input = arguments[2]; return (async () => {\n${code}\n})();`;

/** Four random words for the step's own Math.random. */
export function randomSeed(): number[] {
  const seed = getRandomValues(new Uint32Array(4));
  if (seed.every((w) => w === 0)) seed[3] = 1;
  return [...seed];
}

/**
 * Identifiers whose meaning in a compartment is not what it is in a fresh context, so that a
 * step using them could get a different answer without a throw: the `http` helper (not
 * endowed: its calls could not be made twice), `this` and `arguments` (strict mode),
 * constructors' identities (`new Date().constructor` is SES's shared Date), RegExp's legacy
 * statics, Error's stack API, the global object's own listing, the descriptors and frozenness
 * of built-ins. Built-ins that SES removes or adds are added by `differingNames` (measured, not listed).
 */
const DIFFERENT = [
  'http',
  'this',
  'arguments',
  'constructor',
  'RegExp',
  'stack',
  'stackTraceLimit',
  'prepareStackTrace',
  'captureStackTrace',
  'globalThis',
  'getOwnPropertyDescriptor',
  'getOwnPropertyDescriptors',
  'getOwnPropertyNames',
  'ownKeys',
  'isFrozen',
  'isSealed',
  'isExtensible',
];

/** Endowed in a compartment as the fresh context's bootstrap defines it (javascript.ts). */
const SAME_IN_BOTH = ['console'];
/** A step's own bindings in the compartment (a fresh context's bootstrap defines them too). */
const STEP_BINDINGS = ['console', 'Math', 'input'];

/**
 * The global names, and the own properties of every global value and of its prototype, as
 * JSON, of the object `of` evaluates to: a fresh context's global object, or what a step in
 * the compartment can name (its global object and its own bindings).
 */
const listing = (of: string) => `((g) => {
  // Own and inherited (short of Object's and Function's prototypes: a step's Math inherits).
  const own = (o) => {
    const keys = [];
    while (o !== null && (typeof o === 'object' || typeof o === 'function')
      && o !== Object.prototype && o !== Function.prototype) {
      for (const k of Reflect.ownKeys(o)) if (typeof k === 'string') keys.push(k);
      o = Object.getPrototypeOf(o);
    }
    return keys;
  };
  const out = {};
  for (const name of Reflect.ownKeys(g)) {
    if (typeof name !== 'string') continue;
    let v; try { v = g[name]; } catch { continue; }
    out[name] = [...own(v), ...own(v && v.prototype)];
  }
  return JSON.stringify(out);
})(${of})`;

/** What a step's code names in the compartment: its global object and its own bindings. */
const STEP_VIEW = `(() => {
  const o = {};
  for (const k of Reflect.ownKeys(globalThis))
    if (typeof k === 'string') { try { o[k] = globalThis[k]; } catch {} }
  o.console = console; o.Math = Math; o.input = input;
  return o;
})()`;

/**
 * The names whose meaning differs between a step in the compartment and a fresh context,
 * measured: global names one has and the other lacks, and properties of globals the code can
 * name that the compartment lacks (those of a global listed in DIFFERENT are out of reach
 * already).
 */
export async function differingNames(
  isolate: ivm.Isolate,
  realm: HardenedRealm,
): Promise<string[]> {
  const fresh = await isolate.createContext();
  try {
    const before = JSON.parse((await fresh.eval(listing('globalThis'))) as string) as Record<
      string,
      string[]
    >;
    const listed = await realm.run.apply(
      undefined,
      [compartmentSource(`return ${listing(STEP_VIEW)};`), null, ...randomSeed()],
      { result: { promise: true, copy: true } },
    );
    const after = JSON.parse(listed.output as string) as Record<string, string[]>;
    const removed = new Set<string>();
    // Names a step there has and a fresh context lacks (SES's `harden`, `lockdown`,
    // `Compartment`): `typeof harden` would answer differently without a throw.
    for (const name of Object.keys(after))
      if (before[name] === undefined && !STEP_BINDINGS.includes(name)) removed.add(name);
    for (const [name, props] of Object.entries(before)) {
      const kept = after[name];
      if (kept === undefined) removed.add(name);
      else if (!DIFFERENT.includes(name) && !SAME_IN_BOTH.includes(name))
        for (const p of props) if (!kept.includes(p)) removed.add(p);
    }
    return [...removed];
  } finally {
    fresh.release();
  }
}

/** A test of a step's code: true when it may run in a compartment. */
export function makeScreen(removed: readonly string[]): (code: string) => boolean {
  const words = [...new Set([...DIFFERENT, ...removed])]
    .filter((w) => /^[A-Za-z_$][\w$]*$/.test(w))
    .map((w) => w.replace(/\$/g, '\\$'));
  const pattern = new RegExp(`(?<![\\w$])(?:${words.join('|')})(?![\\w$])|__proto__`);
  return (code) => !pattern.test(code);
}
