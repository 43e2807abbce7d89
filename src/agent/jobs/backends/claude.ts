/**
 * Claude Code headless backend: `claude [claudeArgs] -p <task> --output-format stream-json --verbose`
 * in the workspace, one JSON object per output line:
 *
 *   {"type":"system","subtype":"init",...}                              → progress "Claude Code started"
 *   {"type":"assistant","message":{"content":[{"type":"text"},{"type":"tool_use","name":"Edit","input":{...}}]}}
 *                                                                       → progress "editing src/x.ts", text lines
 *   {"type":"user","message":{"content":[{"type":"tool_result",...}]}} → ignored (errors noted)
 *   {"type":"result","subtype":"success","is_error":false,"result":"...","permission_denials":[...]}
 *
 * Success is judged from the final `result` record only, never from the exit code: subtype
 * "success", is_error false and no permission denials. A denial fails the job with a sentence naming
 * the tool, since a job that was not allowed to do part of its work is not done (grant it through
 * jobs.claudeArgs, e.g. `--permission-mode acceptEdits` or `--allowedTools`). No result record is a
 * crash, whatever the exit code.
 *
 * A watchdog stops a run that prints nothing for `watchdogMs` (streams have been seen to hang), and a
 * run that printed its result but does not exit is stopped after the grace period. Cancelling sends
 * SIGINT to the process group, then SIGKILL after `killGraceMs`.
 */
import { isAbsolute, relative } from 'node:path';
import type { BackendOutcome, BackendRun, JobBackend } from '../queue.js';
import { seconds, startProcess } from './command.js';

export interface ClaudeBackendOptions {
  /** The program; default "claude" on PATH (tests point it at a fake). */
  program?: string;
  /** Arguments put before the program's own when `program` is a script runner (e.g. node + a script). */
  programArgs?: readonly string[];
  /** jobs.claudeArgs: extra arguments (permission mode, model, allowed tools…). */
  claudeArgs?: readonly string[];
  cwd: string;
  watchdogMs: number;
  env?: NodeJS.ProcessEnv;
  /** SIGINT → SIGKILL delay; default 3000 ms. */
  killGraceMs?: number;
}

/** What one stream-json line means for the user; undefined when it means nothing. */
export interface ClaudeResultRecord {
  type: 'result';
  subtype?: string;
  is_error?: boolean;
  result?: string;
  num_turns?: number;
  total_cost_usd?: number;
  duration_ms?: number;
  session_id?: string;
  permission_denials?: { tool_name?: string; tool_input?: unknown }[];
}

function obj(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** "editing src/x.ts", "running npm test", … for one tool_use block. */
export function describeToolUse(name: string, input: unknown, cwd: string): string {
  const i = obj(input) ?? {};
  const file = str(i['file_path']) ?? str(i['notebook_path']) ?? str(i['path']);
  const shown = file ? (isAbsolute(file) ? relative(cwd, file) || file : file) : undefined;
  switch (name) {
    case 'Edit':
    case 'MultiEdit':
    case 'NotebookEdit':
      return `editing ${shown ?? 'a file'}`;
    case 'Write':
      return `writing ${shown ?? 'a file'}`;
    case 'Read':
      return `reading ${shown ?? 'a file'}`;
    case 'Bash': {
      const command = str(i['command']) ?? '';
      return `running ${command.length > 80 ? `${command.slice(0, 77)}...` : command}`.trim();
    }
    case 'Grep':
    case 'Glob':
      return `searching for ${str(i['pattern']) ?? 'files'}`;
    case 'TodoWrite':
      return 'planning';
    case 'Task':
      return `delegating: ${str(i['description']) ?? 'a subtask'}`;
    case 'WebFetch':
    case 'WebSearch':
      return 'looking something up on the web';
    default:
      return `using ${name}`;
  }
}

/** Parses one stream-json line: progress lines and, for the final record, the result. */
export function parseClaudeLine(
  line: string,
  cwd: string,
): { progress: string[]; result?: ClaudeResultRecord; init?: Record<string, unknown> } | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const record = obj(parsed);
  if (!record) return undefined;
  const type = str(record['type']);
  if (type === 'system' && record['subtype'] === 'init') {
    const model = str(record['model']);
    return { progress: [`Claude Code started${model ? ` (${model})` : ''}`], init: record };
  }
  if (type === 'assistant') {
    const content = obj(record['message'])?.['content'];
    const progress: string[] = [];
    if (Array.isArray(content)) {
      for (const block of content) {
        const b = obj(block);
        if (!b) continue;
        if (b['type'] === 'tool_use') progress.push(describeToolUse(str(b['name']) ?? 'a tool', b['input'], cwd));
        else if (b['type'] === 'text') {
          const first = (str(b['text']) ?? '').split('\n').find((l) => l.trim() !== '');
          if (first) progress.push(first.trim());
        }
      }
    }
    return { progress };
  }
  if (type === 'result') return { progress: [], result: record as unknown as ClaudeResultRecord };
  return { progress: [] };
}

