import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { CommandIo } from '../../src/cli/command.js';
import { command, kaiScript, quoteExecArg, renderUnit, UNIT_MARKER, unitPath } from '../../src/cli/commands/service.js';
import { main } from '../../src/cli/main.js';
import { UsageError } from '../../src/errors.js';

/*
 * `kai service` runs in-process with a fake CommandIo (the built bin may be stale while others
 * edit the tree); XDG_CONFIG_HOME points at a temporary folder so nothing touches the real home.
 */

const base = mkdtempSync(join(tmpdir(), 'kai service-')); // a space on purpose
let configHome: string;
let cwd: string;

afterAll(() => rmSync(base, { recursive: true, force: true }));

beforeEach(() => {
  configHome = mkdtempSync(join(base, 'config-'));
  cwd = mkdtempSync(join(base, 'work dir-'));
});

class Capture extends PassThrough {
  text = '';
  constructor() {
    super();
    this.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
  }
}

function fakeIo() {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CommandIo = {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env: { XDG_CONFIG_HOME: configHome, HOME: join(base, 'home') },
    cwd,
    signal: new AbortController().signal,
  };
  return { io, stdout, stderr };
}

/** Splits an ExecStart= value the way systemd does: quotes, C escapes, then %% and $$. */
function systemdWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let word = '';
    let quote: string | undefined;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (quote === undefined && (c === ' ' || c === '\t')) break;
      if (c === '\\') {
        const next = line[++i];
        word += next === 'n' ? '\n' : next === 't' ? '\t' : (next ?? '');
      } else if (quote !== undefined && c === quote) quote = undefined;
      else if (quote === undefined && (c === '"' || c === "'")) quote = c;
      else word += c;
    }
    expect(quote, `unterminated quote in ${line}`).toBeUndefined();
    words.push(word.replace(/%%|\$\$/g, (m) => m[0]!));
  }
  return words;
}

function setting(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe('kai service install --print', () => {
  it('prints a user unit that runs this node and this kai with run --no-tty in the current folder', async () => {
    const { io, stdout } = fakeIo();
    expect(await command.run(['install', '--print'], io)).toBe(0);
    const unit = stdout.text;
    expect(unit.startsWith(`${UNIT_MARKER}\n[Unit]\n`)).toBe(true);
    expect(setting(unit, 'Description')).toEqual(['KAI Ambient voice assistant']);
    expect(setting(unit, 'StartLimitIntervalSec')).toEqual(['0']);
    expect(setting(unit, 'Restart')).toEqual(['always']);
    expect(setting(unit, 'RestartSec')).toEqual(['5']);
    expect(setting(unit, 'Environment')).toEqual(['NODE_ENV=production']);
    expect(setting(unit, 'WantedBy')).toEqual(['default.target']);
    expect(setting(unit, 'WorkingDirectory')).toEqual([cwd]); // the whole rest of the line, spaces and all
    const [exec] = setting(unit, 'ExecStart');
    expect(systemdWords(exec!)).toEqual([process.execPath, kaiScript, 'run', '--no-tty']);
    expect(unit.indexOf('[Unit]')).toBeLessThan(unit.indexOf('StartLimitIntervalSec'));
    expect(unit.indexOf('[Service]')).toBeLessThan(unit.indexOf('ExecStart'));
    expect(unit.indexOf('[Install]')).toBeLessThan(unit.indexOf('WantedBy'));
    expect(existsSync(unitPath(io.env))).toBe(false);
  });

  it('passes --config as an absolute path, quoted when it has spaces', async () => {
    const { io, stdout } = fakeIo();
    mkdirSync(join(cwd, 'my conf'));
    writeFileSync(join(cwd, 'my conf', 'kai.yaml'), 'log:\n  level: debug\n');
    expect(await command.run(['install', '--print', '--config', 'my conf/kai.yaml'], io)).toBe(0);
    const [exec] = setting(stdout.text, 'ExecStart');
    expect(exec).toContain(`"${join(cwd, 'my conf', 'kai.yaml')}"`);
    expect(systemdWords(exec!)).toEqual([process.execPath, kaiScript, 'run', '--no-tty', '--config', join(cwd, 'my conf', 'kai.yaml')]);
  });

  it('refuses a missing or invalid config file with one sentence', async () => {
    const { io } = fakeIo();
    await expect(command.run(['install', '--config', 'nope.yaml'], io)).rejects.toThrow(new UsageError(`config file ${join(cwd, 'nope.yaml')} does not exist`));
    writeFileSync(join(cwd, 'bad.yaml'), 'wakeword:\n  threshold: 7\n');
    const err = await command.run(['install', '--config', 'bad.yaml'], io).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/wakeword\.threshold/);
    expect((err as Error).message).not.toContain('\n');
    expect(existsSync(unitPath(io.env))).toBe(false);
  });
});

