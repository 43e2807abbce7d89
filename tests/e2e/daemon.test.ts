import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readWav } from '../../src/audio/wav.js';
import { fileDeviceHome, noDeviceHome } from '../helpers/alsa.js';
import { startChatServer, textReply, type ChatServer } from '../helpers/chat-server.js';
import { noStackTrace, runKai } from '../helpers/cli.js';
import { connectControl, streamAudio, type ControlClient } from '../helpers/control-client.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { concat, phrase, silence, type Voice } from '../helpers/fixtures.js';

/** A voice the wake word and the embedded recognizer both hear reliably (see the offline e2e test). */
const voice: Voice = { engine: 'flite', voice: 'rms' };

const running: DaemonHandle[] = [];
const clients: ControlClient[] = [];
const servers: ChatServer[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const d of running.splice(0)) await d.stop();
  for (const s of servers.splice(0)) await s.close();
});

async function daemon(...args: Parameters<typeof startDaemon>): Promise<DaemonHandle> {
  const d = await startDaemon(...args);
  running.push(d);
  return d;
}

async function client(d: DaemonHandle): Promise<ControlClient> {
  const c = await connectControl(d.url, d.token);
  clients.push(c);
  return c;
}

/** Raw 16 kHz s16le of a WAV file (what the ALSA file plugin plays as the microphone). */
async function rawOf(path: string): Promise<Buffer> {
  const { samples } = await readWav(path);
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}

/** A HOME whose ALSA microphone plays `inRaw` and whose speaker writes to out.raw. */
function alsaHome(dir: string, inRaw: Buffer) {
  const files = { inRaw: join(dir, 'in.raw'), outRaw: join(dir, 'out.raw') };
  writeFileSync(files.inRaw, inRaw);
  return { home: fileDeviceHome(join(dir, 'home'), files), ...files };
}

const pids = (parent: number, name: string): number[] => {
  try {
    return execFileSync('pgrep', ['-P', String(parent), name], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

describe('kai run: starting and stopping', () => {
  it('serves health with each engine, and stops cleanly within 2 s on SIGTERM and SIGINT', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const d = await daemon();
      const health = (await (await fetch(`${d.url}/health`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ status: 'ok', state: 'idle', engines: { stt: { engine: 'embedded', reachable: true }, tts: { reachable: true }, llm: { reachable: true } } });
      const stopped = await d.stop(signal);
      expect(stopped.code).toBe(0);
      expect(stopped.ms).toBeLessThan(2000);
      expect(d.logs.at(-1)).toMatchObject({ msg: 'stopped' });
      expect(existsSync(d.socketPath)).toBe(false);
      expect(noStackTrace(d.stderr())).toBe(true);
    }
  });

  it('without any audio device says so, retries, and still answers typed requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-nodev-'));
    const d = await daemon({ dir, config: { audio: { input: 'mic', output: 'speaker' } }, env: { HOME: noDeviceHome(join(dir, 'home')) } });
    const mic = await d.waitForLog((l) => l.device === 'microphone' && l.level === 'warn');
    expect(String(mic.msg)).toMatch(/^microphone: .+; retrying in \d+ s$/);
    const c = await client(d);
    c.send({ type: 'say', text: 'what time is it' });
    expect(String((await c.next('assistant')).text)).toMatch(/\d/);
    await d.waitForLog((l) => l.device === 'speaker' && l.level === 'warn');
    const health = (await (await fetch(`${d.url}/health`)).json()) as { devices: Record<string, string> };
    expect(health.devices.microphone).toMatch(/retrying/);
    // retried with growing delays, never a crash
    await d.waitForLog((l) => l.device === 'microphone' && l.level === 'warn' && Number(l.retryInMs) >= 2000, 15_000);
    expect(d.child.exitCode).toBe(null);
    expect(noStackTrace(d.stderr())).toBe(true);
  });

  it('refuses a second daemon on the same control socket in one sentence', async () => {
    const d = await daemon();
    const second = await runKai(['run', '--no-tty', '--config', join(d.dir, 'config.yaml')], { env: d.env, cwd: d.dir, timeoutMs: 30_000 });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/kai is already running/);
    expect(noStackTrace(second.stderr)).toBe(true);
  });
});

describe('kai run: push-to-talk', () => {
  it('kai ptt and SIGUSR1 drive the running daemon on the ALSA devices; the reply plays on the speaker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-ptt-'));
    const input = concat('ptt-what-time', [silence(4), phrase('what time is it', voice), silence(30)]);
    const alsa = alsaHome(dir, await rawOf(input));
    const d = await daemon({ dir, config: { audio: { input: 'mic', output: 'speaker' } }, env: { HOME: alsa.home } });
    await d.waitForLog((l) => l.msg === 'microphone: running');
    const toggled = await runKai(['ptt', 'toggle', '--socket', d.socketPath], { env: d.env });
    expect(toggled.code).toBe(0);
    expect(toggled.stdout).toMatch(/^toggle: ok/);
    const heard = await d.waitForLog((l) => l.msg === 'transcript' && l.final === true);
    expect(heard.text).toBe('what time is it');
    const reply = await d.waitForLog((l) => l.msg === 'assistant');
    expect(String(reply.text)).toMatch(/\d/);
    await d.waitForLog((l) => l.msg === 'turn');
    const played = readFileSync(alsa.outRaw);
    expect(played.length).toBeGreaterThan(16_000); // earcon + at least half a second of speech
    expect(played.some((b) => b !== 0)).toBe(true);

    // hold: start → listening until stop
    expect((await runKai(['ptt', 'start', '--socket', d.socketPath], { env: d.env })).code).toBe(0);
    await d.waitForLog((l) => l.msg === 'state' && l.value === 'listen');
    expect((await runKai(['ptt', 'stop', '--socket', d.socketPath], { env: d.env })).code).toBe(0);
    const states = () => d.logs.filter((l) => l.msg === 'state').map((l) => l.value);
    await expect.poll(() => states().at(-1), { timeout: 15_000 }).toBe('idle');

    process.kill(d.child.pid!, 'SIGUSR1');
    await d.waitForLog((l) => l.msg === 'state' && l.value === 'wake' && d.logs.indexOf(l) > d.logs.length - 5);
    expect((await runKai(['ptt', 'cancel', '--socket', d.socketPath], { env: d.env })).code).toBe(0);
    await expect.poll(() => states().at(-1), { timeout: 10_000 }).toBe('idle');
  });

  it('kai ptt without a daemon says to start one', async () => {
    const result = await runKai(['ptt', 'toggle', '--socket', join(tmpdir(), 'no-such-kai.sock')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/kai is not running .*start it with: kai run/);
    expect(noStackTrace(result.stderr)).toBe(true);
  });
});

