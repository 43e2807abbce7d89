import { StringDecoder } from 'node:string_decoder';

/**
 * Raw terminal input → key events. Understands legacy bytes and the Kitty keyboard
 * protocol (https://sw.kovidgoyal.net/kitty/keyboard-protocol/).
 */

/** Flags 1 (disambiguate escape codes) + 2 (report event types: repeat and release). */
export const KITTY_FLAGS = 3;
/** Pushes KITTY_FLAGS on the terminal's keyboard-mode stack. */
export const KITTY_PUSH = `\x1b[>${KITTY_FLAGS}u`;
/** Asks for the current flags; a terminal that speaks the protocol answers `CSI ? flags u`. */
export const KITTY_QUERY = '\x1b[?u';
/** Pops one entry off the stack (undoes KITTY_PUSH). */
export const KITTY_POP = '\x1b[<u';
/**
 * Primary device attributes: every terminal answers it, so an answer to this that comes
 * before any answer to KITTY_QUERY means the protocol is not supported (the Kitty docs'
 * recommended detection, faster than waiting for a timeout).
 */
export const DA1_QUERY = '\x1b[c';

export type KeyKind = 'press' | 'repeat' | 'release';

export interface KeyEvent {
  type: 'key';
  /** 'space', 'escape', 'enter', 'tab', 'backspace', 'ctrl-c', 'up', …, or the character typed ('q', 'Q'). */
  key: string;
  kind: KeyKind;
}

export type InputEvent =
  | KeyEvent
  /** Reply to KITTY_QUERY. */
  | { type: 'kitty-flags'; flags: number }
  /** Reply to DA1_QUERY. */
  | { type: 'device-attributes' };

export interface ParseResult {
  events: InputEvent[];
  /** An incomplete escape sequence at the end of the input: feed it back with the next chunk. */
  rest: string;
}

const ESC = '\x1b';
/** An unfinished sequence longer than this is garbage, not a sequence still arriving. */
const MAX_PENDING = 64;

const MOD_SHIFT = 1;
const MOD_ALT = 2;
const MOD_CTRL = 4;
const MOD_SUPER = 8;

const CODE_NAMES: Record<number, string> = {
  9: 'tab',
  13: 'enter',
  27: 'escape',
  32: 'space',
  127: 'backspace',
};

/** Legacy and Kitty names of CSI keys that end in a letter (`CSI 1;mods A`). */
const LETTER_KEYS: Record<string, string> = {
  A: 'up',
  B: 'down',
  C: 'right',
  D: 'left',
  E: 'begin',
  F: 'end',
  H: 'home',
  P: 'f1',
  Q: 'f2',
  R: 'f3',
  S: 'f4',
  Z: 'shift-tab',
};

/** `CSI number ~` keys. */
const TILDE_KEYS: Record<number, string> = {
  2: 'insert',
  3: 'delete',
  5: 'pageup',
  6: 'pagedown',
  7: 'home',
  8: 'end',
  11: 'f1',
  12: 'f2',
  13: 'f3',
  14: 'f4',
  15: 'f5',
  17: 'f6',
  18: 'f7',
  19: 'f8',
  20: 'f9',
  21: 'f10',
  23: 'f11',
  24: 'f12',
};

const press = (key: string, kind: KeyKind = 'press'): KeyEvent => ({ type: 'key', key, kind });

function kindOf(event: number | undefined): KeyKind {
  return event === 2 ? 'repeat' : event === 3 ? 'release' : 'press';
}

function withModifiers(base: string, mods: number): string {
  let name = base;
  if (mods & MOD_SHIFT) {
    // A shifted letter is the capital; other shifted keys keep a prefix.
    name = base.length === 1 && base.toUpperCase() !== base ? base.toUpperCase() : `shift-${name}`;
  }
  if (mods & MOD_ALT) name = `alt-${name}`;
  if (mods & MOD_CTRL) name = `ctrl-${name}`;
  if (mods & MOD_SUPER) name = `super-${name}`;
  return name;
}

function nameOfCode(code: number): string {
  const named = CODE_NAMES[code];
  if (named) return named;
  // Kitty reports keys without a character (modifiers, media keys) in the private use area.
  if (code >= 0xe000 && code <= 0xf8ff) return `code-${code}`;
  return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : `code-${code}`;
}

