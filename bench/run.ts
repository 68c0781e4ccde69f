/**
 * `npm run bench`: runs every bench, takes the medians of several runs, writes
 * bench/results/latest.json and latest.md, the chart docs/performance.svg and the generated parts
 * of docs/performance.md.
 *
 *   node dist/bench/run.js [--quick] [--only NAME[,NAME…]] [--runs N] [--upstream plain|starttls|both]
 *                          [--pin] [--profile] [--png]
 *
 * --quick     smoke run: short windows, one run; writes bench/results/quick.{json,md,svg} and
 *             leaves latest.* and docs/ alone
 * --only      bench modules (traffic, memory, amf), groups (throughput, cpu, latency, logins, …)
 *             or record-name prefixes; the records of a full --only run replace those of the same
 *             name in latest.json, the others are kept
 * --runs      runs to take the median of (default 5; 1 with --quick)
 * --upstream  plain, starttls or both (default both)
 * --pin       Prosody on CPU 0, the gateway, relay and load generator on the others (taskset)
 * --profile   the gateway runs under node --cpu-prof; profiles and a summary in bench/results/profiles/
 * --png       also docs/performance.png (headless Chromium screenshot of the SVG)
 *
 * A bench module is dist/bench/NAME.js exporting `run(options): Promise<BenchResult[]>`
 * (bench/lib/report.ts); the traffic bench is ours, memory and amf are run when present.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderChart } from './lib/chart.js';
import { renderMarkdown, updatePerformanceDoc } from './lib/markdown.js';
import { machineInfo } from './lib/proc.js';
import { summarizeProfiles } from './lib/profile.js';
import { mergeRuns, type BenchModule, type BenchOptions, type BenchResult, type Report } from './lib/report.js';
import { screenshotSvg } from './lib/png.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const RESULTS = path.join(REPO, 'bench/results');
const DOCS = path.join(REPO, 'docs');

/** Bench modules in the order they run, with the record groups each produces (for --only). */
const MODULE_GROUPS: Record<string, string[]> = {
  traffic: ['throughput', 'cpu', 'latency', 'logins'],
  memory: ['memory'],
  amf: ['amf'],
};
const MODULES = Object.keys(MODULE_GROUPS);

