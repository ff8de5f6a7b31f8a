/**
 * GraphQL subscriptions over Server-Sent Events from the app's own origin (CSP `connect-src
 * 'self'`): a POST to /graphql with `Accept: text/event-stream`, read as a stream. POST rather
 * than EventSource, because EventSource can send neither the query as JSON nor the CSRF header.
 *
 * A stream that drops is opened again with backoff (1 s doubling to 30 s). Changes sent while
 * it was down (or before it first opened) are lost, so `onLive(true)`, on every open, is when
 * the caller refetches what it shows; `onLive(false)` tells it the stream is down (to refresh
 * slowly meanwhile).
 */
import type { TadaDocumentNode } from 'gql.tada';
import { print } from 'graphql';
import { ApiError } from './client';

export type SubscriptionHandlers<R> = {
  next(data: R): void;
  /** The stream is (back) up (true: refetch, changes sent meanwhile were lost) or down. */
  onLive?(live: boolean): void;
  /** The server refused the subscription for good (E_FORBIDDEN …); no retry follows. */
  onError?(error: ApiError): void;
};

const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** Errors after which opening the stream again cannot help. */
const FINAL_CODES = new Set(['E_UNAUTHENTICATED', 'E_FORBIDDEN', 'E_VALIDATION']);

/** Starts the subscription; call the returned function to end it. */
export function subscribe<R, V extends Record<string, unknown>>(
  document: TadaDocumentNode<R, V>,
  variables: V,
  handlers: SubscriptionHandlers<R>,
): () => void {
  const abort = new AbortController();
  const body = JSON.stringify({ query: print(document), variables });
  let retryMs = RETRY_FIRST_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const open = async (): Promise<void> => {
    let final = false;
    try {
      const res = await fetch('/graphql', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          'x-graphql-yoga-csrf': '1',
        },
        body,
        signal: abort.signal,
      });
      if (res.status === 401) {
        // Signed out meanwhile: the page's next request sends the user to sign-in.
        final = true;
        handlers.onError?.(new ApiError('Sign in again.', 'E_UNAUTHENTICATED', null));
      }
      if (!res.ok || !res.body) throw new Error(`status ${res.status}`);
      handlers.onLive?.(true);
      retryMs = RETRY_FIRST_MS;
      for await (const event of readEvents(res.body)) {
        if (event.name !== 'next') continue;
        const payload = JSON.parse(event.data) as {
          data?: R | null;
          errors?: { message: string; extensions?: { code?: string } }[];
        };
        const first = payload.errors?.[0];
        if (first) {
          // A refusal that retrying cannot fix is reported; others (E_TOO_MANY_SUBSCRIPTIONS)
          // are retried like a dropped stream.
          const code = first.extensions?.code ?? 'E_INTERNAL';
          final = FINAL_CODES.has(code);
          if (final) handlers.onError?.(new ApiError(first.message, code, null));
          break;
        }
        if (payload.data) handlers.next(payload.data);
      }
    } catch {
      // A dropped stream or an unreachable server: opened again below.
    }
    if (abort.signal.aborted) return;
    // Down, for good or until it is opened again: the page refreshes slowly meanwhile (and, if
    // the session ended, its next request sends the user to sign-in).
    handlers.onLive?.(false);
    if (final) return;
    timer = setTimeout(() => void open(), retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };

  void open();
  return () => {
    clearTimeout(timer);
    abort.abort();
  };
}

/** The events of an SSE body (`event:` and `data:` lines, a blank line between events). */
async function* readEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<{ name: string; data: string }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        let name = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (name === 'complete') return;
        if (data.length) yield { name, data: data.join('\n') };
      }
    }
  } finally {
    reader.releaseLock();
  }
}
