/**
 * Band-limited sample-rate conversion: a Kaiser-windowed sinc evaluated as a polyphase
 * filter bank, usable on a live stream chunk by chunk.
 */

export interface ResamplerOptions {
  /** End of the flat passband as a fraction of the lower Nyquist frequency (default 0.85). */
  passband?: number;
  /** Attenuation from the lower Nyquist frequency upward, in dB (default 80). */
  attenuationDb?: number;
}

/** Beyond this many coefficients an exact table per phase is too big; phases are interpolated instead. */
const MAX_EXACT_TABLE = 1 << 18;
const INTERPOLATED_PHASES = 512;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-16) break;
  }
  return sum;
}

function checkRate(name: string, rate: number): void {
  if (!Number.isInteger(rate) || rate <= 0) throw new RangeError(`${name} must be a positive integer, got ${rate}`);
}

interface FilterBank {
  /** Taps on each side of the output instant. */
  half: number;
  taps: number;
  rows: number;
  exact: boolean;
  coeffs: Float64Array;
}

function designFilter(inRate: number, outRate: number, l: number, options: ResamplerOptions): FilterBank {
  const passband = options.passband ?? 0.85;
  const attenuation = options.attenuationDb ?? 80;
  if (!(passband > 0 && passband < 1)) throw new RangeError(`passband must be between 0 and 1, got ${passband}`);
  if (!(attenuation >= 20 && attenuation <= 200)) {
    throw new RangeError(`attenuationDb must be between 20 and 200, got ${attenuation}`);
  }
  const nyquist = Math.min(inRate, outRate) / 2;
  // Everything below is in units of input samples (frequencies in cycles per input sample).
  const transition = ((1 - passband) * nyquist) / inRate;
  const cutoff = ((1 + passband) * nyquist) / inRate; // 2·fc/fs of the ideal low-pass
  const length = (attenuation - 7.95) / (2.285 * 2 * Math.PI * transition) + 1;
  const halfWidth = (length - 1) / 2;
  const beta = attenuation > 50 ? 0.1102 * (attenuation - 8.7) : 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21);
  const i0Beta = besselI0(beta);
  const half = Math.max(1, Math.ceil(halfWidth));
  const taps = 2 * half;
  const exact = l * taps <= MAX_EXACT_TABLE;
  const rows = exact ? l : INTERPOLATED_PHASES + 1;
  const coeffs = new Float64Array(rows * taps);
  for (let r = 0; r < rows; r++) {
    const frac = exact ? r / l : r / INTERPOLATED_PHASES;
    let sum = 0;
    for (let i = 0; i < taps; i++) {
      const t = frac + half - 1 - i; // distance from the output instant to input sample i
      const x = t / halfWidth;
      if (Math.abs(x) >= 1) continue;
      const arg = Math.PI * cutoff * t;
      const sinc = arg === 0 ? 1 : Math.sin(arg) / arg;
      const c = cutoff * sinc * (besselI0(beta * Math.sqrt(1 - x * x)) / i0Beta);
      coeffs[r * taps + i] = c;
      sum += c;
    }
    // Unit DC gain on every phase, so a constant signal carries no phase-dependent ripple.
    for (let i = 0; i < taps; i++) coeffs[r * taps + i]! /= sum;
  }
  return { half, taps, rows, exact, coeffs };
}

/**
 * Converts a stream from `inRate` to `outRate`. The filter is centred on each output instant,
 * so output sample j sits at input time j·in/out: the concatenated output of process() and
 * flush() is time-aligned with the input and has ceil(n·out/in) samples for n input samples,
 * however the input was split into chunks (the result is bit-identical).
 * Live latency is `latencyMs`: process() holds back the last half-filter of input until flush().
 */
export class StreamingResampler {
  readonly inRate: number;
  readonly outRate: number;
  private readonly l: number;
  private readonly stepWhole: number;
  private readonly stepFrac: number;
  private readonly bank: FilterBank | null;
  private hist: Float32Array;
  private histLen = 0;
  /** Index in `hist` of the input sample at or just before the next output instant. */
  private pos = 0;
  /** The next output instant is pos + phase / l. */
  private phase = 0;

  constructor(inRate: number, outRate: number, options: ResamplerOptions = {}) {
    checkRate('inRate', inRate);
    checkRate('outRate', outRate);
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.l = outRate / g;
    const m = inRate / g;
    this.stepWhole = Math.floor(m / this.l);
    this.stepFrac = m % this.l;
    this.bank = inRate === outRate ? null : designFilter(inRate, outRate, this.l, options);
    this.hist = new Float32Array(this.bank ? 4 * this.bank.taps + 4096 : 0);
    this.reset();
  }

