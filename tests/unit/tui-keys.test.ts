import { describe, expect, it } from 'vitest';
import {
  DA1_QUERY,
  KITTY_POP,
  KITTY_PUSH,
  KITTY_QUERY,
  KeyParser,
  parseInput,
  type InputEvent,
} from '../../src/cli/tui/keys.js';

const key = (k: string, kind: 'press' | 'repeat' | 'release' = 'press'): InputEvent => ({ type: 'key', key: k, kind });

describe('escape strings', () => {
  it('pushes disambiguate + report event types, queries and pops', () => {
    expect(KITTY_PUSH).toBe('\x1b[>3u');
    expect(KITTY_QUERY).toBe('\x1b[?u');
    expect(KITTY_POP).toBe('\x1b[<u');
    expect(DA1_QUERY).toBe('\x1b[c');
  });
});

describe('parseInput: legacy bytes', () => {
  it('reads space, q, Ctrl-C and other control keys', () => {
    expect(parseInput(' ').events).toEqual([key('space')]);
    expect(parseInput('q').events).toEqual([key('q')]);
    expect(parseInput('\x03').events).toEqual([key('ctrl-c')]);
    expect(parseInput('\r\t\x7f\x04').events).toEqual([key('enter'), key('tab'), key('backspace'), key('ctrl-d')]);
  });

  it('treats a chunk that is only ESC as the Escape key', () => {
    expect(parseInput('\x1b')).toEqual({ events: [key('escape')], rest: '' });
  });

  it('reads several keys in one chunk, including non-ASCII characters', () => {
    expect(parseInput('  qé😀').events).toEqual([key('space'), key('space'), key('q'), key('é'), key('😀')]);
  });

  it('reads legacy cursor and function keys', () => {
    expect(parseInput('\x1b[A\x1bOB\x1b[3~\x1b[1;5C').events).toEqual([
      key('up'),
      key('down'),
      key('delete'),
      key('ctrl-right'),
    ]);
  });

  it('reads ESC followed by something that cannot continue a sequence as Escape, then the rest', () => {
    expect(parseInput('\x1b\x1b[32u').events).toEqual([key('escape'), key('space')]);
    expect(parseInput('\x1b ').events).toEqual([key('escape'), key('space')]);
  });
});

describe('parseInput: Kitty keyboard protocol', () => {
  it('reads press, repeat and release of space', () => {
    expect(parseInput('\x1b[32u').events).toEqual([key('space')]);
    expect(parseInput('\x1b[32;1:1u').events).toEqual([key('space')]);
    expect(parseInput('\x1b[32;1:2u').events).toEqual([key('space', 'repeat')]);
    expect(parseInput('\x1b[32;1:3u').events).toEqual([key('space', 'release')]);
  });

  it('reads Escape, Ctrl-C and q with their event types', () => {
    expect(parseInput('\x1b[27u').events).toEqual([key('escape')]);
    expect(parseInput('\x1b[27;1:3u').events).toEqual([key('escape', 'release')]);
    expect(parseInput('\x1b[99;5u').events).toEqual([key('ctrl-c')]);
    expect(parseInput('\x1b[99;5:3u').events).toEqual([key('ctrl-c', 'release')]);
    expect(parseInput('\x1b[113u').events).toEqual([key('q')]);
    expect(parseInput('\x1b[113;2u').events).toEqual([key('Q')]);
    expect(parseInput('\x1b[113;3u').events).toEqual([key('alt-q')]);
  });

  it('ignores lock modifiers and reads alternate-key fields', () => {
    // 65 = 1 + caps lock (64): still a plain space.
    expect(parseInput('\x1b[32;65:3u').events).toEqual([key('space', 'release')]);
    expect(parseInput('\x1b[97:65;2u').events).toEqual([key('A')]);
  });

  it('reads the event type of function keys', () => {
    expect(parseInput('\x1b[1;1:3A').events).toEqual([key('up', 'release')]);
    expect(parseInput('\x1b[5;1:2~').events).toEqual([key('pageup', 'repeat')]);
  });

  it('reads the answer to the flags query and to device attributes', () => {
    expect(parseInput('\x1b[?3u').events).toEqual([{ type: 'kitty-flags', flags: 3 }]);
    expect(parseInput('\x1b[?0u').events).toEqual([{ type: 'kitty-flags', flags: 0 }]);
    expect(parseInput('\x1b[?62;22c').events).toEqual([{ type: 'device-attributes' }]);
  });

  it('reads combined sequences in one chunk', () => {
    expect(parseInput('\x1b[?3u\x1b[?62c \x1b[32;1:3u\x1b[27u').events).toEqual([
      { type: 'kitty-flags', flags: 3 },
      { type: 'device-attributes' },
      key('space'),
      key('space', 'release'),
      key('escape'),
    ]);
  });

  it('skips sequences that are not keys', () => {
    expect(parseInput('\x1b[?1;2$y q').events).toEqual([key('space'), key('q')]);
  });
});

describe('parseInput: unfinished sequences', () => {
  it('returns an unfinished sequence at the end as rest', () => {
    expect(parseInput(' \x1b[32;1')).toEqual({ events: [key('space')], rest: '\x1b[32;1' });
    expect(parseInput(' \x1b')).toEqual({ events: [key('space')], rest: '\x1b' });
    expect(parseInput('\x1b[')).toEqual({ events: [], rest: '\x1b[' });
  });
});

describe('KeyParser', () => {
  it('joins sequences split across chunks', () => {
    const p = new KeyParser();
    expect(p.push('\x1b[32')).toEqual([]);
    expect(p.hasPending).toBe(true);
    expect(p.push(';1:')).toEqual([]);
    expect(p.push('3u ')).toEqual([key('space', 'release'), key('space')]);
    expect(p.hasPending).toBe(false);
  });

  it('splits a query answer across chunks', () => {
    const p = new KeyParser();
    expect(p.push(Buffer.from('\x1b[?'))).toEqual([]);
    expect(p.push(Buffer.from('3u'))).toEqual([{ type: 'kitty-flags', flags: 3 }]);
  });

  it('decodes UTF-8 split across chunks', () => {
    const p = new KeyParser();
    const bytes = Buffer.from('é');
    expect(p.push(bytes.subarray(0, 1))).toEqual([]);
    expect(p.push(bytes.subarray(1))).toEqual([key('é')]);
  });

  it('reads a lone ESC chunk as Escape even after an unfinished sequence', () => {
    const p = new KeyParser();
    expect(p.push('\x1b')).toEqual([key('escape')]);
    expect(p.push(' \x1b')).toEqual([key('space')]);
    expect(p.push('\x1b')).toEqual([key('escape'), key('escape')]);
    expect(p.hasPending).toBe(false);
  });

  it('flush() turns a pending lone ESC into Escape and drops anything longer', () => {
    const p = new KeyParser();
    p.push('q\x1b');
    expect(p.flush()).toEqual([key('escape')]);
    p.push('\x1b[32');
    expect(p.flush()).toEqual([]);
    expect(p.push(' ')).toEqual([key('space')]);
  });

  it('drops an endless unfinished sequence instead of growing', () => {
    const p = new KeyParser();
    p.push(`\x1b[${'1;'.repeat(100)}`);
    expect(p.hasPending).toBe(false);
    expect(p.push('q')).toEqual([key('q')]);
  });
});
