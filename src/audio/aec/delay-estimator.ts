import { RealFft } from './fft.js';

export interface DelayEstimate {
  /** Reference → microphone delay of the strongest (direct) echo path. */
  delayMs: number;
  /** 0..1: how clearly the correlation peak stands out. */
  confidence: number;
}

/** Fills `out` with reference samples starting at absolute sample index `start` (silence where none was played). */
export type ReferenceReader = (start: number, out: Float64Array) => void;

export interface DelayEstimatorOptions {
  sampleRate?: number;
  maxDelayMs?: number;
  /** Microphone samples per analysis (default 2048: an update every 128 ms at 16 kHz). */
  segment?: number;
  /** Time constant of the averaged cross-spectrum, seconds. */
  memorySeconds?: number;
  /** Band used for the correlation, Hz. */
  lowHz?: number;
  highHz?: number;
}

const MIN_CONFIDENCE = 0.35;
const SWITCH_CONFIDENCE = 0.5;
/** Analyses in a row that must agree on a new delay before it replaces the current one. */
const SWITCH_AGREEMENT = 3;
/** Mean square below which a segment of reference counts as silence (−70 dBFS). */
const SILENT_REF = 1e-7;

/**
 * Bulk delay between the reference (what was played) and the microphone, by generalized cross-correlation with
 * phase transform (GCC-PHAT) over a band-limited, exponentially averaged cross-spectrum.
 *
 * Each analysis correlates one microphone segment [t, t+B) with the reference [t−L, t+B) (L = max delay) in one
 * FFT of size ≥ L+B, so every lag 0..L is a true linear correlation. The per-segment cross-spectra are
 * normalized by the segment energies before averaging, so segments where the near-end talker dominates the
 * microphone weigh little; PHAT then whitens the average so the direct path gives a sharp peak. A new delay only
 * replaces the current one after several analyses agree on it with good confidence.
 */
export class DelayEstimator {
  private readonly sampleRate: number;
  private readonly maxLag: number;
  private readonly segment: number;
  private readonly fft: RealFft;
  private readonly size: number;
  private readonly lowBin: number;
  private readonly highBin: number;
  private readonly decay: number;
  private readonly mic: Float64Array;
  private micFill = 0;
  /** Absolute index of mic[0]. */
  private micStart = 0;
  private readonly ref: Float64Array;
  private readonly bufMic: Float64Array;
  private readonly bufRef: Float64Array;
  /** Averaged cross-spectrum (packed, like the FFT's output). */
  private readonly cross: Float64Array;
  private readonly corr: Float64Array;
  private current: DelayEstimate | null = null;
  private candidate = -1;
  private candidateCount = 0;
  private analyses = 0;

  constructor(
    private readonly readReference: ReferenceReader,
    options: DelayEstimatorOptions = {},
  ) {
    this.sampleRate = options.sampleRate ?? 16_000;
    this.maxLag = Math.round(((options.maxDelayMs ?? 300) * this.sampleRate) / 1000);
    this.segment = options.segment ?? 2048;
    let size = 4;
    while (size < this.maxLag + this.segment) size *= 2;
    this.size = size;
    this.fft = new RealFft(size);
    const hzPerBin = this.sampleRate / size;
    this.lowBin = Math.max(1, Math.round((options.lowHz ?? 200) / hzPerBin));
    this.highBin = Math.min(size / 2 - 1, Math.round((options.highHz ?? 5000) / hzPerBin));
    this.decay = Math.exp(-this.segment / this.sampleRate / (options.memorySeconds ?? 1));
    this.mic = new Float64Array(this.segment);
    this.ref = new Float64Array(this.maxLag + this.segment);
    this.bufMic = new Float64Array(size);
    this.bufRef = new Float64Array(size);
    this.cross = new Float64Array(size);
    this.corr = new Float64Array(size);
  }

  get estimate(): DelayEstimate | null {
    return this.current;
  }

  /** Feeds microphone samples whose first sample is at absolute index `start`; true when the estimate changed. */
  push(samples: Float64Array, start: number): boolean {
    if (this.micFill > 0 && start !== this.micStart + this.micFill) this.micFill = 0;
    let changed = false;
    let offset = 0;
    while (offset < samples.length) {
      if (this.micFill === 0) this.micStart = start + offset;
      const take = Math.min(samples.length - offset, this.segment - this.micFill);
      this.mic.set(samples.subarray(offset, offset + take), this.micFill);
      this.micFill += take;
      offset += take;
      if (this.micFill === this.segment) {
        changed = this.analyze() || changed;
        this.micFill = 0;
      }
    }
    return changed;
  }

