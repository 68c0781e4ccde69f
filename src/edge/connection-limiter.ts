/**
 * Counts live connections per remote address and in all, so one address (or a flood) cannot
 * take every slot. Release is idempotent per ticket, so a close path that runs twice is harmless.
 */
export interface LimitTicket {
  release(): void;
}

export type LimitVerdict = { ok: true; ticket: LimitTicket } | { ok: false; reason: string };

export class ConnectionLimiter {
  private readonly perAddress = new Map<string, number>();
  private total = 0;

  private limits: { maxConnectionsPerIp: number; maxConnections: number };

  constructor(
    limits: { maxConnectionsPerIp: number; maxConnections: number },
    /** Addresses the per-address limit does not apply to (the total still does). */
    private readonly exempt: (address: string) => boolean = () => false,
  ) {
    this.limits = { maxConnectionsPerIp: limits.maxConnectionsPerIp, maxConnections: limits.maxConnections };
  }

  /**
   * New limits (a configuration reload). They apply to the next acquire: connections already
   * counted stay, even over a lowered limit, and free their slots as they close.
   */
  update(limits: { maxConnectionsPerIp: number; maxConnections: number }): void {
    this.limits = { maxConnectionsPerIp: limits.maxConnectionsPerIp, maxConnections: limits.maxConnections };
  }

  acquire(address: string): LimitVerdict {
    const current = this.perAddress.get(address) ?? 0;
    if (this.total >= this.limits.maxConnections) {
      return { ok: false, reason: `the gateway is at its connection limit (${this.limits.maxConnections})` };
    }
    if (current >= this.limits.maxConnectionsPerIp && !this.exempt(address)) {
      return { ok: false, reason: `too many connections from ${address} (limit ${this.limits.maxConnectionsPerIp})` };
    }
    this.perAddress.set(address, current + 1);
    this.total++;
    let released = false;
    return {
      ok: true,
      ticket: {
        release: () => {
          if (released) return;
          released = true;
          this.total--;
          const n = (this.perAddress.get(address) ?? 1) - 1;
          if (n <= 0) this.perAddress.delete(address);
          else this.perAddress.set(address, n);
        },
      },
    };
  }

  get connections(): number {
    return this.total;
  }
}
