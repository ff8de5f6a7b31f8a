/**
 * Coalescing of identical store calls: the calls for one key that arrive while one for that key
 * is in flight (or in the same turn of the event loop) are answered by the next single call.
 * Each caller still gets an answer taken after it asked, so a coalesced read is never older
 * than the caller's question — only shared. Used for the circuit breaker's per-step read and
 * success write (cli/executor.ts): with many steps calling one host at once, one round trip
 * and one transaction serve them all instead of one each.
 */
type Pending<I, A> = { item: I; resolve: (a: A) => void; reject: (e: unknown) => void };
type Key<I, A> = { queue: Pending<I, A>[]; busy: boolean };

export function coalescing<I, A>(
  keyOf: (item: I) => string,
  /** One call for the items (same key); an answer per item, in order. */
  run: (items: I[]) => Promise<A[]>,
): (item: I) => Promise<A> {
  const keys = new Map<string, Key<I, A>>();
  const pump = (key: string, k: Key<I, A>): void => {
    const batch = k.queue;
    k.queue = [];
    k.busy = true;
    run(batch.map((p) => p.item))
      .then(
        (answers) => batch.forEach((p, i) => p.resolve(answers[i]!)),
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        k.busy = false;
        if (k.queue.length > 0) pump(key, k);
        else keys.delete(key);
      });
  };
  return (item) =>
    new Promise<A>((resolve, reject) => {
      const key = keyOf(item);
      let k = keys.get(key);
      if (!k) keys.set(key, (k = { queue: [], busy: false }));
      k.queue.push({ item, resolve, reject });
      if (!k.busy && k.queue.length === 1) {
        const entry = k;
        // The rest of this turn joins (the steps a claim started together ask together).
        setImmediate(() => {
          if (!entry.busy && entry.queue.length > 0) pump(key, entry);
        });
      }
    });
}
