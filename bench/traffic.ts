/**
 * The gateway's traffic benches against a real Prosody on loopback (docs/performance.md):
 * - throughput: pairs of clients, closed loop, through each transport vs. the same client
 *   logic straight to Prosody;
 * - cpu: gateway CPU time per relayed message at a fixed load vs. a Node byte relay carrying the
 *   same traffic (utime + stime from /proc for the timed window only);
 * - latency: p50/p99 at that fixed load, gateway path minus direct path;
 * - logins: logins per second through the gateway vs. direct.
 * Once with the upstream in plaintext, once with STARTTLS. Repeats `runs` times itself (the
 * servers are started once per upstream), one record per measure per run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pin, startGateway, startRelay, startServer, type Gateway, type Relay, type Server, type Upstream } from './lib/env.js';
import {
  benchUsers,
  closePairs,
  connector,
  fixedRate,
  GATEWAY_PATHS,
  loginPairs,
  logins,
  PATH_LABEL,
  throughput,
  type CpuWindow,
  type FixedRateResult,
  type PathKind,
} from './lib/load.js';
import { load1 } from './lib/proc.js';
import { result, type BenchOptions, type BenchResult, type Target } from './lib/report.js';
import * as os from 'node:os';

export const selfRepeating = true;

export const GROUPS = ['throughput', 'cpu', 'latency', 'logins'] as const;
type Group = (typeof GROUPS)[number];

interface Config {
  pairs: number;
  /** Messages in flight per direction of a pair (closed loop). */
  window: number;
  warmMs: number;
  windowMs: number;
  /** Fixed load for latency and CPU, messages per second in all. */
  rate: number;
  rateWarmMs: number;
  rateWindowMs: number;
  loginConcurrency: number;
  loginWarmMs: number;
  loginWindowMs: number;
}

export const FULL: Config = {
  pairs: 10,
  window: 100,
  warmMs: 1000,
  windowMs: 5000,
  rate: 5000,
  rateWarmMs: 1000,
  rateWindowMs: 5000,
  loginConcurrency: 40,
  loginWarmMs: 500,
  loginWindowMs: 4000,
};

export const QUICK: Config = {
  ...FULL,
  warmMs: 300,
  windowMs: 1500,
  rateWarmMs: 500,
  rateWindowMs: 2000,
  loginWarmMs: 300,
  loginWindowMs: 1500,
};

export const TARGETS: Record<Group, Target> = {
  throughput: { on: 'ratio', kind: 'min', value: 0.95, text: '≥ 0.95 × direct' },
  cpu: { on: 'ratio', kind: 'max', value: 2, text: '≤ 2 × byte relay' },
  latency: { on: 'difference', kind: 'max', value: 1, text: 'added p99 ≤ 1 ms' },
  logins: { on: 'ratio', kind: 'min', value: 0.9, text: '≥ 0.9 × direct' },
};

function wanted(options: BenchOptions): Set<Group> {
  const only = options.only ?? [];
  if (only.length === 0 || only.includes('traffic')) return new Set(GROUPS);
  return new Set(GROUPS.filter((g) => only.some((o) => o === g || o.startsWith(`${g}.`))));
}

interface Ctx {
  options: BenchOptions;
  cfg: Config;
  upstream: Upstream;
  server: Server;
  gateway: Gateway;
  relay: Relay;
  /** STARTTLS variant only: the relay that terminates TLS (bench/lib/relay.ts --starttls). */
  tlsRelay?: Relay;
  run: number;
}

function name(group: string, kind: string, upstream: Upstream): string {
  return `${group}.${kind}${upstream === 'starttls' ? '.starttls' : ''}`;
}

function alive(ctx: Ctx): void {
  for (const [what, child] of [['gateway', ctx.gateway], ['relay', ctx.relay], ...(ctx.tlsRelay ? [['TLS relay', ctx.tlsRelay] as const] : [])] as const) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`the ${what} died:\n${child.output()}`);
  }
  if (ctx.server.prosody.exited) throw new Error(`Prosody died:\n${ctx.server.prosody.logTail(40)}`);
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** The processes whose CPU time is read over each window. */
function watched(ctx: Ctx): Record<string, number> {
  return { prosody: ctx.server.prosody.pid, gateway: ctx.gateway.pid, relay: ctx.relay.pid, ...(ctx.tlsRelay ? { tlsRelay: ctx.tlsRelay.pid } : {}) };
}

/**
 * CPU use over a window as "prosody 0.98 gateway 0.41 …" (CPUs busy) for the log, and as extras
 * (`cpu.NAME`: CPUs busy; `NAME.reads`/`NAME.writes`: system calls per message received, for the
 * gateway and the relay).
 */
