import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ControlTarget, RemotePlayback, ServerEvent } from '../../src/server/control.js';
import { sendControl, startControlSocket } from '../../src/server/control-socket.js';
import { startControlServer, type ControlServer } from '../../src/server/http-server.js';
import { parseClientMessage, SUBPROTOCOL } from '../../src/server/protocol.js';
import { loadOrCreateToken } from '../../src/server/token.js';

/** A stand-in for the daemon that records what the control plane asked of it. */
class FakeTarget implements ControlTarget {
  readonly calls: unknown[] = [];
  readonly listeners = new Set<(event: ServerEvent) => void>();
  readonly pushed: Int16Array[] = [];
  playback: RemotePlayback | null = null;
  now = () => 1234;
  snapshot = () => ({ state: 'idle', pending: [{ id: 'r1', prompt: 'Run npm install?' }], jobs: [], lastTurn: null });
  subscribe(listener: (event: ServerEvent) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(event: ServerEvent) {
    for (const l of this.listeners) l(event);
  }
  ptt(action: string) {
    this.calls.push(['ptt', action]);
  }
  cancel() {
    this.calls.push(['cancel']);
  }
  say(text: string) {
    this.calls.push(['say', text]);
  }
  answer(id: string, approved: boolean) {
    this.calls.push(['answer', id, approved]);
    return id === 'r1';
  }
  async cancelJob(id: string) {
    this.calls.push(['cancelJob', id]);
    return id === 'job-1';
  }
  attachMicrophone(playback: RemotePlayback | null) {
    this.playback = playback;
    return { push: (s: Int16Array) => (this.pushed.push(s), true), close: () => this.calls.push(['mic closed']) };
  }
  health = async () => ({ status: 'ok', state: 'idle' });
  metrics = () => '# TYPE kai_turns_total counter\nkai_turns_total 3\n';
}

const TOKEN = 'test-token-0123456789abcdef';
let server: ControlServer | undefined;
let target: FakeTarget;
const open: WebSocket[] = [];

async function start(overrides: Partial<Parameters<typeof startControlServer>[0]> = {}) {
  target = new FakeTarget();
  server = await startControlServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    target,
    allowedOrigins: ['https://kai.example.org'],
    maxConnections: 3,
    maxMessageBytes: 2048,
    messagesPerSecond: 20,
    ...overrides,
  });
  return server;
}

afterEach(async () => {
  for (const ws of open.splice(0)) ws.terminate();
  await server?.close();
  server = undefined;
});

