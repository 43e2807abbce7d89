import OpenAI, { APIConnectionError, APIError } from 'openai';
import { ABORTED, untilAborted } from '../abort.js';
import { ProviderError, type ProviderSource } from './types.js';

/** The HTTP plumbing the OpenAI-compatible speech engines share: client, stall watchdog, errors. */

const LABEL: Record<ProviderSource, string> = { stt: 'speech-to-text', tts: 'text-to-speech', llm: 'language model' };

export function openAIClient(options: { baseURL: string; apiKey?: string; timeoutMs: number; fetch?: typeof globalThis.fetch }): OpenAI {
  return new OpenAI({
    baseURL: options.baseURL,
    // Local servers usually take no key, but the SDK insists on one.
    apiKey: options.apiKey ?? 'none',
    // The caller decides about retries (ProviderError.retryable); a hidden retry would double the latency.
    maxRetries: 0,
    // The watchdog below enforces timeoutMs per silence; this only bounds a server that trickles forever.
    timeout: 10 * 60_000,
    fetch: watchdogFetch(options.fetch ?? globalThis.fetch, options.timeoutMs),
    logLevel: 'off',
  });
}

/** The server sent nothing for `ms` milliseconds. Its message avoids "timed out": the SDK would drop it as the cause. */
export class StalledError extends Error {
  constructor(readonly ms: number) {
    super(`no data for ${ms} ms`);
    this.name = 'StalledError';
  }
}

/**
 * Wraps fetch so that a request fails with StalledError when no bytes arrive for `timeoutMs`: while
 * waiting for the headers, and during each body read (not while the consumer holds back reading).
 */
export function watchdogFetch(base: typeof globalThis.fetch, timeoutMs: number): typeof globalThis.fetch {
  return async (input, init) => {
    const own = new AbortController();
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer = setTimeout(() => {
        stalled = true;
        own.abort(new StalledError(timeoutMs));
      }, timeoutMs);
    };
    const signal = init?.signal ? AbortSignal.any([init.signal, own.signal]) : own.signal;
    let res: Response;
    arm();
    try {
      res = await base(input, { ...init, signal });
    } catch (err) {
      throw stalled ? new StalledError(timeoutMs) : err;
    } finally {
      clearTimeout(timer);
    }
    if (!res.body || res.status === 204 || res.status === 304) return res;
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        arm();
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (err) {
          controller.error(stalled ? new StalledError(timeoutMs) : err);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** Yields `source` until it ends or `signal` aborts (then returns at once, even while `source` is waiting). */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  if (signal.aborted) return;
  const it = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    while (true) {
      const next = await untilAborted(it.next(), signal);
      if (next === ABORTED) return;
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // Not awaited: a generator that is still waiting cannot finish until its pending step does.
    if (!finished) it.return?.()?.catch(() => undefined);
  }
}

export function malformed(source: ProviderSource, baseURL: string, what: string, retryable = false): ProviderError {
  return new ProviderError(source, `the ${LABEL[source]} server at ${baseURL} sent ${what}`, { retryable });
}

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/** The server's own error text, shortened to a clause. */
function serverMessage(err: APIError): string {
  const body: unknown = err.error;
  const raw = isRecord(body) && typeof body['message'] === 'string' ? body['message'] : err.message.replace(/^\d{3}\s*/, '');
  const line = (raw.split('\n')[0] ?? '').trim().replace(/\.$/, '');
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
const LOST = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** Turns whatever the SDK or fetch threw into a one-sentence ProviderError. */
export function toProviderError(source: ProviderSource, baseURL: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  const server = `the ${LABEL[source]} server at ${baseURL}`;
  const chain = causes(err);
  const stall = chain.find((e): e is StalledError => e instanceof StalledError);
  if (stall) return new ProviderError(source, `${server} sent nothing for ${stall.ms} ms`, { cause: err, retryable: true });
  if (err instanceof APIError && !(err instanceof APIConnectionError)) {
    const status = err.status;
    const detail = serverMessage(err);
    if (status === undefined) return new ProviderError(source, `${server} reported an error: ${detail}`, { cause: err, retryable: false });
    const retryable = status >= 500 || status === 408 || status === 429;
    const verb = status >= 500 ? 'failed' : 'rejected the request';
    const suffix = detail ? ` (HTTP ${status}: ${detail})` : ` (HTTP ${status})`;
    return new ProviderError(source, `${server} ${verb}${suffix}`, { cause: err, retryable });
  }
  const codes = chain.map((e) => (isRecord(e) && typeof e['code'] === 'string' ? e['code'] : ''));
  if (codes.some((c) => UNREACHABLE.has(c))) return new ProviderError(source, `${server} cannot be reached`, { cause: err, retryable: true });
  const terminated = chain.some((e) => e instanceof Error && e.message === 'terminated');
  if (codes.some((c) => LOST.has(c)) || terminated || err instanceof APIConnectionError) {
    return new ProviderError(source, `the connection to ${server} was lost`, { cause: err, retryable: true });
  }
  if (err instanceof SyntaxError) return malformed(source, baseURL, 'a malformed response');
  const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new ProviderError(source, `${server} failed: ${why}`, { cause: err, retryable: false });
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
