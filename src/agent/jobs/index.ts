/**
 * Delegated coding jobs: the voice-facing tools (delegate_coding_task, job_status, cancel_job) and
 * the backend factory. See store.ts (tickets folder, restart policy) and queue.ts (queue, cancel,
 * announcements).
 *
 * Risk levels:
 * - delegate_coding_task is 'write': it leads to edits in the workspace. In read-only mode it is
 *   refused; in ask mode the user hears "hand 'add a health endpoint' to the coding agent?" once.
 *   The built-in backend then asks through the same registry and rules for each edit/command; the
 *   claude and command backends run under their own permission settings (jobs.claudeArgs,
 *   the command template), which is why the delegation itself is not free.
 * - job_status and cancel_job are 'read': they change nothing in the workspace, and "cancel the job"
 *   must work at once by voice, in every mode, without a confirmation round trip.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { Config } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { stateDir } from '../../paths.js';
import type { Tool, ToolResult } from '../tools/types.js';
import { BuiltinBackend, type ChatStreamer, type ToolRunner } from './backends/builtin.js';
import { ClaudeBackend } from './backends/claude.js';
import { CommandBackend } from './backends/command.js';
import { type JobBackend, JobQueue, type JobQueueEvent } from './queue.js';
import { type Job, shortTask } from './store.js';

export { BuiltinBackend, CODING_AGENT_PROMPT, type ChatStreamer, type ToolRunner } from './backends/builtin.js';
export { ClaudeBackend } from './backends/claude.js';
export { buildArgv, CommandBackend, shellWords } from './backends/command.js';
export {
  type BackendOutcome,
  type BackendRun,
  type JobBackend,
  JobQueue,
  type JobQueueEvent,
  type JobQueueOptions,
} from './queue.js';
export { type Job, type JobEvent, type JobStatus, JobStore } from './store.js';

export type JobsConfig = Config['jobs'];

export interface BackendDeps {
  /** The workspace root the job works in (agent.workspace, resolved). */
  workspace: string;
  /** builtin: the LLM client. */
  chat?: ChatStreamer;
  /** builtin: the tool registry, already wired to the permission gate and confirmations. */
  tools?: ToolRunner;
  /** claude: the program (default "claude" on PATH). */
  claudeProgram?: string;
  /** claude: arguments before claude's own, when the program is an interpreter (tests: node + a script). */
  claudeProgramArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
  killGraceMs?: number;
  /** builtin: tool output cap fed back to the model. */
  maxToolOutputChars?: number;
}

/** The backend jobs.backend names. */
export function createBackend(config: JobsConfig, deps: BackendDeps): JobBackend {
  const common = {
    cwd: deps.workspace,
    watchdogMs: config.watchdogMs,
    ...(deps.env ? { env: deps.env } : {}),
    ...(deps.killGraceMs !== undefined ? { killGraceMs: deps.killGraceMs } : {}),
  };
  switch (config.backend) {
    case 'builtin':
      if (!deps.chat || !deps.tools) {
        // Offline: the assistant still starts; a delegated job fails at once and says why.
        const reason = 'the built-in coding agent needs an LLM: set llm.baseUrl, or jobs.backend to claude or command';
        return { name: 'builtin', run: async () => ({ ok: false, summary: '', reason }) };
      }
      return new BuiltinBackend({
        chat: deps.chat,
        tools: deps.tools,
        maxAttempts: config.maxAttempts,
        ...(deps.maxToolOutputChars !== undefined ? { maxToolOutputChars: deps.maxToolOutputChars } : {}),
      });
    case 'claude':
      return new ClaudeBackend({
        ...common,
        claudeArgs: config.claudeArgs,
        ...(deps.claudeProgram !== undefined ? { program: deps.claudeProgram } : {}),
        ...(deps.claudeProgramArgs ? { programArgs: deps.claudeProgramArgs } : {}),
      });
    case 'command':
      if (config.command.trim() === '') {
        throw new UsageError('jobs.backend is "command" but jobs.command is empty; set it, e.g. aider --message {task} --yes-always');
      }
      return new CommandBackend({ ...common, template: config.command });
  }
}

/** jobs.dir, or ~/.local/state/kai/jobs (XDG_STATE_HOME respected) when empty. */
export function resolveJobsDir(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (dir.trim() !== '') return resolve(dir);
  return join(stateDir(env), 'jobs');
}

/** A queue over jobs.dir with the configured backend and concurrency (call start() next). */
export function createJobQueue(
  config: JobsConfig,
  deps: BackendDeps & { onEvent?: (event: JobQueueEvent) => void },
): JobQueue {
  return new JobQueue({
    dir: resolveJobsDir(config.dir, deps.env),
    backend: createBackend(config, deps),
    concurrency: config.concurrency,
    ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
  });
}

function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return '';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.round(m / 60);
  return `${h} hour${h === 1 ? '' : 's'}`;
}

