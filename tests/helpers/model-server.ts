import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** What the server does for one file name. */
export type Behaviour =
  /** 200 with these bytes. */
  | { type: 'bytes'; body: Uint8Array }
  /** A bare status code (404, 500, …) with a short text body. */
  | { type: 'status'; status: number }
  /** Content-Length of the whole body, the first `sendBytes` bytes, then the socket is destroyed. */
  | { type: 'cut'; body: Uint8Array; sendBytes: number }
  /** Headers (with Content-Length) and then nothing, ever. */
  | { type: 'stall'; bytes: number };

export interface ModelServer {
  /** http://127.0.0.1:PORT — files are at `${baseUrl}/<file>`. */
  baseUrl: string;
  /** Paths requested so far, in order. */
  requests: string[];
  /** Overrides what is served for `/<file>`; without an override files come from `dir`. */
  set(file: string, behaviour: Behaviour): void;
  /** Drops all overrides. */
  reset(): void;
  close(): Promise<void>;
}

/** A loopback HTTP server serving model files from `dir` (if given) plus scripted misbehaviour. */
export async function startModelServer(dir?: string): Promise<ModelServer> {
  const overrides = new Map<string, Behaviour>();
  const requests: string[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const file = path.slice(1);
    const behaviour = overrides.get(file);
    if (behaviour) return play(behaviour, res);
    const local = dir && !file.includes('/') && file !== '' ? join(dir, file) : undefined;
    if (!local || !existsSync(local)) return play({ type: 'status', status: 404 }, res);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(local).size });
    createReadStream(local).pipe(res);
  };

  const server = createServer(handle);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    set: (file, behaviour) => void overrides.set(file, behaviour),
    reset: () => overrides.clear(),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function play(b: Behaviour, res: ServerResponse): void {
  switch (b.type) {
    case 'bytes':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.body.byteLength });
      res.end(b.body);
      return;
    case 'status':
      res.writeHead(b.status, { 'content-type': 'text/plain' });
      res.end(`status ${b.status}\n`);
      return;
    case 'cut':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.body.byteLength });
      res.write(b.body.subarray(0, b.sendBytes), () => {
        setTimeout(() => res.socket?.destroy(), 20);
      });
      return;
    case 'stall':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.bytes });
      res.flushHeaders();
      return;
  }
}

/** A URL on which nothing listens (the port was just freed). */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return `http://127.0.0.1:${port}`;
}
