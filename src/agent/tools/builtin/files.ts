import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { AnyTool } from '../types.js';
import type { Workspace } from '../workspace.js';
import { WorkspacePathError } from '../workspace.js';
import { defineTool, failure, globToRegExp, normalizeSubject, plural, success, walk, withWorkspace } from './common.js';
import { findRipgrep, runProcess } from './process.js';

/** Files larger than this are not read whole. */
const MAX_READ_BYTES = 10 * 1024 * 1024;
/** grep skips files larger than this. */
const MAX_GREP_BYTES = 2 * 1024 * 1024;
const MAX_LIST = 2000;

const pathField = z.string().min(1).describe('Path relative to the workspace root, e.g. "src/index.ts"');

// ---------------------------------------------------------------- read_file

const readInput = z.object({
  path: pathField,
  startLine: z.number().int().min(1).optional().describe('First line to return (1-based)'),
  endLine: z.number().int().min(1).optional().describe('Last line to return (inclusive)'),
});

export const readFileTool = defineTool({
  name: 'read_file',
  description:
    'Read a text file in the workspace. Optionally only lines startLine..endLine (1-based, inclusive); use that for large files.',
  input: readInput,
  risk: 'read',
  describe: (a) => `read ${normalizeSubject(a.path)}`,
  subject: (a) => normalizeSubject(a.path),
  execute: (a, context) =>
    withWorkspace('read_file', context, async (ws) => {
      const file = await ws.resolve(a.path, { mustExist: true });
      const info = await stat(file);
      const rel = ws.relative(file);
      if (info.isDirectory()) return failure(`${rel} is a folder; use list_files`, `${rel} is a folder.`);
      if (info.size > MAX_READ_BYTES) {
        return failure(`${rel} is ${info.size} bytes, too large to read (limit ${MAX_READ_BYTES})`, `${rel} is too large to read.`);
      }
      const bytes = await readFile(file, { signal: context.signal });
      if (isBinary(bytes)) return failure(`${rel} looks like a binary file (${info.size} bytes)`, `${rel} is a binary file.`);
      const text = bytes.toString('utf8');
      const lines = text.split('\n');
      if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
      const total = lines.length;
      if (a.startLine === undefined && a.endLine === undefined) {
        return success(text, `Read ${rel}, ${plural(total, 'line')}.`, { path: rel, lines: total });
      }
      const start = a.startLine ?? 1;
      const end = Math.min(a.endLine ?? total, total);
      if (start > total) return failure(`${rel} has only ${plural(total, 'line')}`, `${rel} has only ${plural(total, 'line')}.`);
      if (end < start) return failure(`endLine ${end} is before startLine ${start}`, 'The line range is empty.');
      const body = lines.slice(start - 1, end).join('\n');
      return success(`[${rel}: lines ${start}-${end} of ${total}]\n${body}`, `Read lines ${start} to ${end} of ${rel}.`, {
        path: rel,
        lines: total,
        start,
        end,
      });
    }),
});

// ---------------------------------------------------------------- list_files

const listInput = z.object({
  pattern: z
    .string()
    .min(1)
    .optional()
    .describe('Glob, e.g. "**/*.ts" or "*.md" (a pattern without / matches file names at any depth); default all files'),
  path: z.string().min(1).optional().describe('Folder to list, relative to the workspace root; default the root'),
  includeIgnored: z.boolean().optional().describe('Also look inside node_modules and .git'),
});

export const listFilesTool = defineTool({
  name: 'list_files',
  description:
    'List files in the workspace matching a glob (*, **, ?, [abc], {a,b}). node_modules and .git are skipped unless includeIgnored.',
  input: listInput,
  risk: 'read',
  describe: (a) => `list ${a.pattern ? `files matching ${a.pattern}` : 'the files'}${a.path ? ` in ${normalizeSubject(a.path)}` : ''}`,
  subject: (a) => normalizeSubject(a.path ?? '.'),
  execute: (a, context) =>
    withWorkspace('list_files', context, async (ws) => {
      const base = await ws.resolve(a.path ?? '.', { mustExist: true });
      if (!(await stat(base)).isDirectory()) throw new WorkspacePathError(`${ws.relative(base)} is not a folder`);
      const matcher = globToRegExp(a.pattern ?? '**');
      const found: string[] = [];
      let more = false;
      for await (const entry of walk(base, { signal: context.signal, includeIgnored: a.includeIgnored ?? false })) {
        if (entry.isDirectory || !matcher.test(entry.relative)) continue;
        if (found.length >= MAX_LIST) {
          more = true;
          break;
        }
        found.push(ws.relative(entry.absolute));
      }
      found.sort();
      const where = a.path ? ` in ${ws.relative(base)}` : '';
      if (found.length === 0) return success(`no files match${a.pattern ? ` ${a.pattern}` : ''}${where}`, `No files found${where}.`, { files: [] });
      const note = more ? `\n[stopped at ${MAX_LIST} files; narrow the pattern]` : '';
      return success(found.join('\n') + note, `Found ${more ? 'more than ' : ''}${plural(found.length, 'file')}${where}.`, {
        files: found,
        truncated: more,
      });
    }),
});

