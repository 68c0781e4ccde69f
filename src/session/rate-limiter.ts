/**
 * Per-client stanza rate limit: a token bucket of `burst` stanzas refilled at `perSecond`. A
 * client over its rate is slowed, not dropped: its stanzas wait their turn while its input is
 * paused (TCP backpressure does the rest), so a chatty app keeps working and a flood cannot
 * crowd out the others.
 */
export class StanzaRateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes a token and returns 0, or returns how many ms until one is there (taking none). */
  tryTake(now = Date.now()): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) / this.perSecond) * 1000));
  }
}