interface Args {
  quick: boolean;
  only: string[];
  runs: number | undefined;
  upstream: Array<'plain' | 'starttls'>;
  pin: boolean;
  profile: boolean;
  png: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: [], runs: undefined, upstream: ['plain', 'starttls'], pin: false, profile: false, png: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick':
        a.quick = true;
        break;
      case '--only':
        a.only.push(...value().split(',').map((s) => s.trim()).filter(Boolean));
        break;
      case '--runs': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 50) throw new Error('--runs must be 1..50');
        a.runs = n;
        break;
      }
      case '--upstream': {
        const v = value();
        if (v === 'both') a.upstream = ['plain', 'starttls'];
        else if (v === 'plain' || v === 'starttls') a.upstream = [v];
        else throw new Error('--upstream must be plain, starttls or both');
        break;
      }
      case '--pin':
        a.pin = true;
        break;
      case '--profile':
        a.profile = true;
        break;
      case '--png':
        a.png = true;
        break;
      case '--help':
        process.stdout.write(
          'usage: npm run bench -- [--quick] [--only NAME[,NAME…]] [--runs N] [--upstream plain|starttls|both] [--pin] [--profile] [--png]\n',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg} (try --help)`);
    }
  }
  return a;
}

function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function selects(only: string[], moduleName: string): boolean {
  if (only.length === 0 || only.includes(moduleName)) return true;
  const groups = MODULE_GROUPS[moduleName] ?? [];
  return only.some((o) => groups.includes(o.split('.')[0]!));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runs = args.runs ?? (args.quick ? 1 : 5);
  const started = new Date();
  const machine = await machineInfo();
  log(`bench: ${args.quick ? 'quick' : 'full'} run, ${runs} run(s), upstream ${args.upstream.join('+')}, load ${machine.loadAtStart.join(' ')} on ${machine.nproc} CPUs`);
  if (!args.quick && (machine.loadAtStart[0] ?? 0) > machine.nproc * 0.5) {
    log(`bench: WARNING the 1-minute load (${machine.loadAtStart[0]}) is high for ${machine.nproc} CPUs: figures will be noisy`);
  }
  const profileDir = args.profile ? path.join(RESULTS, 'profiles', started.toISOString().replace(/[:.]/g, '-')) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const options: BenchOptions = {
    quick: args.quick,
    runs,
    upstream: args.upstream,
    log,
    ...(args.only.length ? { only: args.only } : {}),
    pin: args.pin,
    ...(profileDir ? { profileDir } : {}),
  };

  const collected: BenchResult[] = [];
  const failures: string[] = [];
  for (const name of MODULES) {
    if (!selects(args.only, name)) continue;
    const file = path.join(HERE, `${name}.js`);
    if (!existsSync(file)) {
      log(`bench: ${name}: not present (${path.relative(REPO, file)}), skipped`);
      continue;
    }
    const mod = (await import(pathToFileURL(file).href)) as BenchModule;
    if (typeof mod.run !== 'function') {
      log(`bench: ${name}: exports no run(), skipped`);
      continue;
    }
    const t0 = Date.now();
    try {
      if (mod.selfRepeating) {
        collected.push(...(await mod.run(options)));
      } else {
        for (let r = 1; r <= runs; r++) {
          log(`bench: ${name}: run ${r}/${runs}`);
          collected.push(...(await mod.run({ ...options, runs: 1 })));
        }
      }
      log(`bench: ${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (error) {
      failures.push(`${name}: ${(error as Error).stack ?? String(error)}`);
      log(`bench: ${name} FAILED: ${(error as Error).stack ?? String(error)}`);
    }
  }

  const finished = new Date();
  const now = finished.toISOString();
  let results: BenchResult[] = mergeRuns(collected).map((r) => ({ ...r, measuredAt: now }));
  const base = args.quick ? 'quick' : 'latest';
  await mkdir(RESULTS, { recursive: true });
  // A partial full run (--only) keeps the other records of the last full run.
  if (!args.quick && args.only.length > 0) {
    try {
      const previous = JSON.parse(await readFile(path.join(RESULTS, 'latest.json'), 'utf8')) as Report;
      const fresh = new Set(results.map((r) => r.name));
      results = [...previous.results.filter((r) => !fresh.has(r.name)), ...results];
    } catch {
      /* no previous report */
    }
  }
  const report: Report = {
    startedAt: started.toISOString(),
    finishedAt: now,
    durationSec: Math.round((finished.getTime() - started.getTime()) / 1000),
    quick: args.quick,
    runs,
    machine,
    results,
  };
  await writeFile(path.join(RESULTS, `${base}.json`), JSON.stringify(report, null, 2) + '\n');
  await writeFile(path.join(RESULTS, `${base}.md`), renderMarkdown(report));
  const svg = renderChart(report);
  const svgFile = args.quick ? path.join(RESULTS, 'quick.svg') : path.join(DOCS, 'performance.svg');
  await writeFile(svgFile, svg);
  if (!args.quick) await updatePerformanceDoc(path.join(DOCS, 'performance.md'), report);
  if (args.png) {
    const png = svgFile.replace(/\.svg$/, '.png');
    const ok = await screenshotSvg(svgFile, png);
    log(ok ? `bench: wrote ${path.relative(REPO, png)}` : 'bench: PNG not made (no headless Chromium?)');
  }
  if (profileDir) {
    const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length) {
      const summary = await summarizeProfiles(files.map((f) => path.join(profileDir, f)));
      await writeFile(path.join(profileDir, 'summary.txt'), summary);
      log(`bench: profile summary in ${path.relative(REPO, path.join(profileDir, 'summary.txt'))}`);
    }
  }
  const missed = results.filter((r) => !r.met);
  log(`bench: wrote bench/results/${base}.json and ${base}.md, ${path.relative(REPO, svgFile)}; ${results.length} measures, ${missed.length} missing their target`);
  log(`bench: took ${report.durationSec} s`);
  for (const r of missed) log(`  missed: ${r.name} ${r.target?.text ?? ''}`);
  if (failures.length) {
    process.exitCode = 1;
  }
}

// Every child is stopped by now; exit even if a socket lingers.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    log(`bench: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
