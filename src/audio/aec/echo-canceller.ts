import { DelayEstimator } from './delay-estimator.js';
import { DoubleTalkDetector } from './double-talk.js';
import { RealFft } from './fft.js';
import { PartitionedFilter, ReferenceSpectra, errorSpectrum, overlapSaveOutput } from './pbfdaf.js';
import { ResidualSuppressor } from './residual-suppressor.js';
import { SpeakerSaturation } from './saturation.js';

export interface EchoCancellerOptions {
  /** 16000 only. */
  sampleRate?: number;
  /** Samples per processing block, a power of two (default 256 = 16 ms); also the output latency. */
  blockSize?: number;
  /** Modeled echo tail after the bulk delay, ms (default 300). */
  tailMs?: number;
  /** Bulk delay search range, ms (default 300). */
  maxDelayMs?: number;
  /** Residual echo suppressor on (default true). */
  suppression?: boolean;
  /** Model the loudspeaker's saturation in front of the linear filters (default true). */
  saturation?: boolean;
}

export interface EchoCancellerStats {
  /** Estimated reference → microphone delay, or null before one was found. */
  delayMs: number | null;
  /** Echo return loss enhancement of the whole canceller (mic vs output) on recent echo, dB. */
  erleDb: number;
  doubleTalk: boolean;
  /** Reference audio is within reach of the filter: the canceller is working (else the mic passes through). */
  active: boolean;
  /** Lately the microphone heard playback before it was reported: its echo went through uncancelled. */
  referenceLate: boolean;
}

const RATE = 16_000;
/** Reference history kept: a power of two (8.2 s) covering look-ahead of playback() plus delay and tail. */
const RING = 1 << 17;
/** The filter starts this long before the estimated delay, so the direct path never falls in front of it. */
const MARGIN_MS = 16;
/** The bulk delay in front of the filter only moves when the estimate is this far from it. */
const HYSTERESIS_MS = 8;
/** NLMS step size of the background filter. */
const STEP = 1;
/** IPNLMS α: −1 is plain NLMS, towards 1 ever more proportionate. */
const PROPORTIONATE = 0;
/** Partitions whose gradient constraint is applied per block (round robin). */
const CONSTRAIN_PER_BLOCK = 2;
/** Regularization of the step against the usual reference power (−20 dB): quiet reference adapts slowly. */
const QUIET_REFERENCE = 1e-2;
/** How long a late reference keeps the canceller from being trusted: 320 ms. */
const LATE_HOLD_BLOCKS = 20;
/** Reference chunk mean square counted as sound (−90 dBFS). */
const AUDIBLE = 1e-9;

/**
 * Acoustic echo canceller for the assistant's own voice: the reference is what `playback()` was given, placed on
 * the microphone's timeline; `process()` removes its echo from the microphone.
 *
 * Pipeline per block of N samples: bulk delay (GCC-PHAT estimate) → the loudspeaker's saturation (an adaptive
 * memoryless polynomial, see SpeakerSaturation) → two partitioned-block frequency-domain NLMS
 * filters (a background one that always adapts, a foreground one that produces the output and only takes the
 * background's weights when they proved better) → double-talk detection and divergence recovery → residual echo
 * suppressor. When no reference sound lies within max delay + tail of the microphone, the microphone passes
 * through untouched.
 *
 * Latency: the output is the input delayed by exactly `blockSize` samples (the first `blockSize` samples out are
 * silence), whether the canceller is working or passing through, so the stream stays continuous.
 */
export class EchoCanceller {
  private readonly n: number;
  private readonly partitions: number;
  private readonly maxDelay: number;
  private readonly suppression: boolean;
  private readonly fft: RealFft;
  /** Spectra of the shaped reference f(x) the filters work on, and of x³ (for the saturation's update). */
  private readonly fdl: ReferenceSpectra;
  private readonly cubes: ReferenceSpectra;
  private readonly saturation: SpeakerSaturation | null;
  private readonly foreground: PartitionedFilter;
  private readonly background: PartitionedFilter;
  private readonly estimator: DelayEstimator;
  private readonly detector = new DoubleTalkDetector();
  private readonly suppressor: ResidualSuppressor;