describe('quoting for systemd', () => {
  it('round-trips spaces, quotes, backslashes, % specifiers and $ variables', () => {
    const nasty = ['/opt/my node/bin/node', '/a/"quoted"/b', 'C:\\x', '100%', '$HOME', "it's", 'plain', ''];
    const line = nasty.map(quoteExecArg).join(' ');
    expect(systemdWords(line)).toEqual(nasty);
    expect(quoteExecArg('/usr/bin/node')).toBe('/usr/bin/node');
    expect(quoteExecArg('/a b/%i')).toBe('"/a b/%%i"');
    expect(() => quoteExecArg('a\nb')).toThrow(UsageError);
  });

  it('systemd-analyze verify accepts the unit, with node in a folder with spaces', () => {
    const dir = mkdtempSync(join(base, 'verify-'));
    const node = join(dir, 'node bin', 'node');
    mkdirSync(join(dir, 'node bin'));
    symlinkSync(process.execPath, node);
    const file = join(dir, 'kai.service');
    writeFileSync(file, renderUnit({ node, script: kaiScript, cwd, config: join(cwd, '50% of $HOME.yaml') }));
    const runtime = join(dir, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const out = execFileSync('systemd-analyze', ['verify', '--user', file], {
      env: { ...process.env, XDG_RUNTIME_DIR: runtime, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg') },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBe('');
  });
});

describe('kai service install / uninstall', () => {
  it('writes the unit under XDG_CONFIG_HOME and prints the next steps', async () => {
    const { io, stdout } = fakeIo();
    expect(await command.run(['install'], io)).toBe(0);
    const path = join(configHome, 'systemd', 'user', 'kai.service');
    expect(unitPath(io.env)).toBe(path);
    const unit = readFileSync(path, 'utf8');
    expect(unit).toBe(renderUnit({ node: process.execPath, script: kaiScript, cwd }));
    expect(stdout.text).toContain(`wrote ${path}\n`);
    expect(stdout.text).toContain('systemctl --user daemon-reload && systemctl --user enable --now kai\n');
    expect(stdout.text).toMatch(/loginctl enable-linger \$USER .*login session/);
    expect(stdout.text).toMatch(/journalctl --user -u kai -f .*logs/);

    const again = fakeIo();
    expect(await command.run(['install'], again.io)).toBe(0);
    expect(again.stdout.text).toContain(`updated ${path}\n`);
  });

  it('defaults to ~/.config when XDG_CONFIG_HOME is unset or relative', () => {
    expect(unitPath({ HOME: '/home/ana' })).toBe('/home/ana/.config/systemd/user/kai.service');
    expect(unitPath({ HOME: '/home/ana', XDG_CONFIG_HOME: 'rel' })).toBe('/home/ana/.config/systemd/user/kai.service');
  });

  it('never overwrites or removes a unit it did not write', async () => {
    const { io } = fakeIo();
    const path = unitPath(io.env);
    mkdirSync(join(configHome, 'systemd', 'user'), { recursive: true });
    writeFileSync(path, '[Service]\nExecStart=/usr/bin/true\n');
    await expect(command.run(['install'], io)).rejects.toThrow(UsageError);
    await expect(command.run(['uninstall'], io)).rejects.toThrow(/was not written by kai/);
    expect(readFileSync(path, 'utf8')).toBe('[Service]\nExecStart=/usr/bin/true\n');
  });

  it('uninstall removes the unit and its enable link, and is a no-op when nothing is installed', async () => {
    const { io } = fakeIo();
    await command.run(['install'], io);
    const path = unitPath(io.env);
    const wants = join(configHome, 'systemd', 'user', 'default.target.wants');
    mkdirSync(wants);
    symlinkSync(path, join(wants, 'kai.service'));
    const out = fakeIo();
    expect(await command.run(['uninstall'], out.io)).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(wants, 'kai.service'))).toBe(false);
    expect(out.stdout.text).toContain(`removed ${path}\n`);
    expect(out.stdout.text).toContain('systemctl --user stop kai; systemctl --user daemon-reload');

    const none = fakeIo();
    expect(await command.run(['uninstall'], none.io)).toBe(0);
    expect(none.stdout.text).toBe(`no kai service at ${path}; nothing to do\n`);
  });

  it('through main: listed in --help, usage errors are one line with exit 2', async () => {
    const help = fakeIo();
    expect(await main(['--help'], help.io)).toBe(0);
    expect(help.stdout.text).toMatch(/^ {2}service +install or remove the systemd user service/m);

    for (const [args, message] of [
      [['service'], 'kai service: missing subcommand: install or uninstall; run: kai service --help\n'],
      [['service', 'start'], 'kai service: unknown subcommand "start": use install or uninstall; run: kai service --help\n'],
      [['service', 'uninstall', '--print'], 'kai service: kai service uninstall takes no options\n'],
    ] as const) {
      const { io, stderr } = fakeIo();
      expect(await main([...args], io)).toBe(2);
      expect(stderr.text).toBe(message);
    }
    const { io, stderr } = fakeIo();
    expect(await main(['service', 'install', '--bogus'], io)).toBe(2);
    expect(stderr.text.trim().split('\n')).toHaveLength(1);
  });
});
