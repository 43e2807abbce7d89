/**
 * The delegated-jobs queue: jobs persisted in a tickets folder (see store.ts), run by one backend
 * (built-in agent, Claude Code, a command template) with a concurrency limit.
 *
 * Policies:
 * - Restart: `start()` loads every ticket. A job found in running/ is re-queued the first time and
 *   marked failed ("interrupted") the second time; either way an announcement says so.
 * - Cancel: `cancel()` without an id takes the most recently started running job, else the most
 *   recently queued one. A running job's backend is aborted (process group signalled, LLM loop
 *   stopped) and the job lands in failed/ with status "cancelled"; a queued one goes straight there.
 *   The user asked for it, so no announcement is queued.
 * - Stop (`stop()`, at shutdown): running backends are aborted and their jobs put back in backlog/
 *   without counting as an interruption; the next `start()` runs them again.
 * - Announcements: finishing (done, failed) and restart recovery queue one or two spoken sentences
 *   on the job's record (persisted, so they survive a restart); the assistant takes them with
 *   `takeAnnouncements()` when idle, which marks them said.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { copyJob, type Job, type JobRecord, JobStore, type JobStatus, shortTask } from './store.js';

/** What a backend gets for one run. */
export interface BackendRun {
  jobId: string;
  task: string;
  files: readonly string[];
  /** Aborted on cancel or shutdown: stop promptly (kill the process group, end the LLM loop). */
  signal: AbortSignal;
  /** A short line of progress ("editing src/server.ts"). */
  progress(text: string): void;
  /** Process backends report their child (leader of its own process group) once started. */
  spawned?(info: { pid: number; program: string }): void;
}

export interface BackendOutcome {
  ok: boolean;
  /** One or two sentences for speech on success ("Added /health and its test; tests pass."). */
  summary: string;
  /** One sentence on failure. */
  reason?: string;
  detail?: Record<string, unknown>;
}

export interface JobBackend {
  /** "builtin", "claude", "command". */
  readonly name: string;
  /** Must resolve (not reject) with ok false on failure; rejections are reported as failures. */
  run(run: BackendRun): Promise<BackendOutcome>;
}

export type JobQueueEvent =
  | { type: 'queued'; job: Job }
  | { type: 'started'; job: Job }
  | { type: 'progress'; job: Job; text: string }
  | { type: 'done'; job: Job; summary: string }
  | { type: 'failed'; job: Job; reason: string }
  | { type: 'cancelled'; job: Job }
  /** A restart found the job in running/; `action` says what the policy did. */
  | { type: 'interrupted'; job: Job; action: 'requeued' | 'interrupted' };

export interface JobQueueOptions {
  /** The tickets folder, or a store over it (tests pass their own). */
  dir?: string;
  store?: JobStore;
  backend: JobBackend;
  /** Jobs running at once; default 1. */
  concurrency?: number;
  onEvent?: (event: JobQueueEvent) => void;
  /** Progress is written to disk at most this often (state changes are written at once); default 1000 ms. */
  persistProgressMs?: number;
  /** How many times a job found in running/ at start-up is re-queued before it is failed; default 1. */
  maxRequeues?: number;
}

interface Active {
  record: JobRecord;
  controller: AbortController;
  cancelled: boolean;
  stopping: boolean;
  finished: Promise<void>;
  flushTimer?: NodeJS.Timeout;
}

const TERMINAL: readonly JobStatus[] = ['done', 'failed', 'cancelled', 'interrupted'];

export class JobQueue {
  readonly store: JobStore;
  private readonly backend: JobBackend;
  private readonly concurrency: number;
  private readonly onEvent: (event: JobQueueEvent) => void;
  private readonly persistProgressMs: number;
  private readonly maxRequeues: number;
  private readonly jobs = new Map<string, JobRecord>();
  private readonly active = new Map<string, Active>();
  private started = false;
  private stopped = false;
  private pumping: Promise<void> = Promise.resolve();

