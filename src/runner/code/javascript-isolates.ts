/**
 * Warm isolates for JavaScript steps (ADR 0009): each tenant has its own isolates, kept
 * between steps; a step gets an isolate of its tenant to itself (one step at a time per
 * isolate) and, in it, a compartment of the isolate's hardened context (made when the isolate
 * is created, javascript-hardened.ts) or a fresh context, released after the step. Creating an
 * isolate is most of a trivial step's cost (bench/js-isolates.ts: ~2 ms against ~0.6 ms for a
 * context).
 *
 * The boundaries: an isolate never runs a step of another tenant (the pool is keyed by
 * tenant), so a tenant's step cannot reach another tenant's objects, heap or timing; a step's
 * context, globals and built-ins are its own (V8 gives each context its own global object and
 * its own Object.prototype, Array.prototype…) — in a compartment, its global object is its
 * own and the built-ins it shares are frozen — so one step's globals do not reach the next
 * step of the same tenant. What a tenant's steps share over time is their isolate's heap
 * limit and its thread. An isolate that hit its memory limit or was disposed on a timeout is
 * never reused; one is retired after MAX_USES steps or once its heap holds more than half of
 * its limit (at most RETIRE_HEAP_BYTES) after a step, so that garbage one step leaves cannot
 * add up.
 */
import ivm from 'isolated-vm';
import {
  hardenRealm,
  makeScreen,
  differingNames,
  type HardenedRealm,
} from './javascript-hardened.ts';

/** Steps one isolate runs before it is replaced (bounds what any leftover could accumulate). */
const MAX_USES = 1_000;
/**
 * The same for an isolate with a hardened context, where a step leaves nothing for the next
 * but garbage (bounded by the heap check below): its lockdown (~25 ms) is then spread over
 * more steps.
 */
const MAX_USES_HARDENED = 5_000;
/**
 * An isolate whose heap holds more than this after a step is replaced (or more than half its
 * limit, if that is less): garbage of earlier steps is not collected until V8 needs the room,
 * so without a bound every warm isolate grew toward half its limit (32 MB by default) and the
 * idle pool toward gigabytes. A new isolate costs ~1 ms, once per few hundred trivial steps.
 */
const RETIRE_HEAP_BYTES = 8 * 2 ** 20;
/**
 * The same for an isolate with a hardened context: SES holds ~3 MB of it, and trivial steps in
 * compartments take its heap between 3 and 12 MB and back as V8 collects (measured over 6,000
 * steps); at 8 MB the check retired such isolates every few hundred steps, each new one paying
 * its lockdown and its compilations again (TurboFan compiling SES's lockdown was ~5 % of the
 * machine at 1,400 runs/s). Isolates that live longer hold more memory (their young
 * generation grows): +150 MB RSS with 16 busy isolates (bench/RESULTS.md, round seven).
 */
const RETIRE_HEAP_BYTES_HARDENED = 12 * 2 ** 20;
/**
 * The heap is read after a step that used this much CPU in the isolate since the last reading
 * (a step cannot fill megabytes without spending milliseconds), and after every HEAP_CHECK_USES
 * steps whatever they used. Reading it at every step made the worker's thread wait for the
 * isolate's lock at the end of each step: 6 % of that thread at concurrency 10 (bench/
 * RESULTS.md, round five).
 */
const HEAP_CHECK_CPU_NS = 5_000_000n;
const HEAP_CHECK_USES = 16;
/**
 * Idle isolates kept per tenant, and for all tenants together (least recently used go; ~1.3 MB
 * each, ~10 MB once hardened and used a while — IDLE_MS disposes those no step wants). A tenant's idle isolates must cover how much its concurrency swings between claims:
 * with 4, a tenant running 50 code steps at once created and disposed an isolate for most
 * steps (a quarter of the process's CPU at 400 steps/s, bench/RESULTS.md "End to end").
 */
const IDLE_PER_TENANT = 32;
const IDLE_TOTAL = 64;
/**
 * An isolate idle this long is disposed (checked every IDLE_MS / 3): memory follows the load
 * down. A hardened isolate that has served for a while holds ~10 MB (its young generation
 * grows), so 32 of them idle after a burst held ~320 MB.
 */
