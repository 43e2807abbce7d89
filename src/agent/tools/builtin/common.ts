import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { describeError } from '../../../errors.js';
import type { Tool, ToolContext, ToolResult } from '../types.js';
import { OutsideWorkspaceError, Workspace } from '../workspace.js';

/** Declares a tool with its input type inferred from the schema. */
export function defineTool<I extends z.ZodType>(tool: Tool<I>): Tool<I> {
  return tool;
}

export function success(output: string, spoken: string, data?: unknown): ToolResult {
  return data === undefined ? { ok: true, output, spoken } : { ok: true, output, spoken, data };
}

export function failure(output: string, spoken: string, data?: unknown): ToolResult {
  return data === undefined ? { ok: false, output, spoken } : { ok: false, output, spoken, data };
}

/** Runs `fn` with the workspace; a refused path or any fs error becomes an error result. */
export async function withWorkspace(
  toolName: string,
  context: ToolContext,
  fn: (workspace: Workspace) => Promise<ToolResult>,
): Promise<ToolResult> {
  try {
    return await fn(await Workspace.open(context.root));
  } catch (err) {
    if (context.signal.aborted) throw err;
    const message = describeError(err);
    const result = failure(`${toolName} failed: ${message}`, `I couldn't do that: ${message}.`);
    return err instanceof OutsideWorkspaceError ? { ...result, refused: true } : result;
  }
}

/** A workspace-relative path as permission patterns and spoken questions see it. */
export function normalizeSubject(p: string): string {
  const normal = path.posix.normalize(p.replace(/^\.\/+/, ''));
  return normal === '' ? '.' : normal;
}

/** Folders skipped by list_files and grep unless asked for. */
export const IGNORED_DIRS = new Set(['node_modules', '.git']);

export interface WalkEntry {
  /** Absolute path. */
  absolute: string;
  /** Relative to the walk's base, `/`-separated. */
  relative: string;
  isDirectory: boolean;
}

/**
 * Walks a folder depth-first in name order without following symlinks (so nothing outside the
 * workspace is reached). Stops after `limit` entries or when the signal fires.
 */
export async function* walk(
  base: string,
  options: { signal: AbortSignal; includeIgnored?: boolean; limit?: number },
): AsyncGenerator<WalkEntry> {
  let count = 0;
  const limit = options.limit ?? 100_000;
  const stack: string[] = [''];
  while (stack.length > 0) {
    if (options.signal.aborted) return;
    const rel = stack.pop() as string;
    let entries;
    try {
      entries = await readdir(path.join(base, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const dirs: string[] = [];
    for (const entry of entries) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const isDirectory = entry.isDirectory();
      if (isDirectory && !options.includeIgnored && IGNORED_DIRS.has(entry.name)) continue;
      yield { absolute: path.join(base, childRel), relative: childRel, isDirectory };
      if (++count >= limit) return;
      if (isDirectory) dirs.push(childRel);
    }
    for (const dir of dirs.reverse()) stack.push(dir);
  }
}

/**
 * Turns a glob into a RegExp over `/`-separated relative paths: `*` (not `/`), `**` (any depth),
 * `?`, `[abc]`, `{a,b}`. A pattern without `/` matches the file name at any depth (like .gitignore).
 */
export function globToRegExp(glob: string): RegExp {
  const pattern = glob.includes('/') ? glob.replace(/^\.\//, '') : `**/${glob}`;
  let re = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const slash = pattern[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) {
        re += '\\[';
      } else {
        const body = pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) {
      re += '|';
    } else {
      re += c.replace(/[.+^$()|\\]/g, '\\$&');
    }
  }
  while (braces-- > 0) re += ')';
  return new RegExp(`^${re}$`);
}

/** "1 file", "3 files". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