  reset(): void {
    this.micFill = 0;
    this.cross.fill(0);
    this.current = null;
    this.candidate = -1;
    this.candidateCount = 0;
    this.analyses = 0;
  }

  private analyze(): boolean {
    const { size, segment, maxLag } = this;
    this.readReference(this.micStart - maxLag, this.ref);
    const refEnergy = sumSquares(this.ref);
    if (refEnergy / this.ref.length < SILENT_REF) return false;
    const micEnergy = sumSquares(this.mic);
    if (micEnergy === 0) return false;

    this.bufMic.fill(0);
    this.bufMic.set(this.mic);
    this.bufRef.fill(0);
    this.bufRef.set(this.ref);
    this.fft.forward(this.bufMic);
    this.fft.forward(this.bufRef);
    // conj(D)·X, scaled by the segment energies; zero outside the band.
    const norm = 1 / Math.sqrt(refEnergy * micEnergy);
    const { cross, bufMic: d, bufRef: x, decay } = this;
    cross[0] = 0;
    cross[1] = 0;
    for (let k = 1; k < size / 2; k++) {
      const i = 2 * k;
      if (k < this.lowBin || k > this.highBin) {
        cross[i] = 0;
        cross[i + 1] = 0;
        continue;
      }
      const dr = d[i]!;
      const di = d[i + 1]!;
      const xr = x[i]!;
      const xi = x[i + 1]!;
      cross[i] = decay * cross[i]! + norm * (dr * xr + di * xi);
      cross[i + 1] = decay * cross[i + 1]! + norm * (dr * xi - di * xr);
    }
    this.analyses++;

    const corr = this.corr;
    corr[0] = 0;
    corr[1] = 0;
    for (let i = 2; i < size; i += 2) {
      const re = cross[i]!;
      const im = cross[i + 1]!;
      const mag = Math.sqrt(re * re + im * im);
      const w = mag > 0 ? 1 / mag : 0;
      corr[i] = re * w;
      corr[i + 1] = im * w;
    }
    this.fft.inverse(corr);

    // Lag τ sits at index L − τ.
    let best = 0;
    let peak = -Infinity;
    let total = 0;
    for (let lag = 0; lag <= maxLag; lag++) {
      const v = corr[maxLag - lag]!;
      total += v * v;
      if (v > peak) {
        peak = v;
        best = lag;
      }
    }
    const guard = Math.round(this.sampleRate / 500);
    let near = 0;
    for (let lag = Math.max(0, best - guard); lag <= Math.min(maxLag, best + guard); lag++) near += corr[maxLag - lag]! ** 2;
    const count = maxLag + 1 - (Math.min(maxLag, best + guard) - Math.max(0, best - guard) + 1);
    const rms = Math.sqrt(Math.max(total - near, 1e-30) / Math.max(1, count));
    const score = peak / rms;
    // With no correlation, the largest of ~5000 Gaussian lags is ≈ 4σ; a clear echo peak is 10σ or more.
    const confidence = clamp((score - 6) / 10, 0, 1);
    return this.decide(best, confidence);
  }

  private decide(lag: number, confidence: number): boolean {
    const delayMs = (lag * 1000) / this.sampleRate;
    const tolerance = Math.round(this.sampleRate / 1000);
    const cur = this.current;
    if (cur === null) {
      if (confidence < MIN_CONFIDENCE) return false;
      this.current = { delayMs, confidence };
      return true;
    }
    const currentLag = Math.round((cur.delayMs * this.sampleRate) / 1000);
    if (Math.abs(lag - currentLag) <= tolerance) {
      this.candidateCount = 0;
      cur.confidence = 0.7 * cur.confidence + 0.3 * confidence;
      if (lag === currentLag) return false;
      cur.delayMs = delayMs;
      return true;
    }
    cur.confidence = 0.7 * cur.confidence + 0.3 * (confidence * 0.5);
    if (confidence < SWITCH_CONFIDENCE) {
      this.candidateCount = 0;
      return false;
    }
    if (this.candidateCount > 0 && Math.abs(lag - this.candidate) <= tolerance) this.candidateCount++;
    else this.candidateCount = 1;
    this.candidate = lag;
    if (this.candidateCount < SWITCH_AGREEMENT) return false;
    this.current = { delayMs, confidence };
    this.candidateCount = 0;
    return true;
  }
}

function sumSquares(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
