/**
 * Open connections per transport over the last hour, for the status page chart: sampled on a
 * timer into memory (nothing survives a restart, which the page's uptime makes plain).
 */

export interface ConnectionSample {
  readonly at: Date;
  readonly byTransport: Record<string, number>;
}

/** The timer functions used, so tests can drive sampling by hand. */
export interface HistoryTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface ConnectionHistoryOptions {
  /** Between samples; default 10 s. */
  readonly intervalMs?: number;
  /** How far back samples are kept; default 1 h. */
  readonly windowMs?: number;
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
  readonly timers?: HistoryTimers;
  /** When the counts cannot be read; that sample is skipped (default: ignored). */
  readonly onError?: (error: unknown) => void;
}

const NODE_TIMERS: HistoryTimers = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export class ConnectionHistory {
  readonly intervalMs: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly timers: HistoryTimers;
  private readonly onError: (error: unknown) => void;
  /** Hard bound besides the time window, in case something samples much faster than the interval. */
  private readonly maxSamples: number;
  private readonly ring: ConnectionSample[] = [];
  private timer: unknown;

  constructor(
    private readonly read: () => Record<string, number>,
    options: ConnectionHistoryOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.windowMs = options.windowMs ?? 3_600_000;
    if (!(this.intervalMs > 0) || !Number.isFinite(this.intervalMs)) throw new RangeError(`intervalMs must be > 0, not ${this.intervalMs}`);
    if (!(this.windowMs >= this.intervalMs) || !Number.isFinite(this.windowMs)) {
      throw new RangeError(`windowMs must be >= intervalMs (${this.intervalMs}), not ${this.windowMs}`);
    }
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? NODE_TIMERS;
    this.onError = options.onError ?? (() => undefined);
    this.maxSamples = 2 * (Math.ceil(this.windowMs / this.intervalMs) + 1);
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Takes a first sample at once (so the page has a point right after start), then one per interval. */
  start(): void {
    if (this.timer !== undefined) return;
    this.sampleNow();
    const handle = this.timers.setInterval(() => this.sampleNow(), this.intervalMs);
    // The history must never keep the process alive on shutdown.
    (handle as { unref?: () => void } | undefined)?.unref?.();
    this.timer = handle;
  }

  stop(): void {
    if (this.timer === undefined) return;
    this.timers.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the counts and stores them as taken at `at` (default: the clock's now). */
  sampleNow(at: Date = new Date(this.now())): void {
    let counts: Record<string, number>;
    try {
      counts = this.read();
    } catch (error) {
      this.onError(error); // a timer callback that throws would take the gateway down
      return;
    }
    const byTransport: Record<string, number> = {};
    for (const [transport, open] of Object.entries(counts)) {
      if (Number.isFinite(open)) byTransport[transport] = open;
    }
    // Samples normally arrive in order; a late one (clock step back) still goes in its place.
    let i = this.ring.length;
    while (i > 0 && this.ring[i - 1]!.at.getTime() > at.getTime()) i--;
    this.ring.splice(i, 0, { at: new Date(at.getTime()), byTransport });
    this.trim(at.getTime());
  }

  /** The samples within the window ending at the clock's now, oldest first (copies). */
  samples(): ConnectionSample[] {
    const newest = this.ring[this.ring.length - 1];
    this.trim(Math.max(this.now(), newest?.at.getTime() ?? -Infinity));
    return this.ring.map((s) => ({ at: new Date(s.at.getTime()), byTransport: { ...s.byTransport } }));
  }

  private trim(end: number): void {
    const oldestKept = end - this.windowMs;
    let drop = 0;
    while (drop < this.ring.length && this.ring[drop]!.at.getTime() < oldestKept) drop++;
    drop = Math.max(drop, this.ring.length - this.maxSamples);
    if (drop > 0) this.ring.splice(0, drop);
  }
}