describe('kai run: satellites', () => {
  it('hears "hey jarvis, what time is it" streamed over the WebSocket and sends its speech back', async () => {
    const d = await daemon();
    const c = await client(d);
    await c.next('welcome');
    const { samples } = await readWav(concat('satellite-wake', [silence(1), phrase('hey jarvis', voice), silence(0.6), phrase('what time is it', voice), silence(2.5)]));
    c.send({ type: 'audio_start', sampleRate: 16000, format: 's16le' });
    await c.next('ack');
    await streamAudio(c, samples);
    const wake = await c.next('wake');
    expect(wake).toMatchObject({ keyword: 'hey_jarvis' });
    expect((await c.next('transcript', (m) => m.final === true)).text).toBe('what time is it');
    expect(String((await c.next('assistant')).text)).toMatch(/\d/);
    const turn = await c.next('turn');
    expect(turn.transcript).toBe('what time is it');
    expect(c.audioBytes()).toBeGreaterThan(16_000 * 2 * 0.5); // at least half a second of speech came back
  });
});

describe('kai run: faults', () => {
  it('restarts a recorder that dies, and the next turn works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-kill-'));
    const input = concat('ptt-what-time', [silence(4), phrase('what time is it', voice), silence(30)]);
    const alsa = alsaHome(dir, await rawOf(input));
    const d = await daemon({ dir, config: { audio: { input: 'mic', output: 'speaker' } }, env: { HOME: alsa.home } });
    await d.waitForLog((l) => l.msg === 'microphone: running');
    await expect.poll(() => pids(d.child.pid!, 'arecord').length, { timeout: 10_000 }).toBe(1);
    const [recorder] = pids(d.child.pid!, 'arecord');
    process.kill(recorder!, 'SIGKILL');
    const warned = await d.waitForLog((l) => l.device === 'microphone' && l.level === 'warn');
    expect(String(warned.msg)).toMatch(/retrying in 1 s/);
    await d.waitForLog((l) => l.msg === 'microphone: working again');
    expect(pids(d.child.pid!, 'arecord')).not.toContain(recorder);
    // the new recorder plays the file from the start: the phrase comes again 4 s in
    expect((await runKai(['ptt', 'toggle', '--socket', d.socketPath], { env: d.env })).code).toBe(0);
    const heard = await d.waitForLog((l) => l.msg === 'transcript' && l.final === true);
    expect(heard.text).toBe('what time is it');
    await d.waitForLog((l) => l.msg === 'assistant');
    expect(d.child.exitCode).toBe(null);
  });

  it('survives an LLM server that drops the connection mid-stream: says so once, and the next turn works', async () => {
    const llm = await startChatServer();
    servers.push(llm);
    const d = await daemon({ config: { llm: { baseUrl: llm.baseURL, model: 'test' } } });
    const c = await client(d);
    llm.enqueue({ type: 'stream', steps: [{ type: 'text', text: 'Let me' }, { type: 'reset' }] });
    c.send({ type: 'say', text: 'tell me a story' });
    expect(await c.next('service_error')).toMatchObject({ source: 'llm' });
    await c.next('state', (m) => m.value === 'idle');
    llm.enqueue(textReply(['Once upon a time, ', 'there was a bug. ', 'It got fixed.']));
    c.send({ type: 'say', text: 'tell me a story' });
    expect((await c.next('assistant')).text).toBe('Once upon a time, there was a bug. It got fixed.');
    expect(d.child.exitCode).toBe(null);
  });
});

describe('kai run: nothing is lost on a restart', () => {
  it('keeps the conversation across a crash (SIGKILL), so the LLM still knows what was said', async () => {
    const llm = await startChatServer();
    servers.push(llm);
    const dir = mkdtempSync(join(tmpdir(), 'kai-restart-'));
    const config = { llm: { baseUrl: llm.baseURL, model: 'test' } };
    const first = await daemon({ dir, config });
    let c = await client(first);
    llm.enqueue(textReply(['Nice to meet you, Ada.']));
    c.send({ type: 'say', text: 'my name is Ada' });
    await c.next('turn');
    await c.close();
    await first.stop('SIGKILL');

    const second = await daemon({ dir, config });
    c = await client(second);
    llm.enqueue(textReply(['Your name is Ada.']));
    c.send({ type: 'say', text: 'what is my name' });
    await c.next('turn');
    const messages = JSON.stringify(llm.requests.at(-1)!.messages);
    expect(messages).toContain('my name is Ada');
    expect(messages).toContain('Nice to meet you, Ada.');
    expect(statSync(join(dir, 'state', 'kai', 'history.json')).mode & 0o077).toBe(0);
  });
});
