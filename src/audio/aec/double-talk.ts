/**
 * Mean squares of one block, in the same scale. "Foreground" is the filter whose output is used, "background" the
 * one that keeps adapting; the foreground only changes by copying a background that has proven better.
 */
export interface BlockLevels {
  mic: number;
  /** The reference the echo comes from: recent aligned reference energy, weighted toward the newest blocks. */
  reference: number;
  /** Foreground echo estimate. */
  echo: number;
  /** Foreground error (mic − echo estimate). */
  error: number;
  /** Background error. */
  backgroundError: number;
}

export interface FilterDecision {
  /** Maybe double talk: the background adapts slowly and the block does not count toward the ERLE figure. */
  doubleTalk: boolean;
  /** Clearly double talk: the suppressor spares the near-end talker (a false call lets residual echo through). */
  nearEnd: boolean;
  /** Scale of the background step size, 0..1. */
  step: number;
  /** The background has done clearly better for a while: copy it into the foreground. */
  copyToForeground: boolean;
  /** The background diverged: restart it from the foreground. */
  resetBackground: boolean;
  /** This block's error is louder than the microphone: output the microphone instead (fade the estimate out). */
  fallback: boolean;
  /** Over the last second the foreground's error was louder than the microphone: clear it. */
  resetForeground: boolean;
  /** The same for the background (only together with resetForeground). */
  clearBackground: boolean;
}

const DB = 10 / Math.LN10;
/** Hangover after the last double-talk block, blocks. */
const HANGOVER = 12;
/** Double talk is only called once the foreground removes at least this much, dB. */
const MIN_ERLE = 6;
/** Error this much above the expected residual (dB) is double talk; this much more is clearly so. */
const DT_MARGIN = 6;
const CLEAR_DT_MARGIN = 10;
/** Mic louder than the usual coupling from the reference (plus the noise) by this much (dB) is double talk. */
const COUPLING_MARGIN = 10;
/** Blocks of echo the coupling is measured on before it may call double talk. */
const COUPLING_SETTLE = 25;
/** Blocks quieter than this share of the microphone's level over the last second are not judged by ERLE. */
const QUIET_SHARE = 0.1;
/**
 * Blocks (≈ 100 ms) the background must stay better before it is copied: a near-end talker's first blocks,
 * before double talk is called, can make a background that adapted on them look better for a moment.
 */
const COPY_AFTER = 6;
/** Background step scale during double talk. */
const DT_STEP = 0.25;
/** Per-block smoothing of the energies compared between the filters (≈ 40 ms) and for divergence (≈ 1 s). */
const SHORT = 0.6;
const LONG = 0.985;

/**
 * Double-talk detection from the error-to-expected-residual ratio, and divergence recovery for the two-filter
 * (foreground/background) scheme.
 *
 * Once the foreground cancels well, the error during echo alone stays near mic / ERLE. A near-end talker lifts
 * the error far above that while the echo estimate stays the same: that is double talk, and the background then
 * adapts four times slower. The reference ERLE is a running median of the per-block ERLE, so undetected double
 * talk (its first block, or a quiet talker) barely drags it down. An echo path change looks like double
 * talk at first, but the slowed background keeps learning, gets clearly better than the foreground, is copied,
 * and the error drops again — so the detector cannot lock itself out. Until the filter has converged somewhat,
 * nothing is called double talk (it would stop the convergence); the foreground/background comparison protects
 * the output meanwhile.
 */
export class DoubleTalkDetector {
  private smoothMic = 0;
  private smoothError = 0;
  private smoothBackground = 0;
  private longMic = 0;
  private longError = 0;
  private longBackground = 0;
  private prevMic = 0;
  private prevError = 0;
  /** Typical echo return loss enhancement of the foreground on echo-only blocks, dB (a running median). */
  private erle = 0;
  private noise = 0;
  private hangover = 0;
  private clearHangover = 0;
  /** Echo coupling: a running low quantile of mic / reference, dB (null until measured). */
  private coupling: number | null = null;
  /** The ratios of the first blocks of echo, while the coupling is not yet known. */
  private settling: number[] = [];
  /** Consecutive blocks the background has done clearly better. */
  private betterBlocks = 0;

  get doubleTalk(): boolean {
    return this.hangover > 0;
  }

