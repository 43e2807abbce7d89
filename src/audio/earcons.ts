import { PIPELINE_RATE } from './frame.js';

export type EarconKind = 'wake' | 'done' | 'error';

/** Peak level of every earcon: −12 dBFS. */
export const EARCON_PEAK_DBFS = -12;
const FADE_MS = 8;

interface Note {
  /** Start and end frequency (Hz): a glide when they differ. */
  fromHz: number;
  toHz: number;
  ms: number;
  /** Silence after the note. */
  gapMs?: number;
  /** Exponential decay time constant (ms) for a struck, chime-like note; none for a steady beep. */
  decayMs?: number;
}

const SCORES: Record<EarconKind, Note[]> = {
  // E5 → A5, rising.
  wake: [
    { fromHz: 659.26, toHz: 659.26, ms: 70, decayMs: 90 },
    { fromHz: 880, toHz: 880, ms: 80, decayMs: 90 },
  ],
  // A5 gliding down to D5.
  done: [{ fromHz: 880, toHz: 587.33, ms: 120, decayMs: 120 }],
  // Two low beeps (A3): steady, so they read as a warning rather than a chime.
  error: [
    { fromHz: 220, toHz: 220, ms: 120, gapMs: 60 },
    { fromHz: 220, toHz: 220, ms: 120 },
  ],
};

function renderNote(note: Note, out: Float64Array, start: number): void {
  const n = Math.round((note.ms * PIPELINE_RATE) / 1000);
  const fade = Math.round((FADE_MS * PIPELINE_RATE) / 1000);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / PIPELINE_RATE;
    const hz = note.fromHz + ((note.toHz - note.fromHz) * i) / (n - 1);
    // A little second harmonic so the tone carries on small speakers.
    let v = Math.sin(phase) + 0.3 * Math.sin(2 * phase);
    phase += (2 * Math.PI * hz) / PIPELINE_RATE;
    if (note.decayMs !== undefined) v *= Math.exp((-t * 1000) / note.decayMs);
    // Raised-cosine fades reaching exactly 0 at the first and last sample: no clicks.
    if (i < fade) v *= 0.5 * (1 - Math.cos((Math.PI * i) / fade));
    if (n - 1 - i < fade) v *= 0.5 * (1 - Math.cos((Math.PI * (n - 1 - i)) / fade));
    out[start + i] = v;
  }
}

function render(kind: EarconKind): Int16Array {
  const score = SCORES[kind];
  const total = score.reduce((ms, note) => ms + note.ms + (note.gapMs ?? 0), 0);
  const buf = new Float64Array(Math.round((total * PIPELINE_RATE) / 1000));
  let at = 0;
  for (const note of score) {
    renderNote(note, buf, at);
    at += Math.round(((note.ms + (note.gapMs ?? 0)) * PIPELINE_RATE) / 1000);
  }
  let peak = 0;
  for (const v of buf) peak = Math.max(peak, Math.abs(v));
  const gain = (32767 * 10 ** (EARCON_PEAK_DBFS / 20)) / peak;
  const out = new Int16Array(buf.length);
  for (let i = 0; i < buf.length; i++) out[i] = Math.round(buf[i]! * gain);
  return out;
}

const cache = new Map<EarconKind, Int16Array>();

/** A short generated tone at 16 kHz, peak −12 dBFS; the same samples every call (a fresh copy each time). */
export function earcon(kind: EarconKind): Int16Array {
  let samples = cache.get(kind);
  if (!samples) {
    samples = render(kind);
    cache.set(kind, samples);
  }
  return samples.slice();
}
