import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noStackTrace, runKai, type KaiResult } from '../helpers/cli.js';
import { readJsonLines } from '../helpers/simulation.js';

/** `kai tools list|call` from the shell, on a temporary git repository, through the permission gate. */

let base: string;
let repo: string;
let outside: string;
let stateHome: string;
let config: string;
let auditPath: string;

const TOOLS = [
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
  'delegate_coding_task',
  'job_status',
  'cancel_job',
];

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8' });
}

/** A config file putting the workspace and the audit log where the test wants them. */
function writeConfig(name: string, audit: string): string {
  const path = join(base, `${name}.yaml`);
  writeFileSync(path, `agent:\n  workspace: ${JSON.stringify(repo)}\n  auditLog: ${JSON.stringify(audit)}\n  mode: ask\n`);
  return path;
}

function kai(args: string[], cfg = config): Promise<KaiResult> {
  return runKai([...args, '--config', cfg], {
    env: { XDG_STATE_HOME: stateHome, XDG_CONFIG_HOME: join(base, 'no-config') },
    cwd: base,
    timeoutMs: 30_000,
  });
}

const call = (name: string, args: unknown, ...flags: string[]) => kai(['tools', 'call', name, '--args', JSON.stringify(args), ...flags]);

/** The one line a refusal prints on stderr. */
function refusal(result: KaiResult): string {
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(noStackTrace(result.stderr)).toBe(true);
  return lines[0]!;
}

