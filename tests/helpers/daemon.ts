import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { kaiBin } from './cli.js';
import { projectRoot } from './fixtures.js';

export interface DaemonHandle {
  child: ChildProcessWithoutNullStreams;
  /** http://127.0.0.1:PORT */
  url: string;
  token: string;
  socketPath: string;
  /** The daemon's folder: HOME, state, runtime dir, config.yaml. */
  dir: string;
  env: NodeJS.ProcessEnv;
  /** JSON log lines so far. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line (present or future) that matches. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then resolves with the exit code and how long stopping took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

export interface DaemonSetup {
  /** Config on top of the test defaults (no local mic or speaker, port 0, models from the mirror). */
  config?: Record<string, unknown>;
  /** Extra environment (e.g. HOME with an ALSA file-plugin .asoundrc). */
  env?: NodeJS.ProcessEnv;
  /** Reuse a folder (a restart that must find its state). */
  dir?: string;
  cwd?: string;
  args?: string[];
}

const mirror = join(projectRoot, '..', 'shared', 'models', 'openwakeword');

/** Runs the built `kai run --no-tty` in a child process and waits until it serves. */
export async function startDaemon(setup: DaemonSetup = {}): Promise<DaemonHandle> {
  if (!existsSync(kaiBin)) throw new Error(`${kaiBin} is missing: run npm run build (npm test does it)`);
  const dir = setup.dir ?? mkdtempSync(join(tmpdir(), 'kai-daemon-'));
  const runtime = join(dir, 'runtime');
  mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const config = deepMerge(
    {
      audio: { input: 'none', output: 'none' },
      models: { dir: mirror },
      server: { port: 0 },
      conversation: { echoCancellation: 'on' },
      agent: { workspace: setup.cwd ?? dir },
    },
    setup.config ?? {},
  );
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(config));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_OPTIONS: '',
    HOME: join(dir, 'home'),
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: join(dir, 'config'),
    ...setup.env,
  };
  mkdirSync(env.HOME!, { recursive: true });
  const child = spawn(process.execPath, [kaiBin, 'run', '--no-tty', '--config', configPath, ...(setup.args ?? [])], {
    cwd: setup.cwd ?? dir,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  let stderr = '';
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    partial += chunk;
    let newline: number;
    while ((newline = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, newline);
      partial = partial.slice(newline + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000) => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const waiter = { match, resolve };
      waiters.add(waiter);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching log line in ${timeoutMs} ms; stderr:\n${stderr.slice(-4000)}`));
      }, timeoutMs);
      timer.unref();
      void exited.then(() => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`kai run exited; stderr:\n${stderr.slice(-4000)}`));
      });
    });
  };

  const ready = await waitForLog((l) => l.msg === 'ready', 60_000);
  const token = readFileSync(join(env.XDG_STATE_HOME!, 'kai', 'token'), 'utf8').trim();
  return {
    child,
    url: String(ready.url),
    token,
    socketPath: String(ready.socket),
    dir,
    env,
    logs,
    stderr: () => stderr,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      const started = performance.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, ms: performance.now() - started };
    },
  };
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
