import { RealFft } from './fft.js';

export interface ResidualSuppressorOptions {
  /** Lowest gain, dB (how far residual echo is pushed down). */
  floorDb?: number;
  /** Over-subtraction of the residual echo estimate while only the assistant speaks. */
  overSuppression?: number;
  /** The same while the user clearly talks over it: low, so their words are kept. */
  doubleTalkOverSuppression?: number;
  /** Per-block energy decay of the residual echo after the echo estimate drops (reverberation beyond the filter). */
  tailDecay?: number;
}

const BAND = 8;
/**
 * Before anything is known of the room, the echo is assumed this many times as loud as the reference, a guess
 * that fades by 10 dB every STARTUP_FADE_BLOCKS (about a second): the first words of the first reply in a new
 * room are suppressed rather than heard as the user.
 */
const STARTUP_COUPLING = 3;
const STARTUP_FADE_BLOCKS = 60;
/**
 * The residual is assumed at least this share of the echo estimate (−15 dB). The leak is learnt as an average,
 * and once the filter models the speaker's saturation the average is low, while the reverberation beyond the
 * filter still comes through in quiet passages of a lively room: under a lower leak it was heard as speech
 * (measured: bench:aec, VAD speech starts on echo alone).
 */
const LEAK_FLOOR = 0.03;

/**
 * Residual echo suppression: what the linear filter leaves (the tail beyond it, the speaker's nonlinearity,
 * misadjustment) is estimated per bin as leak × |echo estimate|², the leak being learnt per band on blocks
 * without clear double talk, and removed by a Wiener-like gain with a floor. Where the error is much louder
 * than that estimate — the near-end talker — the gain stays near 1.
 *
 * The gains come from a windowed 2N analysis of the error and the echo estimate, but are applied to the current
 * block as a minimum-phase FIR filter (made from the gains by the cepstrum, truncated to N taps) with overlap-add,
 * so the suppressor adds no latency beyond the canceller's block.
 *
 * It makes two outputs. The cleaned one, for the VAD and the wake word, pushes residual echo under the room's
 * noise: a false barge-in costs the user the reply. The one for the speech recognizer takes no bin under the
 * room's noise floor (the noise's quiet moments, as the minimum tracker finds them): the recognizer's models know
 * speech in noise, and words with holes cut out of their spectrum, followed by a fluttering near-silence, were
 * rejected. Measured on bench:aec (commands taken over the reply, transcribed as without the echo): 111 of 120
 * from the cleaned output, 120 from this one; with the floor 6 dB higher (about the noise's mean level), 111.
 */
export class ResidualSuppressor {
  private readonly n: number;
  private readonly bins: number;
  private readonly floor: number;
  private readonly over: number;
  private readonly doubleTalkOver: number;
  private readonly tailDecay: number;
  private readonly window: Float64Array;
  private readonly taper: Float64Array;
  private readonly errHist: Float64Array;
  private readonly echoHist: Float64Array;
  private readonly bufE: Float64Array;
  private readonly bufY: Float64Array;
  private readonly bufH: Float64Array;
  private readonly residual: Float64Array;
  private readonly noise: Float64Array;
  private readonly gain: Float64Array;
  private readonly smoothGain: Float64Array;
  private readonly recognizerGain: Float64Array;
  private readonly smoothRecognizerGain: Float64Array;
  private readonly spectrum: Float64Array;
  private readonly leakNum: Float64Array;
  private readonly leakDen: Float64Array;
  private readonly couplingNum: Float64Array;
  private readonly couplingDen: Float64Array;
  private readonly tail: Float64Array;
  private readonly recognizerTail: Float64Array;
  private audibleBlocks = 0;