/** Connects and collects every message; resolves once the welcome arrived (or rejects with the HTTP status). */
function connect(options: { token?: string | null; viaProtocol?: boolean; origin?: string } = {}) {
  const token = options.token === undefined ? TOKEN : options.token;
  const protocols = [SUBPROTOCOL, ...(token && options.viaProtocol ? [`bearer.${token}`] : [])];
  const headers: Record<string, string> = {};
  if (token && !options.viaProtocol) headers.authorization = `Bearer ${token}`;
  if (options.origin) headers.origin = options.origin;
  const ws = new WebSocket(`${server!.url.replace('http', 'ws')}/ws`, protocols, { headers });
  open.push(ws);
  const messages: Record<string, unknown>[] = [];
  const binary: Buffer[] = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) binary.push(data as Buffer);
    else messages.push(JSON.parse(String(data)) as Record<string, unknown>);
  });
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const next = async (type: string) => {
    for (let i = 0; i < 200; i++) {
      const found = messages.find((m) => m.type === type);
      if (found) {
        messages.splice(messages.indexOf(found), 1);
        return found;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${type} message; got ${JSON.stringify(messages)}`);
  };
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return { ws, ready, messages, binary, next, closed };
}

describe('the control plane: who may connect', () => {
  it('refuses a connection without a token, with a wrong token, or from a foreign page', async () => {
    await start();
    await expect(connect({ token: null }).ready).rejects.toThrow('HTTP 401');
    await expect(connect({ token: 'wrong-token-0123456789abcdef' }).ready).rejects.toThrow('HTTP 401');
    await expect(connect({ origin: 'https://evil.example.com' }).ready).rejects.toThrow('HTTP 403');
    await expect(connect({ origin: 'null' }).ready).rejects.toThrow('HTTP 403');
  });

  it('accepts the token as a header or as a subprotocol (browsers), from its own page or an allowed origin', async () => {
    await start();
    for (const client of [connect(), connect({ viaProtocol: true, origin: server!.url }), connect({ origin: 'https://kai.example.org' })]) {
      await client.ready;
      expect(client.ws.protocol).toBe(SUBPROTOCOL);
      const welcome = await client.next('welcome');
      expect(welcome).toMatchObject({ t: 1234, protocol: 1, state: 'idle', pending: [{ id: 'r1' }] });
    }
  });

  it('limits the number of connections', async () => {
    await start();
    const clients = [connect(), connect(), connect()];
    await Promise.all(clients.map((c) => c.ready));
    await expect(connect().ready).rejects.toThrow('HTTP 503');
  });

  it('only serves /ws for WebSockets', async () => {
    await start();
    const ws = new WebSocket(`${server!.url.replace('http', 'ws')}/other`, [SUBPROTOCOL], { headers: { authorization: `Bearer ${TOKEN}` } });
    const status = await new Promise((resolve) => ws.once('unexpected-response', (_q, res) => resolve(res.statusCode)));
    expect(status).toBe(404);
  });
});

describe('the control plane: messages', () => {
  it('dispatches every client message and acknowledges it by id', async () => {
    await start();
    const c = connect();
    await c.ready;
    await c.next('welcome');
    const send = (m: object) => c.ws.send(JSON.stringify(m));
    send({ type: 'ptt', action: 'start', id: 'a' });
    send({ type: 'ptt', action: 'stop' });
    send({ type: 'cancel' });
    send({ type: 'say', text: 'what time is it' });
    send({ type: 'approve', requestId: 'r1', id: 'b' });
    send({ type: 'job_cancel', jobId: 'job-1' });
    send({ type: 'ping', id: 'p' });
    expect(await c.next('ack')).toEqual({ t: 1234, type: 'ack', id: 'a' });
    expect(await c.next('pong')).toMatchObject({ id: 'p' });
    await new Promise((r) => setTimeout(r, 50));
    expect(target.calls).toEqual([['ptt', 'start'], ['ptt', 'stop'], ['cancel'], ['say', 'what time is it'], ['answer', 'r1', true], ['cancelJob', 'job-1']]);
  });

  it('answers malformed, unknown, invalid and oversized messages with an error, and keeps the connection', async () => {
    await start();
    const c = connect();
    await c.ready;
    await c.next('welcome');
    c.ws.send('{not json');
    expect(await c.next('error')).toMatchObject({ code: 'bad_json' });
    c.ws.send(JSON.stringify({ type: 'launch_missiles', id: 'x' }));
    expect(await c.next('error')).toMatchObject({ code: 'bad_message', message: 'unknown message type "launch_missiles"', id: 'x' });
    c.ws.send(JSON.stringify({ type: 'ptt', action: 'sideways' }));
    expect(await c.next('error')).toMatchObject({ code: 'bad_message', message: expect.stringContaining('action') });
    c.ws.send(JSON.stringify({ type: 'say', text: 'x'.repeat(5000) }));
    expect(await c.next('error')).toMatchObject({ code: 'too_large' });
    c.ws.send(JSON.stringify({ noType: true }));
    expect(await c.next('error')).toMatchObject({ code: 'bad_message', message: 'messages need a "type"' });
    c.ws.send(JSON.stringify({ type: 'deny', requestId: 'nope', id: 'd' }));
    expect(await c.next('error')).toMatchObject({ code: 'not_found', id: 'd' });
    c.ws.send(JSON.stringify({ type: 'job_cancel', jobId: 'job-9' }));
    expect(await c.next('error')).toMatchObject({ code: 'not_found' });
    c.ws.send(JSON.stringify({ type: 'ping', id: 'still-there' }));
    expect(await c.next('pong')).toMatchObject({ id: 'still-there' });
    expect(target.calls.filter((call) => (call as string[])[0] === 'ptt')).toEqual([]);
  });

  it('rate-limits a flooding client, then disconnects it', async () => {
    await start();
    const c = connect();
    await c.ready;
    await c.next('welcome');
    for (let i = 0; i < 200; i++) c.ws.send(JSON.stringify({ type: 'ping' }));
    expect(await c.next('error')).toMatchObject({ code: 'rate_limited' });
    expect((await c.closed).code).toBe(1008);
    expect(c.messages.filter((m) => m.type === 'pong').length).toBeLessThanOrEqual(41);
  });

  it('streams the assistant’s events to every client', async () => {
    await start();
    const a = connect();
    const b = connect();
    await Promise.all([a.ready, b.ready]);
    target.emit({ type: 'state', value: 'listen' });
    target.emit({ type: 'transcript', final: true, text: 'what time is it' });
    for (const c of [a, b]) {
      expect(await c.next('state')).toEqual({ t: 1234, type: 'state', value: 'listen' });
      expect(await c.next('transcript')).toMatchObject({ final: true, text: 'what time is it' });
    }
    a.ws.close();
    await a.closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(target.listeners.size).toBe(1);
  });

  it('takes satellite audio as binary frames after audio_start and plays the reply back', async () => {
    await start();
    const c = connect();
    await c.ready;
    await c.next('welcome');
    c.ws.send(Buffer.alloc(640));
    expect(await c.next('error')).toMatchObject({ code: 'bad_audio', message: expect.stringContaining('audio_start') });
    c.ws.send(JSON.stringify({ type: 'audio_start', sampleRate: 16000, format: 's16le', id: 's' }));
    await c.next('ack');
    c.ws.send(Buffer.alloc(641));
    expect(await c.next('error')).toMatchObject({ code: 'bad_audio', message: expect.stringContaining('even') });
    const samples = Int16Array.from({ length: 320 }, (_, i) => i - 160);
    c.ws.send(Buffer.from(samples.buffer));
    await new Promise((r) => setTimeout(r, 50));
    expect(target.pushed.at(-1)).toEqual(samples);
    target.playback!.send(Int16Array.from([1, 2, 3]));
    target.playback!.clear();
    expect(await c.next('audio_clear')).toBeTruthy();
    expect(new Int16Array(new Uint8Array(c.binary[0]!).buffer)).toEqual(Int16Array.from([1, 2, 3]));
    c.ws.send(JSON.stringify({ type: 'audio_start', sampleRate: 44100, format: 's16le' }));
    expect(await c.next('error')).toMatchObject({ code: 'bad_message', message: expect.stringContaining('sampleRate') });
    c.ws.close();
    await c.closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(target.calls).toContainEqual(['mic closed']);
  });
});

describe('the control plane: HTTP', () => {
  it('serves /health openly, /metrics with the token, the page with a strict content policy', async () => {
    await start();
    const health = await fetch(`${server!.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', state: 'idle' });
    expect((await fetch(`${server!.url}/metrics`)).status).toBe(401);
    const metrics = await fetch(`${server!.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(metrics.headers.get('content-type')).toContain('version=0.0.4');
    expect(await metrics.text()).toContain('kai_turns_total 3');
    const page = await fetch(`${server!.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<html');
    expect((await fetch(`${server!.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server!.url}/health`, { method: 'POST' })).status).toBe(405);
  });

  it('says in one sentence when the port is taken', async () => {
    const first = await start();
    await expect(start({ port: first.port })).rejects.toThrow(/port \d+ on 127\.0\.0\.1 is in use/);
  });
});

describe('the token', () => {
  it('is created once, private, and reused; a token others can read is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-token-'));
    const path = join(dir, 'state', 'token');
    const token = loadOrCreateToken(path);
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadOrCreateToken(path)).toBe(token);
    const loose = join(dir, 'loose');
    writeFileSync(loose, 'a'.repeat(40), { mode: 0o644 });
    expect(() => loadOrCreateToken(loose)).toThrow(`the token file ${loose} can be read by other users; run: chmod 600 ${loose}`);
  });
});

