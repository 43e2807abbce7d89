import { RealFft } from './fft.js';

/*
 * Partitioned-block frequency-domain adaptive filter, overlap-save, block N, FFT 2N.
 * Spectra are in RealFft's packed layout: [DC, Nyquist, re1, im1, …]; both DC and Nyquist are real.
 */

/** The frequency-domain delay line: spectra of the last P reference frames (previous block + current block). */
export class ReferenceSpectra {
  readonly partitions: number;
  readonly blockSize: number;
  /** Σ over partitions of |X_p|² per bin (N + 1 bins): the normalization of the NLMS step. */
  readonly power: Float64Array;
  private readonly slots: Float64Array[];
  private readonly slotPower: Float64Array[];
  private head = 0;

  constructor(
    partitions: number,
    blockSize: number,
    private readonly fft: RealFft,
  ) {
    this.partitions = partitions;
    this.blockSize = blockSize;
    this.slots = Array.from({ length: partitions }, () => new Float64Array(2 * blockSize));
    this.slotPower = Array.from({ length: partitions }, () => new Float64Array(blockSize + 1));
    this.power = new Float64Array(blockSize + 1);
  }

  /** out[k] = Σ_p gain[p]·|X_p(k)|² (N + 1 bins): the normalization when partitions adapt at different rates. */
  weightedPower(gain: Float64Array, out: Float64Array): void {
    out.fill(0);
    for (let p = 0; p < this.partitions; p++) {
      const g = gain[p]!;
      const pw = this.slotPower[(this.head + p) % this.partitions]!;
      for (let k = 0; k < out.length; k++) out[k] = out[k]! + g * pw[k]!;
    }
  }

  /** Σ_k |X_p(k)|² of the frame `p` blocks back. */
  energyOf(p: number): number {
    const pw = this.slotPower[(this.head + p) % this.partitions]!;
    let e = 0;
    for (let k = 0; k < pw.length; k++) e += pw[k]!;
    return e;
  }

  /** Spectrum of the frame `p` blocks back (0 = newest). */
  slot(p: number): Float64Array {
    return this.slots[(this.head + p) % this.partitions]!;
  }

  /** Adds the newest frame: 2N time samples (previous block, then the current one), transformed in place of the oldest. */
  push(frame: Float64Array): void {
    this.head = (this.head + this.partitions - 1) % this.partitions;
    this.write(0, frame);
  }

  /** Replaces the frame `p` blocks back (used when reference audio arrived late). */
  replace(p: number, frame: Float64Array): void {
    this.write(p, frame);
  }

  clear(): void {
    for (const s of this.slots) s.fill(0);
    for (const s of this.slotPower) s.fill(0);
    this.power.fill(0);
    this.head = 0;
  }

  private write(p: number, frame: Float64Array): void {
    const idx = (this.head + p) % this.partitions;
    const spec = this.slots[idx]!;
    const pw = this.slotPower[idx]!;
    const total = this.power;
    spec.set(frame);
    this.fft.forward(spec);
    const n = this.blockSize;
    for (let k = 0; k <= n; k++) {
      let v: number;
      if (k === 0) v = spec[0]! * spec[0]!;
      else if (k === n) v = spec[1]! * spec[1]!;
      else v = spec[2 * k]! * spec[2 * k]! + spec[2 * k + 1]! * spec[2 * k + 1]!;
      const t = total[k]! + v - pw[k]!;
      total[k] = t > 0 ? t : 0;
      pw[k] = v;
    }
  }
}

/** One set of partition weights W_p (packed spectra of N-tap pieces of the impulse response, zero-padded to 2N). */
export class PartitionedFilter {
  readonly partitions: number;
  readonly blockSize: number;
  private readonly weights: Float64Array[];
  private readonly scratch: Float64Array;
  /** Round-robin position of the gradient constraint. */
  private nextConstrained = 0;

  constructor(
    partitions: number,
    blockSize: number,
    private readonly fft: RealFft,
  ) {
    this.partitions = partitions;
    this.blockSize = blockSize;
    this.weights = Array.from({ length: partitions }, () => new Float64Array(2 * blockSize));
    this.scratch = new Float64Array(2 * blockSize);
  }

  /** Echo estimate spectrum: out = Σ_p W_p·X_p. The last N samples of its inverse FFT are the estimate for the block. */
  filter(x: ReferenceSpectra, out: Float64Array): void {
    out.fill(0);
    const len = 2 * this.blockSize;
    for (let p = 0; p < this.partitions; p++) {
      const w = this.weights[p]!;
      const s = x.slot(p);
      out[0] = out[0]! + w[0]! * s[0]!;
      out[1] = out[1]! + w[1]! * s[1]!;
      for (let i = 2; i < len; i += 2) {
        const wr = w[i]!;
        const wi = w[i + 1]!;
        const sr = s[i]!;
        const si = s[i + 1]!;
        out[i] = out[i]! + wr * sr - wi * si;
        out[i + 1] = out[i + 1]! + wr * si + wi * sr;
      }
    }
  }

