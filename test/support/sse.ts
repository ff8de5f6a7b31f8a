/** A GraphQL subscription over Server-Sent Events, as a browser's fetch would open it. */
export type SseSubscription<T> = {
  status: number;
  /** Every `next` payload so far. */
  events: Array<{
    data?: T | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  }>;
  /** Resolves when the server completes the stream (or the connection ends). */
  ended: Promise<void>;
  close(): void;
};

export async function subscribeSse<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<SseSubscription<T>> {
  const abort = new AbortController();
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query, variables }),
    signal: abort.signal,
  });
  const events: SseSubscription<T>['events'] = [];
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const lines = block.split('\n');
          const event = lines
            .find((l) => l.startsWith('event:'))
            ?.slice(6)
            .trim();
          const data = lines
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('\n');
          if (event === 'next' && data)
            events.push(JSON.parse(data) as SseSubscription<T>['events'][number]);
          if (event === 'complete') return;
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
  })();
  return { status: res.status, events, ended, close: () => abort.abort() };
}
