import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/config/index.js';
import { AuditLog, defaultAuditPath, type AuditEntry } from '../../src/agent/permissions/audit.js';
import { Permissions, auditEntry } from '../../src/agent/permissions/gate.js';
import { parseRule } from '../../src/agent/permissions/rules.js';
import type { AnyTool, PermissionMode, ToolRisk } from '../../src/agent/tools/types.js';

const ROOT = '/work/project';

function fakeTool(name: string, risk: ToolRisk): AnyTool {
  return {
    name,
    description: name,
    input: z.object({ subject: z.string() }),
    risk,
    describe: () => name,
    subject: (args) => (args as { subject: string }).subject,
    execute: async () => ({ ok: true, output: '', spoken: '' }),
  };
}

const readFile = fakeTool('read_file', 'read');
const writeFile = fakeTool('write_file', 'write');
const runCommand = fakeTool('run_command', 'exec');
const otherExec = fakeTool('run_tests', 'exec');

function gate(mode: PermissionMode, rules: { allow?: string[]; ask?: string[]; deny?: string[] } = {}, audit?: AuditLog): Permissions {
  return new Permissions({ mode, allow: rules.allow ?? [], ask: rules.ask ?? [], deny: rules.deny ?? [], workspaceRoot: ROOT, ...(audit && { audit }) });
}

const call = (g: Permissions, tool: AnyTool, subject: string) => g.check(tool, { subject });

describe('Permissions: modes × risks', () => {
  const matrix: Array<[PermissionMode, ToolRisk, string]> = [
    ['read-only', 'read', 'allow'],
    ['read-only', 'write', 'deny'],
    ['read-only', 'exec', 'deny'],
    ['ask', 'read', 'allow'],
    ['ask', 'write', 'ask'],
    ['ask', 'exec', 'ask'],
    ['auto-edit', 'read', 'allow'],
    ['auto-edit', 'write', 'allow'],
    ['auto-edit', 'exec', 'ask'],
    ['full', 'read', 'allow'],
    ['full', 'write', 'allow'],
    ['full', 'exec', 'allow'],
  ];
  it.each(matrix)('%s mode, %s tool → %s', (mode, risk, expected) => {
    const tool = { read: readFile, write: writeFile, exec: otherExec }[risk];
    const v = call(gate(mode), tool, 'src/a.ts');
    expect(v.decision).toBe(expected);
    expect(v.via).toBe('mode');
    expect(v.reason).toMatch(/^[A-Z].*\.$/);
  });

  it('names the mode when read-only denies', () => {
    expect(call(gate('read-only'), writeFile, 'a.txt').reason).toContain('Read-only mode');
  });

  it.each<[PermissionMode, string, string]>([
    ['read-only', 'git status', 'allow'],
    ['read-only', 'npm test', 'deny'],
    ['ask', 'git status', 'allow'],
    ['ask', 'npm test', 'ask'],
    ['auto-edit', 'npm test', 'ask'],
    ['full', 'npm test', 'allow'],
    ['full', 'rm -rf /', 'deny'],
    ['full', 'echo ls | sh', 'ask'],
    ['full', 'cat <<EOF\nx\nEOF', 'ask'],
    ['ask', 'curl x | sh', 'deny'],
  ])('%s mode, run_command %j → %s', (mode, command, expected) => {
    expect(call(gate(mode), runCommand, command).decision).toBe(expected);
  });
});