describe('the local control socket', () => {
  it('takes the same messages, line by line, from the user only', async () => {
    target = new FakeTarget();
    const path = join(mkdtempSync(join(tmpdir(), 'kai-sock-')), 'run', 'control.sock');
    const socket = await startControlSocket(path, target);
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(await sendControl(path, { type: 'ptt', action: 'toggle' })).toEqual({ type: 'ack', state: 'idle' });
      expect(await sendControl(path, { type: 'cancel' })).toMatchObject({ type: 'ack' });
      expect(await sendControl(path, { type: 'approve', requestId: 'zz' })).toMatchObject({ type: 'error', code: 'not_found' });
      expect(await sendControl(path, { type: 'audio_stop' })).toMatchObject({ type: 'error', code: 'not_allowed' });
      expect(target.calls).toEqual([['ptt', 'toggle'], ['cancel'], ['answer', 'zz', true]]);
      await expect(startControlSocket(path, target)).rejects.toThrow('kai is already running');
    } finally {
      await socket.close();
    }
    await expect(sendControl(path, { type: 'cancel' })).rejects.toThrow(`kai is not running (nothing answers on ${path}); start it with: kai run`);
  });

  it('replaces a socket file left behind by a daemon that died', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kai-sock-')), 'control.sock');
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(path, r));
    // Simulate a crash: the file stays, nobody listens.
    (stale as unknown as { _handle: { close(): void } })._handle.close();
    const socket = await startControlSocket(path, new FakeTarget());
    expect(await sendControl(path, { type: 'ping' })).toMatchObject({ type: 'pong' });
    await socket.close();
  });
});

describe('the protocol', () => {
  it('parses every message type and names what is wrong', () => {
    expect(parseClientMessage('{"type":"audio_start","sampleRate":16000,"format":"s16le"}')).toEqual({
      ok: true,
      message: { type: 'audio_start', sampleRate: 16000, format: 's16le', playback: true },
    });
    expect(parseClientMessage('[]')).toMatchObject({ ok: false, code: 'bad_message' });
    expect(parseClientMessage('{"type":"say","text":""}')).toMatchObject({ ok: false, message: expect.stringContaining('at text') });
    expect(parseClientMessage('{"type":"cancel","extra":1}')).toMatchObject({ ok: false, code: 'bad_message' });
  });
});