/** One or two spoken sentences on where a job is. */
export function describeJob(job: Job, queue?: JobQueue): string {
  const name = `The coding job "${shortTask(job.task)}"`;
  switch (job.status) {
    case 'queued': {
      const ahead = queue
        ? queue.pending().filter((j) => j.id !== job.id && (j.status === 'running' || j.createdAt < job.createdAt)).length
        : 0;
      return `${name} is waiting in the queue${ahead ? ` behind ${ahead} other job${ahead === 1 ? '' : 's'}` : ''}.`;
    }
    case 'running': {
      const last = [...job.events].reverse().find((e) => e.type === 'progress');
      const since = ago(job.startedAt);
      return `${name} has been running${since ? ` for ${since}` : ''}.${last ? ` Last step: ${last.text}.` : ''}`.replace(
        /\.\.$/,
        '.',
      );
    }
    case 'done':
      return `${name} is done. ${job.summary ?? ''}`.trim();
    case 'failed':
      return `${name} failed: ${job.summary ?? job.result?.reason ?? 'no reason given.'}`;
    case 'cancelled':
      return `${name} was cancelled.`;
    case 'interrupted':
      return `${name} was interrupted by a restart and not retried.`;
  }
}

function details(job: Job): string {
  return JSON.stringify(
    {
      id: job.id,
      task: job.task,
      files: job.files,
      status: job.status,
      backend: job.backend,
      attempts: job.attempts,
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      summary: job.summary,
      recentEvents: job.events.slice(-10),
    },
    null,
    2,
  );
}

const delegateInput = z.object({
  task: z.string().trim().min(1).describe('What to do, in plain words, complete enough to act on alone.'),
  files: z.array(z.string().min(1)).optional().describe('Files the work is about, relative to the workspace.'),
});

/** delegate_coding_task {task, files?}: queues a job for the coding agent. */
export function delegateTool(queue: JobQueue): Tool<typeof delegateInput> {
  return {
    name: 'delegate_coding_task',
    description:
      'Hand a multi-step coding task (implement, fix, refactor, add tests) to the background coding agent. ' +
      'Returns at once; the job runs in the background and the user is told when it finishes. ' +
      'Use job_status to check on it and cancel_job to stop it.',
    input: delegateInput,
    risk: 'write',
    describe: (args) => `hand "${shortTask(args.task)}" to the coding agent`,
    subject: (args) => args.task,
    async execute(args): Promise<ToolResult> {
      const job = await queue.submit(args.task, args.files ?? []);
      const others = queue.pending().filter((j) => j.id !== job.id).length;
      const spoken = others
        ? `Queued for the coding agent, behind ${others} other job${others === 1 ? '' : 's'}. I'll tell you when it's done.`
        : `I've handed it to the coding agent. I'll tell you when it's done.`;
      return { ok: true, output: details(queue.status(job.id) ?? job), spoken, data: { id: job.id } };
    },
  };
}

const jobIdInput = z.object({
  id: z.string().min(1).optional().describe('A job id; leave out for the current (or latest) job.'),
});

/** job_status {id?}: "what's the job doing". */
export function jobStatusTool(queue: JobQueue): Tool<typeof jobIdInput> {
  return {
    name: 'job_status',
    description:
      'What a delegated coding job is doing: its state, its last step, or its outcome. Without an id: the running job, else the latest.',
    input: jobIdInput,
    risk: 'read',
    describe: (args) => (args.id ? `check coding job ${args.id}` : 'check the coding job'),
    subject: (args) => args.id ?? '',
    async execute(args): Promise<ToolResult> {
      const job = queue.status(args.id);
      if (!job) {
        const spoken = args.id ? `I don't know a coding job with id ${args.id}.` : 'There are no coding jobs.';
        return { ok: args.id === undefined, output: spoken, spoken };
      }
      const pending = queue.pending().length;
      const spoken = describeJob(job, queue);
      const more = pending > 1 ? ` ${pending} jobs are waiting or running.` : '';
      return { ok: true, output: details(job), spoken: `${spoken}${more}`, data: { id: job.id, status: job.status } };
    },
  };
}

/** cancel_job {id?}: "cancel the job". */
export function cancelJobTool(queue: JobQueue): Tool<typeof jobIdInput> {
  return {
    name: 'cancel_job',
    description:
      'Stop a delegated coding job. Without an id: the running job, else the latest queued one. Edits already made stay in the workspace.',
    input: jobIdInput,
    risk: 'read',
    describe: (args) => (args.id ? `cancel coding job ${args.id}` : 'cancel the coding job'),
    subject: (args) => args.id ?? '',
    async execute(args): Promise<ToolResult> {
      if (args.id !== undefined) {
        const before = queue.status(args.id);
        if (!before) {
          const spoken = `I don't know a coding job with id ${args.id}.`;
          return { ok: false, output: spoken, spoken };
        }
        if (before.status !== 'running' && before.status !== 'queued') {
          const spoken = `${describeJob(before)} There is nothing to cancel.`;
          return { ok: false, output: spoken, spoken };
        }
      }
      const job = await queue.cancel(args.id);
      if (!job) {
        const spoken = 'There is no coding job running or waiting.';
        return { ok: false, output: spoken, spoken };
      }
      if (job.status !== 'cancelled') {
        const spoken = `Too late to cancel: ${lowerName(describeJob(job))}`;
        return { ok: false, output: details(job), spoken, data: { id: job.id, status: job.status } };
      }
      const spoken = `Cancelled the coding job "${shortTask(job.task)}".`;
      return { ok: true, output: details(job), spoken, data: { id: job.id, status: job.status } };
    },
  };
}

function lowerName(text: string): string {
  return text.startsWith('The ') ? `the ${text.slice(4)}` : text;
}

/** The three job tools, for the registry. */
export function jobTools(queue: JobQueue): [Tool<typeof delegateInput>, Tool<typeof jobIdInput>, Tool<typeof jobIdInput>] {
  return [delegateTool(queue), jobStatusTool(queue), cancelJobTool(queue)];
}
