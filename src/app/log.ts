import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level: LogLevel;
  /** JSON lines go here (stderr without a terminal); omit to write none. */
  stream?: NodeJS.WritableStream;
  /** And/or appended to this file (written synchronously, so nothing is lost on a crash). */
  file?: string;
}

/** Structured logs: one JSON object per line, with time, level and message first. */
export function createLogger(options: LoggerOptions): Logger {
  if (options.file) mkdirSync(dirname(options.file), { recursive: true });
  let fileBroken = false;
  return {
    log(level, msg, fields = {}) {
      if (RANK[level] < RANK[options.level]) return;
      const line = `${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`;
      options.stream?.write(line);
      if (options.file && !fileBroken) {
        try {
          appendFileSync(options.file, line);
        } catch (err) {
          fileBroken = true; // say it once, keep running
          options.stream?.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: `cannot write the log file ${options.file}: ${(err as Error).message}` })}\n`);
        }
      }
    },
  };
}
