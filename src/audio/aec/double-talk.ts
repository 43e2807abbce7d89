/**
 * Mean squares of one block, in the same scale. "Foreground" is the filter whose output is used, "background" the
 * one that keeps adapting; the foreground only changes by copying a background that has proven better.
 */
export interface BlockLevels {
  mic: number;
  /** Foreground echo estimate. */
  echo: number;
  /** Foreground error (mic − echo estimate). */
  error: number;
  /** Background error. */
  backgroundError: number;
}

export interface FilterDecision {
  doubleTalk: boolean;
  /** Scale of the background step size, 0..1. */
  step: number;
  /** The background has done clearly better for a while: copy it into the foreground. */
  copyToForeground: boolean;
  /** The background diverged: restart it from the foreground. */
  resetBackground: boolean;
  /** The foreground's error is louder than the microphone: drop it (output falls back to the microphone). */
  resetForeground: boolean;
}

const DB = 10 / Math.LN10;
/** Hangover after the last double-talk block, blocks. */
const HANGOVER = 12;
/** Double talk is only called once the foreground removes at least this much, dB. */
const MIN_ERLE = 6;
/** Error this much above the expected residual (dB) is double talk. */
const DT_MARGIN = 6;
/** Blocks of the foreground error being louder than the mic before it is dropped. */
const DIVERGED_BLOCKS = 6;

/**
 * Double-talk detection from the error-to-expected-residual ratio, and divergence recovery for the two-filter
 * (foreground/background) scheme.
 *
 * Once the foreground cancels well, the error during echo alone stays near mic / ERLE. A near-end talker lifts
 * the error far above that while the echo estimate stays the same: that is double talk, and the background then
 * adapts ten times slower. The reference ERLE is a running upper quantile of the per-block ERLE, so undetected
 * double talk (its first block, or a quiet talker) barely drags it down. An echo path change looks like double
 * talk at first, but the slowed background keeps learning, gets clearly better than the foreground, is copied,
 * and the error drops again — so the detector cannot lock itself out. Until the filter has converged somewhat,
 * nothing is called double talk (it would stop the convergence); the foreground/background comparison protects
 * the output meanwhile.
 */
export class DoubleTalkDetector {
  private smoothMic = 0;
  private smoothError = 0;
  private smoothBackground = 0;
  /** Typical echo return loss enhancement of the foreground on echo-only blocks, dB (≈ 75th percentile). */
  private erle = 0;
  private noise = 1e-10;
  private hangover = 0;
  private divergedFor = 0;
  private started = false;

  get erleDb(): number {
    return this.erle;
  }

  get doubleTalk(): boolean {
    return this.hangover > 0;
  }

  update(l: BlockLevels): FilterDecision {
    const a = 0.6;
    if (!this.started) {
      this.smoothMic = l.mic;
      this.smoothError = l.error;
      this.smoothBackground = l.backgroundError;
      this.started = true;
    } else {
      this.smoothMic = a * this.smoothMic + (1 - a) * l.mic;
      this.smoothError = a * this.smoothError + (1 - a) * l.error;
      this.smoothBackground = a * this.smoothBackground + (1 - a) * l.backgroundError;
    }
    // Noise floor of the mic: follows dips at once, rises ~3 dB/s.
    this.noise = l.mic < this.noise ? l.mic + 1e-12 : this.noise * 1.012;

    const echoPresent = l.echo > 8 * this.noise && l.mic > 8 * this.noise;
    let doubleTalkNow = false;
    if (echoPresent) {
      const erleNow = DB * Math.log((l.mic + 1e-15) / (l.error + 1e-15));
      doubleTalkNow = this.erle > MIN_ERLE && erleNow < this.erle - DT_MARGIN;
      // Stochastic quantile tracking: up 3× faster than down → the 75th percentile.
      if (!doubleTalkNow) this.erle += erleNow > this.erle ? 0.15 : -0.05;
      else this.erle -= 0.01;
    }
    if (doubleTalkNow) this.hangover = HANGOVER;
    else if (this.hangover > 0) this.hangover--;
    const doubleTalk = this.hangover > 0;

    const sf = this.smoothError;
    const sb = this.smoothBackground;
    const copyToForeground = sb < sf * (doubleTalk ? 0.25 : 0.7) && this.smoothMic > 2 * this.noise;
    const resetBackground = !copyToForeground && sb > 4 * sf && sb > this.smoothMic;
    if (sf > 2 * this.smoothMic && l.error > l.mic) this.divergedFor++;
    else this.divergedFor = 0;
    const resetForeground = this.divergedFor >= DIVERGED_BLOCKS;
    if (resetForeground) this.divergedFor = 0;
    if (copyToForeground) this.smoothError = sb;
    if (resetForeground) this.smoothError = this.smoothMic;
    if (resetBackground) this.smoothBackground = sf;

    const step = doubleTalk ? 0.1 : 1;
    return { doubleTalk, step, copyToForeground, resetBackground, resetForeground };
  }

  reset(): void {
    this.smoothMic = this.smoothError = this.smoothBackground = 0;
    this.erle = 0;
    this.noise = 1e-10;
    this.hangover = 0;
    this.divergedFor = 0;
    this.started = false;
  }
}
