import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

export interface ProcessResult {
  /** Exit code, or null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved as they arrived, head and tail kept within the cap. */
  output: string;
  /** Characters dropped from the middle of `output`. */
  cutChars: number;
  /** The signal fired and the process group was killed. */
  aborted: boolean;
  /** The program could not be started (e.g. not installed); one line. */
  spawnError?: string;
}

export interface RunOptions {
  cwd: string;
  signal: AbortSignal;
  /** Cap on kept output (head and tail); default 200 000 characters. */
  maxChars?: number;
  env?: Record<string, string>;
  /** Written to stdin, which is then closed (stdin is closed at once when absent). */
  input?: string;
  /** SIGTERM → SIGKILL delay after an abort; default 2000 ms. */
  killGraceMs?: number;
}

/** Keeps the first and last part of a stream of text within `max` characters. */
export class HeadTailBuffer {
  private head = '';
  private tail = '';
  private cut = 0;
  constructor(private readonly max: number) {}

  push(text: string): void {
    const headRoom = Math.ceil(this.max / 2) - this.head.length;
    if (headRoom > 0) {
      this.head += text.slice(0, headRoom);
      text = text.slice(headRoom);
    }
    if (text === '') return;
    this.tail += text;
    const tailMax = Math.floor(this.max / 2);
    if (this.tail.length > tailMax) {
      this.cut += this.tail.length - tailMax;
      this.tail = this.tail.slice(this.tail.length - tailMax);
    }
  }

  get cutChars(): number {
    return this.cut;
  }

  text(): string {
    return this.cut > 0 ? `${this.head}\n[... ${this.cut} characters cut ...]\n${this.tail}` : this.head + this.tail;
  }
}

/**
 * Runs a shell command line with `/bin/sh -c`, stderr merged into stdout so the output keeps the
 * order the program wrote it in. The command text itself is passed unchanged.
 */
export function runShell(command: string, options: RunOptions): Promise<ProcessResult> {
  return runProcess('/bin/sh', ['-c', `exec 2>&1\n${command}`], options);
}

/**
 * Runs a program in its own process group; an abort kills the whole group (SIGTERM, then SIGKILL).
 * Never rejects: failures to start come back in `spawnError`.
 */
export function runProcess(file: string, args: readonly string[], options: RunOptions): Promise<ProcessResult> {
  const buffer = new HeadTailBuffer(options.maxChars ?? 200_000);
  return new Promise((resolve) => {
    if (options.signal.aborted) {
      resolve({ code: null, signal: null, output: '', cutChars: 0, aborted: true });
      return;
    }
    let aborted = false;
    let done = false;
    let killTimer: NodeJS.Timeout | undefined;
    let giveUpTimer: NodeJS.Timeout | undefined;
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const killGroup = (sig: NodeJS.Signals): void => {
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
    const finish = (result: Omit<ProcessResult, 'output' | 'cutChars' | 'aborted'>): void => {
      if (done) return;
      done = true;
      clearTimeout(killTimer);
      clearTimeout(giveUpTimer);
      options.signal.removeEventListener('abort', onAbort);
      resolve({ ...result, output: buffer.text(), cutChars: buffer.cutChars, aborted });
    };
    const onAbort = (): void => {
      aborted = true;
      killGroup('SIGTERM');
      const grace = options.killGraceMs ?? 2000;
      killTimer = setTimeout(() => killGroup('SIGKILL'), grace);
      // A grandchild that left the group may hold the pipes open: stop waiting for it.
      giveUpTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish({ code: child.exitCode, signal: child.signalCode });
      }, grace + 1000);
    };
    options.signal.addEventListener('abort', onAbort, { once: true });

    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => buffer.push(chunk));
    child.stderr.on('data', (chunk: string) => buffer.push(chunk));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    child.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `${file} is not installed or not on the PATH` : err.message;
      finish({ code: null, signal: null, spawnError: why });
    });
    child.on('close', (code, sig) => finish({ code, signal: sig }));
  });
}

let rgPath: Promise<string | null> | undefined;

/** Finds a program on the PATH (like `which`); cached per name for ripgrep. */
export async function which(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return null;
}

export function findRipgrep(): Promise<string | null> {
  rgPath ??= which('rg');
  return rgPath;
}

/** Removes ANSI colour and cursor codes. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07/g, '');
}
