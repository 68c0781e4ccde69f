/**
 * The gateway's Prometheus metrics (exposition at /metrics, ops-routes.ts), fed by one
 * ConnectionObserver per client connection, by the upstream connector and by the component.
 * Label values come from fixed sets or XMPP condition names; anything else is folded into
 * `other`, so a client cannot grow the series without bound.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnectionObserver, LoginFailureReport } from './observer.js';

const PREFIX = 'flash_xmpp_gateway_';

/** Transports as metrics name them: tcp (the Flash port: raw and XMLSocket), websocket, rtmp, rtmps, rtmpt. */
export type MetricsTransport = 'tcp' | 'websocket' | 'rtmp' | 'rtmps' | 'rtmpt';

/** Latency buckets (seconds) from a loopback server (ms) to a slow one across the world. */
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** XMPP conditions, SASL failures, dialects, methods and domains: lower-case words, dashes, dots. */
function label(value: string | undefined): string {
  if (value === undefined || value === '') return 'none';
  return /^[a-z0-9][a-z0-9.:_-]{0,63}$/.test(value) ? value : 'other';
}

export interface LoginFailureEvent extends LoginFailureReport {
  readonly at: Date;
  readonly transport: MetricsTransport;
  readonly dialect: string;
  readonly remoteAddress: string;
}

