export type FloatArray = Float32Array | Float64Array;

/**
 * Real FFT of a power-of-two size n ≥ 4, in place, with a packed spectrum (n numbers for n/2 + 1 bins):
 * `[Re X0, Re X(n/2), Re X1, Im X1, …, Re X(n/2−1), Im X(n/2−1)]` (bins 0 and n/2 are real).
 * `forward` computes X[k] = Σ x[j]·e^{−2πijk/n}; `inverse` divides by n, so inverse(forward(x)) = x.
 *
 * It runs an n/2-point complex radix-2 FFT on the even/odd samples seen as re/im pairs (which is what the
 * packed layout already is) and splits the result into the real spectrum.
 */
export class RealFft {
  readonly size: number;
  /** Complex points of the inner FFT (n/2). */
  private readonly m: number;
  /** The inner FFT's twiddles per stage, interleaved re/im: stage `half` keeps e^{∓2πij/(2·half)} at [2·half, 4·half). */
  private readonly twForward: Float64Array;
  private readonly twInverse: Float64Array;
  /** cos/sin(2πk/n) for k ≤ m/2: the twiddles that split/merge the real spectrum. */
  private readonly cosS: Float64Array;
  private readonly sinS: Float64Array;
  /** Pairs (i, j), i < j, of complex indices swapped by the bit-reversal permutation. */
  private readonly swaps: Uint32Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 4 || (size & (size - 1)) !== 0) {
      throw new RangeError(`FFT size must be a power of two ≥ 4, got ${size}`);
    }
    this.size = size;
    const m = size >> 1;
    this.m = m;
    this.twForward = new Float64Array(2 * m);
    this.twInverse = new Float64Array(2 * m);
    for (let half = 1; half < m; half <<= 1) {
      for (let j = 0; j < half; j++) {
        const angle = (Math.PI * j) / half;
        this.twForward[2 * (half + j)] = this.twInverse[2 * (half + j)] = Math.cos(angle);
        this.twForward[2 * (half + j) + 1] = -Math.sin(angle);
        this.twInverse[2 * (half + j) + 1] = Math.sin(angle);
      }
    }
    this.cosS = new Float64Array((m >> 1) + 1);
    this.sinS = new Float64Array((m >> 1) + 1);
    for (let k = 0; k <= m >> 1; k++) {
      this.cosS[k] = Math.cos((2 * Math.PI * k) / size);
      this.sinS[k] = Math.sin((2 * Math.PI * k) / size);
    }
    const bits = Math.log2(m);
    const pairs: number[] = [];
    for (let i = 0; i < m; i++) {
      let r = 0;
      for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1);
      if (i < r) pairs.push(i, r);
    }
    this.swaps = Uint32Array.from(pairs);
  }

  forward(data: FloatArray): void {
    this.check(data);
    this.complex(data, -1);
    const { m, cosS, sinS } = this;
    const r0 = data[0]!;
    const i0 = data[1]!;
    data[0] = r0 + i0;
    data[1] = r0 - i0;
    for (let k = 1; k < m >> 1; k++) {
      const a = 2 * k;
      const b = 2 * (m - k);
      const ar = data[a]!;
      const ai = data[a + 1]!;
      const br = data[b]!;
      const bi = data[b + 1]!;
      // Fe = (Z[k] + conj Z[m−k]) / 2, Fo = (Z[k] − conj Z[m−k]) / 2i, X[k] = Fe + W^k·Fo, X[m−k] = conj(Fe − W^k·Fo)
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai - bi);
      const or = 0.5 * (ai + bi);
      const oi = -0.5 * (ar - br);
      const c = cosS[k]!;
      const s = -sinS[k]!;
      const tr = c * or - s * oi;
      const ti = c * oi + s * or;
      data[a] = er + tr;
      data[a + 1] = ei + ti;
      data[b] = er - tr;
      data[b + 1] = -(ei - ti);
    }
    data[m + 1] = -data[m + 1]!;
  }

  inverse(data: FloatArray): void {
    this.check(data);
    const { m, cosS, sinS } = this;
    const x0 = data[0]!;
    const xm = data[1]!;
    data[0] = 0.5 * (x0 + xm);
    data[1] = 0.5 * (x0 - xm);
    for (let k = 1; k < m >> 1; k++) {
      const a = 2 * k;
      const b = 2 * (m - k);
      const ar = data[a]!;
      const ai = data[a + 1]!;
      const br = data[b]!;
      const bi = data[b + 1]!;
      // Fe = (X[k] + conj X[m−k]) / 2, Fo = conj(W^k)·(X[k] − conj X[m−k]) / 2, Z[k] = Fe + i·Fo, Z[m−k] = conj Fe + i·conj Fo
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai - bi);
      const dr = 0.5 * (ar - br);
      const di = 0.5 * (ai + bi);
      const c = cosS[k]!;
      const s = sinS[k]!;
      const or = c * dr - s * di;
      const oi = c * di + s * dr;
      data[a] = er - oi;
      data[a + 1] = ei + or;
      data[b] = er + oi;
      data[b + 1] = or - ei;
    }
    data[m + 1] = -data[m + 1]!;
    this.complex(data, 1);
    const scale = 1 / m;
    for (let i = 0; i < this.size; i++) data[i] = data[i]! * scale;
  }

  private check(data: FloatArray): void {
    if (data.length !== this.size) throw new RangeError(`FFT of size ${this.size} given ${data.length} samples`);
  }

  /** In-place unscaled complex FFT of the m interleaved points; sign −1 forward, +1 inverse. */
  private complex(data: FloatArray, sign: number): void {
    const { m, swaps } = this;
    const tw = sign < 0 ? this.twForward : this.twInverse;
    for (let p = 0; p < swaps.length; p += 2) {
      const i = 2 * swaps[p]!;
      const j = 2 * swaps[p + 1]!;
      const tr = data[i]!;
      const ti = data[i + 1]!;
      data[i] = data[j]!;
      data[i + 1] = data[j + 1]!;
      data[j] = tr;
      data[j + 1] = ti;
    }
    if (m >= 4) {
      // The first two radix-2 stages fused: their twiddles are 1 and ∓i.
      for (let i = 0; i < 2 * m; i += 8) {
        const ar = data[i]! + data[i + 2]!;
        const ai = data[i + 1]! + data[i + 3]!;
        const br = data[i]! - data[i + 2]!;
        const bi = data[i + 1]! - data[i + 3]!;
        const cr = data[i + 4]! + data[i + 6]!;
        const ci = data[i + 5]! + data[i + 7]!;
        const dr = data[i + 4]! - data[i + 6]!;
        const di = data[i + 5]! - data[i + 7]!;
        // e = (dr + i·di)·(sign·i)
        const er = -sign * di;
        const ei = sign * dr;
        data[i] = ar + cr;
        data[i + 1] = ai + ci;
        data[i + 4] = ar - cr;
        data[i + 5] = ai - ci;
        data[i + 2] = br + er;
        data[i + 3] = bi + ei;
        data[i + 6] = br - er;
        data[i + 7] = bi - ei;
      }
    } else {
      const ar = data[0]!;
      const ai = data[1]!;
      data[0] = ar + data[2]!;
      data[1] = ai + data[3]!;
      data[2] = ar - data[2]!;
      data[3] = ai - data[3]!;
    }
    for (let half = 4; half < m; half <<= 1) {
      const len = half << 1;
      // this stage's twiddles e^{∓2πij/len}, j < half, are stored at [2·half, 4·half)
      for (let j = 0; j < half; j++) {
        const wr = tw[2 * (half + j)]!;
        const wi = tw[2 * (half + j) + 1]!;
        for (let i = j; i < m; i += len) {
          const a = 2 * i;
          const b = 2 * (i + half);
          const xr = data[b]!;
          const xi = data[b + 1]!;
          const tr = wr * xr - wi * xi;
          const ti = wr * xi + wi * xr;
          const ur = data[a]!;
          const ui = data[a + 1]!;
          data[a] = ur + tr;
          data[a + 1] = ui + ti;
          data[b] = ur - tr;
          data[b + 1] = ui - ti;
        }
      }
    }
  }
}