  constructor(options: JobQueueOptions) {
    const store = options.store ?? (options.dir !== undefined ? new JobStore(options.dir) : undefined);
    if (!store) throw new TypeError('JobQueue needs a dir or a store');
    this.store = store;
    this.backend = options.backend;
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.onEvent = options.onEvent ?? (() => undefined);
    this.persistProgressMs = options.persistProgressMs ?? 1000;
    this.maxRequeues = options.maxRequeues ?? 1;
  }

  /** Loads the tickets, applies the restart policy to jobs left in running/, starts the backlog. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const record of await this.store.load()) {
      this.jobs.set(record.id, record);
      if (record.status === 'running') {
        if (record.process) {
          const stopped = await stopLeftover(record.process);
          if (stopped) {
            record.events.push({
              t: new Date().toISOString(),
              type: 'interrupted',
              text: `stopped the previous run's process ${record.process.pid}, still running after the restart`,
            });
          }
          delete record.process;
        }
        const action = await this.store.recoverInterrupted(record, this.maxRequeues);
        this.emit({ type: 'interrupted', job: copyJob(record), action });
      }
    }
    this.pump();
  }

  /** Queues a job (written to backlog/ before this resolves) and starts it if a slot is free. */
  async submit(task: string, files: readonly string[] = []): Promise<Job> {
    const text = task.trim();
    if (text === '') throw new TypeError('a job needs a task');
    if (this.stopped) throw new Error('the job queue is stopped');
    const record = await this.store.create({ task: text, files, backend: this.backend.name });
    this.jobs.set(record.id, record);
    this.emit({ type: 'queued', job: copyJob(record) });
    this.pump();
    return copyJob(record);
  }

  /** Every known job, oldest first. */
  list(): Job[] {
    return this.sorted().map(copyJob);
  }

  /**
   * One job: by id, or the one the user most likely means: the latest started running job, else
   * the latest queued, else the latest finished.
   */
  status(id?: string): Job | undefined {
    if (id !== undefined) {
      const found = this.jobs.get(id);
      return found ? copyJob(found) : undefined;
    }
    const record =
      this.pick(['running', 'queued']) ??
      this.sorted()
        .filter((r) => TERMINAL.includes(r.status))
        .reduce<JobRecord | undefined>((a, b) => (a === undefined || (b.finishedAt ?? '') >= (a.finishedAt ?? '') ? b : a), undefined);
    return record ? copyJob(record) : undefined;
  }

  /** Jobs waiting or running. */
  pending(): Job[] {
    return this.sorted()
      .filter((r) => r.status === 'queued' || r.status === 'running')
      .map(copyJob);
  }

  /**
   * Cancels a job (default: latest running, else latest queued). Resolves once the backend has
   * stopped and the ticket is in failed/; undefined when there was nothing to cancel.
   */
  async cancel(id?: string): Promise<Job | undefined> {
    const record = id !== undefined ? this.jobs.get(id) : this.pick(['running', 'queued']);
    if (!record) return undefined;
    if (record.status === 'queued') {
      const t = new Date().toISOString();
      record.status = 'cancelled';
      record.finishedAt = t;
      record.summary = 'Cancelled before it started.';
      record.result = { ok: false, reason: 'cancelled' };
      record.events.push({ t, type: 'cancelled', text: 'cancelled before it started' });
      await this.store.save(record);
      this.emit({ type: 'cancelled', job: copyJob(record) });
      return copyJob(record);
    }
    const active = this.active.get(record.id);
    if (!active) return undefined; // already finished
    active.cancelled = true;
    active.controller.abort();
    await active.finished;
    return copyJob(record);
  }

  /** Spoken lines waiting to be said, oldest first (not marked said). */
  announcements(): string[] {
    return this.collectAnnouncements().map((a) => a.text);
  }

  /** Takes the waiting spoken lines and marks them said (persisted). Call when the assistant is idle. */
  takeAnnouncements(): string[] {
    const items = this.collectAnnouncements();
    const touched = new Set<JobRecord>();
    for (const item of items) {
      item.record.announcements = [];
      touched.add(item.record);
    }
    const t = new Date().toISOString();
    for (const record of touched) {
      record.events.push({ t, type: 'announced', text: 'the outcome was said' });
      void this.store.save(record).catch(() => undefined);
    }
    return items.map((a) => a.text);
  }