// ---------------------------------------------------------------- grep

const grepInput = z.object({
  pattern: z.string().min(1).describe('Regular expression to search for'),
  path: z.string().min(1).optional().describe('File or folder to search, relative to the workspace root; default the root'),
  glob: z.string().min(1).optional().describe('Only files matching this glob, e.g. "*.ts"'),
  ignoreCase: z.boolean().optional(),
  maxResults: z.number().int().min(1).max(1000).optional().describe('Most matching lines to return; default 100'),
});

interface GrepMatch {
  path: string;
  line: number;
  text: string;
}

export const grepTool = defineTool({
  name: 'grep',
  description:
    'Search file contents in the workspace with a regular expression; returns path:line:text for each matching line. Uses ripgrep when installed.',
  input: grepInput,
  risk: 'read',
  describe: (a) => `search for ${a.pattern}${a.path ? ` in ${normalizeSubject(a.path)}` : ''}`,
  subject: (a) => normalizeSubject(a.path ?? '.'),
  execute: (a, context) =>
    withWorkspace('grep', context, async (ws) => {
      const target = await ws.resolve(a.path ?? '.', { mustExist: true });
      const max = a.maxResults ?? 100;
      const rg = await findRipgrep();
      const found = rg
        ? await grepWithRipgrep(rg, ws, target, a, max + 1, context.signal)
        : await grepBuiltin(ws, target, a, max + 1, context.signal);
      if (typeof found === 'string') return failure(`grep failed: ${found}`, `The search failed: ${found}.`);
      const more = found.length > max;
      const matches = found.slice(0, max);
      if (matches.length === 0) return success(`no matches for ${a.pattern}`, `No matches for ${a.pattern}.`, { matches: [] });
      const files = new Set(matches.map((m) => m.path)).size;
      const lines = matches.map((m) => `${m.path}:${m.line}:${clip(m.text, 300)}`);
      const note = more ? `\n[stopped at ${max} matches; narrow the search]` : '';
      return success(lines.join('\n') + note, `Found ${more ? 'more than ' : ''}${plural(matches.length, 'match', 'matches')} in ${plural(files, 'file')}.`, {
        matches,
        truncated: more,
        engine: rg ? 'ripgrep' : 'builtin',
      });
    }),
});

async function grepWithRipgrep(
  rg: string,
  ws: Workspace,
  target: string,
  a: z.output<typeof grepInput>,
  limit: number,
  signal: AbortSignal,
): Promise<GrepMatch[] | string> {
  const args = ['--line-number', '--no-heading', '--with-filename', '--color=never', '--no-messages', '--max-columns=1000'];
  if (a.ignoreCase) args.push('--ignore-case');
  if (a.glob) args.push('--glob', a.glob);
  args.push('--regexp', a.pattern, '--', path.relative(ws.root, target) || '.');
  const result = await runProcess(rg, args, { cwd: ws.root, signal, maxChars: 2_000_000 });
  if (result.spawnError) return result.spawnError;
  if (result.code === 2) return firstLine(result.output) || 'ripgrep failed';
  const matches: GrepMatch[] = [];
  for (const line of result.output.split('\n')) {
    const m = /^(.*?):(\d+):(.*)$/.exec(line);
    if (!m) continue;
    matches.push({ path: normalizeSubject(m[1] as string), line: Number(m[2]), text: m[3] as string });
    if (matches.length >= limit) break;
  }
  return matches;
}

