/**
 * The load patterns, the same code for every path (direct, byte relay, each gateway transport):
 * - closed loop (throughput): every client of a pair keeps `window` messages in flight to its
 *   partner, sending one more for each one its partner receives;
 * - open loop at a fixed rate (latency, CPU): messages leave on a 1 ms schedule, round robin
 *   over the clients, each carrying its send time;
 * - logins: `concurrency` workers each log in, close, and start again.
 * Every loop is bounded in time and stops by itself.
 */
import { readFileSync } from 'node:fs';
import { cpuSeconds } from './proc.js';
import { RtmpBenchClient } from './rtmp-client.js';
import { XmppBenchClient, type BenchClient, type LoginOptions } from './xmpp-client.js';
import type { Gateway, Relay, Server, Upstream } from './env.js';

export type PathKind = 'direct' | 'relay' | 'tls-relay' | 'raw' | 'nul' | 'ws' | 'rtmp-amf0' | 'rtmp-amf3';
export const GATEWAY_PATHS = ['raw', 'nul', 'ws', 'rtmp-amf0', 'rtmp-amf3'] as const satisfies readonly PathKind[];

export const PATH_LABEL: Record<PathKind, string> = {
  direct: 'direct to Prosody',
  relay: 'Node byte relay',
  'tls-relay': 'Node relay terminating TLS',
  raw: 'raw socket',
  nul: 'XMLSocket (NUL)',
  ws: 'WebSocket',
  'rtmp-amf0': 'RTMP AMF0',
  'rtmp-amf3': 'RTMP AMF3',
};

export type Connect = (o: LoginOptions) => Promise<BenchClient>;

export function connector(kind: PathKind, env: { server: Server; upstream: Upstream; gateway?: Gateway; relay?: Relay; tlsRelay?: Relay }): Connect {
  const domain = env.server.domain;
  const tlsCa = env.upstream === 'starttls' ? env.server.caPem : undefined;
  const host = '127.0.0.1';
  const gw = (): Gateway => {
    if (!env.gateway) throw new Error(`${kind} needs the gateway`);
    return env.gateway;
  };
  switch (kind) {
    case 'direct':
      return (o) => XmppBenchClient.login({ kind: 'tcp', host, port: env.server.prosody.c2sPort, nul: false, domain, ...(tlsCa ? { starttlsCa: tlsCa } : {}) }, o);
    case 'relay':
      if (!env.relay) throw new Error('relay path needs the relay');
      return (o) => XmppBenchClient.login({ kind: 'tcp', host, port: env.relay!.port, nul: false, domain, ...(tlsCa ? { starttlsCa: tlsCa } : {}) }, o);
    case 'tls-relay':
      // Plaintext to the relay, as to the gateway: the relay runs STARTTLS to Prosody itself.
      if (!env.tlsRelay) throw new Error('tls-relay path needs the TLS-terminating relay');
      return (o) => XmppBenchClient.login({ kind: 'tcp', host, port: env.tlsRelay!.port, nul: false, domain }, o);
    case 'raw':
      return (o) => XmppBenchClient.login({ kind: 'tcp', host, port: gw().flashPort, nul: false, domain }, o);
    case 'nul':
      return (o) => XmppBenchClient.login({ kind: 'tcp', host, port: gw().flashPort, nul: true, domain }, o);
    case 'ws':
      return (o) => XmppBenchClient.login({ kind: 'ws', host, port: gw().httpPort, url: `ws://${host}:${gw().httpPort}/xmlsocket`, nul: true, domain }, o);
    case 'rtmp-amf0':
    case 'rtmp-amf3':
      return (o) => RtmpBenchClient.login({ host, port: gw().rtmpPort, app: 'xmpp', domain, amf3: kind === 'rtmp-amf3' }, o);
  }
}

export const PASSWORD = 'bench-pass';

export function benchUsers(pairs: number): [string, string][] {
  const users: [string, string][] = [];
  for (let i = 0; i < pairs; i++) users.push([`a${i}`, PASSWORD], [`b${i}`, PASSWORD]);
  return users;
}

export interface Pair {
  a: BenchClient;
  b: BenchClient;
}

let resourceCounter = 0;

