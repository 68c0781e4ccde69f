/**
 * Resident memory per idle logged-in session, per transport (raw, NUL, WebSocket, RTMP),
 * against a real Prosody on loopback with the upstream in plaintext.
 *
 * For each transport, a fresh gateway (bench/lib/memory-servers.ts):
 *   1. warm-up: a few sessions log in and leave (the code paths are loaded and compiled);
 *   2. baseline: forced settle (wait, two garbage collections through the inspector, wait), then
 *      VmRSS from /proc/PID/status;
 *   3. sessions log in (bounded concurrency, client sockets spread over several 127.x source
 *      addresses) and stay idle; at each size (1,000 and 10,000; --quick: 200) the same settle
 *      and reading: KiB/session = (VmRSS − baseline VmRSS) / sessions;
 *   4. the gateway is killed, the clients dropped.
 * The heap figures (heapUsed, external) are read the same way and kept in `extra`.
 *
 * Targets: 10,000 concurrent sessions held; ≤ 40 KiB per raw/NUL session, ≤ 64 KiB per RTMP
 * session (WebSocket: reported, no target).
 *
 * Open files: a session is two sockets in the gateway. Where the bench may not raise
 * RLIMIT_NOFILE (no CAP_SYS_RESOURCE), the largest size is capped to what the limit allows, and
 * the notes say so.
 *
 * Standalone: `node dist/bench/memory.js [--quick] [--transports raw,nul,websocket,rtmp]
 *   [--sessions N[,M]] [--heap-snapshot DIR]` (snapshots at the baseline and at the largest size;
 *   bench/lib/memory-heapdiff.ts says what the sessions added, per session).
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchClient, type BenchClient, type BenchTransport, type ClientTarget } from './lib/memory-clients.js';
import { BENCH_PASSWORD, fileLimit, startBenchGateway, startBenchProsody, type BenchGateway, type MemorySample } from './lib/memory-servers.js';
import { result, type BenchOptions, type BenchResult, type Target } from './lib/report.js';

export const selfRepeating = true;

const ALL_TRANSPORTS: BenchTransport[] = ['raw', 'nul', 'websocket', 'rtmp'];
const TARGETS: Record<BenchTransport, Target | null> = {
  raw: { on: 'gateway', kind: 'max', value: 40, text: '≤ 40 KiB/session' },
  nul: { on: 'gateway', kind: 'max', value: 40, text: '≤ 40 KiB/session' },
  websocket: null,
  rtmp: { on: 'gateway', kind: 'max', value: 64, text: '≤ 64 KiB/session' },
};
const HELD_TARGET: Target = { on: 'gateway', kind: 'min', value: 10_000, text: '10,000 sessions held' };
/** Source addresses per transport: 127.(20+t).0.1 … 127.(20+t).0.16 (each well under its ~28k ephemeral ports). */
const SOURCE_ADDRESSES = 16;
/** Descriptors the gateway holds besides its sessions' sockets, with a margin. */
const FD_RESERVE = 20;

export interface MemoryOptions extends Partial<BenchOptions> {
  quick: boolean;
  transports?: BenchTransport[];
  /** Session counts to measure at, ascending (default 1,000 and 10,000; quick: 200). */
  sessions?: number[];
  /** Write a heap snapshot of each gateway at its largest size into this directory. */
  heapSnapshotDir?: string;
}

interface Point {
  sessions: number;
  requested: number;
  sample: MemorySample;
  rampSec: number;
  failures: number;
}

