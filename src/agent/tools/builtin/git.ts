import { z } from 'zod';
import type { AnyTool, ToolResult } from '../types.js';
import type { Workspace } from '../workspace.js';
import { NON_INTERACTIVE_ENV } from './command.js';
import { defineTool, failure, normalizeSubject, plural, success, withWorkspace } from './common.js';
import { runProcess } from './process.js';

interface GitRun {
  ok: boolean;
  code: number | null;
  output: string;
}

/** Runs git (no shell) in the workspace root. */
async function git(ws: Workspace, args: readonly string[], signal: AbortSignal): Promise<GitRun> {
  const result = await runProcess('git', ['-c', 'core.quotepath=off', '-c', 'color.ui=never', ...args], {
    cwd: ws.root,
    signal,
    env: { ...NON_INTERACTIVE_ENV, LC_ALL: 'C' },
  });
  if (result.spawnError) return { ok: false, code: null, output: result.spawnError };
  return { ok: result.code === 0, code: result.code, output: result.output };
}

function gitFailure(what: string, run: GitRun): ToolResult {
  const first = (run.output.trim().split('\n')[0] ?? '').replace(/^(fatal|error): /, '');
  return failure(`git ${what} failed: ${run.output.trim() || `exit code ${run.code}`}`, `Git ${what} failed: ${first}.`);
}

/** Workspace paths for git: checked against the workspace, then made relative to the root. */
async function gitPaths(ws: Workspace, paths: readonly string[], forWrite: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) out.push(ws.relative(await ws.resolve(p, { forWrite })));
  return out;
}

// ---------------------------------------------------------------- git_status

export const gitStatusTool = defineTool({
  name: 'git_status',
  description: 'Show the git branch and the changed, staged and untracked files in the workspace.',
  input: z.object({}),
  risk: 'read',
  describe: () => 'show the git status',
  subject: () => '.',
  execute: (_a, context) =>
    withWorkspace('git_status', context, async (ws) => {
      const run = await git(ws, ['status', '--porcelain=v1', '--branch'], context.signal);
      if (!run.ok) return gitFailure('status', run);
      const lines = run.output.split('\n').filter((l) => l !== '');
      const header = lines[0]?.startsWith('## ') ? (lines.shift() as string).slice(3) : '';
      const branch = branchName(header);
      const files = lines.map((l) => ({ status: l.slice(0, 2), path: l.slice(3) }));
      const on = branch ? ` on ${branch}` : '';
      if (files.length === 0) return success(`## ${header}\nworking tree clean`, `The working tree is clean${on}.`, { branch, files });
      const staged = files.filter((f) => f.status[0] !== ' ' && f.status[0] !== '?').length;
      const untracked = files.filter((f) => f.status === '??').length;
      const parts = [plural(files.length - untracked, 'changed file')];
      if (untracked) parts.push(`${untracked} untracked`);
      if (staged) parts.push(`${staged} staged`);
      return success(`## ${header}\n${lines.join('\n')}`, `${capitalize(parts.join(', '))}${on}.`, { branch, files });
    }),
});

function branchName(header: string): string {
  if (header.startsWith('No commits yet on ')) return header.slice('No commits yet on '.length);
  if (header.startsWith('HEAD (no branch)')) return '';
  return header.split('...')[0]?.split(' ')[0] ?? '';
}

// ---------------------------------------------------------------- git_diff

const diffInput = z.object({
  path: z.string().min(1).optional().describe('Limit the diff to this file or folder'),
  staged: z.boolean().optional().describe('Show staged changes (git diff --staged) instead of unstaged ones'),
});

