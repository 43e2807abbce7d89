/**
 * Command-template backend: runs e.g. `aider --message {task} --yes-always` in the workspace.
 *
 * No shell is involved. The template is split into argv with a simple shell-words split (single
 * quotes, double quotes with backslash escapes, backslashes outside quotes); then every `{task}` in
 * a word is replaced by the task, so the task is always part of ONE argument whatever it contains
 * (`; rm -rf ~` stays text). A word that is exactly `{files}` expands to the job's files, one
 * argument each. A template without `{task}` gets the task appended as the last argument.
 *
 * Success is exit code 0 and nothing else. Note that aider exits 0 on some failures (a model error,
 * an edit it could not apply), so with aider "done" means "aider finished", not "the change is
 * right"; the summary is the last line it printed, which usually says what happened.
 *
 * Watchdog: no output for `watchdogMs` → the process group is killed and the job fails as hung.
 */
import { spawn } from 'node:child_process';
import type { BackendOutcome, BackendRun, JobBackend } from '../queue.js';

/** Splits a command line into words like a POSIX shell would, without expansions. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)) word += line[++i];
      else word += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < line.length) word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new TypeError(`unterminated ${quote} quote in the command template`);
  if (inWord) words.push(word);
  return words;
}

/** The argv for one job: `{task}` replaced inside single words, `{files}` expanded. */
export function buildArgv(template: string, task: string, files: readonly string[] = []): string[] {
  const words = shellWords(template);
  if (words.length === 0) throw new TypeError('the command template is empty (set jobs.command)');
  const hasTask = words.some((w) => w.includes('{task}'));
  const argv: string[] = [];
  for (const w of words) {
    if (w === '{files}') argv.push(...files);
    else argv.push(w.split('{task}').join(task));
  }
  if (!hasTask) argv.push(task);
  return argv;
}

export interface ProcessOptions {
  program: string;
  args: readonly string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Silence (no stdout/stderr) longer than this kills the process group; 0 disables. */
  watchdogMs: number;
  /** First signal on abort; SIGKILL follows after `killGraceMs`. */
  stopSignal?: NodeJS.Signals;
  killGraceMs?: number;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
}

export interface ProcessResult {
  /** null when killed by a signal or when it never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The watchdog fired. */
  hung: boolean;
  /** `signal` was aborted while it ran. */
  aborted: boolean;
  /** It could not be started (ENOENT…). */
  spawnError?: NodeJS.ErrnoException;
  /** The last stderr lines (for a failure sentence). */
  stderrTail: string[];
}

/** A running child in its own process group, with a stop() that signals the whole group. */
export interface ProcessHandle {
  readonly pid: number | undefined;
  /** signal first, SIGKILL after the grace period if it is still alive. */
  stop(reason: 'abort' | 'hung' | 'linger'): void;
  readonly done: Promise<ProcessResult>;
}

/**
 * Runs a program in its own process group (so stopping it stops what it started), streaming its
 * output by lines, with a silence watchdog.
 */
