import { appendFileSync, chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KaiError } from '../../errors.js';
import { stateDir } from '../../paths.js';
import type { Decision } from '../tools/types.js';

/** Who settled a permission decision. */
export type AuditVia = 'rule' | 'policy' | 'mode' | 'user' | 'timeout';

/** One line of the audit log: a permission decision and, for asks, what the user answered. */
export interface AuditEntry {
  /** ISO 8601 time of the decision. */
  time: string;
  /** Tool name. */
  tool: string;
  /** What rules matched against: the command for run_command, the relative path for file tools. */
  subject: string;
  decision: Decision;
  /** One plain sentence. */
  reason: string;
  /** For 'ask' decisions: whether the user approved (false on timeout or refusal). */
  approved?: boolean;
  /** 'rule' (config allow/ask/deny), 'policy' (the built-in command policy), 'mode', 'user' or 'timeout'. */
  via: AuditVia;
  /** The config rule that decided, when via is 'rule'. */
  rule?: string;
}

/** Subjects longer than this are cut in the log so one huge command cannot bloat it. */
const MAX_SUBJECT_CHARS = 4000;

/** Where the audit log lives unless agent.auditLog says otherwise. */
export function defaultAuditPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'audit.jsonl');
}

/**
 * Append-only JSON-lines audit log. Each entry is one `appendFileSync` (O_APPEND) write of one line,
 * so lines never interleave or truncate earlier ones. The folder is created 0700, the file 0600.
 */
export class AuditLog {
  readonly path: string;
  private prepared = false;

  constructor(path: string) {
    if (!path) throw new KaiError('the audit log needs a file path');
    this.path = resolve(path);
  }

  append(entry: AuditEntry): void {
    const subject = entry.subject.length > MAX_SUBJECT_CHARS ? `${entry.subject.slice(0, MAX_SUBJECT_CHARS)}…` : entry.subject;
    const line = `${JSON.stringify({ ...entry, subject })}\n`;
    try {
      this.prepare();
      appendFileSync(this.path, line, { encoding: 'utf8', mode: 0o600, flag: 'a' });
    } catch (err) {
      throw new KaiError(`cannot write the audit log ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  private prepare(): void {
    if (this.prepared) return;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    try {
      // Tighten a file an older version (or the user) created with a looser mode.
      if ((statSync(this.path).mode & 0o077) !== 0) chmodSync(this.path, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.prepared = true;
  }
}