const IDLE_MS = 30_000;
/** The heap SES's frozen intrinsics take in a hardened isolate (2.9 MB measured), rounded up. */
const SES_HEAP_MB = 4;
/** Codes remembered as not to be run in a compartment again (they threw there). */
const FELL_BACK_MAX = 512;

export type WarmIsolate = {
  readonly isolate: ivm.Isolate;
  readonly tenantKey: string;
  readonly memoryLimitMb: number;
  uses: number;
  /**
   * The next step's context, made on the isolate's own thread while the isolate waited in the
   * pool (after the step before it), so that the worker's thread does not spend its time making
   * it. A fresh context that no step has used: each step still gets one of its own.
   */
  spare?: Promise<ivm.Context> | undefined;
  /** The isolate's CPU time and its step count when its heap was last read. */
  checked?: { cpuNs: bigint; uses: number };
  /**
   * Its hardened context (javascript-hardened.ts), made on the isolate's own thread when the
   * isolate is created; its first step waits for it (~25 ms). Undefined when it could not be
   * made (its steps then get fresh contexts) or the pool does not harden.
   */
  realm?: Promise<HardenedRealm | undefined> | undefined;
  /** Its last step ran in a fresh context (so the next one may need one too). */
  fresh?: boolean;
  /** When it was last given back (idle isolates are disposed after IDLE_MS). */
  idleSince?: number;
};

/** A context of its own for the step that holds `w`: the spare one, else one made now. */
export async function freshContext(
  w: WarmIsolate | null,
  isolate: ivm.Isolate,
): Promise<ivm.Context> {
  const spare = w?.spare;
  if (w) w.spare = undefined;
  return (await spare?.catch(() => undefined)) ?? isolate.createContextSync();
}

export type IsolatePool = {
  /** An isolate of this tenant for one step: reused when one is idle, else new. */
  acquire(tenantKey: string, memoryLimitMb: number): WarmIsolate;
  /** Back to the pool after the step (a disposed or spent isolate is dropped). */
  release(w: WarmIsolate): void;
  /** Disposes the idle isolates (a stopping process). */
  close(): void;
  idleCount(): number;
  /** May this code run in a compartment of a hardened context (javascript-hardened.ts)? */
  mayHarden(code: string): boolean;
  /** This code threw in a compartment: from now on it runs in fresh contexts only. */
  fellBack(code: string): void;
  /** The step on `w` is running in a fresh context. */
  ranFresh(w: WarmIsolate): void;
  /** A step answered from a compartment. */
  ranInCompartment(): void;
  /** Steps run in a compartment / in a fresh context / in a fresh one after a compartment. */
  stats(): { compartment: number; fresh: number; fellBack: number };
};

export type IsolatePoolOptions = {
  /** Run steps whose code allows it in compartments of a hardened context (default true). */
  hardened?: boolean;
  /** An isolate idle this long is disposed (default IDLE_MS). */
  idleMs?: number;
};

