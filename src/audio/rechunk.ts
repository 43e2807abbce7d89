/** Cuts a stream of arbitrarily sized int16 chunks into fixed-size windows. */
export class Rechunker {
  readonly size: number;
  private readonly buf: Int16Array;
  private fill = 0;
  private emitted = 0;

  constructor(size: number) {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
    this.size = size;
    this.buf = new Int16Array(size);
  }

  /** Samples held back, waiting for a full window. */
  get pending(): number {
    return this.fill;
  }

  /**
   * Input samples handed out so far (zero padding from flush() not counted): the stream index
   * of the first sample of the next window, from which callers derive its timestamp.
   */
  get position(): number {
    return this.emitted;
  }

  /** Returns every window completed by `samples` (fresh arrays, safe to keep), oldest first. */
  push(samples: Int16Array): Int16Array[] {
    const out: Int16Array[] = [];
    let i = 0;
    if (this.fill > 0) {
      const take = Math.min(this.size - this.fill, samples.length);
      this.buf.set(samples.subarray(0, take), this.fill);
      this.fill += take;
      i = take;
      if (this.fill < this.size) return out;
      out.push(this.buf.slice());
      this.fill = 0;
    }
    for (; i + this.size <= samples.length; i += this.size) out.push(samples.slice(i, i + this.size));
    this.buf.set(samples.subarray(i), 0);
    this.fill = samples.length - i;
    this.emitted += out.length * this.size;
    return out;
  }

  /**
   * Hands out the partial window left at the end of a stream, or null when there is none.
   * It is returned as is (shorter than `size`) unless `pad` is true, then zero-padded to `size`.
   */
  flush(options: { pad?: boolean } = {}): Int16Array | null {
    if (this.fill === 0) return null;
    const out = new Int16Array(options.pad ? this.size : this.fill);
    out.set(this.buf.subarray(0, this.fill));
    this.emitted += this.fill;
    this.fill = 0;
    return out;
  }

  /** Drops pending samples and restarts the position at 0. */
  reset(): void {
    this.fill = 0;
    this.emitted = 0;
  }
}