  update(l: BlockLevels): FilterDecision {
    this.smoothMic = SHORT * this.smoothMic + (1 - SHORT) * l.mic;
    this.smoothError = SHORT * this.smoothError + (1 - SHORT) * l.error;
    this.smoothBackground = SHORT * this.smoothBackground + (1 - SHORT) * l.backgroundError;
    this.longMic = LONG * this.longMic + (1 - LONG) * l.mic;
    this.longError = LONG * this.longError + (1 - LONG) * l.error;
    this.longBackground = LONG * this.longBackground + (1 - LONG) * l.backgroundError;
    // Noise floor of the mic: follows dips at once, rises ~3 dB/s.
    if (this.noise === 0 || l.mic < this.noise) this.noise = l.mic + 1e-12;
    else this.noise *= 1.012;

    // Two blocks (32 ms) per decision: one block alone swings too much at syllable edges.
    const mic = l.mic + this.prevMic;
    const error = l.error + this.prevError;
    this.prevMic = l.mic;
    this.prevError = l.error;
    const echoPresent = l.echo > 8 * this.noise && l.mic > 8 * this.noise;
    /** Microphone over reference, dB (null without reference). */
    const ratio = l.reference > 0 ? DB * Math.log(l.mic / l.reference) : null;
    let doubleTalkNow = false;
    let clearNow = false;
    // Quiet stretches of the echo (a syllable's tail, a soft word) are not judged: there the error is mostly the
    // late reverberation beyond the filter and the noise, which do not fall with the echo, so the ERLE dips.
    if (echoPresent && l.mic > QUIET_SHARE * this.longMic) {
      const erleNow = DB * Math.log((mic + 1e-15) / (error + 1e-15));
      doubleTalkNow = this.erle > MIN_ERLE && erleNow < this.erle - DT_MARGIN;
      // The linear filter does a few dB worse on loud stretches of echo; a talker takes the error far higher. And
      // a talker adds to the echo: a microphone quieter than the reference usually makes it is a speaker
      // compressing a loud passage (an echo the linear filter cannot model), not the user.
      const quieterThanUsual = ratio !== null && this.coupling !== null && ratio < this.coupling;
      clearNow = this.erle > MIN_ERLE && erleNow < this.erle - CLEAR_DT_MARGIN && !quieterThanUsual;
      if (!doubleTalkNow) this.erle += erleNow > this.erle ? 0.1 : -0.1;
      // Long "double talk" is more likely an echo path change: let the reference sink (3 dB/s).
      else this.erle -= 0.05;
    }
    // Before the filter can tell, the mic being far louder than the reference could make it is the sign.
    if (ratio !== null && l.mic > 4 * this.noise) {
      if (this.coupling === null) {
        // Settling: the typical ratio is measured before any block is judged by it. A quantile, not a search from
        // the first block: that one is often the echo's onset (the sound still on its way), tens of dB low, and a
        // coupling that low would call all of the echo double talk.
        this.settling.push(ratio);
        if (this.settling.length === COUPLING_SETTLE) {
          this.coupling = this.settling.sort((a, b) => a - b)[Math.floor(COUPLING_SETTLE / 4)]!;
          this.settling = [];
        }
      } else if (l.mic > 10 ** (COUPLING_MARGIN / 10) * (l.reference * 10 ** (this.coupling / 10) + this.noise)) {
        // Louder than the echo the reference could make plus the noise: where the reference is faint (a fade,
        // a pause's edge) the noise alone is no sign of a talker.
        doubleTalkNow = clearNow = true;
        this.coupling += 0.02; // never locked out for good by a wrong low value
      } else {
        // Stochastic quantile tracking, down 3× faster than up → the 25th percentile.
        this.coupling += ratio > this.coupling ? 0.05 : -0.15;
      }
    }
    if (doubleTalkNow) this.hangover = HANGOVER;
    else if (this.hangover > 0) this.hangover--;
    const doubleTalk = this.hangover > 0;
    if (clearNow) this.clearHangover = HANGOVER;
    else if (this.clearHangover > 0) this.clearHangover--;
    const nearEnd = this.clearHangover > 0;

    const sf = this.smoothError;
    const sb = this.smoothBackground;
    const better = sb < sf * (doubleTalk ? 0.25 : 0.7) && this.smoothMic > 2 * this.noise;
    this.betterBlocks = better ? this.betterBlocks + 1 : 0;
    const copyToForeground = this.betterBlocks >= COPY_AFTER;
    const resetBackground = !copyToForeground && sb > 4 * sf && sb > this.smoothMic;
    if (copyToForeground) {
      this.betterBlocks = 0;
      this.smoothError = sb;
      this.longError = Math.min(this.longError, this.longBackground);
    }
    if (resetBackground) {
      this.smoothBackground = sf;
      this.longBackground = this.longError;
    }
    const loud = this.longMic > 4 * this.noise;
    const resetForeground = loud && this.longError > 2 * this.longMic;
    const clearBackground = resetForeground && this.longBackground > 2 * this.longMic;
    if (resetForeground) this.smoothError = this.longError = this.longMic;
    if (clearBackground) this.smoothBackground = this.longBackground = this.longMic;
    const fallback = l.error > l.mic;

    const step = doubleTalk ? DT_STEP : 1;
    return { doubleTalk, nearEnd, step, copyToForeground, resetBackground, fallback, resetForeground, clearBackground };
  }

  /** The echo path moved (new bulk delay): what was learnt about the foreground's ERLE no longer holds. */
  pathChanged(): void {
    this.erle = 0;
    this.hangover = this.clearHangover = 0;
  }

  reset(): void {
    this.smoothMic = this.smoothError = this.smoothBackground = 0;
    this.longMic = this.longError = this.longBackground = 0;
    this.prevMic = this.prevError = 0;
    this.erle = 0;
    this.noise = 0;
    this.hangover = this.clearHangover = 0;
    this.coupling = null;
    this.settling = [];
    this.betterBlocks = 0;
  }
}