/** Judges the final record: the job's outcome in a sentence. */
export function judgeResult(result: ClaudeResultRecord): BackendOutcome {
  const detail: Record<string, unknown> = {
    subtype: result.subtype ?? null,
    isError: result.is_error ?? null,
    turns: result.num_turns ?? null,
    costUsd: result.total_cost_usd ?? null,
    sessionId: result.session_id ?? null,
  };
  const text = (result.result ?? '').trim();
  const firstSentences = text.split(/(?<=[.!?])\s+/).slice(0, 2).join(' ');
  const denials = Array.isArray(result.permission_denials) ? result.permission_denials : [];
  if (result.subtype === 'success' && result.is_error !== true && denials.length === 0) {
    return { ok: true, summary: firstSentences || 'Claude Code finished.', detail };
  }
  if (denials.length > 0) {
    const tools = [...new Set(denials.map((d) => d.tool_name ?? 'a tool'))].join(', ');
    detail['permissionDenials'] = denials;
    return {
      ok: false,
      summary: '',
      reason: `Claude Code was not allowed to use ${tools}; grant it in jobs.claudeArgs (for example --permission-mode acceptEdits)`,
      detail,
    };
  }
  const why =
    result.subtype === 'error_max_turns'
      ? 'Claude Code ran out of turns'
      : result.subtype === 'error_during_execution'
        ? 'Claude Code hit an error while working'
        : 'Claude Code reported an error';
  return { ok: false, summary: '', reason: firstSentences ? `${why}: ${firstSentences}` : why, detail };
}

export class ClaudeBackend implements JobBackend {
  readonly name = 'claude';
  private readonly o: ClaudeBackendOptions;

  constructor(options: ClaudeBackendOptions) {
    this.o = options;
  }

  /** The argv after the program. */
  args(task: string, files: readonly string[]): string[] {
    const prompt = files.length ? `${task}\n\nFiles to start from: ${files.join(', ')}` : task;
    return [
      ...(this.o.programArgs ?? []),
      ...(this.o.claudeArgs ?? []),
      '-p',
      prompt,
      '--output-format',
      'stream-json',
      '--verbose',
    ];
  }

  async run(job: BackendRun): Promise<BackendOutcome> {
    const program = this.o.program ?? 'claude';
    const cwd = this.o.cwd;
    let result: ClaudeResultRecord | undefined;
    let lingerTimer: NodeJS.Timeout | undefined;
    const handle = startProcess({
      program,
      args: this.args(job.task, job.files),
      cwd,
      signal: job.signal,
      watchdogMs: this.o.watchdogMs,
      stopSignal: 'SIGINT',
      ...(this.o.env ? { env: this.o.env } : {}),
      ...(this.o.killGraceMs !== undefined ? { killGraceMs: this.o.killGraceMs } : {}),
      onStdoutLine: (line) => {
        const parsed = parseClaudeLine(line, cwd);
        if (!parsed) return;
        for (const p of parsed.progress) job.progress(p);
        if (parsed.result && !result) {
          result = parsed.result;
          // The verdict is in; a process that does not exit after it is stopped.
          lingerTimer = setTimeout(() => handle.stop('linger'), this.o.killGraceMs ?? 3000);
          lingerTimer.unref?.();
        }
      },
    });
    if (handle.pid !== undefined) job.spawned?.({ pid: handle.pid, program });
    const r = await handle.done;
    clearTimeout(lingerTimer);
    const exit = { exitCode: r.code, signal: r.signal };
    if (r.spawnError) {
      const reason =
        r.spawnError.code === 'ENOENT'
          ? `the claude program was not found (${program}); install Claude Code or choose another jobs.backend`
          : `could not start Claude Code: ${r.spawnError.message}`;
      return { ok: false, summary: '', reason, detail: exit };
    }
    if (result) {
      const outcome = judgeResult(result);
      return { ...outcome, detail: { ...outcome.detail, ...exit } };
    }
    if (r.aborted) return { ok: false, summary: '', reason: 'cancelled', detail: exit };
    if (r.hung) {
      return {
        ok: false,
        summary: '',
        reason: `hung: Claude Code printed nothing for ${seconds(this.o.watchdogMs)}, so I stopped it`,
        detail: exit,
      };
    }
    const how = r.code !== null ? `exit code ${r.code}` : `signal ${r.signal ?? 'unknown'}`;
    const last = r.stderrTail[r.stderrTail.length - 1];
    return {
      ok: false,
      summary: '',
      reason: `Claude Code stopped without a result (${how})${last ? `: ${last.trim().slice(0, 160)}` : ''}`,
      detail: exit,
    };
  }
}
