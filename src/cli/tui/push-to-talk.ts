import { DA1_QUERY, KITTY_POP, KITTY_PUSH, KITTY_QUERY, KeyParser, type InputEvent, type KeyEvent } from './keys.js';

/** 'hold': the terminal reports key releases (Kitty protocol); 'toggle': it does not. */
export type PttMode = 'hold' | 'toggle';
export type PttAction = 'start' | 'stop' | 'toggle' | 'cancel' | 'quit';

/** The part of `process.stdin` this needs (a PassThrough with stubs in tests). */
export interface KeyInput {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(raw: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  removeListener(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  pause?(): unknown;
}

export interface KeyOutput {
  write(text: string): unknown;
  destroyed?: boolean;
  writableEnded?: boolean;
}

export interface TerminalKeysOptions {
  input: KeyInput;
  output: KeyOutput;
  onAction: (action: PttAction) => void;
  /** Called once, when the mode is known (`mode` is 'toggle' until then). */
  onModeChange?: (mode: PttMode) => void;
  /** Every key that is not bound to an action (e.g. 'y'/'n' for approvals). */
  onKey?: (event: KeyEvent) => void;
  /** How long to wait for the terminal's answer to the protocol query. */
  detectTimeoutMs?: number;
  /** Restore the terminal from a process 'exit' handler if close() was not called. */
  restoreOnExit?: boolean;
  now?: () => number;
}

const DEFAULT_DETECT_MS = 300;
/** How long an unfinished escape sequence may wait for its end before a lone ESC counts as Escape. */
const ESCAPE_FLUSH_MS = 50;
/**
 * In toggle mode a held space arrives as a stream of spaces (auto-repeat, ~30/s): one
 * that follows the previous space this quickly is a repeat, not a new press.
 */
const TOGGLE_REPEAT_GAP_MS = 150;

/** Push-to-talk keys on a terminal: space to talk, Esc to cancel, q or Ctrl-C to quit. */
export class TerminalKeys {
  private currentMode: PttMode = 'toggle';
  private detected = false;
  private closed = false;
  private held = false;
  private lastSpaceAt = Number.NEGATIVE_INFINITY;
  private readonly parser = new KeyParser();
  private readonly wasRaw: boolean;
  private readonly usesTerminal: boolean;
  private detectTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private resolveReady!: (mode: PttMode) => void;
  private readonly onData = (chunk: Buffer | string): void => this.receive(chunk);
  private readonly onExit = (): void => this.close();
  private readonly now: () => number;

  /** Resolves with the mode once the terminal answered (or did not, in time). */
  readonly ready: Promise<PttMode>;

  constructor(private readonly options: TerminalKeysOptions) {
    this.now = options.now ?? Date.now;
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    const { input, output } = options;
    this.wasRaw = input.isRaw === true;
    this.usesTerminal = input.isTTY === true && typeof input.setRawMode === 'function';
    input.on('data', this.onData);
    if (options.restoreOnExit ?? true) process.once('exit', this.onExit);
    if (!this.usesTerminal) {
      this.decide('toggle');
      return;
    }
    input.setRawMode?.(true);
    this.write(output, KITTY_PUSH + KITTY_QUERY + DA1_QUERY);
    this.detectTimer = setTimeout(() => this.decide('toggle'), options.detectTimeoutMs ?? DEFAULT_DETECT_MS);
    this.detectTimer.unref?.();
  }

  get mode(): PttMode {
    return this.currentMode;
  }

  /** Pops the keyboard flags and leaves raw mode. Idempotent; synchronous, so safe in an 'exit' handler. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.detectTimer);
    clearTimeout(this.flushTimer);
    process.removeListener('exit', this.onExit);
    const { input, output } = this.options;
    input.removeListener('data', this.onData);
    if (this.usesTerminal) {
      this.write(output, KITTY_POP);
      try {
        input.setRawMode?.(this.wasRaw);
      } catch {
        // The terminal is already gone (e.g. the tty closed while exiting).
      }
    }
    // Reading keeps the event loop alive: let the process exit once nothing else runs.
    input.pause?.();
    this.decide(this.currentMode);
  }

  private write(output: KeyOutput, text: string): void {
    if (output.destroyed || output.writableEnded) return;
    try {
      output.write(text);
    } catch {
      // Nothing useful to do when the terminal cannot be written to.
    }
  }

  private decide(mode: PttMode): void {
    if (this.detected) return;
    this.detected = true;
    clearTimeout(this.detectTimer);
    this.currentMode = mode;
    this.resolveReady(mode);
    if (!this.closed) this.options.onModeChange?.(mode);
  }

  private receive(chunk: Buffer | string): void {
    if (this.closed) return;
    clearTimeout(this.flushTimer);
    for (const event of this.parser.push(chunk)) this.handle(event);
    if (this.parser.hasPending) {
      this.flushTimer = setTimeout(() => {
        for (const event of this.parser.flush()) this.handle(event);
      }, ESCAPE_FLUSH_MS);
      this.flushTimer.unref?.();
    }
  }

  private handle(event: InputEvent): void {
    if (this.closed) return;
    if (event.type === 'kitty-flags') {
      // Hold needs release events: flag 2 (report event types) must be active.
      this.decide(event.flags & 2 ? 'hold' : 'toggle');
      return;
    }
    if (event.type === 'device-attributes') {
      // Terminals answer in order: DA1 first means the Kitty query went unanswered.
      this.decide('toggle');
      return;
    }
    this.key(event);
  }

  private key(event: KeyEvent): void {
    const { onAction } = this.options;
    if (event.key === 'space') {
      this.space(event);
      return;
    }
    if (event.kind !== 'press') return;
    if (event.key === 'escape') {
      this.held = false;
      onAction('cancel');
    } else if (event.key === 'ctrl-c' || event.key === 'q') {
      onAction('quit');
    } else {
      this.options.onKey?.(event);
    }
  }

  private space(event: KeyEvent): void {
    const { onAction } = this.options;
    if (this.currentMode === 'hold') {
      // With flags 3 a terminal may send the press and its repeats as plain spaces and
      // only the release as a sequence: a press while held is a repeat.
      if (event.kind === 'press' && !this.held) {
        this.held = true;
        onAction('start');
      } else if (event.kind === 'release' && this.held) {
        this.held = false;
        onAction('stop');
      }
      return;
    }
    if (event.kind !== 'press') return;
    const now = this.now();
    const isRepeat = now - this.lastSpaceAt < TOGGLE_REPEAT_GAP_MS;
    this.lastSpaceAt = now;
    if (!isRepeat) onAction('toggle');
  }
}