  /** Resolves when nothing is running and the backlog is empty (or only holds jobs that cannot start). */
  async idle(): Promise<void> {
    for (;;) {
      await this.pumping;
      const running = [...this.active.values()];
      if (running.length === 0) break;
      await Promise.all(running.map((a) => a.finished));
    }
    await this.store.flush();
  }

  /**
   * For shutdown: stops running backends and puts their jobs back in backlog/ (not counted as an
   * interruption), accepts no more work. The next start() on the same folder runs them again.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.active.values()];
    for (const a of running) {
      a.stopping = true;
      a.controller.abort();
    }
    await Promise.all(running.map((a) => a.finished));
    await this.store.flush();
  }

  private collectAnnouncements(): { record: JobRecord; t: string; text: string }[] {
    const items: { record: JobRecord; t: string; text: string }[] = [];
    for (const record of this.jobs.values()) {
      for (const a of record.announcements) items.push({ record, t: a.t, text: a.text });
    }
    return items.sort((a, b) => a.t.localeCompare(b.t));
  }

  private sorted(): JobRecord[] {
    return [...this.jobs.values()].sort((a, b) =>
      a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt),
    );
  }

  /** The latest job in the first of `order` that has any: running by start, queued by creation, finished by end. */
  private pick(order: readonly JobStatus[]): JobRecord | undefined {
    const all = this.sorted();
    for (const status of order) {
      const key = (r: JobRecord) =>
        status === 'running' ? (r.startedAt ?? '') : status === 'queued' ? r.createdAt : (r.finishedAt ?? r.createdAt);
      let best: JobRecord | undefined;
      for (const r of all) if (r.status === status && (best === undefined || key(r) >= key(best))) best = r;
      if (best) return best;
    }
    return undefined;
  }

  private emit(event: JobQueueEvent): void {
    try {
      this.onEvent(event);
    } catch {
      // a listener's bug must not break the queue
    }
  }

  /** Starts backlog jobs while slots are free (serialised so two calls never over-fill). */
  private pump(): void {
    this.pumping = this.pumping.then(async () => {
      if (!this.started || this.stopped) return;
      while (this.active.size < this.concurrency) {
        const next = this.sorted().find((r) => r.status === 'queued');
        if (!next) return;
        await this.launch(next);
      }
    });
    this.pumping = this.pumping.catch(() => undefined);
  }

  private async launch(record: JobRecord): Promise<void> {
    const t = new Date().toISOString();
    record.status = 'running';
    record.startedAt = t;
    record.attempts += 1;
    record.backend = this.backend.name;
    record.events.push({ t, type: 'started', text: `started with the ${this.backend.name} backend` });
    const active: Active = {
      record,
      controller: new AbortController(),
      cancelled: false,
      stopping: false,
      finished: Promise.resolve(),
    };
    this.active.set(record.id, active);
    try {
      await this.store.save(record);
    } catch (err) {
      this.active.delete(record.id);
      record.status = 'queued';
      throw err;
    }
    this.emit({ type: 'started', job: copyJob(record) });
    // A failed final save leaves the ticket in running/; the next start-up recovers it.
    active.finished = this.execute(active).catch(() => undefined);
  }

