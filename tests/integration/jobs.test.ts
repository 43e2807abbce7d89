import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ChatClient, type ToolSpec } from '../../src/agent/llm.js';
import { BuiltinBackend, type ToolRunner } from '../../src/agent/jobs/backends/builtin.js';
import { ClaudeBackend, type ClaudeBackendOptions } from '../../src/agent/jobs/backends/claude.js';
import { buildArgv, CommandBackend, shellWords } from '../../src/agent/jobs/backends/command.js';
import {
  cancelJobTool,
  createBackend,
  delegateTool,
  jobStatusTool,
  resolveJobsDir,
} from '../../src/agent/jobs/index.js';
import { type JobBackend, JobQueue, type JobQueueEvent } from '../../src/agent/jobs/queue.js';
import { type JobFolder, type JobRecord, JobStore } from '../../src/agent/jobs/store.js';
import { configSchema } from '../../src/config/schema.js';
import { type ChatServer, type ChatStep, startChatServer } from '../helpers/chat-server.js';

const run = promisify(execFile);
const FAKE = resolve('tests/fixtures/fake-claude.mjs');
const NODE = process.execPath;

let scratch: string;
const queues: JobQueue[] = [];
const pidFiles: string[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kai-jobs-'));
});

afterEach(async () => {
  for (const q of queues.splice(0)) await q.stop().catch(() => undefined);
  // Never leave a fake behind, whatever a failed test did.
  for (const file of pidFiles.splice(0)) {
    const pid = Number(await readFile(file, 'utf8').catch(() => ''));
    if (pid > 0) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let counter = 0;
async function freshDir(name: string): Promise<string> {
  const dir = join(scratch, `${name}-${++counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function claude(workspace: string, options: Partial<ClaudeBackendOptions> & { env?: NodeJS.ProcessEnv } = {}): ClaudeBackend {
  return new ClaudeBackend({
    program: NODE,
    programArgs: [FAKE],
    cwd: workspace,
    watchdogMs: 5_000,
    killGraceMs: 500,
    ...options,
    env: { ...process.env, ...options.env },
  });
}

interface Harness {
  queue: JobQueue;
  events: JobQueueEvent[];
  dir: string;
}

async function harness(backend: JobBackend, dir: string, extra: { concurrency?: number; store?: JobStore } = {}): Promise<Harness> {
  const events: JobQueueEvent[] = [];
  const queue = new JobQueue({
    ...(extra.store ? { store: extra.store } : { dir }),
    backend,
    concurrency: extra.concurrency ?? 1,
    persistProgressMs: 50,
    onEvent: (e) => void events.push(e),
  });
  queues.push(queue);
  await queue.start();
  return { queue, events, dir };
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

async function where(dir: string, id: string): Promise<JobFolder[]> {
  const found: JobFolder[] = [];
  for (const folder of ['backlog', 'running', 'done', 'failed'] as const) {
    const names = await readdir(join(dir, folder));
    if (names.includes(`${id}.json`)) {
      expect(names).toContain(`${id}.md`);
      found.push(folder);
    }
  }
  return found;
}

async function onDisk(dir: string, folder: JobFolder, id: string): Promise<JobRecord> {
  return JSON.parse(await readFile(join(dir, folder, `${id}.json`), 'utf8')) as JobRecord;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A store that can "crash": once frozen, a save never completes, so the queue using it writes
 * nothing more and never gets past its next save (as if the process had died there). The disk stays
 * as it was at the crash.
 */
class CrashableStore extends JobStore {
  frozen = false;
  override save(record: JobRecord): Promise<void> {
    return this.frozen ? new Promise<void>(() => undefined) : super.save(record);
  }
}

/** A crashed queue cannot be stopped; keep afterEach from waiting on it. */
function forget(queue: JobQueue): void {
  const i = queues.indexOf(queue);
  if (i >= 0) queues.splice(i, 1);
}

describe('claude backend through the queue (fake CLI)', () => {
  it('success: progress from tool_use, summary from the result record, ticket in done/, announced once', async () => {
    const dir = await freshDir('success');
    const workspace = await freshDir('ws');
    const { queue, events } = await harness(claude(workspace), dir);
    const job = await queue.submit('[success] add a health endpoint', ['src/server.ts']);
    await queue.idle();

    const done = queue.status(job.id)!;
    expect(done.status).toBe('done');
    expect(done.summary).toBe('Added the health endpoint and its test. All tests pass.');
    expect(await where(dir, job.id)).toEqual(['done']);
    const progress = events.filter((e) => e.type === 'progress').map((e) => (e.type === 'progress' ? e.text : ''));
    expect(progress).toContain('editing src/server.ts');
    expect(progress).toContain('running npm test');
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['queued', 'started', 'progress', 'done']));
    expect(events.at(-1)?.type).toBe('done');

    const ticket = await readFile(join(dir, 'done', `${job.id}.md`), 'utf8');
    expect(ticket).toContain('add a health endpoint');
    expect(ticket).toContain('- src/server.ts');
    const json = await onDisk(dir, 'done', job.id);
    expect(json.status).toBe('done');
    expect(json.attempts).toBe(1);
    expect(json.backend).toBe('claude');
    expect(json.events.map((e) => e.type)).toEqual(expect.arrayContaining(['queued', 'started', 'progress', 'done']));
    expect(json.process).toBeUndefined();

    expect(queue.announcements()).toEqual([
      'The coding job "[success] add a health endpoint" is done. Added the health endpoint and its test. All tests pass.',
    ]);
    expect(queue.takeAnnouncements()).toHaveLength(1);
    expect(queue.takeAnnouncements()).toEqual([]);
    await queue.idle();
    expect((await onDisk(dir, 'done', job.id)).announcements).toEqual([]);
  });

  it('failure: result is_error → failed/ with the reason', async () => {
    const dir = await freshDir('failure');
    const { queue } = await harness(claude(await freshDir('ws')), dir);
    const job = await queue.submit('[failure] fix the build');
    await queue.idle();
    const failed = queue.status(job.id)!;
    expect(failed.status).toBe('failed');
    expect(failed.summary).toMatch(/^Claude Code hit an error while working: The build is broken/);
    expect(await where(dir, job.id)).toEqual(['failed']);
    expect(queue.takeAnnouncements()).toEqual([
      expect.stringMatching(/^The coding job "\[failure\] fix the build" failed: Claude Code hit an error/),
    ]);
  });

  it('permission denials in a success record fail the job with the tool named', async () => {
    const dir = await freshDir('denied');
    const { queue } = await harness(claude(await freshDir('ws')), dir);
    const job = await queue.submit('[denied] add a file');
    await queue.idle();
    expect(queue.status(job.id)?.status).toBe('failed');
    expect(queue.status(job.id)?.summary).toMatch(/not allowed to use Write/);
  });

  it('crash: exit 1 mid-stream without a result → failed with the stderr line', async () => {
    const dir = await freshDir('crash');
    const { queue } = await harness(claude(await freshDir('ws')), dir);
    const job = await queue.submit('[crash] refactor');
    await queue.idle();
    const failed = queue.status(job.id)!;
    expect(failed.status).toBe('failed');
    expect(failed.summary).toMatch(/stopped without a result \(exit code 1\): boom: something broke/);
    expect(await where(dir, job.id)).toEqual(['failed']);
  });

  it('hang: the watchdog kills the process group and fails the job as hung', async () => {
    const dir = await freshDir('hang');
    const pidFile = join(dir, 'pid');
    pidFiles.push(pidFile);
    const { queue } = await harness(claude(await freshDir('ws'), { watchdogMs: 400, env: { FAKE_CLAUDE_PIDFILE: pidFile } }), dir);
    const started = Date.now();
    const job = await queue.submit('[hang] do something');
    await queue.idle();
    expect(Date.now() - started).toBeLessThan(5_000);
    const failed = queue.status(job.id)!;
    expect(failed.status).toBe('failed');
    expect(failed.summary).toMatch(/^Hung: Claude Code printed nothing for 400 ms/);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await waitFor(() => !alive(pid), 3_000, 'the hung fake to die');
  });

  it('a run that prints its result but does not exit is stopped and judged from the result', async () => {
    const dir = await freshDir('linger');
    const { queue } = await harness(claude(await freshDir('ws'), { killGraceMs: 200 }), dir);
    const job = await queue.submit('[linger] tidy up');
    await queue.idle();
    expect(queue.status(job.id)?.status).toBe('done');
    expect(queue.status(job.id)?.summary).toBe('Done, but I keep running.');
  });

  it('a missing claude program fails the job with a sentence', async () => {
    const dir = await freshDir('missing');
    const backend = new ClaudeBackend({ program: join(dir, 'no-such-claude'), cwd: dir, watchdogMs: 1000 });
    const { queue } = await harness(backend, dir);
    const job = await queue.submit('anything');
    await queue.idle();
    expect(queue.status(job.id)?.status).toBe('failed');
    expect(queue.status(job.id)?.summary).toMatch(/^The claude program was not found/);
  });

  it('passes claudeArgs and the task as one argument, in the documented order', async () => {
    const dir = await freshDir('argv');
    const argvFile = join(dir, 'argv.json');
    const backend = claude(await freshDir('ws'), {
      claudeArgs: ['--permission-mode', 'acceptEdits'],
      env: { FAKE_CLAUDE_ARGV: argvFile },
    });
    const { queue } = await harness(backend, dir);
    await queue.submit('[success] say "hi"; rm -rf ~', ['a.ts']);
    await queue.idle();
    const argv = JSON.parse(await readFile(argvFile, 'utf8')) as string[];
    expect(argv).toEqual([
      '--permission-mode',
      'acceptEdits',
      '-p',
      '[success] say "hi"; rm -rf ~\n\nFiles to start from: a.ts',
      '--output-format',
      'stream-json',
      '--verbose',
    ]);
  });
});

describe('queue policies', () => {
  it('cancel by call: the running job is stopped (SIGINT to its group) and lands in failed/ as cancelled', async () => {
    const dir = await freshDir('cancel');
    const pidFile = join(dir, 'pid');
    pidFiles.push(pidFile);
    const { queue, events } = await harness(
      claude(await freshDir('ws'), { env: { FAKE_CLAUDE_PIDFILE: pidFile, FAKE_CLAUDE_SECONDS: '20' } }),
      dir,
    );
    const job = await queue.submit('[slow] long work');
    await waitFor(() => events.some((e) => e.type === 'progress' && e.text.startsWith('step 2')), 10_000, 'progress');
    const pid = Number(await readFile(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);

    const status = await jobStatusTool(queue).execute({}, { signal: new AbortController().signal, root: dir });
    expect(status.spoken).toMatch(/^The coding job "\[slow\] long work" has been running for \d+ seconds?\. Last step: step \d+ of 200\.$/);

    const started = Date.now();
    const result = await cancelJobTool(queue).execute({}, { signal: new AbortController().signal, root: dir });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(result.ok).toBe(true);
    expect(result.spoken).toBe('Cancelled the coding job "[slow] long work".');
    expect(queue.status(job.id)?.status).toBe('cancelled');
    expect(await where(dir, job.id)).toEqual(['failed']);
    expect((await onDisk(dir, 'failed', job.id)).status).toBe('cancelled');
    expect(events.at(-1)?.type).toBe('cancelled');
    await waitFor(() => !alive(pid), 3_000, 'the fake to die');
    expect(queue.takeAnnouncements()).toEqual([]);

    const again = await cancelJobTool(queue).execute({}, { signal: new AbortController().signal, root: dir });
    expect(again).toMatchObject({ ok: false, spoken: 'There is no coding job running or waiting.' });
  });

  it('cancels a queued job without running it', async () => {
    const dir = await freshDir('cancel-queued');
    const { queue } = await harness(claude(await freshDir('ws'), { env: { FAKE_CLAUDE_SECONDS: '20' } }), dir);
    const first = await queue.submit('[slow] first');
    const second = await queue.submit('[success] second');
    expect(queue.status(second.id)?.status).toBe('queued');
    expect((await queue.cancel(second.id))?.status).toBe('cancelled');
    expect(await where(dir, second.id)).toEqual(['failed']);
    expect((await queue.cancel())?.id).toBe(first.id);
    await queue.idle();
    expect(queue.status(second.id)?.attempts).toBe(0);
  });

  it('concurrency 1: the second job waits in backlog/ until the first is done', async () => {
    const dir = await freshDir('concurrency');
    const { queue, events } = await harness(claude(await freshDir('ws'), { env: { FAKE_CLAUDE_SECONDS: '0.6' } }), dir);
    const a = await queue.submit('[slow] first');
    const b = await queue.submit('[slow] second');
    await waitFor(() => queue.status(a.id)?.status === 'running', 5_000, 'first to start');
    expect(queue.status(b.id)?.status).toBe('queued');
    expect(await where(dir, b.id)).toEqual(['backlog']);
    const spoken = (await jobStatusTool(queue).execute({ id: b.id }, { signal: new AbortController().signal, root: dir })).spoken;
    expect(spoken).toMatch(/waiting in the queue behind 1 other job/);
    await queue.idle();
    const order = events.filter((e) => e.type === 'started' || e.type === 'done').map((e) => `${e.type}:${e.job.id}`);
    expect(order).toEqual([`started:${a.id}`, `done:${a.id}`, `started:${b.id}`, `done:${b.id}`]);
    expect(queue.takeAnnouncements()).toHaveLength(2);
  });

  it('concurrency 2 runs two jobs at once', async () => {
    const dir = await freshDir('concurrency2');
    const { queue } = await harness(claude(await freshDir('ws'), { env: { FAKE_CLAUDE_SECONDS: '1' } }), dir, { concurrency: 2 });
    const a = await queue.submit('[slow] first');
    const b = await queue.submit('[slow] second');
    await waitFor(() => queue.status(a.id)?.status === 'running' && queue.status(b.id)?.status === 'running', 5_000, 'both');
    await queue.idle();
    expect(queue.list().map((j) => j.status)).toEqual(['done', 'done']);
  });

  it('restart in the middle: the leftover child is stopped, the job re-queued once and finished; nothing lost', async () => {
    const dir = await freshDir('restart');
    const workspace = await freshDir('ws');
    const pidFile = join(dir, 'pid');
    const touched = join(dir, 'touched');
    pidFiles.push(pidFile);
    const env = { FAKE_CLAUDE_PIDFILE: pidFile, FAKE_CLAUDE_SECONDS: '1.5', FAKE_CLAUDE_TOUCH: touched };

    const store = new CrashableStore(dir);
    const first = await harness(claude(workspace, { env }), dir, { store });
    const job = await first.queue.submit('[slow] survive a restart');
    const other = await first.queue.submit('[success] queued behind it');
    await waitFor(() => first.events.filter((e) => e.type === 'progress').length >= 4, 10_000, 'progress');
    await waitFor(async () => (await onDisk(dir, 'running', job.id).catch(() => undefined))?.process !== undefined, 5_000, 'pid on disk');
    const oldPid = Number(await readFile(pidFile, 'utf8'));
    // The crash: from here on the first queue writes nothing, and its child is still running.
    store.frozen = true;
    forget(first.queue);
    expect(await where(dir, job.id)).toEqual(['running']);
    expect(await where(dir, other.id)).toEqual(['backlog']);
    expect(alive(oldPid)).toBe(true);

    const second = await harness(claude(workspace, { env }), dir);
    const interrupted = second.events.find((e) => e.type === 'interrupted');
    expect(interrupted).toMatchObject({ type: 'interrupted', action: 'requeued' });
    await waitFor(() => !alive(oldPid), 3_000, 'the old child to be stopped');
    await second.queue.idle();

    expect(second.queue.list().map((j) => [j.id, j.status])).toEqual([
      [job.id, 'done'],
      [other.id, 'done'],
    ]);
    const record = await onDisk(dir, 'done', job.id);
    expect(record.attempts).toBe(2);
    expect(record.interruptions).toBe(1);
    expect(record.events.map((e) => e.text)).toEqual(
      expect.arrayContaining(['interrupted by a restart; put back in the queue', expect.stringMatching(/^stopped the previous run's process/)]),
    );
    // Only the second run got to the end.
    expect((await readFile(touched, 'utf8')).trim().split('\n')).toEqual(['[slow] survive a restart', '[success] queued behind it']);
    const said = second.queue.takeAnnouncements();
    expect(said[0]).toBe(`The coding job "[slow] survive a restart" was interrupted by a restart, so I've put it back in the queue.`);
    expect(said).toHaveLength(3);
    for (const folder of ['backlog', 'running'] as const) expect(await readdir(join(dir, folder))).toEqual([]);
  });

  it('restart policy: re-queued the first time, failed as interrupted the second time', async () => {
    const dir = await freshDir('policy');
    const store = new JobStore(dir);
    const record = await store.create({ task: 'keeps crashing', backend: 'claude' });
    record.status = 'running';
    await store.save(record);

    const backend: JobBackend = { name: 'never', run: () => new Promise(() => undefined) };
    const crashAndRestart = async () => {
      const crashing = new CrashableStore(dir);
      const q = new JobQueue({ store: crashing, backend });
      await q.start();
      await waitFor(async () => (await where(dir, record.id))[0] === 'running', 5_000, 'running on disk');
      crashing.frozen = true; // dies while the job runs
      return q;
    };
    await crashAndRestart(); // finds it in running/ → re-queued, started again, "crashes"
    expect(await where(dir, record.id)).toEqual(['running']);
    const events: JobQueueEvent[] = [];
    const last = new JobQueue({ dir, backend, onEvent: (e) => void events.push(e) });
    await last.start();
    expect(events).toEqual([expect.objectContaining({ type: 'interrupted', action: 'interrupted' })]);
    expect(last.status(record.id)?.status).toBe('interrupted');
    expect(await where(dir, record.id)).toEqual(['failed']);
    expect(last.takeAnnouncements()).toEqual([
      `The coding job "keeps crashing" was interrupted by a restart, so I've put it back in the queue.`,
      `The coding job "keeps crashing" was interrupted by a restart again, so I've marked it failed instead of retrying.`,
    ]);
  });

  it('a crash in the middle of a move leaves the job in two folders; load keeps the newest copy', async () => {
    const dir = await freshDir('halfmove');
    const store = new JobStore(dir);
    const record = await store.create({ task: 'move me', files: ['x.ts'], backend: 'command' });
    const stale = await onDisk(dir, 'backlog', record.id);
    record.status = 'running';
    await store.save(record);
    // Simulate: new JSON written in running/, the ticket not yet moved, the old JSON not yet removed.
    await rename(join(dir, 'running', `${record.id}.md`), join(dir, 'backlog', `${record.id}.md`));
    await writeFile(join(dir, 'backlog', `${record.id}.json`), JSON.stringify(stale));
    await writeFile(join(dir, 'backlog', `${record.id}.json.123.abc.tmp`), '{"half":');

    const loaded = await new JobStore(dir).load();
    expect(loaded.map((r) => [r.id, r.status])).toEqual([[record.id, 'running']]);
    expect(await where(dir, record.id)).toEqual(['running']);
    expect(await readdir(join(dir, 'backlog'))).toEqual([]);
  });

  it('the tools: delegate, status, cancel by voice', async () => {
    const dir = await freshDir('tools');
    const { queue } = await harness(claude(await freshDir('ws'), { env: { FAKE_CLAUDE_SECONDS: '20' } }), dir);
    const ctx = { signal: new AbortController().signal, root: dir };
    const delegate = delegateTool(queue);
    expect(delegate.name).toBe('delegate_coding_task');
    expect(delegate.risk).toBe('write');
    expect(delegate.describe({ task: 'add a health endpoint' })).toBe('hand "add a health endpoint" to the coding agent');
    expect(delegate.input.safeParse({ task: '' }).success).toBe(false);
    const r1 = await delegate.execute(delegate.input.parse({ task: '[slow] add a health endpoint' }), ctx);
    expect(r1).toMatchObject({ ok: true, spoken: "I've handed it to the coding agent. I'll tell you when it's done." });
    const r2 = await delegate.execute({ task: '[success] second' }, ctx);
    expect(r2.spoken).toBe("Queued for the coding agent, behind 1 other job. I'll tell you when it's done.");
    expect((await jobStatusTool(queue).execute({ id: 'nope' }, ctx)).ok).toBe(false);
    // "cancel the job" means the running one: wait until the first has really started (a busy machine is slow to spawn)
    await expect.poll(() => queue.status((r1.data as { id: string }).id)?.status, { timeout: 10_000 }).toBe('running');
    const cancelled = await cancelJobTool(queue).execute({}, ctx);
    expect(cancelled.spoken).toBe('Cancelled the coding job "[slow] add a health endpoint".');
    await queue.idle();
    const status = await jobStatusTool(queue).execute({}, ctx);
    expect(status.spoken).toMatch(/^The coding job "\[success\] second" is done\./);
    const late = await cancelJobTool(queue).execute({ id: (r2.data as { id: string }).id }, ctx);
    expect(late).toMatchObject({ ok: false });
    expect(late.spoken).toMatch(/There is nothing to cancel\.$/);
  });

  it('createBackend follows jobs.backend; resolveJobsDir defaults under XDG_STATE_HOME', async () => {
    const jobs = configSchema.parse({}).jobs;
    // offline, the built-in agent is there but every job fails at once, saying why
    const offline = createBackend(jobs, { workspace: '/tmp' });
    expect(await offline.run({ jobId: 'j1', task: 'x', files: [], signal: new AbortController().signal, progress: () => {} })).toMatchObject({ ok: false, reason: expect.stringMatching(/needs an LLM/) as string });
    expect(createBackend({ ...jobs, backend: 'claude' }, { workspace: '/tmp' }).name).toBe('claude');
    expect(() => createBackend({ ...jobs, backend: 'command' }, { workspace: '/tmp' })).toThrow(/jobs.command is empty/);
    expect(createBackend({ ...jobs, backend: 'command', command: 'aider --message {task}' }, { workspace: '/tmp' }).name).toBe('command');
    expect(resolveJobsDir('', { XDG_STATE_HOME: '/state' })).toBe('/state/kai/jobs');
  });
});

describe('command backend', () => {
  it('splits templates like a shell and substitutes {task} as one argument', () => {
    expect(shellWords(`aider --message {task} --yes-always`)).toEqual(['aider', '--message', '{task}', '--yes-always']);
    expect(shellWords(`a 'b c' "d \\"e\\"" f\\ g ''`)).toEqual(['a', 'b c', 'd "e"', 'f g', '']);
    expect(() => shellWords(`a 'b`)).toThrow(/unterminated/);
    const evil = `x"; rm -rf ~; echo $(whoami) '`;
    expect(buildArgv('aider --message {task} --yes-always', evil)).toEqual(['aider', '--message', evil, '--yes-always']);
    expect(buildArgv('tool --msg={task} {files}', 't', ['a.ts', 'b c.ts'])).toEqual(['tool', '--msg=t', 'a.ts', 'b c.ts']);
    expect(buildArgv('tool run', 'the task')).toEqual(['tool', 'run', 'the task']);
  });

  it('exit 0 is success, output is progress, the task arrives intact', async () => {
    const dir = await freshDir('command');
    const argvFile = join(dir, 'argv.json');
    const backend = new CommandBackend({
      template: `'${NODE}' '${FAKE}' -p {task}`,
      cwd: await freshDir('ws'),
      watchdogMs: 5_000,
      env: { ...process.env, FAKE_CLAUDE_MODE: 'text', FAKE_CLAUDE_ARGV: argvFile },
    });
    const { queue, events } = await harness(backend, dir);
    const task = `fix it"; touch pwned; echo $(id) '`;
    const job = await queue.submit(task);
    await queue.idle();
    expect(queue.status(job.id)?.status).toBe('done');
    expect(queue.status(job.id)?.summary).toMatch(/finished: edited 1 file\.$/);
    expect(JSON.parse(await readFile(argvFile, 'utf8'))).toEqual(['-p', task]);
    expect(events.filter((e) => e.type === 'progress').map((e) => (e.type === 'progress' ? e.text : ''))).toEqual([
      `working on: ${task}`,
      'edited 1 file',
    ]);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });

  it('a non-zero exit fails the job with the code', async () => {
    const dir = await freshDir('command-fail');
    const backend = new CommandBackend({
      template: `'${NODE}' '${FAKE}' -p {task}`,
      cwd: dir,
      watchdogMs: 5_000,
      env: { ...process.env, FAKE_CLAUDE_MODE: 'text', FAKE_CLAUDE_EXIT: '3' },
    });
    const { queue } = await harness(backend, dir);
    const job = await queue.submit('break');
    await queue.idle();
    expect(queue.status(job.id)?.status).toBe('failed');
    expect(queue.status(job.id)?.summary).toMatch(/failed \(exit code 3\): edited 1 file/);
  });

  it('a silent command is killed by the watchdog (whole process group)', async () => {
    const dir = await freshDir('command-hang');
    const backend = new CommandBackend({ template: `sh -c 'sleep 30; echo late' sh {task}`, cwd: dir, watchdogMs: 300 });
    const { queue } = await harness(backend, dir);
    const started = Date.now();
    const job = await queue.submit('wait');
    await queue.idle();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(queue.status(job.id)?.summary).toMatch(/^Hung: "sh" printed nothing for 300 ms/);
  });

  it('a missing program fails with a sentence', async () => {
    const dir = await freshDir('command-missing');
    const backend = new CommandBackend({ template: 'no-such-program-kai {task}', cwd: dir, watchdogMs: 1000 });
    const { queue } = await harness(backend, dir);
    const job = await queue.submit('x');
    await queue.idle();
    expect(queue.status(job.id)?.summary).toBe('The program "no-such-program-kai" was not found; check jobs.command.');
  });
});

describe('built-in coding agent against a scripted LLM', () => {
  let server: ChatServer;
  beforeAll(async () => {
    server = await startChatServer();
  });
  afterAll(async () => {
    await server.close();
  });

  async function gitRepo(): Promise<string> {
    const repo = await freshDir('repo');
    await mkdir(join(repo, 'src'));
    await writeFile(join(repo, 'src', 'greet.js'), `export const greet = (name) => 'helo ' + name;\n`);
    await writeFile(
      join(repo, 'test.mjs'),
      `import { greet } from './src/greet.js';\nif (greet('kai') !== 'hello kai') { console.error('expected hello kai, got ' + greet('kai')); process.exit(1); }\nconsole.log('1 passed');\n`,
    );
    const git = (...args: string[]) => run('git', args, { cwd: repo });
    await git('init', '-q');
    await git('config', 'user.email', 'test@example.com');
    await git('config', 'user.name', 'Test');
    await git('config', 'commit.gpgsign', 'false');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'initial');
    return repo;
  }

  /** A small ToolRunner over a real repository (stands in for the registry). */
  function runner(repo: string, calls: string[]): ToolRunner {
    const specs: ToolSpec[] = [
      {
        name: 'edit_file',
        description: 'Replace text in a file.',
        parameters: z.object({ path: z.string(), old: z.string(), new: z.string() }),
      },
      { name: 'run_tests', description: 'Run the tests.', parameters: z.object({}) },
      { name: 'git_commit', description: 'Commit all changes.', parameters: z.object({ message: z.string() }) },
    ];
    const done = (ok: boolean, output: string, spoken = output) => ({ status: ok ? 'ok' : 'error', result: { ok, output, spoken } });
    return {
      specs: () => specs,
      async call(name, args) {
        calls.push(name);
        const a = (args ?? {}) as Record<string, string>;
        if (name === 'edit_file') {
          const file = join(repo, a['path'] ?? '');
          const text = await readFile(file, 'utf8');
          if (!text.includes(a['old'] ?? '\u0000')) return done(false, 'old text not found');
          await writeFile(file, text.replace(a['old'] ?? '', a['new'] ?? ''));
          return done(true, `edited ${a['path']}`);
        }
        if (name === 'run_tests') {
          try {
            const { stdout } = await run(NODE, ['test.mjs'], { cwd: repo });
            return done(true, stdout, '1 passed');
          } catch (err) {
            const e = err as { stderr?: string };
            return done(false, e.stderr ?? 'failed', '1 failed');
          }
        }
        if (name === 'git_commit') {
          await run('git', ['add', '-A'], { cwd: repo });
          await run('git', ['commit', '-q', '-m', a['message'] ?? 'change'], { cwd: repo });
          return done(true, 'committed');
        }
        return done(false, `unknown tool ${name}`);
      },
    };
  }

  const toolReply = (...calls: { id: string; name: string; args: string }[]) => ({
    type: 'stream' as const,
    steps: [
      ...calls.flatMap((c, index): ChatStep[] => {
        const cut = Math.floor(c.args.length / 2);
        return [
          { type: 'tool', index, id: c.id, name: c.name },
          { type: 'tool', index, arguments: c.args.slice(0, cut) },
          { type: 'tool', index, arguments: c.args.slice(cut) },
        ];
      }),
      { type: 'finish', reason: 'tool_calls' } as ChatStep,
    ],
  });

  it('plans, edits a file, runs the tests, commits and reports', async () => {
    const repo = await gitRepo();
    const calls: string[] = [];
    const chat = new ChatClient({ baseURL: server.baseURL, model: 'coder', timeoutMs: 5_000 });
    const requestsBefore = server.requests.length;
    server.enqueue(
      toolReply({ id: 'c1', name: 'run_tests', args: '{}' }),
      toolReply(
        { id: 'c2', name: 'edit_file', args: JSON.stringify({ path: 'src/greet.js', old: "'helo '", new: "'hello '" }) },
        { id: 'c3', name: 'run_tests', args: '' },
      ),
      toolReply({ id: 'c4', name: 'git_commit', args: JSON.stringify({ message: 'Fix the greeting typo' }) }),
      { type: 'stream', steps: [{ type: 'text', text: 'Fixed the greeting typo in src/greet.js. ' }, { type: 'text', text: 'The tests pass and it is committed. Extra.' }, { type: 'finish', reason: 'stop' }] },
    );
    const dir = await freshDir('builtin');
    const backend = new BuiltinBackend({ chat, tools: runner(repo, calls), maxAttempts: 3 });
    const { queue, events } = await harness(backend, dir);
    const job = await queue.submit('fix the greeting', ['src/greet.js']);
    await queue.idle();

    const done = queue.status(job.id)!;
    expect(done.status).toBe('done');
    expect(done.summary).toBe('Fixed the greeting typo in src/greet.js. The tests pass and it is committed.');
    expect(calls).toEqual(['run_tests', 'edit_file', 'run_tests', 'git_commit']);
    expect(await readFile(join(repo, 'src', 'greet.js'), 'utf8')).toContain("'hello '");
    const log = (await run('git', ['log', '--format=%s'], { cwd: repo })).stdout.trim().split('\n');
    expect(log).toEqual(['Fix the greeting typo', 'initial']);
    expect((await run('git', ['status', '--porcelain'], { cwd: repo })).stdout).toBe('');
    const progress = events.filter((e) => e.type === 'progress').map((e) => (e.type === 'progress' ? e.text : ''));
    expect(progress).toEqual([
      'planning',
      'running the tests',
      'tests fail (attempt 1 of 3)',
      'editing src/greet.js',
      'running the tests',
      'tests pass: 1 passed',
      'committing',
      'committed',
    ]);

    const mine = server.requests.slice(requestsBefore);
    expect(mine).toHaveLength(4);
    expect((mine[0]?.tools as unknown[]).length).toBe(3);
    const firstMessages = mine[0]?.messages as { role: string; content: string }[];
    expect(firstMessages[0]?.content).toMatch(/run_tests/);
    expect(firstMessages[1]?.content).toBe('Task: fix the greeting\n\nFiles to start from: src/greet.js');
    const third = mine[2]?.messages as { role: string; tool_call_id?: string; content: string | null }[];
    expect(third.filter((m) => m.role === 'tool').map((m) => m.tool_call_id)).toEqual(['c1', 'c2', 'c3']);
    expect(third.find((m) => m.tool_call_id === 'c1')?.content).toMatch(/^\[error\] expected hello kai/);
  });

  it('escalates after maxAttempts failed test runs', async () => {
    const repo = await gitRepo();
    const calls: string[] = [];
    const chat = new ChatClient({ baseURL: server.baseURL, model: 'coder', timeoutMs: 5_000 });
    server.enqueue(toolReply({ id: 'a', name: 'run_tests', args: '{}' }), toolReply({ id: 'b', name: 'run_tests', args: '{}' }));
    const dir = await freshDir('builtin-fail');
    const { queue } = await harness(new BuiltinBackend({ chat, tools: runner(repo, calls), maxAttempts: 2 }), dir);
    const job = await queue.submit('fix the greeting');
    await queue.idle();
    expect(queue.status(job.id)?.status).toBe('failed');
    expect(queue.status(job.id)?.summary).toBe('The tests still fail after 2 attempts (1 failed); I stopped so you can take a look.');
    expect(calls).toEqual(['run_tests', 'run_tests']);
    expect(queue.takeAnnouncements()).toEqual([
      'The coding job "fix the greeting" failed: the tests still fail after 2 attempts (1 failed); I stopped so you can take a look.',
    ]);
  });

  it('cancel stops the loop while the model is streaming', async () => {
    const repo = await gitRepo();
    const chat = new ChatClient({ baseURL: server.baseURL, model: 'coder', timeoutMs: 5_000 });
    server.enqueue({ type: 'stream', steps: [{ type: 'text', text: 'thinking' }, { type: 'stall' }] });
    const dir = await freshDir('builtin-cancel');
    const { queue } = await harness(new BuiltinBackend({ chat, tools: runner(repo, []), maxAttempts: 2 }), dir);
    const job = await queue.submit('fix the greeting');
    await waitFor(() => queue.status(job.id)?.status === 'running', 5_000, 'running');
    await new Promise((ok) => setTimeout(ok, 100));
    expect((await queue.cancel())?.status).toBe('cancelled');
  });
});