async function grepBuiltin(
  ws: Workspace,
  target: string,
  a: z.output<typeof grepInput>,
  limit: number,
  signal: AbortSignal,
): Promise<GrepMatch[] | string> {
  let regex: RegExp;
  try {
    regex = new RegExp(a.pattern, a.ignoreCase ? 'i' : '');
  } catch (err) {
    return `bad regular expression: ${(err as Error).message}`;
  }
  const fileMatcher = a.glob ? globToRegExp(a.glob) : undefined;
  const matches: GrepMatch[] = [];
  const searchFile = async (absolute: string): Promise<void> => {
    const info = await stat(absolute).catch(() => undefined);
    if (!info?.isFile() || info.size > MAX_GREP_BYTES) return;
    const bytes = await readFile(absolute).catch(() => undefined);
    if (!bytes || isBinary(bytes)) return;
    const rel = ws.relative(absolute);
    const lines = bytes.toString('utf8').split('\n');
    for (let i = 0; i < lines.length && matches.length < limit; i++) {
      const text = lines[i] as string;
      if (regex.test(text)) matches.push({ path: rel, line: i + 1, text: text.replace(/\r$/, '') });
    }
  };
  const info = await stat(target);
  if (!info.isDirectory()) {
    await searchFile(target);
    return matches;
  }
  for await (const entry of walk(target, { signal })) {
    if (entry.isDirectory || (fileMatcher && !fileMatcher.test(entry.relative))) continue;
    await searchFile(entry.absolute);
    if (matches.length >= limit) break;
  }
  return matches;
}

// ---------------------------------------------------------------- edit_file

const editInput = z.object({
  path: pathField,
  oldString: z.string().min(1).describe('Exact text to replace; must occur exactly once in the file (include surrounding lines to make it unique)'),
  newString: z.string().describe('Replacement text'),
});

export const editFileTool = defineTool({
  name: 'edit_file',
  description: 'Replace one exact, unique occurrence of oldString with newString in a workspace file.',
  input: editInput,
  risk: 'write',
  describe: (a) => `edit ${normalizeSubject(a.path)}`,
  subject: (a) => normalizeSubject(a.path),
  execute: (a, context) =>
    withWorkspace('edit_file', context, async (ws) => {
      const file = await ws.resolve(a.path, { mustExist: true, forWrite: true });
      const rel = ws.relative(file);
      const text = await readFile(file, { encoding: 'utf8', signal: context.signal });
      const count = text.split(a.oldString).length - 1;
      if (count === 0) {
        return failure(`edit_file: oldString was not found in ${rel} (0 matches); read the file and copy the text exactly`, `I couldn't find that text in ${rel}.`, { matches: 0 });
      }
      if (count > 1) {
        return failure(`edit_file: oldString occurs ${count} times in ${rel} (${count} matches); include more surrounding text so it is unique`, `That text appears ${count} times in ${rel}.`, { matches: count });
      }
      if (a.oldString === a.newString) return failure('edit_file: oldString and newString are the same', 'That edit changes nothing.');
      const index = text.indexOf(a.oldString);
      const updated = text.slice(0, index) + a.newString + text.slice(index + a.oldString.length);
      await atomicWrite(file, updated);
      const line = text.slice(0, index).split('\n').length;
      return success(`edited ${rel} at line ${line}`, `Edited ${rel}.`, { path: rel, line });
    }),
});

// ---------------------------------------------------------------- write_file

const writeInput = z.object({
  path: pathField,
  content: z.string().describe('The complete new content of the file'),
});

export const writeFileTool = defineTool({
  name: 'write_file',
  description: 'Create or overwrite a workspace file with the given content (folders are created as needed).',
  input: writeInput,
  risk: 'write',
  describe: (a) => `write ${normalizeSubject(a.path)}`,
  subject: (a) => normalizeSubject(a.path),
  execute: (a, context) =>
    withWorkspace('write_file', context, async (ws) => {
      const file = await ws.resolve(a.path, { forWrite: true });
      const rel = ws.relative(file);
      const existing = await stat(file).catch(() => undefined);
      if (existing?.isDirectory()) return failure(`${rel} is a folder`, `${rel} is a folder.`);
      await mkdir(path.dirname(file), { recursive: true });
      // mkdir may have created folders: check once more that nothing leads out.
      const again = await ws.resolve(a.path, { forWrite: true });
      await atomicWrite(again, a.content);
      const lines = a.content === '' ? 0 : a.content.split('\n').length - (a.content.endsWith('\n') ? 1 : 0);
      return success(`${existing ? 'overwrote' : 'created'} ${rel} (${a.content.length} characters, ${plural(lines, 'line')})`, `${existing ? 'Updated' : 'Created'} ${rel}.`, {
        path: rel,
        created: !existing,
      });
    }),
});

/** Writes through a temporary file in the same folder and renames it over the target. */
export async function atomicWrite(file: string, content: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const mode = (await stat(file).catch(() => undefined))?.mode;
  try {
    await writeFile(temp, content, { flag: 'wx' });
    if (mode !== undefined) await chmod(temp, mode & 0o7777);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

function isBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8000).includes(0);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

export const fileTools: readonly AnyTool[] = [readFileTool, listFilesTool, grepTool, editFileTool, writeFileTool];
