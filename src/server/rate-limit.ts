/** A token bucket: `ratePerSecond` on average, bursts up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private updatedMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.updatedMs = now();
  }

  /** Takes `cost` tokens if there are enough; false means over the limit. */
  take(cost = 1): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedMs) / 1000) * this.ratePerSecond);
    this.updatedMs = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}
