import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { UsageError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { ControlTarget } from './control.js';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from './protocol.js';
import { ControlSession, type SessionLimits } from './session.js';
import { tokenMatches } from './token.js';

export interface ControlServerOptions extends SessionLimits {
  host: string;
  port: number;
  token: string;
  target: ControlTarget;
  /** Origins allowed besides the server's own page. */
  allowedOrigins: string[];
  maxConnections: number;
}

export interface ControlServer {
  /** http://host:port (the web page; add #token=… to sign in). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const PAGE_DIR = join(packageRoot, 'src', 'server', 'page');
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/mic-worklet.js': { file: 'mic-worklet.js', type: 'text/javascript; charset=utf-8' },
};

/**
 * The daemon's HTTP side: the web page, /health (open, for probes), /metrics (bearer token) and
 * the WebSocket control plane at /ws (bearer token, Origin checked, limits enforced).
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const wss = new WebSocketServer({
    noServer: true,
    // Larger than the per-message limit so an oversized message gets an answer, not a dropped connection.
    maxPayload: Math.max(options.maxMessageBytes * 4, 1024 * 1024),
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const server = createServer((request, response) => {
    handleHttp(request, response, options).catch(() => {
      if (!response.headersSent) respond(response, 500, 'text/plain', 'internal error\n');
      else response.destroy();
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refusal = refuseUpgrade(request, options, wss.clients.size);
    if (refusal) {
      socket.end(`HTTP/1.1 ${refusal.status} ${refusal.reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(refusal.message)}\r\n\r\n${refusal.message}`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => new ControlSession(ws, options.target, options));
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new UsageError(`port ${options.port} on ${options.host} is in use (is kai already running?); set server.port or stop the other program`)
          : new UsageError(`cannot listen on ${options.host}:${options.port} (${err.message}); check server.host and server.port`),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.close(1001, 'kai is stopping');
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handleHttp(request: IncomingMessage, response: ServerResponse, options: ControlServerOptions): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (request.method !== 'GET' && request.method !== 'HEAD') return respond(response, 405, 'text/plain', 'only GET is served here\n');
  if (path === '/health') {
    return respond(response, 200, 'application/json', `${JSON.stringify(await options.target.health())}\n`);
  }
  if (path === '/metrics') {
    if (!tokenMatches(options.token, bearer(request))) return respond(response, 401, 'text/plain', 'send the token as Authorization: Bearer TOKEN\n');
    return respond(response, 200, 'text/plain; version=0.0.4; charset=utf-8', options.target.metrics());
  }
  const page = PAGE_FILES[path];
  if (!page) return respond(response, 404, 'text/plain', 'not found\n');
  const body = await readFile(join(PAGE_DIR, page.file));
  respond(response, 200, page.type, body, {
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
}

function respond(response: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const carried = offered.find((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  return carried?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
}

function refuseUpgrade(
  request: IncomingMessage,
  options: ControlServerOptions,
  connections: number,
): { status: number; reason: string; message: string } | null {
  if (new URL(request.url ?? '/', 'http://localhost').pathname !== '/ws') return { status: 404, reason: 'Not Found', message: 'the control plane is at /ws\n' };
  const origin = request.headers.origin;
  if (origin !== undefined && !originAllowed(origin, request.headers.host, options.allowedOrigins)) {
    return { status: 403, reason: 'Forbidden', message: `origin ${origin} is not allowed; add it to server.allowedOrigins\n` };
  }
  if (!tokenMatches(options.token, bearer(request))) {
    return { status: 401, reason: 'Unauthorized', message: 'a valid token is required (Authorization: Bearer TOKEN or subprotocol bearer.TOKEN)\n' };
  }
  if (connections >= options.maxConnections) {
    return { status: 503, reason: 'Service Unavailable', message: `too many connections (limit ${options.maxConnections})\n` };
  }
  return null;
}

/** The daemon's own page (same host) or a configured origin; browsers always send Origin. */
function originAllowed(origin: string, host: string | undefined, allowed: string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (allowed.some((a) => new URL(a).origin === parsed.origin)) return true;
  return host !== undefined && (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.host === host;
}