function cpuShares(cpu: CpuWindow, windowSec: number, messages?: number): { text: string; extra: Record<string, number> } {
  const extra: Record<string, number> = {};
  const parts: string[] = [];
  for (const [k, v] of Object.entries(cpu)) {
    if (k.includes('.')) continue;
    const share = v / windowSec;
    extra[`cpu.${k}`] = Math.round(share * 100) / 100;
    if (share >= 0.01) parts.push(`${k} ${share.toFixed(2)}`);
  }
  if (messages !== undefined && messages > 0) {
    for (const k of ['gateway', 'relay']) {
      const r = cpu[`${k}.syscr`];
      const w = cpu[`${k}.syscw`];
      if (r === undefined || w === undefined || !Number.isFinite(r) || r + w < messages / 10) continue;
      extra[`${k}.reads`] = Math.round((r / messages) * 100) / 100;
      extra[`${k}.writes`] = Math.round((w / messages) * 100) / 100;
      parts.push(`(${k} ${extra[`${k}.reads`]} reads, ${extra[`${k}.writes`]} writes per msg)`);
    }
  }
  return { text: parts.join(' '), extra };
}

async function measureThroughput(ctx: Ctx, kind: PathKind): Promise<{ rate: number; extra: Record<string, number> }> {
  const { cfg } = ctx;
  const pairs = await loginPairs(connector(kind, ctx), cfg.pairs);
  try {
    const r = await throughput(pairs, { window: cfg.window, warmMs: cfg.warmMs, windowMs: cfg.windowMs, watch: watched(ctx) });
    const cpu = cpuShares(r.cpu, r.windowSec, r.received);
    ctx.options.log(`  throughput ${ctx.upstream} ${kind}: ${fmt(r.rate)} msg/s; CPUs busy: ${cpu.text} (load ${load1().toFixed(2)})`);
    return { rate: r.rate, extra: cpu.extra };
  } finally {
    await closePairs(pairs);
    alive(ctx);
    await sleep(200);
  }
}

interface Fixed extends FixedRateResult {
  /** CPU µs per message received in the window, of the gateway (gateway paths) or the relay (relay path). */
  usPerMsg: number;
  extra: Record<string, number>;
}

async function measureFixed(ctx: Ctx, kind: PathKind): Promise<Fixed> {
  const { cfg } = ctx;
  const pairs = await loginPairs(connector(kind, ctx), cfg.pairs);
  try {
    const r = await fixedRate(pairs, { rate: cfg.rate, warmMs: cfg.rateWarmMs, windowMs: cfg.rateWindowMs, watch: watched(ctx) });
    const proxy = kind === 'relay' ? r.cpu['relay'] : kind === 'tls-relay' ? r.cpu['tlsRelay'] : kind === 'direct' ? undefined : r.cpu['gateway'];
    const usPerMsg = proxy !== undefined && r.received > 0 ? (proxy * 1e6) / r.received : NaN;
    const cpu = cpuShares(r.cpu, cfg.rateWindowMs / 1000, r.received);
    ctx.options.log(
      `  fixed ${cfg.rate}/s ${ctx.upstream} ${kind}: sent ${fmt(r.sentRate)}/s p50 ${fmt(r.p50, 3)} ms p99 ${fmt(r.p99, 3)} ms` +
        (Number.isFinite(usPerMsg) ? ` ${fmt(usPerMsg, 1)} µs CPU/msg` : '') +
        (r.lost ? ` LOST ${r.lost}` : '') +
        `; CPUs busy: ${cpu.text} (load ${load1().toFixed(2)})`,
    );
    return { ...r, usPerMsg, extra: cpu.extra };
  } finally {
    await closePairs(pairs);
    alive(ctx);
    await sleep(200);
  }
}

async function measureLogins(ctx: Ctx, kind: PathKind): Promise<{ rate: number; extra: Record<string, number> }> {
  const { cfg } = ctx;
  const r = await logins(connector(kind, ctx), cfg.pairs, {
    concurrency: cfg.loginConcurrency,
    warmMs: cfg.loginWarmMs,
    windowMs: cfg.loginWindowMs,
    watch: watched(ctx),
  });
  const cpu = cpuShares(r.cpu, cfg.loginWindowMs / 1000);
  ctx.options.log(
    `  logins ${ctx.upstream} ${kind}: ${fmt(r.rate, 1)}/s, one takes ${fmt(r.p50ms, 1)} ms (median)` +
      (r.failures ? ` (${r.failures} failed: ${r.firstError})` : '') +
      `; CPUs busy: ${cpu.text} (load ${load1().toFixed(2)})`,
  );
  alive(ctx);
  if (r.failures > 0 && r.logins === 0) throw new Error(`logins through ${kind} all failed: ${r.firstError}`);
  // Let the closed sessions finish closing upstream before the next measure.
  await sleep(500);
  return { rate: r.rate, extra: { ...cpu.extra, loginMs: round(r.p50ms), failures: r.failures } };
}

