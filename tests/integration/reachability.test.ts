import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { EngineHealth, findProgram, probeUrl } from '../../src/server/reachability.js';

/*
 * Decision (documented in src/server/reachability.ts): any HTTP answer counts as reachable, even
 * 404/401; a server that accepts TCP but never answers is NOT reachable (a hung server is as
 * useless as a missing one), and the detail tells the two apart. ws:// URLs are probed over http.
 */

let http: HttpServer;
let httpUrl: string;
let requests = 0;
let silent: NetServer;
let silentUrl: string;
const silentSockets = new Set<Socket>();
let slammer: NetServer;
let slammerUrl: string;
let wss: WebSocketServer;
let wsUrl: string;
let closedUrl: string;
let tmp: string;

const listen = (server: NetServer | HttpServer) =>
  new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const close = (server: NetServer | HttpServer) => new Promise<void>((resolve) => server.close(() => resolve()));

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    requests += 1;
    res.statusCode = req.url === '/secret' ? 401 : 404;
    res.end('nothing here');
  });
  httpUrl = `http://127.0.0.1:${await listen(http)}`;

  silent = createNetServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  silentUrl = `http://127.0.0.1:${await listen(silent)}/v1`;

  slammer = createNetServer((socket) => socket.destroy());
  slammerUrl = `http://127.0.0.1:${await listen(slammer)}/`;

  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wsUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/realtime`;

  const closed = createNetServer();
  closedUrl = `http://127.0.0.1:${await listen(closed)}/`;
  await close(closed);

  tmp = mkdtempSync(join(tmpdir(), 'kai-reach-'));
});

afterAll(async () => {
  for (const s of silentSockets) s.destroy();
  await Promise.all([close(http), close(silent), close(slammer), new Promise<void>((r) => wss.close(() => r()))]);
  rmSync(tmp, { recursive: true, force: true });
});

