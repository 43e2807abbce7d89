import type { PttMode } from './push-to-talk.js';

/** Latencies of the last turn (a TurnRecord fits). */
export interface TurnLatencies {
  voiceToVoiceMs?: number | null;
  sttFinalMs?: number | null;
  llmTtftMs?: number | null;
  ttsTtfbMs?: number | null;
  eouDelayMs?: number | null;
  bargeInStopMs?: number | null;
}

export interface PanelView {
  /** Machine state value, e.g. 'idle', 'listen.hearing', 'respond.think.confirm'. */
  state: string;
  /** Microphone level in dBFS (-Infinity..0). */
  level: number;
  pttMode: PttMode;
  interim: string;
  lastTranscript: string;
  reply: string;
  pending: { id: string; prompt: string }[];
  jobs: { id: string; task: string; status: string; detail?: string }[];
  lastTurn: TurnLatencies | null;
  /** One-line warnings, e.g. "microphone: retrying in 4 s (arecord exited…)". */
  notices: string[];
  /** The web page, when the server runs. */
  url?: string;
}

const MIN_COLUMNS = 20;
const METER_FLOOR_DB = -60;
const MAX_JOBS = 5;

/** Most specific first: the deepest known state segment names the state. */
const STATE_WORDS: Record<string, string> = {
  idle: 'idle',
  wake: 'woken',
  listen: 'listening',
  waiting: 'listening',
  hearing: 'hearing you',
  finalizing: 'transcribing',
  respond: 'thinking',
  think: 'thinking',
  working: 'thinking',
  confirm: 'asking you',
  speak: 'speaking',
  followUp: 'follow-up',
  error: 'error',
};

const LATENCIES: [keyof TurnLatencies, string][] = [
  ['voiceToVoiceMs', 'voice→voice'],
  ['sttFinalMs', 'stt'],
  ['llmTtftMs', 'llm'],
  ['ttsTtfbMs', 'tts'],
  ['eouDelayMs', 'eou'],
  ['bargeInStopMs', 'barge-in'],
];

/** A short human word for a machine state value. */
export function describeState(state: string): string {
  let word: string | undefined;
  for (const segment of state.split('.')) word = STATE_WORDS[segment] ?? word;
  return word ?? state;
}

/** "voice→voice 820 ms · stt 210 ms · …", skipping what the turn did not measure. */
export function formatLatencies(turn: TurnLatencies): string {
  return LATENCIES.flatMap(([key, label]) => {
    const ms = turn[key];
    return typeof ms === 'number' && Number.isFinite(ms) ? [`${label} ${Math.round(ms)} ms`] : [];
  }).join(' · ');
}

/** Columns a code point takes: 0 for combining marks, 2 for wide (CJK, emoji), else 1. */
function charWidth(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || cp === 0xfe0f) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Display width of a string (no escape sequences in it). */
export function textWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += charWidth(ch.codePointAt(0)!);
  return width;
}

/**
 * Text from the outside (transcripts, LLM replies, job details) on one line: control
 * characters would move the cursor or inject escape sequences into the terminal.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** Cuts a line to `width` columns, ending in '…' when something was cut. */
