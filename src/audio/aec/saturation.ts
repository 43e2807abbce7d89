/** Share of the least-squares correction taken per block. */
const STEP = 0.03;
/** Per-block forgetting of the least-squares sums (≈ 20 blocks, 320 ms). */
const FORGET = 0.95;
/**
 * Bounds of the coefficient. Loudspeakers compress their loudest peaks; below −1/3 the polynomial folds back
 * within full scale, which no speaker does. A little room above 0 keeps a linear speaker's estimate unbiased.
 */
const MIN = -1 / 3;
const MAX = 0.1;

/**
 * The loudspeaker's saturation, a memoryless polynomial in front of the linear echo path (a Hammerstein model,
 * after Stenger & Kellermann, "Adaptation of a memoryless preprocessor for nonlinear acoustic echo cancelling",
 * 2000): the filters see f(x) = x + a·x³ of the reference x (full scale ±1) instead of x. A linear filter alone
 * cannot model a speaker that compresses loud passages, and what it leaves sounds through the user's words.
 *
 * The echo estimate is linear in `a`: y = h∗x + a·(h∗x³). So `a` is fitted to the error by least squares, with
 * h∗x³ filtered through the same weights (the caller keeps the x³ spectra alongside the f(x) ones).
 */
export class SpeakerSaturation {
  private a = 0;
  /** Exponentially weighted sums over blocks (y echo estimate, c filtered x³, e error). */
  private yy = 0;
  private yc = 0;
  private cc = 0;
  private ey = 0;
  private ec = 0;

  get coefficient(): number {
    return this.a;
  }

  /** shaped ← f(frame), cubed ← frame³ (any length). */
  apply(frame: Float64Array, shaped: Float64Array, cubed: Float64Array): void {
    const a = this.a;
    for (let i = 0; i < frame.length; i++) {
      const x = frame[i]!;
      const x3 = x * x * x;
      cubed[i] = x3;
      shaped[i] = x + a * x3;
    }
  }

  /**
   * One update from a block of echo only: `error` = mic − echo estimate, `cubedEcho` = the filter applied to x³
   * for the same block, `echo` = the echo estimate.
   *
   * Speech seldom nears full scale, so x³ looks much like a louder x, and a plain gradient on `a` cannot tell a
   * speaker that compresses from a filter whose gain is a little off: it drifted to the bound on a speaker that
   * hardly clipped. So the error is regressed on both the echo estimate and h∗x³ (least squares over the last
   * few hundred ms), and `a` takes only the part of the error that the filter's gain could not explain.
   */
  adapt(error: Float64Array, cubedEcho: Float64Array, echo: Float64Array): void {
    let yy = 0;
    let yc = 0;
    let cc = 0;
    let ey = 0;
    let ec = 0;
    for (let i = 0; i < error.length; i++) {
      const e = error[i]!;
      const y = echo[i]!;
      const c = cubedEcho[i]!;
      yy += y * y;
      yc += y * c;
      cc += c * c;
      ey += e * y;
      ec += e * c;
    }
    this.yy = FORGET * this.yy + yy;
    this.yc = FORGET * this.yc + yc;
    this.cc = FORGET * this.cc + cc;
    this.ey = FORGET * this.ey + ey;
    this.ec = FORGET * this.ec + ec;
    // The part of h∗x³ that is not a multiple of the echo estimate, and its share of the error.
    const independent = this.cc - (this.yc * this.yc) / (this.yy + 1e-20);
    if (independent <= 1e-6 * this.cc) return;
    const next = this.a + (STEP * (this.ec - (this.yc * this.ey) / (this.yy + 1e-20))) / independent;
    this.a = next < MIN ? MIN : next > MAX ? MAX : next;
  }

  reset(): void {
    this.a = this.yy = this.yc = this.cc = this.ey = this.ec = 0;
  }
}