export const gitDiffTool = defineTool({
  name: 'git_diff',
  description: 'Show the unstaged (or, with staged, the staged) changes in the workspace as a unified diff.',
  input: diffInput,
  risk: 'read',
  describe: (a) => `show the ${a.staged ? 'staged ' : ''}changes${a.path ? ` in ${normalizeSubject(a.path)}` : ''}`,
  subject: (a) => normalizeSubject(a.path ?? '.'),
  execute: (a, context) =>
    withWorkspace('git_diff', context, async (ws) => {
      const scope = a.path ? ['--', ...(await gitPaths(ws, [a.path], false))] : [];
      const staged = a.staged ? ['--staged'] : [];
      const stats = await git(ws, ['diff', ...staged, '--numstat', ...scope], context.signal);
      if (!stats.ok) return gitFailure('diff', stats);
      const diff = await git(ws, ['diff', ...staged, ...scope], context.signal);
      if (!diff.ok) return gitFailure('diff', diff);
      let added = 0;
      let removed = 0;
      let files = 0;
      for (const line of stats.output.split('\n')) {
        const m = /^(\d+|-)\t(\d+|-)\t/.exec(line);
        if (!m) continue;
        files++;
        added += m[1] === '-' ? 0 : Number(m[1]);
        removed += m[2] === '-' ? 0 : Number(m[2]);
      }
      const kind = a.staged ? 'staged ' : '';
      if (files === 0) return success(`no ${kind}changes`, `There are no ${kind}changes.`, { files, added, removed });
      return success(diff.output, `${plural(files, 'file')} changed, ${added} lines added and ${removed} removed.`, { files, added, removed });
    }),
});

// ---------------------------------------------------------------- git_log

export const gitLogTool = defineTool({
  name: 'git_log',
  description: 'Show the most recent commits (short hash, date, author, subject).',
  input: z.object({ n: z.number().int().min(1).max(200).optional().describe('How many commits; default 10') }),
  risk: 'read',
  describe: (a) => `show the last ${a.n ?? 10} commits`,
  subject: () => '.',
  execute: (a, context) =>
    withWorkspace('git_log', context, async (ws) => {
      const run = await git(ws, ['log', `-n${a.n ?? 10}`, '--date=short', '--pretty=format:%h %ad %an: %s'], context.signal);
      if (!run.ok) {
        if (/does not have any commits|bad default revision/.test(run.output)) return success('no commits yet', 'There are no commits yet.', { commits: 0 });
        return gitFailure('log', run);
      }
      const lines = run.output.split('\n').filter((l) => l !== '');
      const latest = lines[0]?.replace(/^\S+ \S+ [^:]*: /, '') ?? '';
      return success(lines.join('\n'), `${plural(lines.length, 'commit')}; the latest is: ${latest}.`, { commits: lines.length });
    }),
});

// ---------------------------------------------------------------- git_commit

const commitInput = z.object({
  message: z.string().trim().min(1).describe('Commit message'),
  paths: z
    .array(z.string().min(1))
    .optional()
    .describe('Files to stage before committing; default: all changes to tracked files (untracked files need paths)'),
});

export const gitCommitTool = defineTool({
  name: 'git_commit',
  description: 'Stage the given paths (default: all tracked changes) and commit them with a message. Refuses when there is nothing to commit.',
  input: commitInput,
  risk: 'write',
  describe: (a) => `commit ${a.paths?.length ? a.paths.map(normalizeSubject).join(', ') : 'the changes'} with the message "${a.message.split('\n')[0] ?? ''}"`,
  subject: (a) => a.message,
  execute: (a, context) =>
    withWorkspace('git_commit', context, async (ws) => {
      const paths = a.paths?.length ? await gitPaths(ws, a.paths, true) : undefined;
      const add = await git(ws, paths ? ['add', '--', ...paths] : ['add', '--update'], context.signal);
      if (!add.ok) return gitFailure('add', add);
      const staged = await git(ws, ['diff', '--cached', '--quiet'], context.signal);
      if (staged.code === 0) return failure('nothing to commit: no staged changes', 'There is nothing to commit.');
      if (staged.code !== 1) return gitFailure('diff', staged);
      const commit = await git(ws, ['commit', '-m', a.message], context.signal);
      if (!commit.ok) return gitFailure('commit', commit);
      const head = await git(ws, ['rev-parse', '--short', 'HEAD'], context.signal);
      const hash = head.output.trim();
      return success(commit.output.trim(), `Committed: ${a.message.split('\n')[0] ?? ''}.`, { hash });
    }),
});

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export const gitTools: readonly AnyTool[] = [gitStatusTool, gitDiffTool, gitLogTool, gitCommitTool];
