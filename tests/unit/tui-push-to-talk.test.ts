import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DA1_QUERY, KITTY_POP, KITTY_PUSH, KITTY_QUERY } from '../../src/cli/tui/keys.js';
import { TerminalKeys, type PttAction, type PttMode } from '../../src/cli/tui/push-to-talk.js';

/** A fake terminal: stdin with raw-mode stubs, stdout recording what was written. */
function fakeTerminal(answer: 'kitty' | 'da1-only' | 'silent', opts: { tty?: boolean } = {}) {
  const input = Object.assign(new PassThrough(), {
    isTTY: opts.tty ?? true,
    isRaw: false,
    rawCalls: [] as boolean[],
    setRawMode(raw: boolean) {
      input.isRaw = raw;
      input.rawCalls.push(raw);
      return input;
    },
  });
  const output = new PassThrough();
  let written = '';
  output.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    written += text;
    // Terminals answer queries in the order they were asked.
    if (text.includes(KITTY_QUERY) && answer === 'kitty') input.write('\x1b[?3u');
    if (text.includes(DA1_QUERY) && answer !== 'silent') input.write('\x1b[?62;22c');
  });
  return { input, output, written: () => written };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

let keys: TerminalKeys | undefined;
afterEach(() => keys?.close());

function start(term: ReturnType<typeof fakeTerminal>, detectTimeoutMs = 300) {
  const actions: PttAction[] = [];
  const modes: PttMode[] = [];
  const other: string[] = [];
  keys = new TerminalKeys({
    input: term.input,
    output: term.output,
    onAction: (a) => actions.push(a),
    onModeChange: (m) => modes.push(m),
    onKey: (e) => other.push(e.key),
    detectTimeoutMs,
    restoreOnExit: false,
  });
  return { keys, actions, modes, other };
}

describe('TerminalKeys', () => {
  it('enables raw mode, pushes the Kitty flags and asks whether they took', async () => {
    const term = fakeTerminal('kitty');
    start(term);
    await tick();
    expect(term.input.isRaw).toBe(true);
    expect(term.written()).toBe(KITTY_PUSH + KITTY_QUERY + DA1_QUERY);
  });

  it('is in hold mode when the terminal answers the query: press starts, release stops, repeats are ignored', async () => {
    const term = fakeTerminal('kitty');
    const { keys, actions, modes } = start(term);
    expect(await keys.ready).toBe('hold');
    expect(keys.mode).toBe('hold');
    expect(modes).toEqual(['hold']);

    term.input.write('\x1b[32u');
    term.input.write('\x1b[32;1:2u');
    term.input.write('\x1b[32;1:2u');
    term.input.write('\x1b[32;1:3u');
    // Kitty with flags 3 sends the press and its repeats as plain text, the release as a sequence.
    term.input.write(' ');
    term.input.write(' ');
    term.input.write('\x1b[32;1:3u');
    await tick();
    expect(actions).toEqual(['start', 'stop', 'start', 'stop']);
  });

  it('falls back to toggle mode when the terminal does not answer in time', async () => {
    const term = fakeTerminal('silent');
    const started = Date.now();
    const { keys, actions, modes } = start(term, 60);
    expect(keys.mode).toBe('toggle');
    expect(await keys.ready).toBe('toggle');
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    expect(modes).toEqual(['toggle']);
    term.input.write(' ');
    await tick();
    expect(actions).toEqual(['toggle']);
  });

  it('decides toggle at once when device attributes come back without a Kitty answer', async () => {
    const term = fakeTerminal('da1-only');
    const started = Date.now();
    const { keys } = start(term, 5_000);
    expect(await keys.ready).toBe('toggle');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('in toggle mode treats auto-repeated spaces as one press', async () => {
    const term = fakeTerminal('da1-only');
    const { keys, actions } = start(term);
    await keys.ready;
    term.input.write(' ');
    term.input.write(' ');
    term.input.write(' ');
    await tick();
    expect(actions).toEqual(['toggle']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    term.input.write(' ');
    await tick();
    expect(actions).toEqual(['toggle', 'toggle']);
  });

  it('maps Esc to cancel and Ctrl-C or q to quit, in both encodings; other keys go to onKey', async () => {
    const term = fakeTerminal('kitty');
    const { keys, actions, other } = start(term);
    await keys.ready;
    term.input.write('\x1b');
    await tick();
    term.input.write('\x1b[27u\x1b[27;1:3u');
    term.input.write('\x03');
    term.input.write('\x1b[99;5u');
    term.input.write('q');
    term.input.write('\x1b[113;1:3u');
    term.input.write('y');
    await tick();
    expect(actions).toEqual(['cancel', 'cancel', 'quit', 'quit', 'quit']);
    expect(other).toEqual(['y']);
  });

  it('reads a lone ESC left at the end of a chunk as Escape after a short wait', async () => {
    const term = fakeTerminal('kitty');
    const { keys, actions } = start(term);
    await keys.ready;
    term.input.write('y\x1b');
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(actions).toEqual(['cancel']);
  });

  it('close() pops the flags, leaves raw mode and stops listening; twice is fine', async () => {
    const term = fakeTerminal('kitty');
    const { keys, actions } = start(term);
    await keys.ready;
    keys.close();
    keys.close();
    await tick();
    expect(term.written()).toBe(KITTY_PUSH + KITTY_QUERY + DA1_QUERY + KITTY_POP);
    expect(term.input.rawCalls).toEqual([true, false]);
    term.input.write(' ');
    await tick();
    expect(actions).toEqual([]);
  });

  it('close() before the terminal answered settles ready and writes nothing after the output ended', async () => {
    const term = fakeTerminal('silent');
    const { keys } = start(term, 10_000);
    term.output.end();
    keys.close();
    expect(await keys.ready).toBe('toggle');
    expect(term.input.rawCalls).toEqual([true, false]);
    await tick();
    expect(term.written()).not.toContain(KITTY_POP);
  });

  it('restores the terminal from a process exit handler unless closed first', () => {
    const term = fakeTerminal('silent');
    const before = process.listenerCount('exit');
    const keys = new TerminalKeys({ input: term.input, output: term.output, onAction: () => {} });
    expect(process.listenerCount('exit')).toBe(before + 1);
    keys.close();
    expect(process.listenerCount('exit')).toBe(before);
  });

  it('does not touch a stdin that is not a terminal', async () => {
    const term = fakeTerminal('kitty', { tty: false });
    const { keys, actions } = start(term);
    expect(await keys.ready).toBe('toggle');
    term.input.write(' ');
    await tick();
    keys.close();
    expect(actions).toEqual(['toggle']);
    expect(term.written()).toBe('');
    expect(term.input.rawCalls).toEqual([]);
  });
});