export function createIsolatePool(options: IsolatePoolOptions = {}): IsolatePool {
  const hardened = options.hardened ?? true;
  // Until the first hardened context has been measured against a fresh one, no code passes.
  let screen: (code: string) => boolean = () => false;
  let screening = false;
  const fellBack = new Map<string, true>();
  const counts = { compartment: 0, fresh: 0, fellBack: 0 };
  const harden = (isolate: ivm.Isolate): Promise<HardenedRealm | undefined> =>
    hardenRealm(isolate)
      .then(async (realm) => {
        if (!screening) {
          screening = true;
          try {
            screen = makeScreen(await differingNames(isolate, realm));
          } catch {
            screening = false; // the next hardened context measures it
          }
        }
        return realm;
      })
      // A disposed isolate (retired, timed out) or a failed lockdown: fresh contexts only.
      .catch(() => undefined);
  // Insertion order is recency: the first entries are the least recently released.
  const idle = new Map<string, WarmIsolate[]>();
  let total = 0;
  const dropOldest = () => {
    for (const [key, list] of idle) {
      const w = list.shift();
      if (list.length === 0) idle.delete(key);
      if (w) {
        total--;
        if (!w.isolate.isDisposed) w.isolate.dispose();
        return;
      }
    }
  };
  const idleMs = options.idleMs ?? IDLE_MS;
  const sweep = setInterval(() => {
    const before = Date.now() - idleMs;
    for (const [key, list] of idle) {
      const kept = list.filter((w) => !w.isolate.isDisposed && (w.idleSince ?? 0) >= before);
      for (const w of list) if (!kept.includes(w) && !w.isolate.isDisposed) w.isolate.dispose();
      total -= list.length - kept.length;
      if (kept.length === 0) idle.delete(key);
      else idle.set(key, kept);
    }
  }, idleMs / 3);
  sweep.unref();
  return {
    acquire(tenantKey, memoryLimitMb) {
      const list = idle.get(tenantKey);
      while (list && list.length > 0) {
        const w = list.pop()!;
        total--;
        if (list.length === 0) idle.delete(tenantKey);
        if (!w.isolate.isDisposed && w.memoryLimitMb === memoryLimitMb) {
          w.uses++;
          w.fresh = false;
          return w;
        }
        if (!w.isolate.isDisposed) w.isolate.dispose();
      }
      // A hardened isolate's heap also holds SES (~3 MB): its limit grows by as much, so that
      // a step has the room it had in a fresh context.
      const isolate = new ivm.Isolate({
        memoryLimit: memoryLimitMb + (hardened ? SES_HEAP_MB : 0),
      });
      return {
        isolate,
        tenantKey,
        memoryLimitMb,
        uses: 1,
        realm: hardened ? harden(isolate) : undefined,
      };
    },
    release(w) {
      if (w.isolate.isDisposed) return;
      let spent = w.uses >= (w.realm ? MAX_USES_HARDENED : MAX_USES);
      w.idleSince = Date.now();
      const cpuNs = w.isolate.cpuTime;
      const last = w.checked ?? { cpuNs: 0n, uses: 0 };
      if (
        !spent &&
        (cpuNs - last.cpuNs > HEAP_CHECK_CPU_NS || w.uses - last.uses >= HEAP_CHECK_USES)
      ) {
        w.checked = { cpuNs, uses: w.uses };
        const heap = w.isolate.getHeapStatisticsSync();
        spent =
          heap.used_heap_size + heap.externally_allocated_size >
          Math.min(
            (w.memoryLimitMb * 2 ** 20) / 2,
            w.realm ? RETIRE_HEAP_BYTES_HARDENED : RETIRE_HEAP_BYTES,
          );
      }
      const list = idle.get(w.tenantKey) ?? [];
      if (spent || list.length >= IDLE_PER_TENANT) {
        w.isolate.dispose();
        return;
      }
      // The next step's fresh context, made on the isolate's thread while it waits, if that
      // step may need one (a context left over is freed with the isolate).
      if (!w.realm || w.fresh) {
        w.spare = w.isolate.createContext();
        w.spare.catch(() => undefined);
      }
      // Re-inserted last: this tenant is now the most recently used.
      idle.delete(w.tenantKey);
      idle.set(w.tenantKey, [...list, w]);
      total++;
      while (total > IDLE_TOTAL) dropOldest();
    },
    close() {
      clearInterval(sweep);
      for (const list of idle.values())
        for (const w of list) if (!w.isolate.isDisposed) w.isolate.dispose();
      idle.clear();
      total = 0;
    },
    idleCount: () => total,
    mayHarden: (code) => !fellBack.has(code) && screen(code),
    fellBack(code) {
      counts.fellBack++;
      fellBack.set(code, true);
      if (fellBack.size > FELL_BACK_MAX) fellBack.delete(fellBack.keys().next().value!);
    },
    ranFresh(w) {
      w.fresh = true;
      counts.fresh++;
    },
    ranInCompartment() {
      counts.compartment++;
    },
    stats: () => ({ ...counts }),
  };
}