beforeAll(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'kai-tools-cli-')));
  repo = join(base, 'repo');
  outside = join(base, 'outside');
  stateHome = join(base, 'state');
  mkdirSync(join(repo, 'src'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'TOP SECRET\n');
  writeFileSync(join(repo, 'README.md'), '# Demo\n\nA small demo project.\n');
  writeFileSync(join(repo, 'src', 'math.js'), 'export const add = (a, b) => a + b;\n');
  symlinkSync(outside, join(repo, 'escape'));
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
  git('config', 'user.name', 'Test User');
  git('config', 'user.email', 'test@example.com');
  git('config', 'commit.gpgsign', 'false');
  git('add', 'README.md', 'src');
  git('commit', '-q', '-m', 'Initial commit');
  auditPath = join(base, 'audit', 'main.jsonl');
  config = writeConfig('kai', auditPath);
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('kai tools list', () => {
  it('lists every tool with its risk, and one JSON object per line with --json', async () => {
    const [text, json] = await Promise.all([kai(['tools', 'list']), kai(['tools', 'list', '--json'])]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toBe('');
    const rows = text.stdout.trim().split('\n').map((line) => line.split(/\s+/));
    expect(rows.map((r) => r[0])).toEqual(TOOLS);
    for (const row of rows) expect(['read', 'write', 'exec']).toContain(row[1]);
    expect(Object.fromEntries(rows.map((r) => [r[0], r[1]]))).toMatchObject({
      read_file: 'read',
      write_file: 'write',
      edit_file: 'write',
      run_command: 'exec',
      git_status: 'read',
      git_commit: 'write',
      run_tests: 'exec',
    });

    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout.trim().split('\n');
    expect(lines).toHaveLength(TOOLS.length);
    const tools = lines.map((l) => JSON.parse(l) as { name: string; risk: string; description: string });
    expect(tools.map((t) => t.name)).toEqual(TOOLS);
    for (const t of tools) {
      expect(Object.keys(t).sort()).toEqual(['description', 'name', 'risk']);
      expect(t.description.length).toBeGreaterThan(10);
      expect(rows.find((r) => r[0] === t.name)![1]).toBe(t.risk);
    }
  });
});

describe('kai tools call', () => {
  it('reads a file (exit 0), and prints the whole result with --json', async () => {
    const [plain, json] = await Promise.all([call('read_file', { path: 'README.md' }), call('read_file', { path: 'README.md' }, '--json')]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('A small demo project.');
    expect(plain.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ status: 'ok', ok: true, output: expect.stringContaining('A small demo project.') });
  });

  it('refuses write_file in ask mode without --yes (exit 2, reason on stderr, nothing written)', async () => {
    const result = await call('write_file', { path: 'notes.txt', content: 'hello\n' });
    expect(result.code).toBe(2);
    expect(refusal(result)).toMatch(/^kai tools: denied: write_file was not run: the user said no to "Write notes\.txt\?"$/);
    expect(existsSync(join(repo, 'notes.txt'))).toBe(false);
  });

  it('writes with --yes in ask mode (exit 0)', async () => {
    const result = await call('write_file', { path: 'notes.txt', content: 'hello\n' }, '--yes');
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe('hello\n');
    rmSync(join(repo, 'notes.txt'));
  });

  it('refuses write_file in read-only mode even with --yes (exit 2)', async () => {
    const result = await call('write_file', { path: 'ro.txt', content: 'x' }, '--mode', 'read-only', '--yes');
    expect(result.code).toBe(2);
    expect(refusal(result)).toMatch(/denied: .*read-only mode does not let the assistant change files/i);
    expect(existsSync(join(repo, 'ro.txt'))).toBe(false);
  });

  it('writes in auto-edit mode without --yes (exit 0)', async () => {
    const result = await call('write_file', { path: 'auto.txt', content: 'auto\n' }, '--mode', 'auto-edit');
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(repo, 'auto.txt'), 'utf8')).toBe('auto\n');
    rmSync(join(repo, 'auto.txt'));
  });

  it('denies run_command rm -rf / even in full mode, with the reason (exit 2)', async () => {
    const result = await call('run_command', { command: 'rm -rf /' }, '--mode', 'full', '--yes');
    expect(result.code).toBe(2);
    expect(refusal(result)).toMatch(/^kai tools: denied: run_command was not run: It deletes \/, which is outside the workspace\.$/);
    expect(result.stdout).toBe('');
  });

  it('runs git status in ask mode without asking (exit 0)', async () => {
    const result = await call('run_command', { command: 'git status' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/On branch main/);
    expect(result.stdout).toMatch(/\[exit code 0\]/);
  });

  it('asks before npm install, so without --yes it is refused (exit 2)', async () => {
    const result = await call('run_command', { command: 'npm install' });
    expect(result.code).toBe(2);
    expect(refusal(result)).toMatch(/the user said no to "Run npm install\?"/);
    expect(existsSync(join(repo, 'node_modules'))).toBe(false);
    expect(existsSync(join(repo, 'package-lock.json'))).toBe(false);
  });

  it('rejects invalid arguments in one line naming the problem (exit 2)', async () => {
    const [missing, wrongType, notJson] = await Promise.all([
      call('read_file', { pth: 'README.md' }),
      call('read_file', { path: 42 }),
      kai(['tools', 'call', 'read_file', '--args', '{path:']),
    ]);
    for (const r of [missing, wrongType, notJson]) {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(refusal(missing)).toMatch(/^kai tools: invalid: invalid arguments for read_file: path: .*expected string/);
    expect(refusal(wrongType)).toMatch(/invalid arguments for read_file: path: .*expected string, received number/);
    expect(refusal(notJson)).toMatch(/--args is not valid JSON/);
  });

  it('rejects an unknown tool and lists the known ones (exit 2)', async () => {
    const result = await call('delete_everything', {});
    expect(result.code).toBe(2);
    const line = refusal(result);
    expect(line).toMatch(/^kai tools: unknown: unknown tool "delete_everything"; the tools are: /);
    for (const name of TOOLS) expect(line).toContain(name);
  });

  it('exits 1 when the tool itself fails (edit_file with text that is not there)', async () => {
    const before = readFileSync(join(repo, 'src', 'math.js'), 'utf8');
    const result = await call('edit_file', { path: 'src/math.js', oldString: 'not in the file', newString: 'x' }, '--mode', 'auto-edit');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/oldString was not found in src\/math\.js \(0 matches\)/);
    expect(result.stderr).toBe('');
    expect(readFileSync(join(repo, 'src', 'math.js'), 'utf8')).toBe(before);
  });

  it('refuses escapes from the workspace (.., absolute, symlink) and never prints what is outside', async () => {
    const attempts = await Promise.all([
      call('read_file', { path: '../outside/secret.txt' }),
      call('read_file', { path: '/etc/passwd' }),
      call('read_file', { path: `${outside}/secret.txt` }),
      call('read_file', { path: 'escape/secret.txt' }),
      call('read_file', { path: '%2e%2e/outside/secret.txt' }),
      call('write_file', { path: '../outside/planted.txt', content: 'x' }, '--yes'),
      call('write_file', { path: 'escape/planted.txt', content: 'x' }, '--mode', 'full'),
    ]);
    for (const r of attempts) {
      // the gate lets a read (or an approved write) through; the workspace refuses the path: refused, exit 2
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^kai tools: denied: .*refused path/);
      expect(r.stderr).not.toContain('TOP SECRET');
      expect(r.stdout).not.toMatch(/root:.*:0:0:/);
      expect(noStackTrace(r.stdout + r.stderr)).toBe(true);
    }
    expect(attempts[0]!.stderr).toMatch(/goes above the workspace root/);
    expect(attempts[1]!.stderr).toMatch(/absolute path outside the workspace/);
    expect(attempts[3]!.stderr).toMatch(/symlink that leads outside the workspace/);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    // through the shell, reading outside is not free either: in ask mode it asks, and without --yes it is refused
    const cat = await call('run_command', { command: 'cat /etc/passwd' });
    expect(cat.code).toBe(2);
    expect(cat.stdout).toBe('');
  });

  it('rejects a bad --mode in one line (exit 2)', async () => {
    const result = await call('read_file', { path: 'README.md' }, '--mode', 'yolo');
    expect(result.code).toBe(2);
    expect(refusal(result)).toMatch(/--mode must be one of read-only, ask, auto-edit, full/);
  });

  it('writes one audit line per decision, with decision, approved and via', async () => {
    const audit = join(base, 'audit', 'decisions.jsonl');
    const cfg = writeConfig('audit', audit);
    const seq = async (name: string, args: unknown, ...flags: string[]) =>
      kai(['tools', 'call', name, '--args', JSON.stringify(args), ...flags], cfg);
    const codes = [
      (await seq('read_file', { path: 'README.md' })).code,
      (await seq('write_file', { path: 'audited.txt', content: 'a' })).code,
      (await seq('write_file', { path: 'audited.txt', content: 'a' }, '--yes')).code,
      (await seq('run_command', { command: 'rm -rf /' }, '--mode', 'full')).code,
      (await seq('run_command', { command: 'git status' })).code,
      (await seq('write_file', { path: 'ro.txt', content: 'a' }, '--mode', 'read-only')).code,
      // no decision is made for these: nothing to log
      (await seq('read_file', { nope: true })).code,
      (await seq('no_such_tool', {})).code,
    ];
    expect(codes).toEqual([0, 2, 0, 2, 0, 2, 2, 2]);
    rmSync(join(repo, 'audited.txt'));

    const raw = readFileSync(audit, 'utf8');
    expect(raw.endsWith('\n')).toBe(true);
    const entries = readJsonLines(audit);
    expect(entries).toHaveLength(6);
    for (const e of entries) {
      expect(new Date(String(e.time)).toISOString()).toBe(e.time);
      expect(typeof e.reason).toBe('string');
      expect(String(e.reason).length).toBeGreaterThan(5);
    }
    const pick = (e: Record<string, unknown>) => ({ tool: e.tool, subject: e.subject, decision: e.decision, approved: e.approved, via: e.via });
    expect(entries.map(pick)).toEqual([
      { tool: 'read_file', subject: 'README.md', decision: 'allow', approved: undefined, via: 'mode' },
      { tool: 'write_file', subject: 'audited.txt', decision: 'ask', approved: false, via: 'user' },
      { tool: 'write_file', subject: 'audited.txt', decision: 'ask', approved: true, via: 'user' },
      { tool: 'run_command', subject: 'rm -rf /', decision: 'deny', approved: undefined, via: 'policy' },
      { tool: 'run_command', subject: 'git status', decision: 'allow', approved: undefined, via: 'mode' },
      { tool: 'write_file', subject: 'ro.txt', decision: 'deny', approved: undefined, via: 'mode' },
    ]);
  });

  it('uses $XDG_STATE_HOME/kai/audit.jsonl when agent.auditLog is not set', async () => {
    const cfg = join(base, 'no-audit.yaml');
    writeFileSync(cfg, `agent:\n  workspace: ${JSON.stringify(repo)}\n`);
    const result = await kai(['tools', 'call', 'git_status', '--args', '{}'], cfg);
    expect(result.code, result.stderr).toBe(0);
    const entries = readJsonLines(join(stateHome, 'kai', 'audit.jsonl'));
    expect(entries.at(-1)).toMatchObject({ tool: 'git_status', decision: 'allow', via: 'mode' });
  });
});
