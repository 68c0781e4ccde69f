/**
 * Diagnosis, not a bench: one path at the fixed load of the CPU/latency measure, for longer,
 * with the gateway under `node --cpu-prof` (and any node options), then the profile summary.
 *
 *   node dist/bench/profile-path.js KIND [plain|starttls] [SECONDS] [--trace-gc] [--perf] [-- GATEWAY OPTIONS…]
 *
 * --perf samples the gateway with `perf record` instead of the V8 profiler (kernel, OpenSSL and
 * V8 alike; JIT code via --perf-basic-prof) and writes `perf report` by shared object and by
 * symbol, and the samples by kind (bench/lib/perf-kinds.ts).
 *
 * KIND is raw, nul, ws, rtmp-amf0, rtmp-amf3 (or direct; relay or tls-relay (STARTTLS only) with
 * --perf to sample the relay).
 * The profile and its summary go to bench/results/profiles/KIND-UPSTREAM/.
 *
 * Environment, for one-off diagnosis: GW_NODE_ARGS (more node options for the gateway, e.g.
 * `--min-semi-space-size=32` or `--import hook.mjs`), GW_SIGNAL_AFTER (a signal sent to the
 * gateway after the window, for such a hook), PERF_G=1 (call graphs in `perf record`).
 */
import { spawn, execFile } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import * as path from 'node:path';
import { REPO_ROOT, startGateway, startRelay, startServer, type Upstream } from './lib/env.js';
import { benchUsers, closePairs, connector, fixedRate, loginPairs, type PathKind } from './lib/load.js';
import { perfKinds, perfKindsTable } from './lib/perf-kinds.js';
import { summarizeProfiles } from './lib/profile.js';
import { FULL } from './traffic.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const gatewayArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const traceGc = own.includes('--trace-gc');
const perf = own.includes('--perf');
const [kind = 'raw', upstream = 'plain', seconds = '15'] = own.filter((a) => !a.startsWith('--'));
const dir = path.join(REPO_ROOT, 'bench/results/profiles', `${kind}-${upstream}`);
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });

const server = await startServer(upstream as Upstream, benchUsers(FULL.pairs));
const gateway = await startGateway(server, upstream as Upstream, { ...(perf ? {} : { cpuProfDir: dir }), nodeArgs: [...(process.env['GW_NODE_ARGS']?.split(' ').filter(Boolean) ?? []), ...(traceGc ? ['--trace-gc'] : []), ...(perf ? ['--perf-basic-prof'] : [])], gatewayArgs });
// For tls-relay the one relay is the TLS-terminating one, and is given as both.
const relay = await startRelay(server, { terminateTls: kind === 'tls-relay' });
try {
  const pairs = await loginPairs(connector(kind as PathKind, { server, upstream: upstream as Upstream, gateway, relay, tlsRelay: relay }), FULL.pairs);
  const perfData = path.join(dir, 'perf.data');
  const recorder = perf ? spawn('perf', ['record', ...(process.env['PERF_G'] ? ['-g'] : []), '-F', '2999', '-p', String(kind.endsWith('relay') ? relay.pid : gateway.pid), '-o', perfData], { stdio: 'ignore' }) : undefined;
  const watch = { prosody: server.prosody.pid, gateway: gateway.pid, relay: relay.pid };
  const r = await fixedRate(pairs, { rate: FULL.rate, warmMs: FULL.rateWarmMs, windowMs: Number(seconds) * 1000, watch });
  const gw = kind.endsWith('relay') ? r.cpu['relay'] : r.cpu['gateway'];
  const line = `${kind} ${upstream}: p50 ${r.p50.toFixed(3)} ms p99 ${r.p99.toFixed(3)} ms max ${r.max.toFixed(1)} ms, ${gw !== undefined ? ((gw * 1e6) / r.received).toFixed(1) : '?'} µs CPU/msg over ${r.received} messages`;
  console.log(line);
  if (process.env['GW_SIGNAL_AFTER']) {
    // For a preloaded diagnosis hook (e.g. a heap sampler that writes on SIGUSR2).
    process.kill(gateway.pid, process.env['GW_SIGNAL_AFTER'] as NodeJS.Signals);
    await new Promise((r) => setTimeout(r, 3000));
  }
  if (recorder) {
    recorder.kill('SIGINT');
    await new Promise((r) => recorder.once('exit', r));
    const report = async (sort: string): Promise<string> =>
      (await promisify(execFile)('perf', ['report', '-i', perfData, '--stdio', '--sort', sort, '--percent-limit', '0.5'], { maxBuffer: 1 << 26 })).stdout;
    const full = (await promisify(execFile)('perf', ['report', '-i', perfData, '--stdio', '--sort', 'dso,sym', '--percent-limit', '0'], { maxBuffer: 1 << 28 })).stdout;
    const usPerMsg = gw !== undefined ? (gw * 1e6) / r.received : undefined;
    const kinds = perfKindsTable(perfKinds(full), usPerMsg);
    console.log(kinds);
    await writeFile(path.join(dir, 'perf-report.txt'), `${line}\n\n${kinds}\n\n${await report('dso')}\n${await report('dso,sym')}`);
  }
  await closePairs(pairs);
  if (traceGc) await writeFile(path.join(dir, 'gc.txt'), gateway.output());
} finally {
  await Promise.all([gateway.stop(), relay.stop()]);
  await server.stop();
}
const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
const summary = await summarizeProfiles(files, 45);
await writeFile(path.join(dir, 'summary.txt'), summary);
console.log(summary);
