import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowAll, builtinTools, ToolRegistry, type ToolCallOutcome } from '../../src/agent/tools/index.js';

let base: string;
let repo: string;
let outside: string;
let registry: ToolRegistry;

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8' });
}

const FAKE_TESTS = `#!/bin/sh
echo " RUN  v3.2.4 $(pwd)"
echo ""
echo " FAIL  tests/api.test.ts > api > health endpoint"
echo " FAIL  tests/api.test.ts > api > login"
echo ""
echo " Test Files  1 failed | 9 passed (10)"
echo "      Tests  2 failed | 142 passed (144)"
echo "   Duration  1.20s"
exit 1
`;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'kai-tools-test-')));
  repo = join(base, 'repo');
  outside = join(base, 'outside');
  await mkdir(join(repo, 'src', 'lib'), { recursive: true });
  await mkdir(join(repo, 'node_modules', 'dep'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'TOP SECRET\n');
  await writeFile(join(repo, 'README.md'), '# Demo\n\nA small demo project.\n');
  await writeFile(join(repo, 'src', 'index.ts'), "import { add } from './lib/math.js';\n\nconsole.log(add(1, 2));\n");
  await writeFile(join(repo, 'src', 'lib', 'math.ts'), 'export function add(a: number, b: number): number {\n  return a + b;\n}\n\nexport const TWICE = 2;\nexport const TWICE_AGAIN = 2;\n');
  await writeFile(join(repo, 'node_modules', 'dep', 'index.ts'), 'export function add() {}\n');
  await writeFile(join(repo, '.gitignore'), 'node_modules/\n');
  await writeFile(join(repo, 'fake-tests.sh'), FAKE_TESTS);
  await chmod(join(repo, 'fake-tests.sh'), 0o755);
  await symlink(outside, join(repo, 'escape'));
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
  git('config', 'user.name', 'Test User');
  git('config', 'user.email', 'test@example.com');
  git('config', 'commit.gpgsign', 'false');
  git('add', 'README.md', 'src', '.gitignore', 'fake-tests.sh');
  git('commit', '-q', '-m', 'Initial commit');

  registry = new ToolRegistry(builtinTools({ testCommand: './fake-tests.sh', clock: { now: () => new Date('2026-11-21T15:42:00Z'), timeZone: 'UTC' } }), {
    timeoutMs: 20_000,
    maxOutputChars: 20_000,
    gate: allowAll(),
    root: repo,
  });
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A zombie (reparented to a PID 1 that does not reap) counts as dead. */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function call(name: string, args: unknown, signal = new AbortController().signal): Promise<ToolCallOutcome> {
  return registry.call(name, args, { signal, confirm: async () => true });
}

describe('built-in tool set', () => {
  it('has every tool with a valid JSON schema', () => {
    const names = registry.list().map((t) => t.name);
    expect(names).toEqual([
      'read_file',
      'list_files',
      'grep',
      'edit_file',
      'write_file',
      'run_command',
      'git_status',
      'git_diff',
      'git_log',
      'git_commit',
      'run_tests',
      'current_time',
    ]);
    for (const spec of registry.specs()) {
      expect(spec.function.parameters).toMatchObject({ type: 'object' });
      expect(spec.function.description.length).toBeGreaterThan(10);
    }
  });

  it('describes each action in plain words and names its subject', () => {
    const byName = new Map(registry.list().map((t) => [t.name, t]));
    expect(byName.get('run_command')?.describe({ command: 'npm install', cwd: 'api' })).toBe('run npm install in the api folder');
    expect(byName.get('run_command')?.subject({ command: 'npm install' })).toBe('npm install');
    expect(byName.get('write_file')?.subject({ path: './src/x.ts', content: '' })).toBe('src/x.ts');
    expect(byName.get('git_commit')?.subject({ message: 'Fix it' })).toBe('Fix it');
    expect(byName.get('run_tests')?.subject({})).toBe('./fake-tests.sh');
  });
});

describe('read_file', () => {
  it('reads a whole file and a line range', async () => {
    const whole = await call('read_file', { path: 'src/lib/math.ts' });
    expect(whole.status).toBe('ok');
    expect(whole.result.output).toContain('return a + b;');
    expect(whole.result.spoken).toBe('Read src/lib/math.ts, 6 lines.');
    const range = await call('read_file', { path: 'src/lib/math.ts', startLine: 2, endLine: 3 });
    expect(range.result.output).toBe('[src/lib/math.ts: lines 2-3 of 6]\n  return a + b;\n}');
  });

  it('reports missing files as errors and escapes as refusals', async () => {
    const missing = await call('read_file', { path: 'nope.ts' });
    expect(missing.status).toBe('error');
    expect(missing.result.output).toMatch(/no such file or folder in the workspace: nope.ts/);
    for (const path of ['../outside/secret.txt', 'escape/secret.txt', `${outside}/secret.txt`, '%2e%2e/outside/secret.txt']) {
      const escaped = await call('read_file', { path });
      expect(escaped.status).toBe('denied');
      expect(escaped.result.output).toMatch(/refused path/);
      expect(escaped.result.output).not.toContain('TOP SECRET');
    }
  });
});

describe('list_files', () => {
  it('lists matching files and skips node_modules and .git', async () => {
    const all = await call('list_files', {});
    const files = (all.result.data as { files: string[] }).files;
    expect(files).toContain('src/lib/math.ts');
    expect(files).toContain('README.md');
    expect(files.some((f) => f.startsWith('node_modules/') || f.startsWith('.git/'))).toBe(false);
    // The symlinked folder leading out is not followed.
    expect(files.some((f) => f.startsWith('escape/'))).toBe(false);
    const ts = await call('list_files', { pattern: '*.ts' });
    expect(ts.result.output).toBe('src/index.ts\nsrc/lib/math.ts');
    expect(ts.result.spoken).toBe('Found 2 files.');
    const inLib = await call('list_files', { pattern: '**/*.{ts,md}', path: 'src/lib' });
    expect(inLib.result.output).toBe('src/lib/math.ts');
    const withIgnored = await call('list_files', { pattern: 'node_modules/**', includeIgnored: true });
    expect(withIgnored.result.output).toBe('node_modules/dep/index.ts');
  });
});

describe('grep', () => {
  it('finds matching lines with path and line number', async () => {
    const found = await call('grep', { pattern: 'function add' });
    expect(found.status).toBe('ok');
    expect(found.result.output).toBe('src/lib/math.ts:1:export function add(a: number, b: number): number {');
    const glob = await call('grep', { pattern: 'twice', ignoreCase: true, glob: '*.ts', maxResults: 1 });
    expect(glob.result.output).toMatch(/^src\/lib\/math.ts:5:export const TWICE = 2;\n\[stopped at 1 matches/);
    const none = await call('grep', { pattern: 'zebra' });
    expect(none.result.output).toBe('no matches for zebra');
  });

  it('refuses folders outside the workspace', async () => {
    const out = await call('grep', { pattern: 'SECRET', path: 'escape' });
    expect(out.status).toBe('denied');
    expect(out.result.output).not.toContain('TOP SECRET');
  });
});

describe('edit_file and write_file', () => {
  it('replaces exactly one occurrence', async () => {
    const ok = await call('edit_file', { path: 'src/lib/math.ts', oldString: 'return a + b;', newString: 'return b + a;' });
    expect(ok.status).toBe('ok');
    expect(ok.result.output).toBe('edited src/lib/math.ts at line 2');
    expect(await readFile(join(repo, 'src/lib/math.ts'), 'utf8')).toContain('return b + a;');
  });

  it('refuses 0 or several matches', async () => {
    const none = await call('edit_file', { path: 'src/lib/math.ts', oldString: 'nothing like this', newString: 'x' });
    expect(none.status).toBe('error');
    expect(none.result.output).toMatch(/0 matches/);
    const many = await call('edit_file', { path: 'src/lib/math.ts', oldString: '= 2;', newString: '= 3;' });
    expect(many.status).toBe('error');
    expect(many.result.output).toMatch(/2 matches/);
  });

  it('writes new files atomically, creating folders', async () => {
    const created = await call('write_file', { path: 'src/new/deep/file.ts', content: 'export {};\n' });
    expect(created.status).toBe('ok');
    expect(created.result.spoken).toBe('Created src/new/deep/file.ts.');
    expect(await readFile(join(repo, 'src/new/deep/file.ts'), 'utf8')).toBe('export {};\n');
    const again = await call('write_file', { path: 'src/new/deep/file.ts', content: 'export const x = 1;\n' });
    expect(again.result.spoken).toBe('Updated src/new/deep/file.ts.');
  });

  it('refuses writes into .git and through symlinks that lead out', async () => {
    for (const path of ['.git/config', 'escape/new.txt', '../outside/new.txt', '/tmp/kai-x.txt']) {
      const out = await call('write_file', { path, content: 'x' });
      expect(out.status, path).toBe('denied');
      expect(out.result.output).toMatch(/refused path/);
    }
    await expect(readFile(join(outside, 'new.txt'))).rejects.toThrow();
    const edit = await call('edit_file', { path: '.git/config', oldString: '[core]', newString: '[x]' });
    expect(edit.status).toBe('denied');
  });
});

describe('run_command', () => {
  it('runs in the workspace and reports output and exit code', async () => {
    const ok = await call('run_command', { command: 'echo out; echo err >&2; pwd' });
    expect(ok.status).toBe('ok');
    expect(ok.result.output).toBe(`$ echo out; echo err >&2; pwd\nout\nerr\n${repo}\n[exit code 0]`);
    const inSub = await call('run_command', { command: 'pwd', cwd: 'src' });
    expect(inSub.result.output).toContain(join(repo, 'src'));
    const failing = await call('run_command', { command: 'exit 3' });
    expect(failing.status).toBe('error');
    expect(failing.result.output).toMatch(/\[exit code 3\]$/);
    expect(failing.result.spoken).toBe('Running exit 3 failed with exit code 3.');
    const badCwd = await call('run_command', { command: 'pwd', cwd: '../outside' });
    expect(badCwd.status).toBe('denied');
  });

  it('kills the whole process group on timeout', async () => {
    const short = new ToolRegistry(builtinTools({ testCommand: 'true' }), { timeoutMs: 400, maxOutputChars: 5000, gate: allowAll(), root: repo });
    const pidFile = join(base, 'child.pid');
    const started = Date.now();
    const out = await short.call('run_command', { command: `echo started; sleep 30 & echo $! > ${pidFile}; wait` }, {
      signal: new AbortController().signal,
      confirm: async () => true,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(out.status).toBe('timeout');
    expect(out.result.output).toMatch(/timed out after 0.4 s/);
    expect(out.result.output).toContain('started');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(pid)).toBe(false);
  });

  it('stops when the caller aborts (barge-in)', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const out = await call('run_command', { command: 'sleep 30' }, controller.signal);
    expect(out.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('git tools', () => {
  it('git_status shows changed and untracked files', async () => {
    const status = await call('git_status', {});
    expect(status.status).toBe('ok');
    expect(status.result.output).toMatch(/^## main/);
    expect(status.result.output).toContain(' M src/lib/math.ts');
    expect(status.result.output).toContain('?? src/new/');
    expect(status.result.spoken).toMatch(/^1 changed file, \d+ untracked on main\.$/);
  });

  it('git_diff shows unstaged, path-limited and staged changes', async () => {
    const diff = await call('git_diff', {});
    expect(diff.result.output).toContain('-  return a + b;\n+  return b + a;');
    expect(diff.result.spoken).toBe('1 file changed, 1 lines added and 1 removed.');
    const limited = await call('git_diff', { path: 'README.md' });
    expect(limited.result.output).toBe('no changes');
    const staged = await call('git_diff', { staged: true });
    expect(staged.result.spoken).toBe('There are no staged changes.');
    const outsidePath = await call('git_diff', { path: '../outside' });
    expect(outsidePath.status).toBe('denied');
  });

  it('git_log lists commits', async () => {
    const log = await call('git_log', { n: 5 });
    expect(log.result.output).toMatch(/^[0-9a-f]{7,} \d{4}-\d{2}-\d{2} Test User: Initial commit$/);
    expect(log.result.spoken).toBe('1 commit; the latest is: Initial commit.');
  });

  it('git_commit commits given paths, then tracked changes, and refuses when nothing is left', async () => {
    const paths = await call('git_commit', { message: 'Add new file', paths: ['src/new/deep/file.ts'] });
    expect(paths.status).toBe('ok');
    expect(paths.result.spoken).toBe('Committed: Add new file.');
    expect(git('show', '--name-only', '--pretty=format:%s', 'HEAD').trim()).toBe('Add new file\nsrc/new/deep/file.ts');
    const tracked = await call('git_commit', { message: 'Swap operands' });
    expect(tracked.status).toBe('ok');
    expect(git('show', '--name-only', '--pretty=format:%s', 'HEAD').trim()).toBe('Swap operands\nsrc/lib/math.ts');
    const nothing = await call('git_commit', { message: 'Empty' });
    expect(nothing.status).toBe('error');
    expect(nothing.result.output).toBe('nothing to commit: no staged changes');
    const log = await call('git_log', {});
    expect((log.result.data as { commits: number }).commits).toBe(3);
    const refused = await call('git_commit', { message: 'Sneaky', paths: ['../outside/secret.txt'] });
    expect(refused.status).toBe('denied');
  });
});

describe('run_tests', () => {
  it('runs the configured command and speaks the counts and failing names', async () => {
    const out = await call('run_tests', {});
    expect(out.status).toBe('error');
    expect(out.result.spoken).toBe('142 passed, 2 failed: api > health endpoint, api > login.');
    expect(out.result.output).toMatch(/^\[vitest: 142 passed, 2 failed; exit code 1\]\nfailing: api > health endpoint; api > login\n\$ \.\/fake-tests\.sh\n/);
    expect(out.result.data).toMatchObject({ counts: { passed: 142, failed: 2, skipped: 0, framework: 'vitest' }, exitCode: 1 });
  });

  it('falls back to the exit code when the output is unknown', async () => {
    const r = new ToolRegistry(builtinTools({ testCommand: 'echo all good' }), { timeoutMs: 5000, maxOutputChars: 5000, gate: allowAll(), root: repo });
    const out = await r.call('run_tests', {}, { signal: new AbortController().signal, confirm: async () => true });
    expect(out.status).toBe('ok');
    expect(out.result.spoken).toBe('The tests passed.');
  });
});

describe('current_time', () => {
  it('tells the date and time', async () => {
    const out = await call('current_time', {});
    expect(out.status).toBe('ok');
    expect(out.result.spoken).toBe("It's 3:42 PM on Saturday, November 21.");
    expect(out.result.output).toContain('2026-11-21T15:42:00.000Z');
    expect(out.result.output).toContain('UTC');
  });
});