  /** Input held back by process() before it can be filtered, in milliseconds. */
  get latencyMs(): number {
    return this.bank ? (this.bank.half * 1000) / this.inRate : 0;
  }

  /** Forgets all buffered input: the next process() starts a new stream. */
  reset(): void {
    if (!this.bank) return;
    // The stream starts with silence before its first sample.
    this.histLen = this.bank.half - 1;
    this.hist.fill(0, 0, this.histLen);
    this.pos = this.bank.half - 1;
    this.phase = 0;
  }

  process(input: Float32Array): Float32Array {
    const bank = this.bank;
    if (!bank) return input.slice();
    this.append(input, input.length);
    return this.emit(this.histLen - bank.half);
  }

  /** Emits the rest of the stream (the input is taken as silent after its end) and resets. */
  flush(): Float32Array {
    const bank = this.bank;
    if (!bank) return new Float32Array(0);
    const end = this.histLen;
    this.append(null, bank.half);
    const out = this.emit(end);
    this.reset();
    return out;
  }

  /** Appends `count` samples of `input`, or of silence when it is null. */
  private append(input: Float32Array | null, count: number): void {
    const need = this.histLen + count;
    if (need > this.hist.length) {
      const grown = new Float32Array(Math.max(need, this.hist.length * 2));
      grown.set(this.hist.subarray(0, this.histLen));
      this.hist = grown;
    }
    if (input) this.hist.set(input, this.histLen);
    else this.hist.fill(0, this.histLen, need);
    this.histLen = need;
  }

  /** Produces every output whose instant lies before hist index `limit`, then drops spent input. */
  private emit(limit: number): Float32Array {
    const bank = this.bank!;
    const { l, stepWhole, stepFrac } = this;
    let count = 0;
    for (let pos = this.pos, phase = this.phase; pos < limit; count++) {
      pos += stepWhole;
      phase += stepFrac;
      if (phase >= l) {
        phase -= l;
        pos++;
      }
    }
    const out = new Float32Array(count);
    const { taps, half, coeffs, exact } = bank;
    const hist = this.hist;
    let pos = this.pos;
    let phase = this.phase;
    for (let j = 0; j < count; j++) {
      const start = pos - half + 1;
      let acc = 0;
      if (exact) {
        const row = phase * taps;
        for (let i = 0; i < taps; i++) acc += hist[start + i]! * coeffs[row + i]!;
      } else {
        const u = (phase * INTERPOLATED_PHASES) / l;
        const r = Math.floor(u);
        const w = u - r;
        const a = r * taps;
        const b = a + taps;
        for (let i = 0; i < taps; i++) {
          const ca = coeffs[a + i]!;
          acc += hist[start + i]! * (ca + w * (coeffs[b + i]! - ca));
        }
      }
      out[j] = acc;
      pos += stepWhole;
      phase += stepFrac;
      if (phase >= l) {
        phase -= l;
        pos++;
      }
    }
    const drop = Math.max(0, Math.min(pos - half + 1, this.histLen));
    if (drop > 0) {
      hist.copyWithin(0, drop, this.histLen);
      this.histLen -= drop;
      pos -= drop;
    }
    this.pos = pos;
    this.phase = phase;
    return out;
  }
}

/** One-shot conversion of a whole float signal. */
export function resampleFloat(samples: Float32Array, inRate: number, outRate: number, options?: ResamplerOptions): Float32Array {
  if (inRate === outRate) {
    checkRate('inRate', inRate);
    return samples.slice();
  }
  const r = new StreamingResampler(inRate, outRate, options);
  const body = r.process(samples);
  const tail = r.flush();
  const out = new Float32Array(body.length + tail.length);
  out.set(body);
  out.set(tail, body.length);
  return out;
}

/** One-shot conversion of a whole int16 signal, rounded and clipped back to int16. */
export function resampleInt16(samples: Int16Array, inRate: number, outRate: number, options?: ResamplerOptions): Int16Array {
  if (inRate === outRate) {
    checkRate('inRate', inRate);
    return samples.slice();
  }
  return floatToInt16(resampleFloat(Float32Array.from(samples), inRate, outRate, options), 1);
}

/** int16 → float in −1..1 (divides by 32768, so the conversion back is exact). */
export function int16ToFloat(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i]! / 32768;
  return out;
}

/** float → int16, scaled by `scale` (32768 for −1..1 input), rounded and clipped; NaN becomes 0. */
export function floatToInt16(samples: Float32Array, scale = 32768): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i]! * scale);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