export function startProcess(o: ProcessOptions): ProcessHandle {
  const stderrTail: string[] = [];
  let hung = false;
  let aborted = false;
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;

  const child = spawn(o.program, [...o.args], {
    cwd: o.cwd,
    env: o.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });

  const signalGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        // already gone
      }
    }
  };

  const stop = (reason: 'abort' | 'hung' | 'linger') => {
    if (reason === 'hung') hung = true;
    if (reason === 'abort') aborted = true;
    if (exited || killTimer) return;
    signalGroup(reason === 'hung' ? 'SIGKILL' : (o.stopSignal ?? 'SIGTERM'));
    killTimer = setTimeout(() => signalGroup('SIGKILL'), o.killGraceMs ?? 3000);
  };

  const arm = () => {
    if (o.watchdogMs <= 0 || exited) return;
    clearTimeout(watchdog);
    watchdog = setTimeout(() => stop('hung'), o.watchdogMs);
  };

  const lines = (stream: NodeJS.ReadableStream, each: (line: string) => void) => {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      arm();
      buffer += chunk;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        each(buffer.slice(0, nl).replace(/\r$/, ''));
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
      }
    });
    stream.on('end', () => {
      if (buffer !== '') each(buffer);
      buffer = '';
    });
  };

  const safe = (fn: ((line: string) => void) | undefined) => (line: string) => {
    try {
      fn?.(line);
    } catch {
      // a consumer's bug must not kill the run
    }
  };
  const onOut = safe(o.onStdoutLine);
  const onErr = safe(o.onStderrLine);
  lines(child.stdout, onOut);
  lines(child.stderr, (line) => {
    if (line.trim() !== '') {
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
    }
    onErr(line);
  });

  const onAbort = () => stop('abort');
  if (o.signal.aborted) queueMicrotask(onAbort);
  else o.signal.addEventListener('abort', onAbort, { once: true });
  arm();

  const done = new Promise<ProcessResult>((resolve) => {
    let settled = false;
    const finish = (result: Omit<ProcessResult, 'hung' | 'aborted' | 'stderrTail'>) => {
      if (settled) return;
      settled = true;
      exited = true;
      clearTimeout(watchdog);
      clearTimeout(killTimer);
      o.signal.removeEventListener('abort', onAbort);
      resolve({ ...result, hung, aborted, stderrTail });
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      // 'error' without a pid: it never started. With a pid it is a kill failure; wait for exit.
      if (child.pid === undefined) finish({ code: null, signal: null, spawnError: err });
    });
    child.once('exit', (code, sig) => {
      exited = true;
      clearTimeout(watchdog);
      // Wait for the pipes to drain, but not forever: a grandchild may hold them open.
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish({ code, signal: sig });
      }, 2000);
      child.once('close', () => {
        clearTimeout(grace);
        finish({ code, signal: sig });
      });
    });
  });

  return { pid: child.pid, stop, done };
}

export interface CommandBackendOptions {
  template: string;
  /** The workspace the command runs in. */
  cwd: string;
  watchdogMs: number;
  env?: NodeJS.ProcessEnv;
  killGraceMs?: number;
}

export class CommandBackend implements JobBackend {
  readonly name = 'command';
  private readonly o: CommandBackendOptions;

  constructor(options: CommandBackendOptions) {
    this.o = options;
  }

  async run(job: BackendRun): Promise<BackendOutcome> {
    let argv: string[];
    try {
      argv = buildArgv(this.o.template, job.task, job.files);
    } catch (err) {
      return { ok: false, summary: '', reason: err instanceof Error ? err.message : String(err) };
    }
    const [program, ...args] = argv as [string, ...string[]];
    const tail: string[] = [];
    const remember = (line: string) => {
      const text = line.trim();
      if (text === '') return;
      tail.push(text);
      if (tail.length > 5) tail.shift();
      job.progress(text);
    };
    const handle = startProcess({
      program,
      args,
      cwd: this.o.cwd,
      signal: job.signal,
      watchdogMs: this.o.watchdogMs,
      stopSignal: 'SIGTERM',
      onStdoutLine: remember,
      onStderrLine: remember,
      ...(this.o.env ? { env: this.o.env } : {}),
      ...(this.o.killGraceMs !== undefined ? { killGraceMs: this.o.killGraceMs } : {}),
    });
    if (handle.pid !== undefined) job.spawned?.({ pid: handle.pid, program });
    const r = await handle.done;
    const detail = { program, exitCode: r.code, signal: r.signal };
    if (r.spawnError) {
      const reason =
        r.spawnError.code === 'ENOENT'
          ? `the program "${program}" was not found; check jobs.command`
          : `could not start "${program}": ${r.spawnError.message}`;
      return { ok: false, summary: '', reason, detail };
    }
    if (r.aborted) return { ok: false, summary: '', reason: 'cancelled', detail };
    if (r.hung) {
      return {
        ok: false,
        summary: '',
        reason: `hung: "${program}" printed nothing for ${seconds(this.o.watchdogMs)}, so I stopped it`,
        detail,
      };
    }
    const last = tail[tail.length - 1];
    if (r.code === 0) return { ok: true, summary: last ? `${program} finished: ${last}` : `${program} finished.`, detail };
    const how = r.code !== null ? `exit code ${r.code}` : `signal ${r.signal ?? 'unknown'}`;
    return { ok: false, summary: '', reason: `"${program}" failed (${how})${last ? `: ${last}` : ''}`, detail };
  }
}

export function seconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}