  private readonly ring = new Float64Array(RING);
  /** Absolute sample index (mic timeline × 16) up to which the ring holds reference; null before any playback. */
  private writtenUntil: number | null = null;
  private readonly chunkEnergy: Float64Array;
  private readonly chunkId: Float64Array;
  /** Earliest reference index written since the last block (reference that may have arrived late). */
  private lateFrom = Infinity;

  private readonly pending: Int16Array;
  private pendingFill = 0;
  private pendingStart = 0;
  private nextIndex: number | null = null;
  /** Output not yet returned: cleaned, and for the recognizer (the same length). */
  private readonly queue: Int16Array;
  private readonly recognizerQueue: Int16Array;
  private queueLen = 0;

  /** Bulk delay in front of the filter, samples. */
  private offset = 0;
  /** Block start the delay line expects next, or null when it must be rebuilt. */
  private fdlNext: number | null = null;
  private active = false;
  /** The last block output the microphone rather than the error (see FilterDecision.fallback). */
  private fallback = false;
  private erleMic = 0;
  private erleOut = 0;
  /** Blocks left during which the reference counts as late (see noteLateReference). */
  private lateBlocks = 0;
  /** Slow average of the delay line's mean power while adapting. */
  private usualReference = 0;

  private readonly d: Float64Array;
  private readonly yf: Float64Array;
  private readonly yb: Float64Array;
  private readonly ef: Float64Array;
  private readonly eb: Float64Array;
  private readonly out: Float64Array;
  private readonly recognizerOut: Float64Array;
  private readonly spec: Float64Array;
  private readonly frame: Float64Array;
  private readonly shaped: Float64Array;
  private readonly cubed: Float64Array;
  private readonly y3: Float64Array;
  private readonly step: Float64Array;
  private readonly gains: Float64Array;
  private readonly tailWeights: Float64Array;
  private readonly refPower: Float64Array;
  private readonly outBlock: Int16Array;
  private readonly recognizerBlock: Int16Array;

  constructor(options: EchoCancellerOptions = {}) {
    if ((options.sampleRate ?? RATE) !== RATE) throw new RangeError(`the echo canceller runs at 16000 Hz only, got ${options.sampleRate}`);
    const n = options.blockSize ?? 256;
    if (!Number.isInteger(n) || n < 32 || n > 4096 || (n & (n - 1)) !== 0) {
      throw new RangeError(`blockSize must be a power of two from 32 to 4096, got ${options.blockSize}`);
    }
    const tailMs = options.tailMs ?? 300;
    const maxDelayMs = options.maxDelayMs ?? 300;
    if (!(tailMs > 0 && tailMs <= 2000)) throw new RangeError(`tailMs must be in (0, 2000], got ${tailMs}`);
    if (!(maxDelayMs >= 0 && maxDelayMs <= 2000)) throw new RangeError(`maxDelayMs must be in [0, 2000], got ${maxDelayMs}`);
    this.n = n;
    this.maxDelay = Math.round((maxDelayMs * RATE) / 1000);
    // The margin in front of the delay and the offset's hysteresis are modeled too.
    this.partitions = Math.ceil(((tailMs + MARGIN_MS + HYSTERESIS_MS) * RATE) / 1000 / n);
    this.suppression = options.suppression ?? true;
    this.saturation = (options.saturation ?? true) ? new SpeakerSaturation() : null;
    this.fft = new RealFft(2 * n);
    this.fdl = new ReferenceSpectra(this.partitions, n, this.fft);
    this.cubes = new ReferenceSpectra(this.partitions, n, this.fft);
    this.foreground = new PartitionedFilter(this.partitions, n, this.fft);
    this.background = new PartitionedFilter(this.partitions, n, this.fft);
    this.estimator = new DelayEstimator((start, out) => this.readReference(start, out), { sampleRate: RATE, maxDelayMs });
    this.suppressor = new ResidualSuppressor(n, this.fft);
    this.chunkEnergy = new Float64Array(RING / n);
    this.chunkId = new Float64Array(RING / n).fill(-1);
    this.pending = new Int16Array(n);
    this.queue = new Int16Array(2 * n);
    this.recognizerQueue = new Int16Array(2 * n);
    this.queueLen = n;
    this.d = new Float64Array(n);
    this.yf = new Float64Array(n);
    this.yb = new Float64Array(n);
    this.ef = new Float64Array(n);
    this.eb = new Float64Array(n);
    this.out = new Float64Array(n);
    this.recognizerOut = new Float64Array(n);
    this.spec = new Float64Array(2 * n);
    this.frame = new Float64Array(2 * n);
    this.shaped = new Float64Array(2 * n);
    this.cubed = new Float64Array(2 * n);
    this.y3 = new Float64Array(n);
    this.step = new Float64Array(n + 1);
    this.gains = new Float64Array(this.partitions);
    this.tailWeights = new Float64Array(this.partitions);
    this.refPower = new Float64Array(n + 1);
    this.outBlock = new Int16Array(n);
    this.recognizerBlock = new Int16Array(n);
  }

