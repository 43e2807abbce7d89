import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { decodeWav } from '../../src/audio/wav.js';

/** What the server does with one request. `latencyMs` delays the first byte (on top of the server-wide latency). */
export type Behaviour = Reply & { latencyMs?: number };

export type Reply =
  /** 200 (or `status`) with a JSON body. */
  | { type: 'json'; body: unknown; status?: number }
  /**
   * `text/event-stream`: each event is sent as one `data:` line (strings raw, anything else as JSON),
   * `delayMs` apart; `done` adds `data: [DONE]`. `resetAfter`/`stallAfter` N events destroy the socket / hang.
   */
  | { type: 'sse'; events: readonly unknown[]; delayMs?: number; done?: boolean; resetAfter?: number; stallAfter?: number }
  /** A binary body sent chunk by chunk (chunked encoding), `delayMs` apart; reset/stall after N chunks. */
  | {
      type: 'chunks';
      chunks: readonly Uint8Array[];
      delayMs?: number;
      contentType?: string;
      resetAfter?: number;
      stallAfter?: number;
    }
  /** An error status with an OpenAI-style error JSON. */
  | { type: 'status'; status: number; message?: string }
  /** The socket is destroyed without an answer. */
  | { type: 'reset' }
  /** Never answers (`headers`: sends 200 headers first, then nothing). */
  | { type: 'stall'; headers?: boolean; contentType?: string }
  /** These bytes as the whole body. */
  | { type: 'garbage'; bytes: Uint8Array | string; contentType?: string; status?: number };

/** A behaviour, or a function of the request choosing one (e.g. echoing it). */
export type Script = Behaviour | ((req: RecordedRequest) => Behaviour);

export interface UploadedFile {
  name: string;
  type: string;
  bytes: Buffer;
  /** Set when the file is a valid WAV. */
  wav?: { sampleRate: number; channels: number; durationMs: number };
  /** Why the file is not a valid WAV. */
  wavError?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path below `/v1`, e.g. `/audio/speech`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, when the request sent JSON. */
  json?: unknown;
  /** Multipart text fields (`model`, `stream`, `language`…). */
  fields?: Record<string, string>;
  files?: Record<string, UploadedFile>;
  /** Resolves when the response was sent in full ('finished') or the connection closed before that ('aborted'). */
  closed: Promise<'finished' | 'aborted'>;
}

export interface ScriptedServer {
  /** `http://127.0.0.1:PORT/v1` */
  baseURL: string;
  requests: RecordedRequest[];
  /** Fixed delay before the first byte of every response (benchmarks subtract it). */
  latencyMs: number;
  /**
   * Sets what `route` (e.g. `/audio/transcriptions`) answers: each request takes the next behaviour,
   * the last one repeats. Unscripted routes answer 404.
   */
  script(route: string, ...behaviours: Script[]): void;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function parseBody(headers: IncomingHttpHeaders, body: Buffer): Promise<Pick<RecordedRequest, 'json' | 'fields' | 'files'>> {
  const type = headers['content-type'] ?? '';
  if (type.startsWith('application/json')) return { json: body.length ? (JSON.parse(body.toString('utf8')) as unknown) : undefined };
  if (!type.startsWith('multipart/form-data')) return {};
  const form = await new Request('http://local/', { method: 'POST', headers: { 'content-type': type }, body }).formData();
  const fields: Record<string, string> = {};
  const files: Record<string, UploadedFile> = {};
  for (const [key, value] of form.entries()) {
    if (typeof value === 'string') {
      fields[key] = value;
      continue;
    }
    const bytes = Buffer.from(await value.arrayBuffer());
    const file: UploadedFile = { name: value.name, type: value.type, bytes };
    try {
      const wav = decodeWav(bytes, value.name);
      file.wav = { sampleRate: wav.sampleRate, channels: wav.channels, durationMs: (wav.frames * 1000) / wav.sampleRate };
    } catch (err) {
      file.wavError = err instanceof Error ? err.message : String(err);
    }
    files[key] = file;
  }
  return { fields, files };
}

/** Writes `parts` with delays, honouring reset/stall points; stops quietly when the client has gone. */
async function writeParts(
  res: ServerResponse,
  parts: readonly (string | Uint8Array)[],
  opts: { delayMs?: number; resetAfter?: number; stallAfter?: number },
): Promise<void> {
  for (let i = 0; i < parts.length; i++) {
    if (i === opts.resetAfter) return void res.socket?.destroy();
    if (i === opts.stallAfter) return;
    if (i > 0 && opts.delayMs) await sleep(opts.delayMs);
    if (res.destroyed) return;
    res.write(parts[i]!);
  }
  if (parts.length === opts.resetAfter) return void res.socket?.destroy();
  if (parts.length === opts.stallAfter) return;
  res.end();
}

async function play(b: Behaviour, res: ServerResponse): Promise<void> {
  switch (b.type) {
    case 'json':
      res.writeHead(b.status ?? 200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(b.body));
    case 'status': {
      const error = { message: b.message ?? `scripted HTTP ${b.status}`, type: 'server_error', code: null };
      res.writeHead(b.status, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ error }));
    }
    case 'garbage':
      res.writeHead(b.status ?? 200, { 'content-type': b.contentType ?? 'application/octet-stream' });
      return void res.end(b.bytes);
    case 'reset':
      return void res.socket?.destroy();
    case 'stall':
      if (b.headers) {
        res.writeHead(200, { 'content-type': b.contentType ?? 'application/octet-stream' });
        res.flushHeaders();
      }
      return;
    case 'sse': {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      const lines = b.events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`);
      if (b.done) lines.push('data: [DONE]\n\n');
      return writeParts(res, lines, b);
    }
    case 'chunks':
      res.writeHead(200, { 'content-type': b.contentType ?? 'application/octet-stream' });
      res.flushHeaders();
      return writeParts(res, b.chunks, b);
  }
}

/** A scripted OpenAI-compatible server on 127.0.0.1 (see TESTING.md): routes answer what the test scripts. */
export async function startScriptedServer(): Promise<ScriptedServer> {
  const scripts = new Map<string, Script[]>();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const path = url.pathname.replace(/^\/v1(?=\/)/, '');
    const closed = new Promise<'finished' | 'aborted'>((ok) => res.on('close', () => ok(res.writableFinished ? 'finished' : 'aborted')));
    const body = await readBody(req);
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, closed, ...(await parseBody(req.headers, body)) };
    requests.push(recorded);
    const queue = scripts.get(path);
    const next = queue && queue.length > 1 ? queue.shift() : queue?.[0];
    const behaviour: Behaviour = next === undefined ? { type: 'status', status: 404, message: `no script for ${path}` } : typeof next === 'function' ? next(recorded) : next;
    const latency = server.latencyMs + (behaviour.latencyMs ?? 0);
    if (latency > 0) await sleep(latency);
    if (!res.destroyed) await play(behaviour, res);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `scripted server failed: ${String(err)}` } }));
    });
  });
  http.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
  const { port } = http.address() as AddressInfo;

  const server: ScriptedServer = {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    latencyMs: 0,
    script: (route, ...behaviours) => void scripts.set(route, behaviours),
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        http.close(() => ok());
      }),
  };
  return server;
}

/** Raw little-endian int16 bytes of `samples`. */
export function pcmBytes(samples: Int16Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => out.writeInt16LE(s, i * 2));
  return out;
}

/** Splits `bytes` into chunks of the given sizes, cycling through them (odd sizes cut samples in half). */
export function splitBytes(bytes: Uint8Array, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    out.push(Buffer.from(bytes.subarray(off, off + size)));
    off += size;
  }
  return out;
}
