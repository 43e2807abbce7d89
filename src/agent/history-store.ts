/**
 * The conversation history on disk, so a restart of the daemon loses nothing.
 *
 * Writes go to a temporary file in the same folder, are fsynced and renamed into place (then the
 * folder is fsynced), so a crash leaves the old or the new file, never half of one. Loading never
 * throws: a missing file is an empty history; a file that is not a valid history is moved aside
 * to `<file>.bad-<time>` (kept for a human to look at) and the history starts empty.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { stateDir } from '../paths.js';
import { ConversationHistory, type HistoryState } from './history.js';

const toolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.string() }),
  z.object({ role: z.literal('user'), content: z.string() }),
  z.object({ role: z.literal('assistant'), content: z.string().nullable(), tool_calls: z.array(toolCall).optional() }),
  z.object({ role: z.literal('tool'), tool_call_id: z.string(), content: z.string() }),
]);

const stateSchema = z.object({
  version: z.literal(1),
  turns: z.array(z.object({ user: z.string(), messages: z.array(message) })),
  compacted: z.array(z.string()),
});

/** $XDG_STATE_HOME/kai/history.json. */
export function defaultHistoryPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'history.json');
}

export interface HistoryStoreOptions {
  /** Told (one line) when the file could not be read or was moved aside. Default: ignored. */
  onWarning?: (message: string) => void;
  /** For the name of a moved-aside file. */
  now?: () => Date;
}

export class HistoryStore {
  private readonly onWarning: (message: string) => void;
  private readonly now: () => Date;

  constructor(
    readonly path: string,
    options: HistoryStoreOptions = {},
  ) {
    this.onWarning = options.onWarning ?? (() => undefined);
    this.now = options.now ?? (() => new Date());
  }

  /** The saved history, or an empty one (missing, unreadable or corrupt file). Never rejects. */
  async load(budgetChars: number): Promise<ConversationHistory> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') this.onWarning(`cannot read the conversation history ${this.path} (${code ?? String(err)}); starting with an empty one`);
      return new ConversationHistory(budgetChars);
    }
    let state: HistoryState;
    try {
      state = stateSchema.parse(JSON.parse(text));
    } catch {
      await this.moveAside();
      return new ConversationHistory(budgetChars);
    }
    return ConversationHistory.fromJSON(budgetChars, state);
  }

  /**
   * Writes the history before returning (a few kilobytes, synchronously), so a turn that has been
   * reported is on disk even if the process is killed the next moment. Throws when it cannot.
   */
  save(history: ConversationHistory): void {
    writeAtomic(this.path, `${JSON.stringify(history.toJSON())}\n`);
  }

  private async moveAside(): Promise<void> {
    const aside = `${this.path}.bad-${this.now().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(this.path, aside);
      this.onWarning(`the conversation history ${this.path} was not valid; moved it to ${aside} and started an empty one`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      this.onWarning(`the conversation history ${this.path} was not valid and could not be moved aside (${code}); starting with an empty one`);
    }
  }
}

function writeAtomic(path: string, text: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeFileSync(fd, text, 'utf8');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  // Makes the rename itself durable; not every platform lets a folder be opened for this.
  try {
    const folder = openSync(dir, 'r');
    try {
      fsyncSync(folder);
    } finally {
      closeSync(folder);
    }
  } catch {
    // best effort
  }
}