/** The byte relay rides along as a reference (no target): the best any proxy could do here. */
const REFERENCE_NOTE = 'Reference, no target: the Node byte relay, the best any proxy can do on this machine.';

/** The direct baseline is measured before and after the paths of a run; the mean is used. */
function mean(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) ? (a + b) / 2 : Number.isFinite(a) ? a : b;
}

async function oneRun(ctx: Ctx, groups: Set<Group>): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const { upstream, cfg } = ctx;
  const extra = { run: ctx.run, load: Number(load1().toFixed(2)) };
  const paths: PathKind[] = ['relay', ...GATEWAY_PATHS];

  if (groups.has('throughput')) {
    const before = await measureThroughput(ctx, 'direct');
    const measured = new Map<PathKind, Awaited<ReturnType<typeof measureThroughput>>>();
    for (const kind of paths) measured.set(kind, await measureThroughput(ctx, kind));
    const after = await measureThroughput(ctx, 'direct');
    const direct = mean(before.rate, after.rate);
    for (const kind of paths) {
      const gw = measured.get(kind)!;
      out.push(
        result({
          name: name('throughput', kind, upstream),
          group: 'throughput',
          unit: 'msg/s',
          gateway: gw.rate,
          baseline: direct,
          baselineLabel: PATH_LABEL.direct,
          target: kind === 'relay' ? null : TARGETS.throughput,
          upstream,
          notes: kind === 'relay' ? REFERENCE_NOTE : `${cfg.pairs} pairs, ${cfg.window} messages in flight each way.`,
          extra: { ...extra, ...gw.extra, ...prefixed('direct.', before.extra), directBefore: Math.round(before.rate), directAfter: Math.round(after.rate) },
        }),
      );
    }
  }

  if (groups.has('cpu') || groups.has('latency')) {
    const before = await measureFixed(ctx, 'direct');
    const measured = new Map<PathKind, Fixed>();
    for (const kind of paths) measured.set(kind, await measureFixed(ctx, kind));
    // The relay again after the gateway's paths: its CPU per message, the judged baseline, is
    // the mean of the two, as the direct path's figures are (a drift counts on both sides).
    const relayAfter = groups.has('cpu') ? await measureFixed(ctx, 'relay') : undefined;
    const after = await measureFixed(ctx, 'direct');
    const relay = measured.get('relay')!;
    const relayUs = relayAfter ? mean(relay.usPerMsg, relayAfter.usPerMsg) : relay.usPerMsg;
    // With STARTTLS, the relay that terminates TLS as the gateway must: a reference row, and
    // each gateway path's ratio to it in its extras (docs/performance.md, "CPU per message").
    const tlsRelay = groups.has('cpu') && ctx.tlsRelay ? await measureFixed(ctx, 'tls-relay') : undefined;
    if (tlsRelay) {
      out.push(
        result({
          name: name('cpu', 'tls-relay', upstream),
          group: 'cpu',
          unit: 'µs/msg',
          gateway: tlsRelay.usPerMsg,
          baseline: relayUs,
          baselineLabel: PATH_LABEL.relay,
          target: null,
          upstream,
          notes: 'Reference, no target: a Node relay that runs STARTTLS to the server itself and pipes plaintext clients through, parsing nothing (bench/lib/relay.ts).',
          extra: { ...extra, ...tlsRelay.extra },
        }),
      );
    }
    for (const kind of paths) {
      const gw = measured.get(kind)!;
      const common = { upstream, extra: { ...extra, ...gw.extra, sentRate: Math.round(gw.sentRate), lost: gw.lost } };
      if (groups.has('cpu') && kind !== 'relay') {
        out.push(
          result({
            name: name('cpu', kind, upstream),
            group: 'cpu',
            unit: 'µs/msg',
            gateway: gw.usPerMsg,
            baseline: relayUs,
            baselineLabel: PATH_LABEL.relay,
            target: TARGETS.cpu,
            notes: `CPU time (user + system, all threads) per message relayed, at ${cfg.rate} msg/s.`,
            ...common,
            extra: {
              ...common.extra,
              ...prefixed('relay.', relay.extra),
              relayBefore: round(relay.usPerMsg),
              relayAfter: round(relayAfter?.usPerMsg),
              ...(tlsRelay ? { tlsRelay: round(tlsRelay.usPerMsg), ratioToTlsRelay: round(gw.usPerMsg / tlsRelay.usPerMsg) } : {}),
            },
          }),
        );
      }
      if (groups.has('latency')) {
        for (const p of ['p50', 'p99'] as const) {
          out.push(
            result({
              name: name(`latency.${p}`, kind, upstream),
              group: 'latency',
              unit: 'ms',
              gateway: gw[p],
              baseline: mean(before[p], after[p]),
              baselineLabel: PATH_LABEL.direct,
              target: p === 'p99' && kind !== 'relay' ? TARGETS.latency : null,
              notes: kind === 'relay' ? REFERENCE_NOTE : `${p} at ${cfg.rate} msg/s; judged: gateway − direct.`,
              ...common,
              extra: { ...common.extra, samples: gw.samples, max: round(gw.max), directBefore: round(before[p]), directAfter: round(after[p]) },
            }),
          );
        }
      }
    }
  }

  if (groups.has('logins')) {
    const before = await measureLogins(ctx, 'direct');
    const measured = new Map<PathKind, Awaited<ReturnType<typeof measureLogins>>>();
    // Prosody slows down as it serves logins (the direct rate after the paths is 20–40 % below
    // the one before them), so a path measured late would look worse: the order rotates from
    // run to run, and the medians see every path early and late.
    const shift = (ctx.run - 1) % paths.length;
    const order = [...paths.slice(shift), ...paths.slice(0, shift)];
    for (const kind of order) measured.set(kind, await measureLogins(ctx, kind));
    const after = await measureLogins(ctx, 'direct');
    const direct = mean(before.rate, after.rate);
    for (const kind of paths) {
      const gw = measured.get(kind)!;
      out.push(
        result({
          name: name('logins', kind, upstream),
          group: 'logins',
          unit: 'logins/s',
          gateway: gw.rate,
          baseline: direct,
          baselineLabel: PATH_LABEL.direct,
          target: kind === 'relay' ? null : TARGETS.logins,
          upstream,
          notes: kind === 'relay' ? REFERENCE_NOTE : `${cfg.loginConcurrency} concurrent loops of connect, log in, bind, close.`,
          extra: { ...extra, ...gw.extra, ...prefixed('direct.', before.extra), directBefore: round(before.rate), directAfter: round(after.rate), position: order.indexOf(kind) + 1 },
        }),
      );
    }
  }
  return out;
}

