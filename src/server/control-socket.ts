import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { KaiError, UsageError } from '../errors.js';
import { stateDir } from '../paths.js';
import type { ControlTarget } from './control.js';
import { parseClientMessage, type ClientMessageInput } from './protocol.js';

/** Where `kai run` listens and `kai ptt` connects: server.socket, else a per-user runtime folder. */
export function controlSocketPath(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  if (configured.trim() !== '') return configured;
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'kai', 'control.sock') : join(stateDir(env), 'control.sock');
}

/**
 * The local control socket: one JSON message per line (the WebSocket protocol's client messages),
 * one JSON answer per line. Only the user can connect (socket 0600 in a 0700 folder), so it needs no token.
 */
export async function startControlSocket(path: string, target: ControlTarget): Promise<{ close(): Promise<void> }> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  await removeStaleSocket(path);
  const server: Server = createServer((socket) => {
    socket.setEncoding('utf8');
    let buffered = '';
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > 65_536) return void socket.end(`${JSON.stringify({ type: 'error', code: 'too_large', message: 'line too long' })}\n`);
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        void answer(line, target).then((reply) => socket.writable && socket.write(`${JSON.stringify(reply)}\n`));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new UsageError(`cannot open the control socket ${path} (${err.message}); set server.socket`)));
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(path, { force: true });
      }),
  };
}

async function answer(line: string, target: ControlTarget): Promise<Record<string, unknown>> {
  const parsed = parseClientMessage(line);
  if (!parsed.ok) return { type: 'error', code: parsed.code, message: parsed.message };
  const m = parsed.message;
  const id = m.id !== undefined ? { id: m.id } : {};
  switch (m.type) {
    case 'ptt':
      target.ptt(m.action);
      break;
    case 'cancel':
      target.cancel();
      break;
    case 'say':
      target.say(m.text);
      break;
    case 'approve':
    case 'deny':
      if (!target.answer(m.requestId, m.type === 'approve')) return { type: 'error', code: 'not_found', message: `no permission request ${m.requestId} is waiting`, ...id };
      break;
    case 'job_cancel':
      if (!(await target.cancelJob(m.jobId))) return { type: 'error', code: 'not_found', message: `no job ${m.jobId} is queued or running`, ...id };
      break;
    case 'ping':
      return { type: 'pong', state: target.snapshot().state, ...id };
    case 'audio_start':
    case 'audio_stop':
      return { type: 'error', code: 'not_allowed', message: 'audio streams over the WebSocket at /ws, not the control socket', ...id };
  }
  return { type: 'ack', state: target.snapshot().state, ...id };
}

/** A socket file left by a daemon that died is removed; a live daemon's is not. */
async function removeStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new UsageError(`kai is already running (its control socket ${path} answers); stop it first or set server.socket`);
  rmSync(path, { force: true });
}

/** Sends one message to the running daemon and returns its answer (kai ptt). */
export async function sendControl(path: string, message: ClientMessageInput, timeoutMs = 3000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new KaiError(`kai did not answer on ${path} within ${timeoutMs / 1000} s; check kai run's log`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(message)}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>);
      } catch {
        reject(new KaiError(`kai sent an unreadable answer on ${path}`));
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? new KaiError(`kai is not running (nothing answers on ${path}); start it with: kai run`)
          : new KaiError(`cannot reach kai on ${path} (${err.message})`),
      );
    });
  });
}