  private async execute(active: Active): Promise<void> {
    const { record, controller } = active;
    let outcome: BackendOutcome;
    try {
      outcome = await this.backend.run({
        jobId: record.id,
        task: record.task,
        files: record.files,
        signal: controller.signal,
        progress: (text) => this.progress(active, text),
        spawned: (info) => {
          record.process = { pid: info.pid, program: info.program };
          void this.store.save(record).catch(() => undefined);
        },
      });
    } catch (err) {
      outcome = { ok: false, summary: '', reason: err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err) };
    }
    clearTimeout(active.flushTimer);
    delete record.process;
    const t = new Date().toISOString();
    const short = shortTask(record.task);
    let event: JobQueueEvent;
    if (active.stopping && !active.cancelled) {
      record.status = 'queued';
      record.events.push({ t, type: 'requeued', text: 'stopped by a shutdown; put back in the queue' });
      event = { type: 'queued', job: copyJob(record) };
    } else if (active.cancelled) {
      record.status = 'cancelled';
      record.finishedAt = t;
      record.summary = 'Cancelled.';
      record.result = { ok: false, reason: 'cancelled', ...(outcome.detail ? { detail: outcome.detail } : {}) };
      record.events.push({ t, type: 'cancelled', text: 'cancelled' });
      event = { type: 'cancelled', job: copyJob(record) };
    } else if (outcome.ok) {
      const summary = sentence(outcome.summary || 'Finished.');
      record.status = 'done';
      record.finishedAt = t;
      record.summary = summary;
      record.result = { ok: true, ...(outcome.detail ? { detail: outcome.detail } : {}) };
      record.events.push({ t, type: 'done', text: summary });
      record.announcements.push({ t, text: `The coding job "${short}" is done. ${summary}` });
      event = { type: 'done', job: copyJob(record), summary };
    } else {
      const reason = sentence(outcome.reason || 'it failed without saying why');
      record.status = 'failed';
      record.finishedAt = t;
      record.summary = reason;
      record.result = { ok: false, reason, ...(outcome.detail ? { detail: outcome.detail } : {}) };
      record.events.push({ t, type: 'failed', text: reason });
      record.announcements.push({ t, text: `The coding job "${short}" failed: ${lowerFirst(reason)}` });
      event = { type: 'failed', job: copyJob(record), reason };
    }
    try {
      await this.store.save(record);
    } finally {
      this.active.delete(record.id);
      // Refresh the snapshot in the event now that the save bumped rev.
      this.emit({ ...event, job: copyJob(record) } as JobQueueEvent);
      this.pump();
    }
  }

  private progress(active: Active, text: string): void {
    const line = text.replace(/\s+/g, ' ').trim();
    if (line === '' || active.record.status !== 'running') return;
    const clipped = line.length > 300 ? `${line.slice(0, 297)}...` : line;
    active.record.events.push({ t: new Date().toISOString(), type: 'progress', text: clipped });
    this.emit({ type: 'progress', job: copyJob(active.record), text: clipped });
    if (active.flushTimer === undefined) {
      active.flushTimer = setTimeout(() => {
        active.flushTimer = undefined;
        if (active.record.status === 'running') void this.store.save(active.record).catch(() => undefined);
      }, this.persistProgressMs);
      active.flushTimer.unref?.();
    }
  }
}

/** One sentence, capitalised, ending in punctuation, not too long for speech. */
export function sentence(text: string, max = 220): string {
  let s = text.replace(/\s+/g, ' ').trim();
  if (s.length > max) {
    const cut = s.slice(0, max);
    const space = cut.lastIndexOf(' ');
    s = `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[,;:.\s]+$/, '')}…`;
  }
  if (s === '') return s;
  s = s[0]!.toUpperCase() + s.slice(1);
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}

function lowerFirst(text: string): string {
  if (text === '' || /^[A-Z]{2}/.test(text) || /^(Claude|I\b)/.test(text)) return text;
  return text[0]!.toLowerCase() + text.slice(1);
}

/**
 * After a crash, a backend's child (its own process group) may still be running in the workspace.
 * It is killed only when it is alive and its command line still names the recorded program (a
 * reused pid belongs to someone else). Where /proc is missing the check fails closed (no kill).
 */
async function stopLeftover(proc: { pid: number; program: string }): Promise<boolean> {
  if (!Number.isInteger(proc.pid) || proc.pid <= 1) return false;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${proc.pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
  } catch {
    return false;
  }
  if (!cmdline.includes(basename(proc.program))) return false;
  try {
    process.kill(-proc.pid, 'SIGKILL');
    return true;
  } catch {
    try {
      process.kill(proc.pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  }
}