function prefixed(prefix: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v]));
}

function round(x: number | undefined): number {
  return x === undefined || !Number.isFinite(x) ? NaN : Math.round(x * 1000) / 1000;
}

export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const groups = wanted(options);
  if (groups.size === 0) return [];
  const cfg = options.quick ? QUICK : FULL;
  const out: BenchResult[] = [];
  const cpus = os.availableParallelism();
  for (const upstream of options.upstream) {
    // A fresh Prosody, gateway and relay for every run: a Prosody that has served the login
    // measure (hundreds of sessions opened and closed) relays several times slower afterwards,
    // which would make every run after the first a different experiment.
    for (let r = 1; r <= options.runs; r++) {
      options.log(`traffic: upstream ${upstream}, run ${r}/${options.runs}: starting Prosody, the gateway and the relay`);
      const server = await startServer(upstream, benchUsers(cfg.pairs));
      let gateway: Gateway | undefined;
      let relay: Relay | undefined;
      let tlsRelay: Relay | undefined;
      try {
        gateway = await startGateway(server, upstream, options.profileDir ? { cpuProfDir: options.profileDir } : {});
        relay = await startRelay(server);
        if (upstream === 'starttls') tlsRelay = await startRelay(server, { terminateTls: true });
        if (options.pin && cpus >= 2) {
          const rest = `1-${cpus - 1}`;
          const ok = (await Promise.all([pin(server.prosody.pid, '0'), pin(gateway.pid, rest), pin(relay.pid, rest), ...(tlsRelay ? [pin(tlsRelay.pid, rest)] : []), pin(process.pid, rest)])).every(Boolean);
          options.log(ok ? `traffic: pinned Prosody to CPU 0, the rest to ${rest}` : 'traffic: pinning failed, running unpinned');
        }
        out.push(...(await oneRun({ options, cfg, upstream, server, gateway, relay, ...(tlsRelay ? { tlsRelay } : {}), run: r }, groups)));
      } finally {
        await Promise.all([gateway?.stop(), relay?.stop(), tlsRelay?.stop()]);
        await server.stop();
        if (options.pin && cpus >= 2) await pin(process.pid, `0-${cpus - 1}`);
      }
    }
  }
  return out;
}