  constructor(
    blockSize: number,
    private readonly fft: RealFft,
    options: ResidualSuppressorOptions = {},
  ) {
    const n = blockSize;
    this.n = n;
    this.bins = n + 1;
    this.floor = 10 ** ((options.floorDb ?? -40) / 20);
    this.over = options.overSuppression ?? 4;
    this.doubleTalkOver = options.doubleTalkOverSuppression ?? 1;
    // −0.7 dB per 16 ms block: slower than the reverberation of a lively room (RT60 0.8 s), so it stays covered.
    this.tailDecay = options.tailDecay ?? 0.85;
    this.window = new Float64Array(2 * n);
    for (let i = 0; i < 2 * n; i++) this.window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (2 * n));
    const taperLen = n >> 2;
    this.taper = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = i - (n - taperLen);
      this.taper[i] = t < 0 ? 1 : 0.5 + 0.5 * Math.cos((Math.PI * (t + 1)) / (taperLen + 1));
    }
    this.errHist = new Float64Array(2 * n);
    this.echoHist = new Float64Array(2 * n);
    this.bufE = new Float64Array(2 * n);
    this.bufY = new Float64Array(2 * n);
    this.bufH = new Float64Array(2 * n);
    this.residual = new Float64Array(this.bins);
    this.noise = new Float64Array(this.bins);
    this.gain = new Float64Array(this.bins);
    this.smoothGain = new Float64Array(this.bins).fill(1);
    this.recognizerGain = new Float64Array(this.bins);
    this.smoothRecognizerGain = new Float64Array(this.bins).fill(1);
    this.spectrum = new Float64Array(2 * n);
    const bands = Math.ceil(this.bins / BAND);
    this.leakNum = new Float64Array(bands);
    this.leakDen = new Float64Array(bands);
    this.couplingNum = new Float64Array(bands);
    this.couplingDen = new Float64Array(bands);
    this.tail = new Float64Array(n);
    this.recognizerTail = new Float64Array(n);
  }

  /**
   * Suppresses residual echo in `error` (one block) given the echo estimate `echo` for the same block: into `out`
   * for the VAD and the wake word, into `recognizerOut` for the speech recognizer (see the class comment).
   * `reference`: power spectrum (N + 1 bins) of the reference this block's echo comes from, delay and tail applied.
   * `nearEnd`: the user clearly talks: nothing is learnt, and residual echo is removed gently, sparing their words.
   * (Blocks the double-talk detector only suspects are learnt from: there the filter does worse on loud passages,
   * and the leak must cover them.)
   */
  process(
    error: Float64Array,
    echo: Float64Array,
    reference: Float64Array,
    nearEnd: boolean,
    out: Float64Array,
    recognizerOut: Float64Array,
  ): void {
    const { bins } = this;
    this.analyse(error, echo);
    const pe = this.bufE;
    const py = this.bufY;
    // pe/py now hold per-bin powers in their first N + 1 entries.
    this.trackNoise(pe);
    if (!nearEnd) this.learnLeak(pe, py, reference);
    this.audibleBlocks++;

    // Bands the reference has hardly excited yet borrow the broadband coupling.
    let cn = 0;
    let cd = 0;
    let maxDen = 0;
    for (let b = 0; b < this.couplingNum.length; b++) {
      cn += this.couplingNum[b]!;
      cd += this.couplingDen[b]!;
      maxDen = Math.max(maxDen, this.couplingDen[b]!);
    }
    const prior = STARTUP_COUPLING * 10 ** (-this.audibleBlocks / STARTUP_FADE_BLOCKS);
    const broadband = Math.max(cd > 0 ? cn / cd : 0, prior);
    const g = this.gain;
    const gr = this.recognizerGain;
    const over = nearEnd ? this.doubleTalkOver : this.over;
    for (let k = 0; k < bins; k++) {
      const b = (k / BAND) | 0;
      // Until the band has been measured, assume the filter removes nothing.
      const leak = this.leakDen[b]! > 0 ? Math.max(this.leakNum[b]! / this.leakDen[b]!, LEAK_FLOOR) : 1;
      const den = this.couplingDen[b]!;
      const coupling = Math.max(den > 0.05 * maxDen ? this.couplingNum[b]! / den : broadband, prior);
      const r = Math.max(Math.min(leak, 1) * py[k]!, this.tailDecay * this.residual[k]!);
      // From the reference alone: catches bins the filter has not learnt yet (at the start, after a path change).
      const rr = coupling * reference[k]!;
      this.residual[k] = r;
      const v = 1 - (over * r + rr) / (pe[k]! + 1e-20);
      g[k] = v > this.floor ? v : this.floor;
      // The gain that leaves this bin at the room's noise floor.
      const toNoise = Math.sqrt(this.noise[k]! / (pe[k]! + 1e-20));
      gr[k] = Math.max(g[k]!, Math.min(toNoise, 1));
    }
    smoothGains(g, this.smoothGain);
    smoothGains(gr, this.smoothRecognizerGain);

    const spectrum = this.spectrum;
    spectrum.set(error);
    spectrum.fill(0, this.n);
    this.fft.forward(spectrum);
    this.filter(spectrum, this.smoothGain, this.tail, out);
    this.filter(spectrum, this.smoothRecognizerGain, this.recognizerTail, recognizerOut);
  }

  /** The echo path moved: forget the leak (suppress as if nothing were cancelled until it is measured again). */
  pathChanged(): void {
    this.leakNum.fill(0);
    this.leakDen.fill(0);
    this.couplingNum.fill(0);
    this.couplingDen.fill(0);
  }

  reset(): void {
    this.errHist.fill(0);
    this.echoHist.fill(0);
    this.residual.fill(0);
    this.noise.fill(0);
    this.smoothGain.fill(1);
    this.smoothRecognizerGain.fill(1);
    this.pathChanged();
    this.tail.fill(0);
    this.recognizerTail.fill(0);
    this.audibleBlocks = 0;
  }

  /**
   * The room's noise floor per bin: a minimum tracker of the error (down at once toward dips, up 1.4 dB/s), starting
   * from the first sound in the bin (the first block, before the echo has arrived or nearly, unless it was digital
   * silence).
   */
  private trackNoise(pe: Float64Array): void {
    for (let k = 0; k < this.bins; k++) {
      const v = pe[k]!;
      const nz = this.noise[k]!;
      this.noise[k] = nz === 0 ? v : v < nz ? 0.7 * nz + 0.3 * v : nz * 1.005;
    }
  }

  /** out ← the block in `spectrum` (forward transform of the zero-padded block) through the gains' minimum-phase filter. */
  private filter(spectrum: Float64Array, gains: Float64Array, tail: Float64Array, out: Float64Array): void {
    const n = this.n;
    this.minimumPhaseFilter(gains);
    const buf = this.bufE;
    buf.set(spectrum);
    multiplySpectra(buf, this.bufH);
    this.fft.inverse(buf);
    for (let i = 0; i < n; i++) out[i] = buf[i]! + tail[i]!;
    tail.set(buf.subarray(n));
  }

  /** Windowed spectra of the last 2N samples of error and echo; leaves their powers in bufE/bufY[0..N]. */
  private analyse(error: Float64Array, echo: Float64Array): void {
    this.powerSpectrum(this.errHist, error, this.bufE);
    this.powerSpectrum(this.echoHist, echo, this.bufY);
  }

  private powerSpectrum(hist: Float64Array, block: Float64Array, buf: Float64Array): void {
    const n = this.n;
    hist.copyWithin(0, n);
    hist.set(block, n);
    for (let i = 0; i < 2 * n; i++) buf[i] = hist[i]! * this.window[i]!;
    this.fft.forward(buf);
    const dc = buf[0]! * buf[0]!;
    const nyq = buf[1]! * buf[1]!;
    // In place: bin k's power goes to buf[k], after buf[2k], buf[2k+1] were read.
    for (let k = 1; k < n; k++) buf[k] = buf[2 * k]! * buf[2 * k]! + buf[2 * k + 1]! * buf[2 * k + 1]!;
    buf[0] = dc;
    buf[n] = nyq;
  }

  /**
   * Per band: leak = residual / echo estimate, coupling = residual / reference power, as ratios of running sums.
   * A block may raise the coupling at most 4× at once, so a near-end talker the detector missed does little.
   */
  private learnLeak(pe: Float64Array, py: Float64Array, reference: Float64Array): void {
    const bands = this.leakNum.length;
    const a = 0.9;
    for (let b = 0; b < bands; b++) {
      let num = 0;
      let den = 0;
      let ref = 0;
      let nz = 0;
      for (let k = b * BAND; k < Math.min(this.bins, (b + 1) * BAND); k++) {
        num += pe[k]!;
        den += py[k]!;
        ref += reference[k]!;
        nz += this.noise[k]!;
      }
      const residual = Math.max(num - nz, 0);
      // Learn only where the echo estimate clearly stands above the noise.
      if (den >= 4 * nz) {
        this.leakNum[b] = a * this.leakNum[b]! + (1 - a) * residual;
        this.leakDen[b] = a * this.leakDen[b]! + (1 - a) * den;
      }
      if (ref > 1e-12) {
        const cn = this.couplingNum[b]!;
        const cd = this.couplingDen[b]!;
        const limit = cd > 0 ? (4 * cn * ref) / cd : Infinity;
        this.couplingNum[b] = a * cn + (1 - a) * Math.min(residual, limit);
        this.couplingDen[b] = a * cd + (1 - a) * ref;
      }
    }
  }

  /** bufH ← spectrum of the N-tap minimum-phase filter whose magnitude response is `gain` (N + 1 bins). */
  private minimumPhaseFilter(gain: Float64Array): void {
    const n = this.n;
    const c = this.bufH;
    c[0] = Math.log(gain[0]!);
    c[1] = Math.log(gain[n]!);
    for (let k = 1; k < n; k++) {
      c[2 * k] = Math.log(gain[k]!);
      c[2 * k + 1] = 0;
    }
    this.fft.inverse(c); // real cepstrum
    for (let i = 1; i < n; i++) c[i] = 2 * c[i]!;
    c.fill(0, n + 1);
    this.fft.forward(c); // log spectrum of the minimum-phase filter
    c[0] = Math.exp(c[0]!);
    c[1] = Math.exp(c[1]!);
    for (let k = 1; k < n; k++) {
      const mag = Math.exp(c[2 * k]!);
      const ph = c[2 * k + 1]!;
      c[2 * k] = mag * Math.cos(ph);
      c[2 * k + 1] = mag * Math.sin(ph);
    }
    this.fft.inverse(c);
    for (let i = 0; i < n; i++) c[i] = c[i]! * this.taper[i]!;
    c.fill(0, n);
    this.fft.forward(c);
  }
}

/** Smooths gains across frequency (1-2-1) and over time (60% new) into `smooth`, against musical noise. */
function smoothGains(gains: Float64Array, smooth: Float64Array): void {
  const bins = gains.length;
  let prev = gains[0]!;
  for (let k = 0; k < bins; k++) {
    const cur = gains[k]!;
    const next = k + 1 < bins ? gains[k + 1]! : cur;
    const f = 0.25 * prev + 0.5 * cur + 0.25 * next;
    prev = cur;
    smooth[k] = 0.4 * smooth[k]! + 0.6 * f;
  }
}

function multiplySpectra(a: Float64Array, b: Float64Array): void {
  a[0] = a[0]! * b[0]!;
  a[1] = a[1]! * b[1]!;
  for (let i = 2; i < a.length; i += 2) {
    const ar = a[i]!;
    const ai = a[i + 1]!;
    const br = b[i]!;
    const bi = b[i + 1]!;
    a[i] = ar * br - ai * bi;
    a[i + 1] = ar * bi + ai * br;
  }
}
