/**
 * The tickets folder for delegated coding jobs.
 *
 *   <dir>/backlog/   waiting to run
 *   <dir>/running/   a backend is working on it
 *   <dir>/done/      finished successfully
 *   <dir>/failed/    failed, cancelled or interrupted
 *
 * Each job is two files in exactly one folder: `<id>.md` (the task, the files and the creation
 * time, for people; written once) and `<id>.json` (the authoritative state: status, backend,
 * attempts, event log, summary, result). Every write goes to a temporary file in the same folder
 * and is renamed into place, so a crash leaves either the old or the new file, never half of one.
 *
 * A move between folders is: write the new JSON (with a higher `rev`) into the target folder,
 * rename the ticket across, delete the old JSON. A crash between those steps leaves the job in two
 * folders; `load()` keeps the copy with the highest `rev`, brings the ticket next to it and removes
 * the stale copy, so every job is found exactly once after a restart.
 *
 * Restart policy (applied by `recoverInterrupted`): a job found in running/ at start-up was cut off
 * by a crash or a kill. The first time this happens it goes back to backlog/ (event "interrupted by a
 * restart; put back in the queue") and runs again from the top; the second time it is moved to
 * failed/ with status "interrupted", so a job that keeps taking the assistant down cannot loop
 * forever. Either way an announcement is queued so the user hears about it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export type JobFolder = 'backlog' | 'running' | 'done' | 'failed';
export const JOB_FOLDERS: readonly JobFolder[] = ['backlog', 'running', 'done', 'failed'];

/** queued → running → done | failed | cancelled | interrupted. */
export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface JobEvent {
  /** ISO time. */
  t: string;
  /** queued, started, progress, done, failed, cancelled, interrupted, requeued, announced… */
  type: string;
  text: string;
}

export interface JobResult {
  ok: boolean;
  /** Why it failed, one sentence ("Claude Code went silent for 300 s, so I stopped it."). */
  reason?: string;
  /** Backend-specific details (exit code, cost, turns…); JSON-serialisable. */
  detail?: Record<string, unknown>;
}

export interface JobAnnouncement {
  t: string;
  text: string;
}

/** The JSON half of a ticket. Everything needed to resume lives here (the .md is for people). */
export interface JobRecord {
  id: string;
  task: string;
  files: string[];
  createdAt: string;
  status: JobStatus;
  backend: string;
  /** Times a backend was started on this job. */
  attempts: number;
  /** Times a restart found this job in running/ (see the restart policy above). */
  interruptions: number;
  startedAt?: string;
  finishedAt?: string;
  /** The backend's child process while running (its own process group), so a restart can stop a leftover. */
  process?: { pid: number; program: string };
  /** One or two sentences on the outcome, for speech. */
  summary?: string;
  result?: JobResult;
  events: JobEvent[];
  /** Spoken lines not yet said; taken when the assistant is idle. */
  announcements: JobAnnouncement[];
  /** Incremented on every save; the highest wins when a crash left two copies. */
  rev: number;
}

/** A job as callers see it: a copy, safe to keep. */
export type Job = Readonly<JobRecord>;

/** Oldest events are dropped past this (the first one, "queued", is kept). */
export const MAX_EVENTS = 400;

export function folderFor(status: JobStatus): JobFolder {
  switch (status) {
    case 'queued':
      return 'backlog';
    case 'running':
      return 'running';
    case 'done':
      return 'done';
    case 'failed':
    case 'cancelled':
    case 'interrupted':
      return 'failed';
  }
}

/** Ids sort by creation time: `20250102-130405-123-ab12`. */
function makeId(at: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp =
    `${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}-` +
    `${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}-${p(at.getUTCMilliseconds(), 3)}`;
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

const ID_PATTERN = /^[0-9]{8}-[0-9]{6}-[0-9]{3}-[0-9a-f]{4}$/;

/** The human-readable ticket. */
export function renderTicket(job: Pick<JobRecord, 'id' | 'task' | 'files' | 'createdAt' | 'backend'>): string {
  const files = job.files.length ? job.files.map((f) => `- ${f}`).join('\n') : '(none given)';
  return [
    `# Job ${job.id}`,
    '',
    `- Created: ${job.createdAt}`,
    `- Backend: ${job.backend}`,
    `- Status: see ${job.id}.json next to this file (the folder tells the stage)`,
    '',
    '## Task',
    '',
    job.task,
    '',
    '## Files',
    '',
    files,
    '',
  ].join('\n');
}

function isRecord(value: unknown): value is JobRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['id'] === 'string' &&
    typeof v['task'] === 'string' &&
    Array.isArray(v['files']) &&
    typeof v['status'] === 'string' &&
    Array.isArray(v['events'])
  );
}