export function fitWidth(text: string, width: number): string {
  if (textWidth(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const w = charWidth(ch.codePointAt(0)!);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/** Word-wraps one line of text to at most `maxLines` lines; the last one ends in '…' if cut. */
function wrap(text: string, width: number, maxLines: number): string[] {
  const lines: string[] = [];
  let line = '';
  const words = text.split(' ');
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const candidate = line ? `${line} ${word}` : word;
    if (textWidth(candidate) <= width || !line) {
      line = candidate;
      continue;
    }
    if (lines.length === maxLines - 1) {
      lines.push(fitWidth(`${line} ${words.slice(i).join(' ')}`, width));
      return lines;
    }
    lines.push(line);
    line = word;
  }
  if (line) lines.push(line);
  return lines.map((l) => fitWidth(l, width));
}

/** "▕██████░░░░░░▏ -32 dBFS": -60 dBFS and below is an empty bar. */
export function levelMeter(levelDb: number, barWidth: number): string {
  const db = Number.isNaN(levelDb) ? -Infinity : Math.min(0, levelDb);
  const fraction = Math.max(0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB);
  const filled = Math.round(fraction * barWidth);
  const label = db === -Infinity ? '-∞' : String(Math.round(db));
  return `▕${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}▏ ${label.padStart(3)} dBFS`;
}

function pttHint(mode: PttMode): string {
  return mode === 'hold' ? 'space: hold to talk' : 'space: press to talk, again to stop';
}

/** The panel as lines, each at most `columns` wide. Pure. */
export function renderPanel(view: PanelView, columns: number): string[] {
  const width = Math.max(MIN_COLUMNS, Math.floor(columns) || MIN_COLUMNS);
  const lines: string[] = [];
  const labelled = (label: string, text: string, maxLines: number) => {
    const pad = ' '.repeat(label.length);
    wrap(oneLine(text), width - label.length, maxLines).forEach((l, i) => lines.push(`${i ? pad : label}${l}`));
  };

  lines.push(`KAI · ${describeState(view.state)} (${view.state})`);
  const barWidth = Math.max(5, Math.min(30, width - 16));
  lines.push(`mic ${levelMeter(view.level, barWidth)}`);
  if (view.interim) labelled('… ', view.interim, 2);
  if (view.lastTranscript) labelled('you: ', view.lastTranscript, 2);
  if (view.reply) labelled('kai: ', view.reply, 4);
  for (const p of view.pending) labelled(`approve (y/n)? [${oneLine(p.id)}] `, p.prompt, 2);
  for (const job of view.jobs.slice(0, MAX_JOBS)) {
    const detail = job.detail ? ` — ${oneLine(job.detail)}` : '';
    lines.push(`job ${oneLine(job.id)} ${oneLine(job.status)}: ${oneLine(job.task)}${detail}`);
  }
  if (view.jobs.length > MAX_JOBS) lines.push(`… ${view.jobs.length - MAX_JOBS} more jobs`);
  if (view.lastTurn) {
    const latencies = formatLatencies(view.lastTurn);
    if (latencies) lines.push(`last turn: ${latencies}`);
  }
  for (const notice of view.notices) lines.push(`! ${oneLine(notice)}`);
  if (view.url) lines.push(`web: ${oneLine(view.url)}`);
  lines.push(`${pttHint(view.pttMode)} · esc: cancel · q: quit`);
  return lines.map((l) => fitWidth(l, width));
}

/** The stream the panel is drawn on (`process.stdout`, or a fake with `columns`). */
export interface ScreenOutput {
  write(text: string): unknown;
  columns?: number;
  rows?: number;
  destroyed?: boolean;
  writableEnded?: boolean;
  on?(event: 'resize', listener: () => void): unknown;
  removeListener?(event: 'resize', listener: () => void): unknown;
}

export interface ScreenOptions {
  /** At most this many redraws per second (default 20). */
  maxFps?: number;
  /** Draw on the alternate screen (restored on close) instead of in place below the cursor. */
  alternateScreen?: boolean;
  render?: (view: PanelView, columns: number) => string[];
}

const CSI = '\x1b[';
const HIDE_CURSOR = `${CSI}?25l`;
const SHOW_CURSOR = `${CSI}?25h`;
const ALT_SCREEN_ON = `${CSI}?1049h`;
const ALT_SCREEN_OFF = `${CSI}?1049l`;
const CLEAR_LINE = `${CSI}2K`;
const CLEAR_BELOW = `${CSI}J`;

/** Redraws the panel in place, throttled. */
export class Screen {
  private view: PanelView | undefined;
  private drawnLines = 0;
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private readonly minIntervalMs: number;
  private readonly render: (view: PanelView, columns: number) => string[];
  private readonly onResize = (): void => {
    // Lines drawn for the old width may have re-wrapped: start over from a clean screen.
    if (!this.options.alternateScreen) this.write(`${CSI}2J${CSI}H`);
    this.drawnLines = 0;
    this.draw();
  };

  constructor(
    private readonly output: ScreenOutput,
    private readonly options: ScreenOptions = {},
  ) {
    this.minIntervalMs = 1000 / (options.maxFps ?? 20);
    this.render = options.render ?? renderPanel;
  }

  /** Shows this view: now, or at the end of the current throttle interval. */
  update(view: PanelView): void {
    if (this.closed) return;
    this.view = view;
    if (this.timer) return;
    const wait = this.lastDrawAt + this.minIntervalMs - Date.now();
    if (wait <= 0) {
      this.draw();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, wait);
    this.timer.unref?.();
  }

  /** Draws the latest view now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.draw();
  }

  /**
   * Draws the last view, shows the cursor and leaves the alternate screen. Idempotent and
   * synchronous (safe in an 'exit' handler).
   */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.output.removeListener?.('resize', this.onResize);
    if (!this.started) return;
    this.write(this.options.alternateScreen ? SHOW_CURSOR + ALT_SCREEN_OFF : `\r\n${SHOW_CURSOR}`);
  }

  private start(): void {
    this.started = true;
    this.output.on?.('resize', this.onResize);
    this.write(this.options.alternateScreen ? ALT_SCREEN_ON + HIDE_CURSOR : HIDE_CURSOR);
  }

  private draw(): void {
    if (this.closed || !this.view) return;
    if (!this.started) this.start();
    this.lastDrawAt = Date.now();
    // One column spare: writing the last column leaves xterm-like terminals in a pending wrap.
    const columns = Math.max(MIN_COLUMNS, (this.output.columns ?? 80) - 1);
    let lines = this.render(this.view, columns);
    // Lines scrolled off the top cannot be reached again to redraw them.
    const rows = this.output.rows;
    if (rows && lines.length > rows - 1) lines = lines.slice(0, Math.max(1, rows - 1));
    let frame: string;
    if (this.options.alternateScreen) {
      frame = `${CSI}H`;
    } else {
      frame = this.drawnLines > 1 ? `\r${CSI}${this.drawnLines - 1}A` : '\r';
    }
    frame += lines.map((l) => CLEAR_LINE + l).join('\r\n') + CLEAR_BELOW;
    this.drawnLines = lines.length;
    this.write(frame);
  }

  private write(text: string): void {
    if (this.output.destroyed || this.output.writableEnded) return;
    try {
      this.output.write(text);
    } catch {
      // The terminal went away; nothing to draw on.
    }
  }
}