interface TrafficCounts {
  stanzasIn: number;
  stanzasOut: number;
  bytesIn: number;
  bytesOut: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly connectionsOpen: Gauge<'transport' | 'dialect'>;
  private readonly connectionsTotal: Counter<'transport'>;
  private readonly loginsSucceeded: Counter<'transport' | 'method'>;
  private readonly loginsFailed: Counter<'transport' | 'method' | 'reason'>;
  private readonly loginSeconds: Histogram<'method' | 'result'>;
  private readonly stanzas: Counter<'transport' | 'direction'>;
  private readonly bytes: Counter<'transport' | 'direction'>;
  private readonly errors: Counter<'transport' | 'condition'>;
  private readonly upstreamConnectSeconds: Histogram<'domain'>;
  private readonly upstreamConnectFailures: Counter<'domain' | 'condition'>;
  private readonly componentUp: Gauge<'domain'>;
  private readonly scramCacheLookups: Counter<'result'>;
  private saltedPasswords: (() => { hits: number; misses: number }) | undefined;
  private readonly refused: Counter<'listener'>;
  /** Live connections by transport and dialect, for the status page (the gauge holds the same). */
  private readonly live = new Map<string, number>();
  private readonly failureSinks: ((event: LoginFailureEvent) => void)[] = [];
  /**
   * Stanza and byte totals per transport, counted in plain numbers on the hot path and handed to
   * prom-client at scrape time: its inc() hashes the label set on every call, even on a bound
   * child (about 6 % of the gateway's time in bench/traffic.ts).
   */
  private readonly traffic = new Map<MetricsTransport, TrafficCounts>();

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.connectionsOpen = new Gauge({
      name: `${PREFIX}connections`,
      help: 'Client connections open now, by transport and dialect (unknown until the client shows it)',
      labelNames: ['transport', 'dialect'],
      registers,
    });
    this.connectionsTotal = new Counter({
      name: `${PREFIX}connections_total`,
      help: 'Client connections accepted, by transport',
      labelNames: ['transport'],
      registers,
    });
    this.refused = new Counter({
      name: `${PREFIX}connections_refused_total`,
      help: 'Connections refused at a connection limit, by listener',
      labelNames: ['listener'],
      registers,
    });
    this.loginsSucceeded = new Counter({
      name: `${PREFIX}logins_succeeded_total`,
      help: 'Client logins that succeeded, by transport and method (sasl, iq:auth, rtmp)',
      labelNames: ['transport', 'method'],
      registers,
    });
    this.loginsFailed = new Counter({
      name: `${PREFIX}logins_failed_total`,
      help: 'Client logins that failed, by transport, method and reason (the XMPP condition)',
      labelNames: ['transport', 'method', 'reason'],
      registers,
    });
    this.loginSeconds = new Histogram({
      name: `${PREFIX}login_seconds`,
      help: 'Time from the start of a login to its answer from the XMPP server',
      labelNames: ['method', 'result'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.stanzas = new Counter({
      name: `${PREFIX}stanzas_total`,
      help: 'Stanzas relayed: in = client to XMPP server, out = XMPP server to client',
      labelNames: ['transport', 'direction'],
      registers,
      collect: () => this.publishTraffic(this.stanzas, (c) => [c.stanzasIn, c.stanzasOut]),
    });
    this.bytes = new Counter({
      name: `${PREFIX}client_bytes_total`,
      help: 'Bytes on client connections: in = read from clients, out = written to them',
      labelNames: ['transport', 'direction'],
      registers,
      collect: () => this.publishTraffic(this.bytes, (c) => [c.bytesIn, c.bytesOut]),
    });
    this.errors = new Counter({
      name: `${PREFIX}errors_total`,
      help: 'Errors told to clients (stream errors, refused calls), by condition',
      labelNames: ['transport', 'condition'],
      registers,
    });
    this.upstreamConnectSeconds = new Histogram({
      name: `${PREFIX}upstream_connect_seconds`,
      help: 'Time to open an upstream client stream (TCP, STARTTLS, stream features)',
      labelNames: ['domain'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.upstreamConnectFailures = new Counter({
      name: `${PREFIX}upstream_connect_failures_total`,
      help: 'Upstream client streams that could not be opened, by domain and condition',
      labelNames: ['domain', 'condition'],
      registers,
    });
    this.componentUp = new Gauge({
      name: `${PREFIX}component_up`,
      help: 'The XEP-0114 component: 1 online, 0 not',
      labelNames: ['domain'],
      registers,
    });
    this.scramCacheLookups = new Counter({
      name: `${PREFIX}scram_cache_lookups_total`,
      help: 'SCRAM salted passwords looked up for logins the gateway runs (RTMP, iq:auth): hit skips PBKDF2',
      labelNames: ['result'],
      registers,
      collect: () => {
        const counts = this.saltedPasswords?.();
        if (!counts) return;
        this.scramCacheLookups.reset();
        this.scramCacheLookups.inc({ result: 'hit' }, counts.hits);
        this.scramCacheLookups.inc({ result: 'miss' }, counts.misses);
      },
    });
    // process_* and nodejs_* under their standard names: memory, CPU, file descriptors, event loop lag.
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Where scram_cache_lookups_total is read from at scrape time. */
  watchSaltedPasswords(source: () => { hits: number; misses: number }): void {
    this.saltedPasswords = source;
  }

  /** Called with every failed login (the status page keeps the recent ones). */
  onLoginFailure(sink: (event: LoginFailureEvent) => void): void {
    this.failureSinks.push(sink);
  }

  /** Live connections now, by transport and dialect. */
  liveConnections(): { transport: string; dialect: string; open: number }[] {
    return [...this.live].map(([key, open]) => {
      const [transport, dialect] = key.split('/') as [string, string];
      return { transport, dialect, open };
    });
  }

  /** Live connections now, by transport (the status page's chart). */
  liveByTransport(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { transport, open } of this.liveConnections()) out[transport] = (out[transport] ?? 0) + open;
    return out;
  }

  connectionRefused(listener: string): void {
    this.refused.inc({ listener: label(listener) });
  }

  upstreamConnected(domain: string, seconds: number): void {
    this.upstreamConnectSeconds.observe({ domain: label(domain) }, seconds);
  }

  upstreamFailed(domain: string, condition: string): void {
    this.upstreamConnectFailures.inc({ domain: label(domain), condition: label(condition) });
  }

  componentState(domain: string, online: boolean): void {
    this.componentUp.set({ domain: label(domain) }, online ? 1 : 0);
  }

  /** Counters of one transport's client bytes (they run on every read and write). */
  clientBytes(transport: MetricsTransport): { in(count: number): void; out(count: number): void } {
    const counts = this.trafficOf(transport);
    return {
      in: (count) => {
        counts.bytesIn += count;
      },
      out: (count) => {
        counts.bytesOut += count;
      },
    };
  }

  private trafficOf(transport: MetricsTransport): TrafficCounts {
    let counts = this.traffic.get(transport);
    if (!counts) {
      counts = { stanzasIn: 0, stanzasOut: 0, bytesIn: 0, bytesOut: 0 };
      this.traffic.set(transport, counts);
    }
    return counts;
  }

  /** At scrape time: the plain totals become the counter's values. */
  private publishTraffic(counter: Counter<'transport' | 'direction'>, pick: (c: TrafficCounts) => [number, number]): void {
    counter.reset();
    for (const [transport, counts] of this.traffic) {
      const [inbound, outbound] = pick(counts);
      counter.inc({ transport, direction: 'in' }, inbound);
      counter.inc({ transport, direction: 'out' }, outbound);
    }
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** One connection's observer: counts it open now, and closed when `closed()` is called. */
  observe(transport: MetricsTransport, remoteAddress: string): ConnectionObserver {
    this.connectionsTotal.inc({ transport });
    let dialect = 'unknown';
    let open = true;
    let loginStartedAt: bigint | undefined;
    const move = (delta: number): void => {
      const key = `${transport}/${dialect}`;
      const next = (this.live.get(key) ?? 0) + delta;
      if (next <= 0) this.live.delete(key);
      else this.live.set(key, next);
      this.connectionsOpen.inc({ transport, dialect }, delta);
    };
    move(1);
    const traffic = this.trafficOf(transport);
    const loginTime = (method: string, result: 'succeeded' | 'failed'): void => {
      if (loginStartedAt === undefined) return;
      this.loginSeconds.observe({ method: label(method), result }, Number(process.hrtime.bigint() - loginStartedAt) / 1e9);
      loginStartedAt = undefined;
    };
    return {
      dialect: (name) => {
        if (!open || name === dialect) return;
        move(-1);
        dialect = label(name);
        move(1);
      },
      loginStarted: () => {
        loginStartedAt ??= process.hrtime.bigint();
      },
      loginSucceeded: (method) => {
        this.loginsSucceeded.inc({ transport, method: label(method) });
        loginTime(method, 'succeeded');
      },
      loginFailed: (report) => {
        this.loginsFailed.inc({ transport, method: label(report.method), reason: label(report.reason) });
        loginTime(report.method, 'failed');
        const event: LoginFailureEvent = { ...report, at: new Date(), transport, dialect, remoteAddress };
        for (const sink of this.failureSinks) sink(event);
      },
      stanzaIn: () => {
        traffic.stanzasIn++;
      },
      stanzaOut: () => {
        traffic.stanzasOut++;
      },
      errorSent: (condition) => this.errors.inc({ transport, condition: label(condition) }),
      closed: () => {
        if (!open) return;
        move(-1);
        open = false;
      },
    };
  }
}