/** Logs in `pairs` pairs (users a<i>, b<i>), a few at a time. */
export async function loginPairs(connect: Connect, pairs: number): Promise<Pair[]> {
  const out: Pair[] = [];
  const all: BenchClient[] = [];
  try {
    for (let i = 0; i < pairs; i += 5) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(5, pairs - i) }, async (_, k) => {
          const n = i + k;
          const tag = `r${++resourceCounter}`;
          const [a, b] = await Promise.all([
            connect({ user: `a${n}`, pass: PASSWORD, resource: tag }).then((c) => (all.push(c), c)),
            connect({ user: `b${n}`, pass: PASSWORD, resource: tag }).then((c) => (all.push(c), c)),
          ]);
          return { a, b };
        }),
      );
      out.push(...batch);
    }
    return out;
  } catch (error) {
    for (const c of all) c.destroy();
    throw error;
  }
}

export async function closePairs(pairs: Pair[]): Promise<void> {
  await Promise.all(pairs.flatMap((p) => [p.a.close(2000), p.b.close(2000)]));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const BODY = 'The quick brown fox jumps over the lazy dog, 0123456789';

function bodies(n: number): string[] {
  return n === 1 ? [BODY] : new Array<string>(n).fill(BODY);
}

/**
 * CPU seconds of each watched process (and of this load generator, `driver`) over a window, and
 * the read and write system calls of each (`NAME.syscr`, `NAME.syscw`, from /proc/<pid>/io:
 * read(2)/write(2) and their vector forms; not recv/send, which Prosody uses).
 */
export type CpuWindow = Record<string, number>;

function syscalls(pid: number): { r: number; w: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return { r: Number(/syscr: (\d+)/.exec(io)?.[1] ?? NaN), w: Number(/syscw: (\d+)/.exec(io)?.[1] ?? NaN) };
  } catch {
    return { r: NaN, w: NaN };
  }
}

/** Starts a CPU reading of `pids` and of this process; the function returned ends it. */
export function cpuWindow(pids: Record<string, number>): () => CpuWindow {
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const io = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, syscalls(pid)]));
  const self = process.cpuUsage();
  return () => {
    const out: CpuWindow = {};
    for (const [k, pid] of Object.entries(pids)) {
      try {
        out[k] = cpuSeconds(pid) - start[k]!;
      } catch {
        out[k] = NaN;
      }
      const now = syscalls(pid);
      out[`${k}.syscr`] = now.r - io[k]!.r;
      out[`${k}.syscw`] = now.w - io[k]!.w;
    }
    const d = process.cpuUsage(self);
    out['driver'] = (d.user + d.system) / 1e6;
    return out;
  };
}

export interface ThroughputResult {
  /** Messages received per second in the window. */
  rate: number;
  received: number;
  windowSec: number;
  cpu: CpuWindow;
}

/** Closed loop: `window` messages in flight per direction of each pair; the rate over `windowMs` after `warmMs`. */
export async function throughput(pairs: Pair[], o: { window: number; warmMs: number; windowMs: number; watch: Record<string, number> }): Promise<ThroughputResult> {
  let running = true;
  let sent = 0;
  const clients = pairs.flatMap((p) => [p.a, p.b]);
  const wire = (from: BenchClient, to: BenchClient): void => {
    to.onTimestamps = undefined;
    to.onReceived = (n) => {
      if (!running) return;
      from.sendMessages(to.jid, bodies(n));
      sent += n;
    };
  };
  for (const p of pairs) {
    wire(p.a, p.b);
    wire(p.b, p.a);
  }
  const total = (): number => clients.reduce((s, c) => s + c.received, 0);
  const base = total();
  for (const p of pairs) {
    p.a.sendMessages(p.b.jid, bodies(o.window));
    p.b.sendMessages(p.a.jid, bodies(o.window));
    sent += 2 * o.window;
  }
  await sleep(o.warmMs);
  const r0 = total();
  const t0 = performance.now();
  const endCpu = cpuWindow(o.watch);
  await sleep(o.windowMs);
  const r1 = total();
  const t1 = performance.now();
  const cpu = endCpu();
  running = false;
  // Let what is in flight arrive (bounded), so the next measure starts from quiet.
  const deadline = Date.now() + 5000;
  while (total() - base < sent && Date.now() < deadline) await sleep(20);
  for (const c of clients) c.onReceived = undefined;
  const windowSec = (t1 - t0) / 1000;
  return { rate: (r1 - r0) / windowSec, received: r1 - r0, windowSec, cpu };
}

