import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { sendControl } from '../../src/server/control-socket.js';
import { kaiBin } from '../helpers/cli.js';
import { sharedModelsDir } from '../helpers/fixtures.js';

const session = `kai-tui-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session);
const alive = () => {
  try {
    tmux('has-session', '-t', session);
    return true;
  } catch {
    return false;
  }
};

afterEach(() => {
  if (alive()) tmux('kill-session', '-t', session);
});

describe('kai run in a terminal', () => {
  it('shows the live panel, talks on space, cancels on Esc, answers y/n and quits on q', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kai-tui-'));
    mkdirSync(join(dir, 'home'));
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      stringify({
        audio: { input: 'none', output: 'none' },
        models: { dir: sharedModelsDir },
        server: { port: 0 },
        conversation: { echoCancellation: 'on', noSpeechMs: 60_000 },
        agent: { workspace: dir, allow: [], testCommand: `node -e "require('fs').writeFileSync('ran.txt','yes')"` },
      }),
    );
    const env = [`HOME=${join(dir, 'home')}`, `XDG_STATE_HOME=${join(dir, 'state')}`, `XDG_RUNTIME_DIR=${dir}`, 'TERM=xterm-256color'];
    tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', 'env', ...env, process.execPath, kaiBin, 'run', '--config', config);

    await expect.poll(screen, { timeout: 30_000 }).toMatch(/KAI · idle \(idle\)/);
    const idle = screen();
    expect(idle).toMatch(/mic ▕/);
    expect(idle).toMatch(/web: http:\/\/127\.0\.0\.1:\d+\/#token=/);
    // tmux does not speak the Kitty keyboard protocol: no key releases, so space toggles, and the panel says so
    expect(idle).toContain('space: press to talk, again to stop · esc: cancel · q: quit');

    tmux('send-keys', '-t', session, ' ');
    await expect.poll(screen, { timeout: 10_000 }).toMatch(/KAI · (woken|listening) /);
    tmux('send-keys', '-t', session, 'Escape');
    await expect.poll(screen, { timeout: 10_000 }).toMatch(/KAI · idle \(idle\)/);

    // a typed request that needs a yes: the panel asks, y approves, the command runs
    await sendControl(join(dir, 'kai', 'control.sock'), { type: 'say', text: 'run the tests' });
    await expect.poll(screen, { timeout: 15_000 }).toMatch(/approve \(y\/n\)\? \[[\w-]+\] /);
    tmux('send-keys', '-t', session, 'y');
    await expect.poll(() => existsSync(join(dir, 'ran.txt')), { timeout: 15_000 }).toBe(true);
    await expect.poll(screen, { timeout: 15_000 }).toMatch(/kai: /);

    tmux('send-keys', '-t', session, 'q');
    await expect.poll(alive, { timeout: 5000 }).toBe(false);
  });
});
