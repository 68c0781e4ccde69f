/** The Markdown report (bench/results/*.md) and the generated parts of docs/performance.md. */
import { readFile, writeFile } from 'node:fs/promises';
import type { BenchResult, Report } from './report.js';

export const GROUP_ORDER = ['throughput', 'cpu', 'latency', 'logins', 'memory', 'amf'];

export const GROUP_TITLE: Record<string, string> = {
  throughput: 'Message throughput (closed loop, pairs of clients)',
  cpu: 'Gateway CPU time per relayed message',
  latency: 'Added latency at a fixed moderate load',
  logins: 'Logins per second',
  memory: 'Memory per session',
  amf: 'AMF codec',
};

export function groupsOf(results: BenchResult[]): string[] {
  const seen = [...new Set(results.map((r) => r.group))];
  return seen.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function rank(g: string): number {
  const i = GROUP_ORDER.indexOf(g);
  return i < 0 ? GROUP_ORDER.length : i;
}

export function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** The figure a target judges, as text: "0.97×", "+0.31 ms", or the value. */
export function judged(r: BenchResult, groupOn?: string): string {
  const on = r.target?.on ?? groupOn ?? (r.ratio !== undefined ? 'ratio' : 'gateway');
  if (on === 'ratio') return r.ratio !== undefined ? `${r.ratio.toFixed(2)}×` : '—';
  if (on === 'difference') return r.difference !== undefined ? `${r.difference >= 0 ? '+' : ''}${num(r.difference)} ${r.unit}` : '—';
  return `${num(r.gateway)} ${r.unit}`;
}

/** min–max over the runs of the judged figure. */
function spread(r: BenchResult, groupOn?: string): string {
  if (r.runs.length < 2) return '';
  const on = r.target?.on ?? groupOn ?? (r.ratio !== undefined ? 'ratio' : 'gateway');
  const xs = r.runs
    .map((x) => (on === 'ratio' ? x.ratio : on === 'difference' ? (x.difference ?? (x.baseline !== null ? x.gateway - x.baseline : null)) : x.gateway))
    .filter((x): x is number => x !== null && Number.isFinite(x));
  if (xs.length < 2) return '';
  const f = on === 'ratio' ? (x: number): string => x.toFixed(2) : num;
  return `${f(Math.min(...xs))} … ${f(Math.max(...xs))}`;
}

function measureLabel(r: BenchResult): string {
  return r.name.replace(/\.starttls$/, '');
}

export function resultsTable(results: BenchResult[]): string {
  const out: string[] = [];
  for (const g of groupsOf(results)) {
    const rows = results.filter((r) => r.group === g);
    const groupOn = rows.find((r) => r.target)?.target?.on;
    out.push(`### ${GROUP_TITLE[g] ?? g}`, '');
    out.push('| measure | upstream | gateway | baseline | judged | target | met | runs (min … max) |');
    out.push('|---|---|---:|---:|---:|---|:-:|---|');
    for (const r of rows) {
      const baseline = r.baseline === null ? '—' : `${num(r.baseline)} ${r.unit}${r.baselineLabel ? ` (${r.baselineLabel})` : ''}`;
      out.push(
        `| ${measureLabel(r)} | ${r.upstream ?? ''} | ${num(r.gateway)} ${r.unit} | ${baseline} | ${judged(r, groupOn)} | ${r.target?.text ?? 'reference'} | ${r.target ? (r.met ? '✅' : '❌') : ''} | ${r.runs.length}${spread(r, groupOn) ? ` (${spread(r, groupOn)})` : ''} |`,
      );
    }
    const notes = [...new Set(rows.map((r) => r.notes).filter(Boolean))];
    if (notes.length > 0 && notes.length <= 3) out.push('', ...notes.map((n) => `- ${n}`));
    out.push('');
  }
  return out.join('\n');
}

export function machineTable(report: Report): string {
  const m = report.machine;
  return [
    '| | |',
    '|---|---|',
    `| CPUs (nproc) | ${m.nproc} |`,
    `| CPU model | ${m.cpuModel} |`,
    `| memory | ${(m.memTotalMiB / 1024).toFixed(1)} GiB |`,
    `| OS | ${m.os} |`,
    `| Node | ${m.node} |`,
    `| Prosody | ${m.prosody} |`,
    `| load average at start (1, 5, 15 min) | ${m.loadAtStart.join(', ')} |`,
    `| run | ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${report.quick ? 'quick (smoke) run, ' : ''}median of ${report.runs} run(s), ${Math.round(report.durationSec / 60)} min |`,
  ].join('\n');
}

/** Median over the runs of each numeric extra (CPU shares, system calls per message, login times…). */
function extrasTable(results: BenchResult[]): string {
  const out = ['| measure | upstream | medians over the runs |', '|---|---|---|'];
  for (const r of results) {
    const keys = [...new Set(r.runs.flatMap((x) => Object.keys(x.extra ?? {})))].filter((k) => k !== 'run' && k !== 'load');
    const parts: string[] = [];
    for (const k of keys) {
      const xs = r.runs.map((x) => x.extra?.[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      if (xs.length === 0) continue;
      xs.sort((a, b) => a - b);
      const m = xs.length % 2 ? xs[xs.length >> 1]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2;
      // An idle process's share is noise.
      if (/(^|\.)cpu\./.test(k) && m < 0.005) continue;
      parts.push(`${k} ${num(m)}`);
    }
    if (parts.length) out.push(`| ${measureLabel(r)} | ${r.upstream ?? ''} | ${parts.join(', ')} |`);
  }
  return out.join('\n');
}

export function renderMarkdown(report: Report): string {
  const missed = report.results.filter((r) => !r.met);
  return [
    `# Benchmark report${report.quick ? ' (quick smoke run — not for publication)' : ''}`,
    '',
    `Generated by \`npm run bench\`; method in [docs/performance.md](../../docs/performance.md).`,
    '',
    '## Machine',
    '',
    machineTable(report),
    '',
    '## Results',
    '',
    missed.length === 0 ? 'Every target is met.' : `Missed: ${missed.map((r) => `\`${r.name}\``).join(', ')}.`,
    '',
    resultsTable(report.results),
    '## Details',
    '',
    '`cpu.X`: CPUs busy (CPU seconds ÷ window) of Prosody, the gateway, the relay and the load generator',
    '(`driver`) during the timed window; `X.reads` / `X.writes`: read and write system calls per message;',
    '`loginMs`: median time of one login; `direct.…`: the same for the direct path of that run.',
    '',
    extrasTable(report.results),
    '',
  ].join('\n');
}

/** Replaces the text between `<!-- BEGIN generated:NAME -->` and `<!-- END generated:NAME -->`. */
export function replaceSection(doc: string, name: string, body: string): string {
  const begin = `<!-- BEGIN generated:${name} -->`;
  const end = `<!-- END generated:${name} -->`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) return doc;
  return `${doc.slice(0, i + begin.length)}\n${body.trim()}\n${doc.slice(j)}`;
}

export async function updatePerformanceDoc(file: string, report: Report): Promise<void> {
  let doc: string;
  try {
    doc = await readFile(file, 'utf8');
  } catch {
    return;
  }
  doc = replaceSection(doc, 'machine', machineTable(report));
  doc = replaceSection(doc, 'results', resultsTable(report.results));
  await writeFile(file, doc);
}