/** One legacy (non-escape) character. */
function legacyKey(ch: string): KeyEvent {
  const code = ch.codePointAt(0) ?? 0;
  const named = CODE_NAMES[code];
  if (named) return press(named);
  if (code === 0) return press('ctrl-space');
  if (code < 27) return press(`ctrl-${String.fromCharCode(code + 96)}`);
  if (code < 32) return press(`code-${code}`);
  return press(ch);
}

/** Numbers of a `a:b:c` parameter; empty sub-parameters are undefined. */
function subParams(param: string | undefined): (number | undefined)[] {
  if (param === undefined || param === '') return [];
  return param.split(':').map((s) => (s === '' ? undefined : Number(s)));
}

/** A complete CSI sequence: parameter bytes, intermediates and the final byte. */
function csiEvent(params: string, final: string): InputEvent | null {
  if (params.startsWith('?')) {
    if (final === 'u') return { type: 'kitty-flags', flags: Number(params.slice(1)) || 0 };
    if (final === 'c') return { type: 'device-attributes' };
    return null;
  }
  if (/[^0-9;:]/.test(params)) return null; // other private sequences: not keys
  const fields = params.split(';');
  const [mods = 1, event] = subParams(fields[1]);
  const modBits = Math.max(0, mods - 1);
  const kind = kindOf(event);
  if (final === 'u') {
    const code = subParams(fields[0])[0];
    if (code === undefined) return null;
    // Ctrl with a letter is reported as the letter's code plus the ctrl bit.
    return press(withModifiers(nameOfCode(code), modBits), kind);
  }
  if (final === '~') {
    const name = TILDE_KEYS[subParams(fields[0])[0] ?? 0];
    return name ? press(withModifiers(name, modBits), kind) : null;
  }
  const name = LETTER_KEYS[final];
  return name ? press(withModifiers(name, modBits), kind) : null;
}

/**
 * Parses decoded terminal input. Pure: an unfinished escape sequence at the end comes
 * back as `rest`, to be prepended to the next chunk.
 *
 * A chunk that is exactly one ESC is the Escape key (terminals send a key press in one
 * write, so a lone ESC is not the start of a sequence still arriving). An ESC followed
 * by something that cannot continue a sequence is also Escape, and parsing goes on.
 */
export function parseInput(input: string): ParseResult {
  if (input === ESC) return { events: [press('escape')], rest: '' };
  const events: InputEvent[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch !== ESC) {
      const cp = input.codePointAt(i)!;
      const char = String.fromCodePoint(cp);
      events.push(legacyKey(char));
      i += char.length;
      continue;
    }
    const next = input[i + 1];
    if (next === undefined) return { events, rest: input.slice(i) };
    if (next === '[') {
      // CSI: parameter bytes 0x30–0x3F, intermediate bytes 0x20–0x2F, one final byte 0x40–0x7E.
      let j = i + 2;
      while (j < input.length && input.charCodeAt(j) >= 0x20 && input.charCodeAt(j) <= 0x3f) j++;
      if (j >= input.length) return { events, rest: input.slice(i) };
      const final = input.charCodeAt(j);
      if (final >= 0x40 && final <= 0x7e) {
        const event = csiEvent(input.slice(i + 2, j).replace(/[\x20-\x2f]+$/, ''), input[j]!);
        if (event) events.push(event);
        i = j + 1;
      } else {
        // Broken sequence: the ESC was a key of its own; re-read what follows it.
        events.push(press('escape'));
        i += 1;
      }
      continue;
    }
    if (next === 'O') {
      // SS3 (application cursor keys, F1–F4).
      const final = input[i + 2];
      if (final === undefined) return { events, rest: input.slice(i) };
      const name = LETTER_KEYS[final];
      if (name) events.push(press(name));
      i += 3;
      continue;
    }
    events.push(press('escape'));
    i += 1;
  }
  return { events, rest: '' };
}

/** Stateful wrapper: decodes UTF-8 across chunks and carries unfinished sequences over. */
export class KeyParser {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  push(chunk: Uint8Array | string): InputEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(Buffer.from(chunk));
    // A chunk of only ESC is the Escape key, even after an unfinished sequence.
    if (text === ESC) return [...this.flush(), press('escape')];
    const { events, rest } = parseInput(this.pending + text);
    this.pending = rest.length > MAX_PENDING ? '' : rest;
    return events;
  }

  /** True while an escape sequence is unfinished (call flush() if nothing follows soon). */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Gives up on an unfinished sequence: a lone ESC is the Escape key, anything longer is dropped. */
  flush(): InputEvent[] {
    const pending = this.pending;
    this.pending = '';
    return pending === ESC ? [press('escape')] : [];
  }
}