export interface FixedRateResult {
  /** Messages sent per second in the window (what the schedule achieved). */
  sentRate: number;
  received: number;
  /** Latencies (ms) of the messages sent in the window. */
  p50: number;
  p99: number;
  max: number;
  samples: number;
  /** CPU seconds of each watched process in the window. */
  cpu: CpuWindow;
  lost: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * Open loop at `rate` messages per second (all clients together), on a 1 ms timer: latency of
 * the messages sent in the window, and the CPU time `cpuPid` spent in it per message received.
 */
export async function fixedRate(pairs: Pair[], o: { rate: number; warmMs: number; windowMs: number; watch: Record<string, number> }): Promise<FixedRateResult> {
  const route: { from: BenchClient; to: BenchClient }[] = [];
  for (const p of pairs) route.push({ from: p.a, to: p.b }, { from: p.b, to: p.a });
  const clients = pairs.flatMap((p) => [p.a, p.b]);
  const latencies: number[] = [];
  let wStart = Infinity;
  let wEnd = Infinity;
  for (const c of clients) {
    c.onReceived = undefined;
    c.onTimestamps = (times, now) => {
      for (const t of times) if (t >= wStart && t < wEnd) latencies.push(now - t);
    };
  }
  const total = (): number => clients.reduce((s, c) => s + c.received, 0);
  const r00 = total();
  const start = performance.now();
  const stopAt = start + o.warmMs + o.windowMs;
  let sent = 0;
  let sentInWindow = 0;
  let endCpu: (() => CpuWindow) | undefined;
  let cpu: CpuWindow = {};
  let r0 = 0;
  let r1 = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (wStart === Infinity && now - start >= o.warmMs) {
        wStart = now;
        r0 = total();
        endCpu = cpuWindow(o.watch);
      }
      if (now >= stopAt) {
        wEnd = now;
        r1 = total();
        cpu = endCpu?.() ?? {};
        resolve();
        return;
      }
      const due = Math.floor(((now - start) * o.rate) / 1000);
      while (sent < due) {
        const r = route[sent % route.length]!;
        r.from.sendMessages(r.to.jid, [`t${performance.now().toFixed(3)}`]);
        sent++;
        if (wStart !== Infinity) sentInWindow++;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  // The stragglers of the window still count for latency: wait for them (bounded).
  const deadline = Date.now() + 5000;
  while (total() - r00 < sent && Date.now() < deadline) await sleep(20);
  const lost = sent - (total() - r00);
  for (const c of clients) c.onTimestamps = undefined;
  latencies.sort((x, y) => x - y);
  const windowSec = (wEnd - wStart) / 1000;
  const received = r1 - r0;
  return {
    sentRate: sentInWindow / windowSec,
    received,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.length ? latencies[latencies.length - 1]! : NaN,
    samples: latencies.length,
    lost,
    cpu,
  };
}

export interface LoginResult {
  rate: number;
  logins: number;
  /** Median time of one login (connect to bound session), ms. */
  p50ms: number;
  failures: number;
  firstError?: string;
  cpu: CpuWindow;
}

/** `concurrency` workers log in (users a<i>/b<i>, a fresh resource each time) and close, for `windowMs` after `warmMs`. */
export async function logins(
  connect: Connect,
  users: number,
  o: { concurrency: number; warmMs: number; windowMs: number; watch: Record<string, number> },
): Promise<LoginResult> {
  const start = performance.now();
  const t0 = start + o.warmMs;
  const t1 = t0 + o.windowMs;
  let count = 0;
  let failures = 0;
  let firstError: string | undefined;
  let next = 0;
  const times: number[] = [];
  const worker = async (): Promise<void> => {
    while (performance.now() < t1 && failures < 20) {
      const k = next++;
      const user = `${k % 2 === 0 ? 'a' : 'b'}${(k >> 1) % users}`;
      try {
        const began = performance.now();
        const c = await connect({ user, pass: PASSWORD, resource: `l${++resourceCounter}`, timeoutMs: 10_000 });
        const at = performance.now();
        if (at >= t0 && at < t1) {
          count++;
          times.push(at - began);
        }
        await c.close(2000);
      } catch (error) {
        failures++;
        firstError ??= (error as Error).message;
      }
    }
  };
  let endCpu: (() => CpuWindow) | undefined;
  let cpu: CpuWindow = {};
  const startCpu = setTimeout(() => (endCpu = cpuWindow(o.watch)), o.warmMs);
  const stopCpu = setTimeout(() => (cpu = endCpu?.() ?? {}), o.warmMs + o.windowMs);
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  clearTimeout(startCpu);
  clearTimeout(stopCpu);
  times.sort((x, y) => x - y);
  return { rate: count / (o.windowMs / 1000), logins: count, p50ms: percentile(times, 50), failures, cpu, ...(firstError !== undefined ? { firstError } : {}) };
}
