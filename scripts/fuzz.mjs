#!/usr/bin/env node
// Long fuzzing: runs the fuzz property tests (dist/test/unit/fuzz-*.test.js, built by
// `npm run build`; `npm run fuzz` builds first) for a total duration instead of their CI run
// counts, each property with fresh random seeds, and prints per codec family and per property
// the runs done and the time, and every counterexample with its seed, path and the command that
// replays it. See docs/fuzzing.md.
//
//   node scripts/fuzz.mjs [--minutes N] [--only amf,xml,...] [--max-run-ms N]
//
// --minutes    total duration (default 10), shared evenly by all properties
// --only       codec families to run (the * of fuzz-*.test.js; default all)
// --max-run-ms the bound on one run (FUZZ_MAX_RUN_MS; default 3000)
//
// Each test file runs in its own `node --expose-gc` process, one after the other (run it under
// `nice` on a shared machine), with FUZZ_RUNS very large and FUZZ_TIME_MS set to the property's
// share of the duration. Logs and the JSON-lines report go to a fresh directory under the
// system temp directory, printed at the end. Exit status 1 when a property failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function usage(message) {
  if (message) console.error(message);
  console.error('usage: node scripts/fuzz.mjs [--minutes N] [--only amf,xml,...] [--max-run-ms N]');
  process.exit(2);
}

let minutes = 10;
let only = null;
let maxRunMs = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  if (a === '--minutes' || a.startsWith('--minutes=')) minutes = Number(value());
  else if (a === '--only' || a.startsWith('--only=')) only = value().split(',').map((s) => s.trim()).filter(Boolean);
  else if (a === '--max-run-ms' || a.startsWith('--max-run-ms=')) maxRunMs = Number(value());
  else if (a === '--help' || a === '-h') usage();
  else usage(`unknown argument ${a}`);
}
if (!(minutes > 0)) usage('--minutes must be a positive number');
if (maxRunMs !== null && !(maxRunMs > 0)) usage('--max-run-ms must be a positive number');

const unitDir = join(root, 'dist', 'test', 'unit');
if (!existsSync(unitDir)) usage('dist/test/unit is missing: run `npm run build` first (or `npm run fuzz`)');
const family = (file) => file.replace(/^fuzz-/, '').replace(/\.test\.js$/, '');
let files = readdirSync(unitDir)
  .filter((f) => /^fuzz-.+\.test\.js$/.test(f))
  .sort();
if (only !== null) {
  const unknown = only.filter((o) => !files.some((f) => family(f) === o));
  if (unknown.length > 0) usage(`no fuzz-${unknown[0]}.test.js (have: ${files.map(family).join(', ')})`);
  files = files.filter((f) => only.includes(family(f)));
}
if (files.length === 0) usage('no dist/test/unit/fuzz-*.test.js: run `npm run build` first');

const outDir = mkdtempSync(join(tmpdir(), 'fxg-fuzz-'));
const reportFile = join(outDir, 'report.jsonl');
const readReport = () =>
  existsSync(reportFile)
    ? readFileSync(reportFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];

const started = Date.now();
const budgetMs = minutes * 60_000;