  /**
   * NLMS step: W_p += gain(p)·step(k)·conj(X_p)·E, where E is the spectrum of [0…0, error block], step(k) holds
   * μ / (Σ_p gain(p)·|X_p(k)|² + δ) and gain(p) comes from `proportionateGains`. The gradient constraint (zeroing the second half of each partition's impulse
   * response) costs two FFTs per partition, so it is applied to `constrainPerBlock` partitions per call in turn, as
   * WebRTC's AEC3 does; the unconstrained remainder is removed when a partition's turn comes.
   */
  adapt(x: ReferenceSpectra, error: Float64Array, step: Float64Array, gain: Float64Array, constrainPerBlock: number): void {
    const n = this.blockSize;
    const len = 2 * n;
    for (let p = 0; p < this.partitions; p++) {
      const w = this.weights[p]!;
      const s = x.slot(p);
      const gp = gain[p]!;
      w[0] = w[0]! + s[0]! * error[0]! * step[0]! * gp;
      w[1] = w[1]! + s[1]! * error[1]! * step[n]! * gp;
      for (let i = 2, k = 1; i < len; i += 2, k++) {
        const g = step[k]! * gp;
        const er = error[i]! * g;
        const ei = error[i + 1]! * g;
        const sr = s[i]!;
        const si = s[i + 1]!;
        w[i] = w[i]! + sr * er + si * ei;
        w[i + 1] = w[i + 1]! + sr * ei - si * er;
      }
    }
    const count = Math.min(constrainPerBlock, this.partitions);
    for (let c = 0; c < count; c++) {
      this.constrain(this.weights[this.nextConstrained]!);
      this.nextConstrained = (this.nextConstrained + 1) % this.partitions;
    }
  }

  /**
   * Per-partition step weights of the improved proportionate NLMS (IPNLMS, α = −0.5 … 0.5): partitions that already
   * hold much of the impulse response adapt faster. Room responses decay exponentially, so this speeds up
   * convergence a lot over plain NLMS, which spreads the step evenly over the whole tail. Weights average 1.
   */
  proportionateGains(alpha: number, out: Float64Array): void {
    this.partitionEnergies(out);
    let total = 0;
    for (let p = 0; p < this.partitions; p++) {
      out[p] = Math.sqrt(out[p]!);
      total += out[p]!;
    }
    const P = this.partitions;
    for (let p = 0; p < P; p++) {
      out[p] = total > 0 ? (1 - alpha) / 2 + ((1 + alpha) * P * out[p]!) / (2 * total) : 1;
    }
  }

  /** Σ|W_p|² per partition: where along the tail the modeled echo energy lies. Returns the total. */
  partitionEnergies(out: Float64Array): number {
    let total = 0;
    for (let p = 0; p < this.partitions; p++) {
      const w = this.weights[p]!;
      let e = 0;
      for (let i = 0; i < w.length; i++) e += w[i]! * w[i]!;
      out[p] = e;
      total += e;
    }
    return total;
  }

  copyFrom(other: PartitionedFilter): void {
    for (let p = 0; p < this.partitions; p++) this.weights[p]!.set(other.weights[p]!);
  }

  clear(): void {
    for (const w of this.weights) w.fill(0);
    this.nextConstrained = 0;
  }

  /**
   * Moves the modeled impulse response `samples` earlier (positive) or later (negative), as when the bulk delay in
   * front of the filter grows or shrinks by that much, so a converged filter stays converged.
   */
  shift(samples: number): void {
    if (samples === 0) return;
    const n = this.blockSize;
    const total = n * this.partitions;
    const h = this.impulseResponse();
    for (let p = 0; p < this.partitions; p++) {
      const w = this.weights[p]!;
      w.fill(0);
      for (let j = 0; j < n; j++) {
        const src = p * n + j + samples;
        if (src >= 0 && src < total) w[j] = h[src]!;
      }
      this.fft.forward(w);
    }
  }

  /** Lag (samples) of the largest tap of the modeled impulse response, or null when the filter is empty. */
  peakLag(): number | null {
    const h = this.impulseResponse();
    let best = -1;
    let peak = 0;
    for (let j = 0; j < h.length; j++) {
      const v = Math.abs(h[j]!);
      if (v > peak) {
        peak = v;
        best = j;
      }
    }
    return best < 0 ? null : best;
  }

  private impulseResponse(): Float64Array {
    const n = this.blockSize;
    const h = new Float64Array(n * this.partitions);
    for (let p = 0; p < this.partitions; p++) {
      const w = this.scratch;
      w.set(this.weights[p]!);
      this.fft.inverse(w);
      h.set(w.subarray(0, n), p * n);
    }
    return h;
  }

  private constrain(w: Float64Array): void {
    const n = this.blockSize;
    this.fft.inverse(w);
    w.fill(0, n);
    this.fft.forward(w);
  }
}

/** Echo estimate in the time domain: the last N samples of the inverse FFT of `spectrum` (which is overwritten). */
export function overlapSaveOutput(fft: RealFft, spectrum: Float64Array, out: Float64Array): void {
  fft.inverse(spectrum);
  out.set(spectrum.subarray(out.length, 2 * out.length));
}

/** Spectrum of [0…0, block] (the error as the overlap-save gradient needs it), into `out` (2N). */
export function errorSpectrum(fft: RealFft, block: Float64Array, out: Float64Array): void {
  out.fill(0, 0, block.length);
  out.set(block, block.length);
  fft.forward(out);
}
