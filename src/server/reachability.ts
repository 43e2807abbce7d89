/**
 * Is each configured engine there? For /health: cheap (cached), never throws, one line per engine.
 *
 * A server counts as reachable when it answers HTTP at all, even 404 or 401: the point is "the
 * box and the server process are up", not "this exact route works". WebSocket URLs are probed
 * the same way over http(s) (a WebSocket server is an HTTP server; it answers a plain GET with
 * 400/404/426). A server that accepts the connection but never answers is NOT reachable: a hung
 * server is as useless to the assistant as a missing one, and the detail says which it was.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { delimiter, join } from 'node:path';
import type { Config } from '../config/index.js';

export interface Reachability {
  reachable: boolean;
  /** One line: what answered, or why nothing did. */
  detail: string;
}

export interface ProbeOptions {
  /** Covers DNS, connect, TLS and the response headers. Default 1500. */
  timeoutMs?: number;
  /** Aborting resolves with reachable false ("probe cancelled"). */
  signal?: AbortSignal;
}

const PROBE_PROTOCOL: Readonly<Record<string, 'http:' | 'https:'>> = { 'http:': 'http:', 'ws:': 'http:', 'https:': 'https:', 'wss:': 'https:' };

/** Probes an http(s) or ws(s) URL; resolves (never rejects) with whether a server answered. */
export function probeUrl(url: string, options: ProbeOptions = {}): Promise<Reachability> {
  const timeoutMs = options.timeoutMs ?? 1500;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ reachable: false, detail: `not a valid URL: "${url}"` });
  }
  const protocol = PROBE_PROTOCOL[target.protocol];
  if (protocol === undefined) {
    return Promise.resolve({ reachable: false, detail: `unsupported URL scheme ${target.protocol} in ${url}; use http(s):// or ws(s)://` });
  }
  const tls = protocol === 'https:';
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.port || (tls ? 443 : 80));
  const where = `${target.host || host}${target.port ? '' : `:${port}`}`;
  if (options.signal?.aborted) return Promise.resolve({ reachable: false, detail: 'probe cancelled' });

  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    let req: ClientRequest | undefined;
    const finish = (result: Reachability) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      req?.destroy();
      resolve(result);
    };
    const onAbort = () => finish({ reachable: false, detail: 'probe cancelled' });
    const timer = setTimeout(
      () =>
        finish({
          reachable: false,
          detail: connected ? `${where} accepted the connection but sent no HTTP response within ${timeoutMs} ms` : `${where} did not answer within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const send = tls ? httpsRequest : httpRequest;
    req = send({
      protocol,
      host,
      port,
      path: `${target.pathname}${target.search}`,
      method: 'GET',
      agent: false,
      headers: { connection: 'close', 'user-agent': 'kai-health' },
    });
    req.on('socket', (socket) => socket.once(tls ? 'secureConnect' : 'connect', () => (connected = true)));
    req.on('response', (res) => {
      res.resume();
      finish({ reachable: true, detail: `${where} answered HTTP ${res.statusCode ?? '?'}` });
    });
    req.on('error', (err) => finish({ reachable: false, detail: `${where}: ${describeNetworkError(err, host)}` }));
    req.end();
  });
}

function describeNetworkError(err: Error, host: string): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the server running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return `cannot resolve the host name ${host}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable (check the network)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the server closed the connection without an HTTP response';
    case 'ETIMEDOUT':
      return 'connection timed out';
  }
  const first = err.message.split('\n')[0] ?? '';
  return code.startsWith('ERR_TLS') || /cert|ssl|tls/i.test(`${code} ${first}`) ? `TLS failed: ${first}` : first || code || 'connection failed';
}

export type EngineKind = 'stt' | 'tts' | 'llm';

export interface EngineStatus {
  /** stt: embedded | http | realtime; tts: espeak | http; llm: http | local intents. */
  engine: string;
  reachable: boolean;
  detail: string;
}

export type EngineReport = Readonly<Record<EngineKind, Readonly<EngineStatus>>>;

export interface EngineHealthOptions {
  /** How long a report is reused (default 5000 ms). */
  cacheMs?: number;
  /** Per probe (default 1500 ms). */
  timeoutMs?: number;
  /** PATH to search for the embedded engines' programs (default process.env.PATH). */
  path?: string;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Replaceable for tests. */
  probe?: (url: string, options: ProbeOptions) => Promise<Reachability>;
}

const PROGRAMS = {
  stt: { program: 'pocketsphinx_continuous', install: 'install the Debian packages pocketsphinx pocketsphinx-en-us' },
  tts: { program: 'espeak-ng', install: 'install the Debian package espeak-ng' },
} as const;

/** Whether the configured STT, TTS and LLM engines can be used, cached so /health can be polled. */
export class EngineHealth {
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private readonly path: string;
  private readonly now: () => number;
  private readonly probe: (url: string, options: ProbeOptions) => Promise<Reachability>;
  private cached: { at: number; report: EngineReport } | undefined;
  private pending: Promise<EngineReport> | undefined;

  constructor(
    private readonly config: Pick<Config, 'stt' | 'tts' | 'llm'>,
    options: EngineHealthOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? 5000;
    this.timeoutMs = options.timeoutMs ?? 1500;
    this.path = options.path ?? process.env.PATH ?? '';
    this.now = options.now ?? Date.now;
    this.probe = options.probe ?? probeUrl;
  }

  /** The cached report when fresh; otherwise one probe round, shared by concurrent callers. */
  check(): Promise<EngineReport> {
    if (this.cached && this.now() - this.cached.at < this.cacheMs) return Promise.resolve(this.cached.report);
    this.pending ??= this.run().then(
      (report) => {
        this.cached = { at: this.now(), report };
        this.pending = undefined;
        return report;
      },
      (err: unknown) => {
        this.pending = undefined;
        throw err;
      },
    );
    return this.pending;
  }

  private async run(): Promise<EngineReport> {
    const { stt, tts, llm } = this.config;
    const [sttStatus, ttsStatus, llmStatus] = await Promise.all([
      stt.engine === 'embedded' ? this.program('stt', stt.engine) : this.server('stt', stt.engine, stt.baseUrl),
      tts.engine === 'espeak' ? this.program('tts', tts.engine) : this.server('tts', tts.engine, tts.baseUrl),
      llm.baseUrl
        ? this.server('llm', 'http', llm.baseUrl)
        : Promise.resolve({ engine: 'local intents', reachable: true, detail: 'no LLM configured (llm.baseUrl is empty); local intents only' }),
    ]);
    return Object.freeze({ stt: Object.freeze(sttStatus), tts: Object.freeze(ttsStatus), llm: Object.freeze(llmStatus) });
  }

  private async program(kind: 'stt' | 'tts', engine: string): Promise<EngineStatus> {
    const { program, install } = PROGRAMS[kind];
    const found = await findProgram(program, this.path);
    return found
      ? { engine, reachable: true, detail: `${program} found at ${found}` }
      : { engine, reachable: false, detail: `${program} is not on PATH; ${install}` };
  }

  private async server(kind: EngineKind, engine: string, url: string): Promise<EngineStatus> {
    if (!url) return { engine, reachable: false, detail: `${kind}.baseUrl is empty; set the server URL` };
    try {
      return { engine, ...(await this.probe(url, { timeoutMs: this.timeoutMs })) };
    } catch (err) {
      return { engine, reachable: false, detail: `probe failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
    }
  }
}

/** The first executable `program` on `path`, or undefined. */
export async function findProgram(program: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