  get stats(): EchoCancellerStats {
    const estimate = this.estimator.estimate;
    const erleDb = this.erleOut > 0 ? 10 * Math.log10(this.erleMic / this.erleOut) : 0;
    return { delayMs: estimate ? estimate.delayMs : null, erleDb, doubleTalk: this.active && this.detector.doubleTalk, active: this.active, referenceLate: this.lateBlocks > 0 };
  }

  /** What the speaker played: `samples` (16 kHz) whose first sample was heard at `atMs` on the microphone's timeline. Gaps = silence. */
  playback(samples: Int16Array, atMs: number): void {
    if (samples.length === 0 || !Number.isFinite(atMs)) return;
    let start = Math.round((atMs * RATE) / 1000);
    let src = samples;
    if (src.length > RING) {
      start += src.length - RING;
      src = src.subarray(src.length - RING);
    }
    const end = start + src.length;
    let from = start;
    if (this.writtenUntil === null) {
      this.writtenUntil = start;
    } else if (end <= this.writtenUntil - RING) {
      return; // older than anything kept
    } else if (start > this.writtenUntil) {
      // Silence between the last playback and this one (all of the ring if the gap is longer).
      from = Math.max(this.writtenUntil, start - RING);
      let pos = wrap(from);
      for (let i = from; i < start; i++) {
        this.ring[pos] = 0;
        if (++pos === RING) pos = 0;
      }
    }
    let pos = wrap(start);
    for (let i = 0; i < src.length; i++) {
      this.ring[pos] = src[i]! / 32768;
      if (++pos === RING) pos = 0;
    }
    this.writtenUntil = Math.max(this.writtenUntil, end);
    this.lateFrom = Math.min(this.lateFrom, start);
    const n = this.n;
    for (let c = Math.floor(from / n); c * n < end; c++) this.updateChunk(c);
  }

