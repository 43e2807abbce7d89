import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './fixtures.js';

export const kaiBin = join(projectRoot, 'dist', 'src', 'cli', 'kai.js');

export interface KaiResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `kai` bin (npm test builds it first) in a child process. */
export function runKai(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: Buffer | string; cwd?: string; timeoutMs?: number } = {},
): Promise<KaiResult> {
  if (!existsSync(kaiBin)) throw new Error(`${kaiBin} is missing: run npm run build (npm test does it)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [kaiBin, ...args], {
      cwd: options.cwd ?? projectRoot,
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kai ${args.join(' ')} did not finish in time; stderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** True when the output has nothing that looks like a stack trace. */
export function noStackTrace(text: string): boolean {
  return !/\n\s+at\s|Error:\s.*\n\s+at|node:internal/.test(text);
}
