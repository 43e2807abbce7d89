import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * The control plane's bearer token: read from `path`, or created there on first run (0600, in a
 * 0700 folder). A token file others can read is refused rather than trusted.
 */
export function loadOrCreateToken(path: string): string {
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) throw new UsageError(`the token file ${path} can be read by other users; run: chmod 600 ${path}`);
    const token = readFileSync(path, 'utf8').trim();
    if (token.length < 16) throw new UsageError(`the token file ${path} holds no usable token; delete it and kai run makes a new one`);
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`cannot read the token file ${path} (${(err as Error).message}); check its permissions or set server.tokenFile`);
    }
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
  return token;
}

/** Constant-time comparison, so the token cannot be guessed byte by byte from response times. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