  /**
   * One microphone frame (16 kHz, any length); returns the cleaned samples, same length, delayed by `blockSize`
   * samples. `forRecognizer` (same length), if given, gets the same audio prepared for a speech recognizer: residual
   * echo is suppressed only down to the room's noise (see ResidualSuppressor).
   */
  process(samples: Int16Array, timestampMs: number, forRecognizer?: Int16Array): Int16Array {
    const n = this.n;
    if (forRecognizer && forRecognizer.length !== samples.length) {
      throw new RangeError(`forRecognizer must hold ${samples.length} samples, got ${forRecognizer.length}`);
    }
    const index = Math.round((timestampMs * RATE) / 1000);
    // Frames are contiguous unless the timestamps jump (dropped audio): then re-anchor, or the echo would be
    // cancelled against the wrong reference. A sample's slack allows for timestamps rounded to the millisecond.
    if (this.nextIndex === null || Math.abs(index - this.nextIndex) > 1) {
      this.nextIndex = index;
      this.pendingStart = index - this.pendingFill;
    }
    this.nextIndex += samples.length;

    const result = new Int16Array(samples.length);
    let written = this.dequeue(result, forRecognizer, 0);
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(samples.length - offset, n - this.pendingFill);
      this.pending.set(samples.subarray(offset, offset + take), this.pendingFill);
      this.pendingFill += take;
      offset += take;
      if (this.pendingFill < n) break;
      this.processBlock(this.pending, this.pendingStart, this.outBlock, this.recognizerBlock);
      this.pendingStart += n;
      this.pendingFill = 0;
      this.queue.set(this.outBlock, this.queueLen);
      this.recognizerQueue.set(this.recognizerBlock, this.queueLen);
      this.queueLen += n;
      written = this.dequeue(result, forRecognizer, written);
    }
    return result;
  }

  reset(): void {
    this.ring.fill(0);
    this.writtenUntil = null;
    this.chunkEnergy.fill(0);
    this.chunkId.fill(-1);
    this.lateFrom = Infinity;
    this.pendingFill = 0;
    this.nextIndex = null;
    this.queue.fill(0);
    this.recognizerQueue.fill(0);
    this.queueLen = this.n;
    this.offset = 0;
    this.fdlNext = null;
    this.active = false;
    this.fallback = false;
    this.erleMic = this.erleOut = 0;
    this.usualReference = 0;
    this.lateBlocks = 0;
    this.fdl.clear();
    this.cubes.clear();
    this.saturation?.reset();
    this.foreground.clear();
    this.background.clear();
    this.estimator.reset();
    this.detector.reset();
    this.suppressor.reset();
  }

  private dequeue(result: Int16Array, forRecognizer: Int16Array | undefined, written: number): number {
    const take = Math.min(this.queueLen, result.length - written);
    result.set(this.queue.subarray(0, take), written);
    forRecognizer?.set(this.recognizerQueue.subarray(0, take), written);
    this.queue.copyWithin(0, take, this.queueLen);
    this.recognizerQueue.copyWithin(0, take, this.queueLen);
    this.queueLen -= take;
    return written + take;
  }

  private processBlock(mic: Int16Array, start: number, result: Int16Array, recognizerResult: Int16Array): void {
    const n = this.n;
    const late = this.noteLateReference(start);
    if (!this.referenceAudible(start - this.maxDelay - (this.partitions + 1) * n, start + n)) {
      if (this.active) this.deactivate();
      result.set(mic);
      recognizerResult.set(mic);
      return;
    }
    this.active = true;
    const d = this.d;
    for (let i = 0; i < n; i++) d[i] = mic[i]! / 32768;

    if (this.estimator.push(d, start)) this.followDelay();
    this.updateDelayLine(start);

    const { spec, yf, yb, ef, eb } = this;
    this.background.filter(this.fdl, spec);
    overlapSaveOutput(this.fft, spec, yb);
    this.foreground.filter(this.fdl, spec);
    overlapSaveOutput(this.fft, spec, yf);
    let mic2 = 0;
    let echo2 = 0;
    let err2 = 0;
    let bg2 = 0;
    for (let i = 0; i < n; i++) {
      const di = d[i]!;
      ef[i] = di - yf[i]!;
      eb[i] = di - yb[i]!;
      mic2 += di * di;
      echo2 += yf[i]! * yf[i]!;
      err2 += ef[i]! * ef[i]!;
      bg2 += eb[i]! * eb[i]!;
    }
    let reference = 0;
    for (let p = 0, w = 1; p < Math.min(8, this.partitions); p++, w *= 0.6) reference += w * this.fdl.energyOf(p);
    const decision = this.detector.update({
      mic: mic2 / n,
      reference: reference / (2 * n * n),
      echo: echo2 / n,
      error: err2 / n,
      backgroundError: bg2 / n,
    });
    if (decision.fallback !== this.fallback) {
      // Crossfade between the cleaned signal and the raw microphone over this block.
      for (let i = 0; i < n; i++) {
        const g = decision.fallback ? 1 - (i + 1) / n : (i + 1) / n;
        yf[i] = yf[i]! * g;
        ef[i] = d[i]! - yf[i]!;
      }
      this.fallback = decision.fallback;
    } else if (decision.fallback) {
      ef.set(d);
      yf.fill(0);
    }
    // The speaker model learns on echo alone, through the foreground that made this block's estimate.
    const learning = !decision.doubleTalk && !decision.fallback && !late && echo2 > 1e-7 * n ? this.saturation : null;
    if (learning) {
      this.foreground.filter(this.cubes, spec);
      overlapSaveOutput(this.fft, spec, this.y3);
    }
    if (decision.resetForeground) this.foreground.clear();
    if (decision.clearBackground) this.background.clear();
    if (decision.copyToForeground) this.foreground.copyFrom(this.background);
    else if (decision.resetBackground) this.background.copyFrom(this.foreground);
    // Without its reference the block's error is echo the filter could not model: nothing to learn from.
    if (!decision.resetBackground && !late) this.adapt(decision.step);
    learning?.adapt(ef, this.y3, yf);

    if (this.suppression) {
      this.referencePower();
      this.suppressor.process(ef, yf, this.refPower, decision.nearEnd, this.out, this.recognizerOut);
    } else {
      this.out.set(ef);
      this.recognizerOut.set(ef);
    }
    let out2 = 0;
    for (let i = 0; i < n; i++) out2 += this.out[i]! * this.out[i]!;
    toInt16(this.out, result);
    toInt16(this.recognizerOut, recognizerResult);
    if (echo2 > 1e-7 * n && !decision.doubleTalk && !late) {
      this.erleMic = 0.97 * this.erleMic + mic2;
      this.erleOut = 0.97 * this.erleOut + out2;
    }
  }

  /**
   * refPower ← the reference power spectrum the echo in this block comes from: the delay line's powers weighted
   * by where the filter puts the echo energy along the tail (a decaying guess while the filters are empty).
   */
  private referencePower(): void {
    const w = this.tailWeights;
    let total = this.foreground.partitionEnergies(w);
    if (total === 0) total = this.background.partitionEnergies(w);
    if (total === 0) {
      for (let p = 0; p < this.partitions; p++) total += w[p] = 0.7 ** p;
    }
    for (let p = 0; p < this.partitions; p++) w[p] = w[p]! / total;
    this.fdl.weightedPower(w, this.refPower);
  }

  private adapt(scale: number): void {
    const { fdl, step, gains } = this;
    const bins = this.n + 1;
    let mean = 0;
    for (let k = 0; k < bins; k++) mean += fdl.power[k]!;
    mean /= bins;
    // A silent reference teaches nothing (and would only fit noise).
    if (scale <= 0 || mean < AUDIBLE * 2 * this.n * this.partitions) return;
    this.background.proportionateGains(PROPORTIONATE, gains);
    fdl.weightedPower(gains, step);
    // Relative to this reference and to the usual one: near-silent reference (a pause's edge, the reverberation
    // after it) would otherwise get full steps and fit the noise, damaging the filter.
    this.usualReference = this.usualReference === 0 ? mean : 0.995 * this.usualReference + 0.005 * mean;
    const delta = 0.01 * mean + QUIET_REFERENCE * this.usualReference + 1e-6;
    const mu = STEP * scale;
    for (let k = 0; k < bins; k++) step[k] = mu / (step[k]! + delta);
    errorSpectrum(this.fft, this.eb, this.spec);
    this.background.adapt(fdl, this.spec, step, gains, CONSTRAIN_PER_BLOCK);
  }

  /**
   * Moves the bulk delay in front of the filters to a new estimate. If the filter's main tap already sits at the
   * new delay, the estimate was only refined (the first estimate, or a better peak): the weights are shifted so
   * they keep modeling the same absolute lags. Otherwise the echo path itself moved (device buffering changed)
   * and the response relative to the bulk delay is still right: the weights stay as they are.
   */
  private followDelay(): void {
    const estimate = this.estimator.estimate;
    if (!estimate) return;
    const delay = Math.round((estimate.delayMs * RATE) / 1000);
    const target = Math.max(0, delay - (MARGIN_MS * RATE) / 1000);
    const tolerance = (HYSTERESIS_MS * RATE) / 1000;
    if (Math.abs(target - this.offset) <= tolerance) return;
    const peak = this.foreground.peakLag() ?? this.background.peakLag();
    if (peak !== null && Math.abs(this.offset + peak - delay) <= tolerance) {
      this.foreground.shift(target - this.offset);
      this.background.shift(target - this.offset);
    } else {
      this.detector.pathChanged();
      this.suppressor.pathChanged();
    }
    this.offset = target;
    this.fdlNext = null;
  }

  private updateDelayLine(start: number): void {
    const n = this.n;
    if (this.fdlNext !== start) {
      this.fdl.clear();
      this.cubes.clear();
      for (let p = this.partitions - 1; p >= 0; p--) this.pushFrame(start - p * n);
    } else {
      this.pushFrame(start);
      // Reference that arrived after the blocks it belongs to had been read: read those frames again.
      for (let p = 1; p < this.partitions; p++) {
        if (start - p * n - this.offset + n <= this.lateFrom) break;
        this.readShapedFrame(start - p * n);
        this.fdl.replace(p, this.shaped);
        if (this.saturation) this.cubes.replace(p, this.cubed);
      }
    }
    this.lateFrom = Infinity;
    this.fdlNext = start + n;
  }

  /** Adds the reference frame for the mic block at `blockStart` to the delay lines. */
  private pushFrame(blockStart: number): void {
    this.readShapedFrame(blockStart);
    this.fdl.push(this.shaped);
    if (this.saturation) this.cubes.push(this.cubed);
  }

  /** shaped ← the reference frame for the mic block at `blockStart` through the speaker model; cubed ← its cube. */
  private readShapedFrame(blockStart: number): void {
    this.readFrame(blockStart);
    if (this.saturation) this.saturation.apply(this.frame, this.shaped, this.cubed);
    else this.shaped.set(this.frame);
  }

  /** frame ← the reference for the mic block at `blockStart`: previous and current block, bulk delay applied. */
  private readFrame(blockStart: number): void {
    this.readReference(blockStart - this.offset - this.n, this.frame);
  }

  private readReference(start: number, out: Float64Array): void {
    const until = this.writtenUntil;
    out.fill(0);
    if (until === null) return;
    const from = Math.max(start, until - RING);
    const to = Math.min(start + out.length, until);
    let pos = wrap(from);
    for (let i = from - start; i < to - start; i++) {
      out[i] = this.ring[pos]!;
      if (++pos === RING) pos = 0;
    }
  }

  private updateChunk(c: number): void {
    const n = this.n;
    const slot = wrap(c, this.chunkEnergy.length);
    const to = Math.min((c + 1) * n, this.writtenUntil ?? 0);
    let pos = wrap(c * n);
    let e = 0;
    for (let i = c * n; i < to; i++) {
      e += this.ring[pos]! ** 2;
      if (++pos === RING) pos = 0;
    }
    this.chunkEnergy[slot] = e / n;
    this.chunkId[slot] = c;
  }

  private referenceAudible(from: number, to: number): boolean {
    if (this.writtenUntil === null) return false;
    const n = this.n;
    const last = Math.floor((Math.min(to, this.writtenUntil) - 1) / n);
    for (let c = Math.max(Math.floor(from / n), Math.floor((this.writtenUntil - RING) / n)); c <= last; c++) {
      const slot = wrap(c, this.chunkEnergy.length);
      if (this.chunkId[slot] === c && this.chunkEnergy[slot]! > AUDIBLE) return true;
    }
    return false;
  }

  /**
   * Playback reported after the microphone heard it (a busy event loop, a late device callback) leaves that echo
   * uncancelled. It shows as reference still sounding where it stops, short of what this block's echo needs but
   * within the filter's reach (reference that stopped longer ago than that has simply ended). True when this
   * block's reference is missing.
   */
  private noteLateReference(start: number): boolean {
    const until = this.writtenUntil;
    const needed = start + this.n - this.offset;
    const reach = this.maxDelay + this.partitions * this.n;
    const late = until !== null && until < needed && until > needed - reach && this.referenceAudible(until - this.n, until);
    if (late) this.lateBlocks = LATE_HOLD_BLOCKS;
    else if (this.lateBlocks > 0) this.lateBlocks--;
    return late;
  }

  /** The filters, the delay estimate and what the suppressor learnt are kept for the next reply (same room). */
  private deactivate(): void {
    this.active = false;
    this.fdl.clear();
    this.cubes.clear();
    this.fdlNext = null;
  }
}

function toInt16(samples: Float64Array, out: Int16Array): void {
  for (let i = 0; i < samples.length; i++) {
    const s = Math.round(samples[i]! * 32768);
    out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
  }
}

/** i mod size, non-negative, exact for any safe integer (absolute indices can exceed 2^31). */
function wrap(i: number, size = RING): number {
  return i - Math.floor(i / size) * size;
}
