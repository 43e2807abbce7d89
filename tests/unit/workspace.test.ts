import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KaiError } from '../../src/errors.js';
import { OutsideWorkspaceError, Workspace, WorkspacePathError } from '../../src/agent/tools/workspace.js';

let base: string;
let root: string;
let outsideDir: string;
let ws: Workspace;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'kai-ws-test-')));
  root = join(base, 'root');
  outsideDir = join(base, 'outside');
  await mkdir(join(root, 'sub', 'deep'), { recursive: true });
  await mkdir(join(root, '.git'), { recursive: true });
  await mkdir(outsideDir);
  await writeFile(join(root, 'a.txt'), 'a');
  await writeFile(join(root, 'sub', 'b.txt'), 'b');
  await writeFile(join(root, '.git', 'config'), '[core]');
  await writeFile(join(outsideDir, 'secret.txt'), 'secret');
  await symlink(join(outsideDir, 'secret.txt'), join(root, 'link-to-secret'));
  await symlink(outsideDir, join(root, 'linked-out'));
  await symlink(tmpdir(), join(root, 'tmp-link'));
  await symlink(join(root, 'sub'), join(root, 'linked-in'));
  await symlink(join(base, 'nowhere', 'x'), join(root, 'dangling'));
  ws = await Workspace.open(root);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('Workspace.resolve refuses escapes', () => {
  const reads: Array<[string, string]> = [
    ['parent', '../x'],
    ['parent of a real file', '../outside/secret.txt'],
    ['absolute system file', '/etc/passwd'],
    ['inner .. that climbs out', 'sub/../../x'],
    ['deep .. chain', 'sub/deep/../../../outside/secret.txt'],
    ['symlink to a file outside', 'link-to-secret'],
    ['symlink to /tmp', 'tmp-link'],
    ['file under a symlinked dir leading out', 'linked-out/secret.txt'],
    ['encoded dots', '%2e%2e/x'],
    ['encoded slash', '..%2fx'],
    ['upper-case encoding', '%2E%2E%2Fetc%2Fpasswd'],
    ['double encoding', '%252e%252e/x'],
    ['overlong UTF-8 dot', '%c0%ae%c0%ae/x'],
    ['backslash traversal', '..\\x'],
    ['NUL byte', 'a.txt\0.png'],
    ['home folder', '~/.ssh/id_rsa'],
    ['dangling symlink', 'dangling'],
  ];
  for (const [label, input] of reads) {
    it(`refuses ${label}: ${JSON.stringify(input)}`, async () => {
      const err = await ws.resolve(input).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutsideWorkspaceError);
      expect(err).toBeInstanceOf(KaiError);
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toMatch(/^refused path/);
    });
  }

  const writes: Array<[string, string]> = [
    ['.git/config', '.git/config'],
    ['a new file in .git', '.git/hooks/pre-commit'],
    ['.git through ./', './sub/../.git/HEAD'],
    ['a new file under a symlinked dir that leads out', 'linked-out/new.txt'],
    ['a new nested file under a symlinked dir that leads out', 'linked-out/a/b/new.txt'],
    ['an absolute path outside', '/tmp/kai-never-created/new.txt'],
    ['the root itself', '.'],
  ];
  for (const [label, input] of writes) {
    it(`refuses writing ${label}`, async () => {
      await expect(ws.resolve(input, { forWrite: true })).rejects.toBeInstanceOf(OutsideWorkspaceError);
    });
  }

  it('says why in one line', async () => {
    await expect(ws.resolve('../x')).rejects.toThrow('refused path ../x: it goes above the workspace root with ..');
    await expect(ws.resolve('linked-out/secret.txt')).rejects.toThrow(/symlink that leads outside/);
    await expect(ws.resolve('/etc/passwd')).rejects.toThrow(/absolute path outside/);
    await expect(ws.resolve('a\0b')).rejects.toThrow('refused path a\\x00b: it contains a NUL byte');
  });
});

describe('Workspace.resolve allows paths inside', () => {
  it('resolves relative, ./ and inner .. paths', async () => {
    expect(await ws.resolve('a.txt')).toBe(join(root, 'a.txt'));
    expect(await ws.resolve('./sub/b.txt')).toBe(join(root, 'sub', 'b.txt'));
    expect(await ws.resolve('sub/deep/../b.txt')).toBe(join(root, 'sub', 'b.txt'));
    expect(await ws.resolve('.')).toBe(root);
    expect(await ws.resolve('')).toBe(root);
  });

  it('accepts absolute paths inside the root', async () => {
    expect(await ws.resolve(join(root, 'sub', 'b.txt'))).toBe(join(root, 'sub', 'b.txt'));
  });

  it('follows symlinks that stay inside and returns the real path', async () => {
    expect(await ws.resolve('linked-in/b.txt')).toBe(join(root, 'sub', 'b.txt'));
    expect(await ws.resolve('linked-in/new/file.txt', { forWrite: true })).toBe(join(root, 'sub', 'new', 'file.txt'));
  });

  it('allows new files for writing and reading .git for reads', async () => {
    expect(await ws.resolve('new/dir/file.ts', { forWrite: true })).toBe(join(root, 'new', 'dir', 'file.ts'));
    expect(await ws.resolve('.git/config')).toBe(join(root, '.git', 'config'));
    expect(await ws.resolve('.gitignore', { forWrite: true })).toBe(join(root, '.gitignore'));
  });

  it('allows a literal percent sign that is not an encoded separator', async () => {
    expect(await ws.resolve('100%.txt')).toBe(join(root, '100%.txt'));
    expect(await ws.resolve('a%20b.txt')).toBe(join(root, 'a%20b.txt'));
    expect(await ws.resolve('..foo/x')).toBe(join(root, '..foo', 'x'));
  });

  it('mustExist refuses missing files with a non-escape error', async () => {
    const err = await ws.resolve('missing.txt', { mustExist: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspacePathError);
    expect(err).not.toBeInstanceOf(OutsideWorkspaceError);
    expect((err as Error).message).toBe('no such file or folder in the workspace: missing.txt');
  });

  it('relative() gives /-separated workspace paths', () => {
    expect(ws.relative(join(root, 'sub', 'b.txt'))).toBe('sub/b.txt');
    expect(ws.relative(root)).toBe('.');
    expect(ws.contains(join(root, 'x'))).toBe(true);
    expect(ws.contains(outsideDir)).toBe(false);
  });

  it('open() refuses a missing root and realpaths the given one', async () => {
    await expect(Workspace.open(join(base, 'nope'))).rejects.toBeInstanceOf(WorkspacePathError);
    const viaLink = await Workspace.open(join(root, 'linked-in'));
    expect(viaLink.root).toBe(join(root, 'sub'));
  });
});