describe('probeUrl', () => {
  it('any HTTP answer is reachable, even 404 and 401', async () => {
    expect(await probeUrl(`${httpUrl}/v1`)).toEqual({ reachable: true, detail: `${httpUrl.slice(7)} answered HTTP 404` });
    expect(await probeUrl(`${httpUrl}/secret`)).toMatchObject({ reachable: true, detail: expect.stringContaining('HTTP 401') });
  });

  it('a WebSocket URL is probed over http: a ws server answers 426, and an http server behind ws:// counts too', async () => {
    const result = await probeUrl(wsUrl);
    expect(result.reachable).toBe(true);
    expect(result.detail).toMatch(/answered HTTP 4\d\d$/);
    expect((await probeUrl(httpUrl.replace('http:', 'ws:'))).reachable).toBe(true);
  });

  it('a closed port is not reachable: connection refused', async () => {
    const result = await probeUrl(closedUrl);
    expect(result.reachable).toBe(false);
    expect(result.detail).toMatch(/connection refused/);
  });

  it('a server that accepts but never answers is not reachable, and the detail says it accepted', async () => {
    const started = Date.now();
    const result = await probeUrl(silentUrl, { timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result).toEqual({
      reachable: false,
      detail: `${new URL(silentUrl).host} accepted the connection but sent no HTTP response within 300 ms`,
    });
  });

  it('a server that closes the connection without answering is not reachable', async () => {
    const result = await probeUrl(slammerUrl);
    expect(result.reachable).toBe(false);
    expect(result.detail).toMatch(/closed the connection without an HTTP response/);
  });

  it('a bad URL, a wrong scheme, an unknown host or a cancel give one line and never throw', async () => {
    expect(await probeUrl('not a url')).toEqual({ reachable: false, detail: 'not a valid URL: "not a url"' });
    expect((await probeUrl('ftp://127.0.0.1/')).detail).toMatch(/^unsupported URL scheme ftp:/);
    const unknown = await probeUrl('http://kai-no-such-host.invalid:8000/', { timeoutMs: 1000 });
    expect(unknown.reachable).toBe(false);
    expect(unknown.detail).not.toContain('\n');
    const controller = new AbortController();
    const pending = probeUrl(silentUrl, { timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await pending).toEqual({ reachable: false, detail: 'probe cancelled' });
    expect(await probeUrl(httpUrl, { signal: AbortSignal.abort() })).toEqual({ reachable: false, detail: 'probe cancelled' });
  });
});

describe('EngineHealth', () => {
  function fakeBin(...programs: string[]): string {
    const dir = mkdtempSync(join(tmp, 'bin-'));
    for (const p of programs) {
      writeFileSync(join(dir, p), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, p), 0o755);
    }
    return dir;
  }

  it('embedded engines are reachable when their program is on PATH; no LLM means local intents', async () => {
    const config = configSchema.parse({});
    const bin = fakeBin('pocketsphinx_continuous', 'espeak-ng');
    const report = await new EngineHealth(config, { path: `/nonexistent:${bin}` }).check();
    expect(report).toEqual({
      stt: { engine: 'embedded', reachable: true, detail: `pocketsphinx_continuous found at ${join(bin, 'pocketsphinx_continuous')}` },
      tts: { engine: 'espeak', reachable: true, detail: `espeak-ng found at ${join(bin, 'espeak-ng')}` },
      llm: { engine: 'local intents', reachable: true, detail: 'no LLM configured (llm.baseUrl is empty); local intents only' },
    });
  });

  it('a missing program, or a non-executable file or a folder by that name, is not reachable, with the fix', async () => {
    const dir = mkdtempSync(join(tmp, 'notbin-'));
    writeFileSync(join(dir, 'espeak-ng'), 'not executable');
    mkdirSync(join(dir, 'pocketsphinx_continuous'));
    const report = await new EngineHealth(configSchema.parse({}), { path: dir }).check();
    expect(report.stt).toEqual({
      engine: 'embedded',
      reachable: false,
      detail: 'pocketsphinx_continuous is not on PATH; install the Debian packages pocketsphinx pocketsphinx-en-us',
    });
    expect(report.tts.reachable).toBe(false);
    expect(report.tts.detail).toMatch(/^espeak-ng is not on PATH; install the Debian package espeak-ng$/);
    expect(await findProgram('espeak-ng', '')).toBeUndefined();
  });

  it('server engines are probed: an answering server, a refused port, an empty URL', async () => {
    const config = configSchema.parse({
      stt: { engine: 'realtime', baseUrl: wsUrl },
      tts: { engine: 'http', baseUrl: closedUrl },
      llm: { baseUrl: `${httpUrl}/v1`, model: 'm' },
    });
    const report = await new EngineHealth(config).check();
    expect(report.stt).toMatchObject({ engine: 'realtime', reachable: true });
    expect(report.tts).toMatchObject({ engine: 'http', reachable: false, detail: expect.stringMatching(/connection refused/) });
    expect(report.llm).toEqual({ engine: 'http', reachable: true, detail: `${httpUrl.slice(7)} answered HTTP 404` });

    const empty = await new EngineHealth(configSchema.parse({ stt: { engine: 'http' } }), { path: '' }).check();
    expect(empty.stt).toEqual({ engine: 'http', reachable: false, detail: 'stt.baseUrl is empty; set the server URL' });
  });

  it('caches the report for cacheMs, and concurrent checks share one probe round', async () => {
    const config = configSchema.parse({
      stt: { engine: 'http', baseUrl: `${httpUrl}/stt` },
      tts: { engine: 'http', baseUrl: `${httpUrl}/tts` },
      llm: { baseUrl: `${httpUrl}/llm`, model: 'm' },
    });
    let now = 0;
    const health = new EngineHealth(config, { cacheMs: 5000, now: () => now });
    const before = requests;
    const [a, b, c] = await Promise.all([health.check(), health.check(), health.check()]);
    expect(requests - before).toBe(3); // one per engine, not per caller
    expect(b).toBe(a);
    expect(c).toBe(a);

    now += 4999;
    expect(await health.check()).toBe(a);
    expect(requests - before).toBe(3);

    now += 1;
    const fresh = await health.check();
    expect(fresh).not.toBe(a);
    expect(fresh).toEqual(a);
    expect(requests - before).toBe(6);
  });

  it('a probe that throws is reported, not thrown, and the next check tries again', async () => {
    const config = configSchema.parse({ llm: { baseUrl: 'http://x', model: 'm' } });
    let calls = 0;
    const health = new EngineHealth(config, {
      cacheMs: 0,
      path: '',
      probe: async () => {
        calls += 1;
        throw new Error('boom\nsecond line');
      },
    });
    expect((await health.check()).llm).toEqual({ engine: 'http', reachable: false, detail: 'probe failed: boom' });
    await health.check();
    expect(calls).toBe(2);
  });
});