// 1. Which properties are there (FUZZ_LIST: registered, not run).
const listEnv = { ...process.env, FUZZ_LIST: '1', FUZZ_REPORT: join(outDir, 'list.jsonl') };
for (const f of files) {
  const r = spawnSync(process.execPath, [relative(root, join(unitDir, f))], { cwd: root, env: listEnv, stdio: 'ignore' });
  if (r.status !== 0) usage(`listing the properties of ${f} failed (status ${r.status})`);
}
const listed = readFileSync(join(outDir, 'list.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const perFile = new Map(files.map((f) => [f, listed.filter((e) => e.file.endsWith(f)).length]));
const totalProperties = [...perFile.values()].reduce((a, b) => a + b, 0);
// Process start-up and shrinking take time too: keep ~5 % (at most 20 s) aside.
const reserve = Math.min(20_000, budgetMs * 0.05);
const perPropertyMs = Math.max(1000, Math.floor((budgetMs - reserve - (Date.now() - started)) / totalProperties));

console.log(
  `fuzzing ${totalProperties} properties in ${files.length} files for ${minutes} min: ~${(perPropertyMs / 1000).toFixed(1)} s each` +
    ` (logs and report in ${outDir})`,
);

// 2. Each file in turn, every property for its share of the time.
const statuses = new Map();
for (const f of files) {
  const t0 = Date.now();
  const env = {
    ...process.env,
    FUZZ_RUNS: String(2 ** 31 - 1),
    FUZZ_TIME_MS: String(perPropertyMs),
    FUZZ_REPORT: reportFile,
  };
  delete env.FUZZ_SEED;
  delete env.FUZZ_PATH;
  delete env.FUZZ_LIST;
  if (maxRunMs !== null) env.FUZZ_MAX_RUN_MS = String(maxRunMs);
  const log = join(outDir, `${family(f)}.log`);
  // A generous hard limit: the properties stop themselves, shrinking a counterexample may take a while.
  const timeout = perFile.get(f) * perPropertyMs * 2 + 120_000;
  const r = spawnSync(process.execPath, ['--expose-gc', relative(root, join(unitDir, f))], {
    cwd: root,
    env,
    timeout,
    killSignal: 'SIGKILL',
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  writeFileSync(log, output);
  const status = r.error ? `killed (${r.error.message})` : r.status === 0 ? 'ok' : `exit ${r.status ?? r.signal}`;
  statuses.set(f, status);
  const done = readReport().filter((e) => e.file.endsWith(f));
  const runs = done.reduce((n, e) => n + e.runs, 0);
  console.log(`  ${family(f).padEnd(6)} ${status.padEnd(8)} ${String(runs).padStart(12)} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

// 3. Summary.
const entries = readReport();
const fmt = (n) => n.toLocaleString('en-US');
const lines = [];
lines.push('');
lines.push(`fuzz summary: ${(((Date.now() - started) / 60_000)).toFixed(1)} min, node ${process.version}`);
let totalRuns = 0;
let failures = 0;
for (const f of files) {
  const es = entries.filter((e) => e.file.endsWith(f));
  const runs = es.reduce((n, e) => n + e.runs, 0);
  const ms = es.reduce((n, e) => n + e.ms, 0);
  totalRuns += runs;
  lines.push('');
  lines.push(`${family(f)} (${f}): ${fmt(runs)} runs in ${(ms / 1000).toFixed(0)} s — ${statuses.get(f)}`);
  for (const e of es) {
    const heap = e.retainedHeap === null || e.retainedHeap === undefined ? '' : `, heap retained ${(e.retainedHeap / 1048576).toFixed(1)} MiB`;
    const rate = e.ms > 0 ? `${fmt(Math.round((e.runs * 1000) / e.ms))}/s` : '';
    lines.push(`  ${e.failed ? 'FAIL' : 'ok  '} ${fmt(e.runs).padStart(11)} runs ${(e.ms / 1000).toFixed(1).padStart(6)} s ${rate.padStart(9)}, slowest run ${e.slowestRunMs} ms${heap}  ${e.name}`);
    if (e.failed) failures++;
  }
  const missing = perFile.get(f) - es.length;
  if (missing > 0) lines.push(`  ${missing} propert${missing === 1 ? 'y' : 'ies'} did not report (crash or kill: see ${join(outDir, `${family(f)}.log`)})`);
  if (statuses.get(f) !== 'ok' && es.every((e) => !e.failed)) failures++;
}
lines.push('');
lines.push(`total: ${fmt(totalRuns)} runs, ${failures} failure${failures === 1 ? '' : 's'}`);
for (const e of entries.filter((x) => x.failed)) {
  lines.push('');
  lines.push(`FAILED ${e.name} (${e.file})`);
  lines.push(`  seed ${e.seed}, path ${JSON.stringify(e.path)}`);
  lines.push(`  replay: ${e.replay}`);
  lines.push(
    String(e.failure)
      .split('\n')
      .slice(0, 40)
      .map((l) => `  | ${l}`)
      .join('\n'),
  );
}
lines.push('');
lines.push(`logs and report: ${outDir}`);
console.log(lines.join('\n'));
process.exit(failures > 0 ? 1 : 0);
