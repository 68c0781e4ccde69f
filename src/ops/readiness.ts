/**
 * Whether the XMPP servers behind the gateway can be reached, for /readyz and the status page.
 * Real client connections report as they go (connected or failed); when nothing has been heard
 * for a while, /readyz opens a TCP connection itself, so a quiet gateway still knows.
 */
import net from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type UpstreamHealth = 'up' | 'down' | 'unknown';

export interface UpstreamState {
  readonly domain: string;
  readonly target: string;
  readonly state: UpstreamHealth;
  readonly checkedAt?: Date;
  readonly detail?: string;
}

export interface UpstreamProbeOptions {
  /** Each domain served, with where its server is (a fixed address, or a DNS SRV lookup). */
  readonly domains: readonly { domain: string; locate(): Promise<HostPort> }[];
  /** A state heard within this long is used as it is; older ones are probed again. */
  readonly freshMs: number;
  readonly timeoutMs: number;
}

export class UpstreamProbe {
  private readonly states = new Map<string, UpstreamState>();
  private probing: Promise<void> | undefined;

  constructor(private readonly options: UpstreamProbeOptions) {
    for (const { domain } of options.domains) this.states.set(domain, { domain, target: '?', state: 'unknown' });
  }

  /** A real upstream stream for the domain opened (or failed to). */
  report(domain: string, target: string, ok: boolean, detail?: string): void {
    if (!this.states.has(domain)) return;
    this.states.set(domain, { domain, target, state: ok ? 'up' : 'down', checkedAt: new Date(), ...(detail ? { detail } : {}) });
  }

  /** The last known state of every domain, without probing. */
  snapshot(): UpstreamState[] {
    return [...this.states.values()];
  }

  /** Fresh states, probing the domains not heard from lately (one probe at a time). */
  async check(): Promise<UpstreamState[]> {
    const now = Date.now();
    const stale = this.options.domains.filter(({ domain }) => {
      const at = this.states.get(domain)?.checkedAt?.getTime();
      return at === undefined || now - at > this.options.freshMs;
    });
    if (stale.length > 0) {
      this.probing ??= Promise.all(stale.map((d) => this.probe(d.domain, d.locate))).then(() => {
        this.probing = undefined;
      });
      await this.probing;
    }
    return this.snapshot();
  }

  private async probe(domain: string, locate: () => Promise<HostPort>): Promise<void> {
    let where: HostPort;
    try {
      where = await locate();
    } catch (error) {
      this.report(domain, '?', false, `cannot locate the server: ${(error as Error).message}`);
      return;
    }
    const target = `${where.host}:${where.port}`;
    const outcome = await new Promise<string | undefined>((resolve) => {
      const socket = net.connect({ host: where.host, port: where.port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(`no TCP answer within ${this.options.timeoutMs / 1000} s`);
      }, this.options.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        resolve(error.message);
      });
    });
    this.report(domain, target, outcome === undefined, outcome);
  }
}
