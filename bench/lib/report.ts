/**
 * The shape every bench returns, and the helpers the runner uses to combine runs.
 *
 * A bench module (dist/bench/<name>.js) exports
 *   `run(options: BenchOptions): Promise<BenchResult[]>`
 * and returns ONE record per measure for ONE run: `gateway` and `baseline` are that run's
 * figures and `runs` holds that run alone. The runner calls it `options.runs` times (or the
 * bench may do its own repetitions and fill `runs` itself, then the runner calls it once when
 * `selfRepeating` is exported as true) and merges the records by `name`: `gateway`, `baseline`
 * and `ratio` become medians over `runs`, `met` is judged on the median ratio (or the median
 * gateway figure when there is no baseline).
 */

/** How a target compares: the ratio (or the gateway figure when `on` is 'gateway', or
 * gateway − baseline when 'difference') must be at least (`min`) or at most (`max`) `value`. */
export interface Target {
  /** 'ratio' = gateway / baseline; 'gateway' = the gateway figure alone; 'difference' = gateway − baseline (e.g. added latency). */
  on: 'ratio' | 'gateway' | 'difference';
  kind: 'min' | 'max';
  value: number;
  /** Human wording, e.g. "≥ 0.95 of direct". */
  text: string;
}

/** One run's figures for one measure. */
export interface RunFigure {
  gateway: number;
  baseline: number | null;
  ratio: number | null;
  /** gateway − baseline, or null without a baseline. */
  difference?: number | null;
  /** Anything else worth keeping from the run (counts, durations, CPU ms, …). */
  extra?: Record<string, number | string>;
}

export interface BenchResult {
  /** Unique, stable, e.g. "throughput.raw", "cpu-per-msg.rtmp-amf3", "memory.10k". */
  name: string;
  /** Grouping for the report and the chart, e.g. "throughput", "cpu", "latency", "logins", "memory", "amf". */
  group: string;
  /** Unit of `gateway` and `baseline`, e.g. "msg/s", "µs/msg", "ms", "logins/s", "KiB/session". */
  unit: string;
  /** The gateway figure (median over runs once merged). */
  gateway: number;
  /** The figure it is compared with (direct path, byte relay, npm codec…), or null. */
  baseline: number | null;
  /** What the baseline is, e.g. "direct to Prosody", "Node byte relay", "npm amfjs". */
  baselineLabel?: string;
  /** gateway / baseline (median of per-run ratios once merged), or undefined if no baseline. */
  ratio?: number;
  /** gateway − baseline (median of per-run differences once merged), or undefined if no baseline. */
  difference?: number;
  target: Target | null;
  /** Whether the target is met (true when there is no target). */
  met: boolean;
  notes: string;
  /** Upstream variant, when it matters: "plain" or "starttls". */
  upstream?: 'plain' | 'starttls';
  /** Set by the runner: when this record was measured (ISO time). */
  measuredAt?: string;
  runs: RunFigure[];
}

export interface BenchOptions {
  /** Smoke run: short windows, small counts, one run. */
  quick: boolean;
  /** How many runs the runner takes the median over. */
  runs: number;
  /** Upstream variant(s) the bench should cover. */
  upstream: Array<'plain' | 'starttls'>;
  /** Write progress lines here (stderr by default). */
  log: (line: string) => void;
  /** --only: names of benches, groups or record-name prefixes to run (all when absent). A bench may ignore it. */
  only?: string[];
  /** Pin Prosody to CPU 0 and the gateway, relay and load generator to the other CPUs (taskset). */
  pin?: boolean;
  /** Run the gateway under `node --cpu-prof`, profiles written here. */
  profileDir?: string;
}

/** The module contract for dist/bench/<name>.js. */
export interface BenchModule {
  run(options: BenchOptions): Promise<BenchResult[]>;
  /** True when `run` already repeats `options.runs` times and fills `runs` itself. */
  selfRepeating?: boolean;
}

export interface Report {
  startedAt: string;
  finishedAt: string;
  durationSec: number;
  quick: boolean;
  runs: number;
  machine: MachineInfo;
  results: BenchResult[];
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memTotalMiB: number;
  node: string;
  prosody: string;
  os: string;
  loadAtStart: number[];
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function judge(target: Target | null, gateway: number, ratio: number | undefined, difference?: number): boolean {
  if (!target) return true;
  const x = target.on === 'ratio' ? ratio : target.on === 'difference' ? difference : gateway;
  if (x === undefined || !Number.isFinite(x)) return false;
  return target.kind === 'min' ? x >= target.value : x <= target.value;
}

/** Builds a one-run record; the bench calls this once per measure per run. */
export function result(r: {
  name: string;
  group: string;
  unit: string;
  gateway: number;
  baseline: number | null;
  baselineLabel?: string;
  target: Target | null;
  notes?: string;
  upstream?: 'plain' | 'starttls';
  extra?: Record<string, number | string>;
}): BenchResult {
  const ratio = r.baseline !== null && r.baseline !== 0 ? r.gateway / r.baseline : undefined;
  const difference = r.baseline !== null ? r.gateway - r.baseline : undefined;
  const out: BenchResult = {
    name: r.name,
    group: r.group,
    unit: r.unit,
    gateway: r.gateway,
    baseline: r.baseline,
    target: r.target,
    met: judge(r.target, r.gateway, ratio, difference),
    notes: r.notes ?? '',
    runs: [{ gateway: r.gateway, baseline: r.baseline, ratio: ratio ?? null, difference: difference ?? null, ...(r.extra ? { extra: r.extra } : {}) }],
  };
  if (r.baselineLabel !== undefined) out.baselineLabel = r.baselineLabel;
  if (ratio !== undefined) out.ratio = ratio;
  if (difference !== undefined) out.difference = difference;
  if (r.upstream !== undefined) out.upstream = r.upstream;
  return out;
}

/** Merges records of the same name from several runs: medians, `met` on the median. */
export function mergeRuns(records: BenchResult[]): BenchResult[] {
  const byName = new Map<string, BenchResult[]>();
  for (const r of records) {
    const list = byName.get(r.name) ?? [];
    list.push(r);
    byName.set(r.name, list);
  }
  const merged: BenchResult[] = [];
  for (const list of byName.values()) {
    const first = list[0]!;
    const runs = list.flatMap((r) => r.runs);
    const gateway = median(runs.map((x) => x.gateway));
    const baselines = runs.map((x) => x.baseline).filter((x): x is number => x !== null);
    const baseline = baselines.length ? median(baselines) : null;
    const ratios = runs.map((x) => x.ratio).filter((x): x is number => x !== null);
    const ratio = ratios.length ? median(ratios) : undefined;
    const diffs = runs.map((x) => x.difference ?? (x.baseline !== null ? x.gateway - x.baseline : null)).filter((x): x is number => x !== null);
    const difference = diffs.length ? median(diffs) : undefined;
    const notes = [...new Set(list.map((r) => r.notes).filter(Boolean))].join(' ');
    const out: BenchResult = { ...first, gateway, baseline, runs, notes, met: judge(first.target, gateway, ratio, difference) };
    if (ratio !== undefined) out.ratio = ratio;
    else delete out.ratio;
    if (difference !== undefined) out.difference = difference;
    else delete out.difference;
    merged.push(out);
  }
  return merged;
}