const KiB = 1024;
const MiB = 1024 * 1024;
const fmt = (n: number, digits = 1): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Logs in clients `from` … `to − 1` with at most `concurrency` logins in flight. */
async function openSessions(
  transport: BenchTransport,
  target: ClientTarget,
  transportIndex: number,
  clients: (BenchClient & { alive: boolean })[],
  to: number,
  concurrency: number,
  log: (line: string) => void,
): Promise<{ failures: number; errors: string[] }> {
  let next = clients.length;
  let failures = 0;
  const errors: string[] = [];
  const total = to - next;
  let done = 0;
  const started = Date.now();
  // More than 1 % failed (or 20, whichever is more): stop, something is wrong.
  const maxFailures = Math.max(20, Math.ceil(total / 100));
  const worker = async (): Promise<void> => {
    while (next < to && failures <= maxFailures) {
      const i = next++;
      const address = `127.${20 + transportIndex}.0.${1 + (i % SOURCE_ADDRESSES)}`;
      const client = benchClient(transport, target, `u${i}`, `bench${transportIndex}-${i}`, address);
      try {
        await client.login(60_000);
        clients.push(client);
      } catch (error) {
        failures++;
        if (errors.length < 5) errors.push((error as Error).message.slice(0, 300));
      }
      done++;
      if (done % 1000 === 0) log(`memory ${transport}: ${clients.length} sessions (${fmt(done / ((Date.now() - started) / 1000), 0)} logins/s)`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failures > maxFailures) throw new Error(`memory ${transport}: ${failures} logins failed, e.g. ${errors.join(' | ')}`);
  return { failures, errors };
}

async function measureTransport(
  transport: BenchTransport,
  transportIndex: number,
  prosody: Awaited<ReturnType<typeof startBenchProsody>>,
  sizes: number[],
  opts: { quick: boolean; raiseLimit: boolean; fdLimit: number; heapSnapshotDir: string | undefined; log: (line: string) => void },
): Promise<{ baseline: MemorySample; points: Point[]; note: string }> {
  const { log } = opts;
  const gateway: BenchGateway = await startBenchGateway(prosody.instance, { raiseLimit: opts.raiseLimit });
  const target: ClientTarget = {
    flashPort: gateway.flashPort,
    httpPort: gateway.httpPort,
    rtmpPort: gateway.rtmpPort,
    domain: prosody.instance.domain,
    password: BENCH_PASSWORD,
  };
  const clients: (BenchClient & { alive: boolean })[] = [];
  const concurrency = opts.quick ? 40 : 100;
  let note = '';
  try {
    // 1. Warm-up: load and compile the code paths, then let those sessions go.
    const warm: (BenchClient & { alive: boolean })[] = [];
    await openSessions(transport, target, transportIndex, warm, opts.quick ? 20 : 100, 20, log);
    for (const c of warm) c.destroy();
    // 2. Baseline.
    const baseline = await gateway.sample(3000);
    if (opts.heapSnapshotDir) {
      mkdirSync(opts.heapSnapshotDir, { recursive: true });
      await gateway.heapSnapshot(path.join(opts.heapSnapshotDir, `gateway-${transport}-0.heapsnapshot`));
    }
    log(`memory ${transport}: baseline VmRSS ${fmt(baseline.rss / MiB)} MiB, heap ${fmt(baseline.heapUsed / MiB)} MiB, ${baseline.fds} fds`);
    // What the open-file limit allows: two sockets per session in the gateway.
    const cap = Math.floor((opts.fdLimit - baseline.fds - FD_RESERVE) / 2);
    const points: Point[] = [];
    for (const requested of sizes) {
      const wanted = Math.min(requested, cap);
      if (wanted < requested && !note) {
        note = `Capped at ${wanted.toLocaleString('en')} of ${requested.toLocaleString('en')} sessions: RLIMIT_NOFILE is ${opts.fdLimit.toLocaleString('en')} here and cannot be raised (no CAP_SYS_RESOURCE); a session is 2 sockets in the gateway.`;
        log(`memory ${transport}: ${note}`);
      }
      const t0 = Date.now();
      const { failures } = await openSessions(transport, target, transportIndex, clients, wanted, concurrency, log);
      const rampSec = (Date.now() - t0) / 1000;
      const sample = await gateway.sample(opts.quick ? 2000 : 5000);
      const held = clients.filter((c) => c.alive).length;
      points.push({ sessions: held, requested, sample, rampSec, failures });
      const perSession = (sample.rss - baseline.rss) / held / KiB;
      log(
        `memory ${transport}: ${held} sessions held (ramp ${fmt(rampSec)} s, ${failures} failed logins), VmRSS ${fmt(sample.rss / MiB)} MiB → ${fmt(perSession)} KiB/session ` +
          `(heap ${fmt((sample.heapUsed - baseline.heapUsed) / held / KiB)} KiB, external ${fmt((sample.external - baseline.external) / held / KiB)} KiB)`,
      );
      if (gateway.exited) throw new Error(`memory ${transport}: the gateway died\n${gateway.stderr()}`);
    }
    if (opts.heapSnapshotDir) {
      const file = path.join(opts.heapSnapshotDir, `gateway-${transport}-${clients.length}.heapsnapshot`);
      await gateway.heapSnapshot(file);
      log(`memory ${transport}: heap snapshots ${file} (and -0 at the baseline); compare: node dist/bench/lib/memory-heapdiff.js BASE FILE ${clients.length}`);
    }
    return { baseline, points, note };
  } finally {
    await gateway.stop();
    for (const c of clients) c.destroy();
    // Prosody drops the upstream sessions of the killed gateway.
    await new Promise((r) => setTimeout(r, opts.quick ? 1000 : 5000));
  }
}

const label = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

export async function run(options: MemoryOptions): Promise<BenchResult[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  // The runner's --only may name records, e.g. memory.rtmp: then only those transports.
  const named = (options.only ?? []).map((o) => o.split('.')).filter(([g, t]) => g === 'memory' && ALL_TRANSPORTS.includes(t as BenchTransport));
  const transports = options.transports ?? (named.length ? named.map(([, t]) => t as BenchTransport) : ALL_TRANSPORTS);
  const sizes = options.sessions ?? (options.quick ? [200] : [1000, 10_000]);
  const { limit, raised } = fileLimit();
  log(`memory: RLIMIT_NOFILE ${limit.toLocaleString('en')} (${raised ? 'raised with prlimit' : 'inherited: prlimit not permitted here'}); sizes ${sizes.join(', ')}; transports ${transports.join(', ')}`);
  const users = Math.max(...sizes, options.quick ? 20 : 100);
  const prosody = await startBenchProsody(users, raised);
  const results: BenchResult[] = [];
  try {
    for (const transport of transports) {
      const t0 = Date.now();
      const { baseline, points, note } = await measureTransport(transport, ALL_TRANSPORTS.indexOf(transport), prosody, sizes, {
        quick: options.quick,
        raiseLimit: raised,
        fdLimit: limit,
        heapSnapshotDir: options.heapSnapshotDir,
        log,
      });
      for (const p of points) {
        const per = (x: number, base: number): number => Math.round(((x - base) / p.sessions / KiB) * 10) / 10;
        results.push(
          result({
            name: `memory.${transport}.${label(p.requested)}`,
            group: 'memory',
            unit: 'KiB/session',
            gateway: per(p.sample.rss, baseline.rss),
            baseline: null,
            target: TARGETS[transport],
            upstream: 'plain',
            notes:
              `${transport} sessions idle after login (${p.sessions.toLocaleString('en')} held): (VmRSS − VmRSS with none, after a forced GC) / sessions.` +
              (p.sessions < p.requested && note ? ` ${note}` : '') +
              (options.heapSnapshotDir ? ' HEAP SNAPSHOTS WERE TAKEN: the RSS figure includes the snapshot machinery; only the heap figures in extra count.' : ''),
            extra: {
              sessions: p.sessions,
              rssBaselineMiB: Math.round((baseline.rss / MiB) * 10) / 10,
              rssMiB: Math.round((p.sample.rss / MiB) * 10) / 10,
              rssAnonKiBPerSession: per(p.sample.rssAnon, baseline.rssAnon),
              heapUsedKiBPerSession: per(p.sample.heapUsed, baseline.heapUsed),
              externalKiBPerSession: per(p.sample.external, baseline.external),
              rampSec: Math.round(p.rampSec * 10) / 10,
              failedLogins: p.failures,
              fdLimit: limit,
            },
          }),
        );
      }
      if (!options.quick) {
        const last = points[points.length - 1]!;
        results.push(
          result({
            name: `memory.${transport}.held`,
            group: 'memory',
            unit: 'sessions',
            gateway: last.sessions,
            baseline: null,
            target: HELD_TARGET,
            upstream: 'plain',
            notes: `Concurrent logged-in ${transport} sessions held at once.${note ? ` ${note}` : ''}`,
            extra: { requested: last.requested, fdLimit: limit },
          }),
        );
      }
      log(`memory ${transport}: done in ${fmt((Date.now() - t0) / 1000, 0)} s`);
    }
  } finally {
    await prosody.stop();
  }
  log(`memory: finished in ${fmt((Date.now() - started) / 1000, 0)} s`);
  return results;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const transports = argValue('--transports')?.split(',') as BenchTransport[] | undefined;
  const sessions = argValue('--sessions')?.split(',').map(Number);
  const heapSnapshotDir = argValue('--heap-snapshot');
  for (const t of transports ?? []) if (!ALL_TRANSPORTS.includes(t)) throw new Error(`unknown transport ${t}`);
  run({ quick, ...(transports ? { transports } : {}), ...(sessions ? { sessions } : {}), ...(heapSnapshotDir ? { heapSnapshotDir } : {}) }).then(
    (results) => {
      for (const r of results) {
        const extra = r.runs[0]?.extra ?? {};
        console.log(
          `${r.name.padEnd(24)} ${String(r.gateway).padStart(8)} ${r.unit.padEnd(12)} ${r.target ? `${r.met ? 'met' : 'MISSED'} (${r.target.text})` : 'no target'}` +
            (r.unit === 'KiB/session' ? `  heap ${extra['heapUsedKiBPerSession']} KiB, external ${extra['externalKiBPerSession']} KiB, ${extra['sessions']} sessions` : ''),
        );
      }
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