describe('Permissions: rules', () => {
  it('evaluates deny → ask → allow', () => {
    const rules = { allow: ['write_file(src/**)'], ask: ['write_file(src/config/**)'], deny: ['write_file(src/config/secret.ts)'] };
    const g = gate('full', rules);
    expect(call(g, writeFile, 'src/config/secret.ts')).toMatchObject({ decision: 'deny', via: 'rule', rule: 'write_file(src/config/secret.ts)' });
    expect(call(g, writeFile, 'src/config/load.ts')).toMatchObject({ decision: 'ask', via: 'rule' });
    expect(call(gate('read-only', rules), writeFile, 'src/a.ts')).toMatchObject({ decision: 'allow', via: 'rule' });
    expect(call(gate('read-only', rules), writeFile, 'docs/a.md')).toMatchObject({ decision: 'deny', via: 'mode' });
  });

  it('a bare tool rule matches every call of that tool only', () => {
    const g = gate('full', { deny: ['write_file'] });
    expect(call(g, writeFile, 'anything').decision).toBe('deny');
    expect(call(g, readFile, 'anything').decision).toBe('allow');
  });

  it('an ask rule asks even in full mode, a deny rule beats an allow rule', () => {
    expect(call(gate('full', { ask: ['run_command(npm publish*)'] }), runCommand, 'npm publish --tag next').decision).toBe('ask');
    expect(call(gate('ask', { allow: ['read_file'], deny: ['read_file(**/.env)'] }), readFile, 'api/.env').decision).toBe('deny');
  });

  it('deny and ask rules for commands match any part of a compound command', () => {
    const g = gate('full', { deny: ['run_command(git push*)'] });
    expect(call(g, runCommand, 'npm test && git push origin main').decision).toBe('deny');
    expect(call(g, runCommand, "g''it push").decision).toBe('deny'); // rules also see the text with quotes removed
    expect(call(g, runCommand, 'echo "git push"').decision).toBe('allow');
  });

  it('the command policy deny beats allow rules', () => {
    const g = gate('ask', { allow: ['run_command(*)'] });
    expect(call(g, runCommand, 'rm -rf /')).toMatchObject({ decision: 'deny', via: 'policy' });
    expect(call(g, runCommand, 'npm test')).toMatchObject({ decision: 'allow', via: 'rule' });
  });

  it('an allow rule for commands must cover every part', () => {
    const g = gate('ask', { allow: ['run_command(npm test*)'] });
    expect(call(g, runCommand, 'npm test -- --run')).toMatchObject({ decision: 'allow', via: 'rule' });
    expect(call(g, runCommand, 'npm test && git status')).toMatchObject({ decision: 'allow', via: 'rule' });
    expect(call(g, runCommand, 'npm test && npm publish').decision).toBe('ask');
    expect(call(g, runCommand, 'npm test $(touch x)').decision).toBe('ask');
    expect(call(g, runCommand, 'npm test <<EOF\nx\nEOF').decision).toBe('ask');
  });

  it('matches path patterns with * and **', () => {
    const r = (p: string) => parseRule(`write_file(${p})`, 'allow');
    expect(r('src/**').matches('src/a/b.ts', 'path')).toBe(true);
    expect(r('src/**').matches('src', 'path')).toBe(true);
    expect(r('src/**').matches('srcx/a.ts', 'path')).toBe(false);
    expect(r('src/*.ts').matches('src/a.ts', 'path')).toBe(true);
    expect(r('src/*.ts').matches('src/a/b.ts', 'path')).toBe(false);
    expect(r('**/*.test.ts').matches('tests/unit/a.test.ts', 'path')).toBe(true);
    expect(r('**/*.test.ts').matches('a.test.ts', 'path')).toBe(true);
    expect(r('*.env').matches('deep/dir/prod.env', 'path')).toBe(true);
    expect(r('docs/**/index.md').matches('docs/index.md', 'path')).toBe(true);
    expect(r('docs/**/index.md').matches('docs/a/b/index.md', 'path')).toBe(true);
    expect(r('a.ts').matches('./a.ts', 'path')).toBe(true);
  });

  it('matches command patterns against the whole string', () => {
    const r = (p: string) => parseRule(`run_command(${p})`, 'allow');
    expect(r('npm test*').matches('npm test', 'command')).toBe(true);
    expect(r('npm test*').matches('npm test src/a.test.ts', 'command')).toBe(true);
    expect(r('npm test').matches('npm test --watch', 'command')).toBe(false);
    expect(r('git * --oneline').matches('git log --oneline', 'command')).toBe(true);
    expect(r('echo (hi)').matches('echo (hi)', 'command')).toBe(true);
    expect(r('echo \\*').matches('echo *', 'command')).toBe(true);
    expect(r('echo \\*').matches('echo x', 'command')).toBe(false);
  });

  it.each(['', 'run_command(', 'run_command()', 'run command', 'run_command(x) y', 'x)', '(x)', '1tool'])(
    'rejects the malformed rule %j with a ConfigError naming it',
    (text) => {
      expect(() => gate('ask', { deny: [text] })).toThrow(ConfigError);
      try {
        gate('ask', { deny: [text] });
      } catch (err) {
        expect((err as Error).message).toContain('agent.deny');
        if (text.trim()) expect((err as Error).message).toContain(text.trim());
      }
    },
  );
});

describe('AuditLog', () => {
  it('appends JSON lines with a 0700 folder and a 0600 file, never truncating', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kai-audit-')), 'state', 'kai');
    const path = join(dir, 'audit.jsonl');
    const log = new AuditLog(path);
    const g = gate('ask', {}, log);
    const v = call(g, runCommand, 'npm test');
    g.record(auditEntry(runCommand, 'npm test', v, { approved: true, via: 'user', time: new Date('2025-01-01T00:00:00Z') }));
    g.record(auditEntry(writeFile, 'src/a.ts', call(g, writeFile, 'src/a.ts'), { approved: false, via: 'timeout' }));
    const second = new AuditLog(path);
    second.append({ time: new Date().toISOString(), tool: 'read_file', subject: 'a\nb', decision: 'allow', reason: 'x.', via: 'mode' });

    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const entries = lines.map((l) => JSON.parse(l) as AuditEntry);
    expect(entries[0]).toMatchObject({ time: '2025-01-01T00:00:00.000Z', tool: 'run_command', subject: 'npm test', decision: 'ask', approved: true, via: 'user' });
    expect(entries[1]).toMatchObject({ tool: 'write_file', decision: 'ask', approved: false, via: 'timeout' });
    expect(entries[2]?.subject).toBe('a\nb');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('tightens an existing file to 0600 and keeps its content', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kai-audit-')), 'audit.jsonl');
    writeFileSync(path, '{"old":true}\n', { mode: 0o644 });
    new AuditLog(path).append({ time: 't', tool: 'x', subject: 's', decision: 'deny', reason: 'r.', via: 'rule' });
    expect(readFileSync(path, 'utf8').split('\n')[0]).toBe('{"old":true}');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('defaults to XDG_STATE_HOME or ~/.local/state', () => {
    expect(defaultAuditPath({ XDG_STATE_HOME: '/s' })).toBe('/s/kai/audit.jsonl');
    expect(defaultAuditPath({})).toMatch(/\.local\/state\/kai\/audit\.jsonl$/);
  });
});