/** Fills fields added after a ticket was written, so old tickets keep loading. */
function normalise(raw: JobRecord): JobRecord {
  return {
    ...raw,
    files: raw.files.filter((f): f is string => typeof f === 'string'),
    backend: typeof raw.backend === 'string' ? raw.backend : 'unknown',
    attempts: typeof raw.attempts === 'number' ? raw.attempts : 0,
    interruptions: typeof raw.interruptions === 'number' ? raw.interruptions : 0,
    createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : new Date(0).toISOString(),
    announcements: Array.isArray(raw.announcements) ? raw.announcements : [],
    rev: typeof raw.rev === 'number' ? raw.rev : 0,
  };
}

export function copyJob(record: JobRecord): Job {
  return structuredClone(record);
}

export interface RecoveredJob {
  job: Job;
  action: 'requeued' | 'interrupted';
}

export class JobStore {
  readonly dir: string;
  /** Where each known job's files are right now. */
  private readonly location = new Map<string, JobFolder>();
  /** Per-job write chains, so saves of one job never overlap. */
  private readonly chains = new Map<string, Promise<void>>();
  private lastCreated = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(folder: JobFolder, id: string, ext: 'md' | 'json'): string {
    return join(this.dir, folder, `${id}.${ext}`);
  }

  async init(): Promise<void> {
    for (const folder of JOB_FOLDERS) await mkdir(join(this.dir, folder), { recursive: true });
  }

  /** A new job in backlog/: the JSON first (it is the authority), then the ticket. */
  async create(input: { task: string; files?: readonly string[]; backend: string }): Promise<JobRecord> {
    await this.init();
    // Strictly increasing creation times keep the backlog in submission order.
    const now = Math.max(Date.now(), this.lastCreated + 1);
    this.lastCreated = now;
    const at = new Date(now);
    const createdAt = at.toISOString();
    const record: JobRecord = {
      id: makeId(at),
      task: input.task,
      files: [...(input.files ?? [])],
      createdAt,
      status: 'queued',
      backend: input.backend,
      attempts: 0,
      interruptions: 0,
      events: [{ t: createdAt, type: 'queued', text: 'queued' }],
      announcements: [],
      rev: 1,
    };
    await this.atomicWrite(this.path('backlog', record.id, 'json'), `${JSON.stringify(record, null, 2)}\n`);
    await this.atomicWrite(this.path('backlog', record.id, 'md'), renderTicket(record));
    this.location.set(record.id, 'backlog');
    return record;
  }

  /**
   * Writes `record` (bumping its rev) into the folder its status belongs to, moving the ticket if
   * the status changed stage. Saves of the same job are serialised.
   */
  save(record: JobRecord): Promise<void> {
    const previous = this.chains.get(record.id) ?? Promise.resolve();
    const next = previous.then(
      () => this.doSave(record),
      () => this.doSave(record),
    );
    const settled = next.catch(() => undefined);
    this.chains.set(record.id, settled);
    void settled.then(() => {
      if (this.chains.get(record.id) === settled) this.chains.delete(record.id);
    });
    return next;
  }

  /** Resolves once every pending save has been written. */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private async doSave(record: JobRecord): Promise<void> {
    record.rev += 1;
    if (record.events.length > MAX_EVENTS) {
      record.events.splice(1, record.events.length - MAX_EVENTS);
    }
    const target = folderFor(record.status);
    const current = this.location.get(record.id) ?? target;
    const json = `${JSON.stringify(record, null, 2)}\n`;
    await this.atomicWrite(this.path(target, record.id, 'json'), json);
    if (current !== target) {
      try {
        await rename(this.path(current, record.id, 'md'), this.path(target, record.id, 'md'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await this.atomicWrite(this.path(target, record.id, 'md'), renderTicket(record));
      }
      await rm(this.path(current, record.id, 'json'), { force: true });
    }
    this.location.set(record.id, target);
  }

  /**
   * Reads every ticket, repairing what a crash can leave behind: stray temporary files, a job in
   * two folders (the highest rev wins), a JSON without its ticket. Sorted by creation time.
   */
  async load(): Promise<JobRecord[]> {
    await this.init();
    const copies = new Map<string, { folder: JobFolder; record: JobRecord }[]>();
    const tickets = new Map<string, JobFolder[]>();
    for (const folder of JOB_FOLDERS) {
      for (const name of await readdir(join(this.dir, folder))) {
        const full = join(this.dir, folder, name);
        if (name.endsWith('.tmp')) {
          await rm(full, { force: true });
          continue;
        }
        const match = /^(.+)\.(md|json)$/.exec(name);
        const id = match?.[1];
        if (!match || id === undefined || !ID_PATTERN.test(id)) continue;
        if (match[2] === 'md') {
          tickets.set(id, [...(tickets.get(id) ?? []), folder]);
          continue;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(await readFile(full, 'utf8'));
        } catch {
          continue; // unreadable: never produced by our atomic writes; leave it for a person to look at
        }
        if (!isRecord(parsed) || parsed.id !== id) continue;
        copies.set(id, [...(copies.get(id) ?? []), { folder, record: normalise(parsed) }]);
      }
    }

    const records: JobRecord[] = [];
    for (const [id, found] of copies) {
      const rank = (c: { folder: JobFolder; record: JobRecord }) => c.record.rev * 10 + JOB_FOLDERS.indexOf(c.folder);
      const best = found.reduce((a, b) => (rank(b) > rank(a) ? b : a));
      const record = best.record;
      const target = folderFor(record.status);
      // The JSON sits where its status says (fixes a copy written before a half-finished move).
      if (best.folder !== target) {
        await this.atomicWrite(this.path(target, id, 'json'), `${JSON.stringify(record, null, 2)}\n`);
      }
      for (const other of found) {
        if (other.folder !== target) await rm(this.path(other.folder, id, 'json'), { force: true });
      }
      const mdFolders = tickets.get(id) ?? [];
      let stale = mdFolders.filter((folder) => folder !== target);
      if (!mdFolders.includes(target)) {
        const [from, ...rest] = stale;
        if (from !== undefined) await rename(this.path(from, id, 'md'), this.path(target, id, 'md'));
        else await this.atomicWrite(this.path(target, id, 'md'), renderTicket(record));
        stale = rest;
      }
      for (const folder of stale) await rm(this.path(folder, id, 'md'), { force: true });
      this.location.set(id, target);
      const created = Date.parse(record.createdAt);
      if (Number.isFinite(created)) this.lastCreated = Math.max(this.lastCreated, created);
      records.push(record);
    }
    records.sort((a, b) => (a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt)));
    return records;
  }

  /**
   * Applies the restart policy to a job found in running/: re-queued the first time, moved to
   * failed/ as "interrupted" after that. Mutates and saves `record`.
   */
  async recoverInterrupted(record: JobRecord, maxRequeues = 1): Promise<RecoveredJob['action']> {
    const t = new Date().toISOString();
    record.interruptions += 1;
    const short = shortTask(record.task);
    if (record.interruptions <= maxRequeues) {
      record.status = 'queued';
      record.events.push({ t, type: 'interrupted', text: 'interrupted by a restart; put back in the queue' });
      record.announcements.push({
        t,
        text: `The coding job "${short}" was interrupted by a restart, so I've put it back in the queue.`,
      });
      await this.save(record);
      return 'requeued';
    }
    record.status = 'interrupted';
    record.finishedAt = t;
    record.summary = `Interrupted by a restart ${record.interruptions} times; not retried again.`;
    record.result = { ok: false, reason: 'interrupted by a restart' };
    record.events.push({ t, type: 'interrupted', text: 'interrupted by a restart again; marked failed' });
    record.announcements.push({
      t,
      text: `The coding job "${short}" was interrupted by a restart again, so I've marked it failed instead of retrying.`,
    });
    await this.save(record);
    return 'interrupted';
  }

  private async atomicWrite(path: string, text: string): Promise<void> {
    const tmp = `${path}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
    try {
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}

/** The task cut to a few words for speech. */
export function shortTask(task: string, max = 60): string {
  const line = task.replace(/\s+/g, ' ').trim();
  if (line.length <= max) return line;
  const cut = line.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
