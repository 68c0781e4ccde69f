/**
 * AMF0/AMF3 throughput: our codecs (src/codec/amf) against the npm package `amfjs`, on the same
 * values — call-API command bodies (bench/lib/amf-payloads.ts) and a few large ones.
 *
 * For each payload and each codec: decode (the same bytes for both: what our encoder writes,
 * which is what Flash Player sends — anonymous objects, AMF3 traits) and encode (the same JS
 * values; each codec writes its own bytes). Before timing, every result is checked: both decoders
 * must return the values, and our decoder must read the package's output back as the values; a
 * mismatch is reported in the notes (the figure is still given).
 *
 * AMF0: a plain AMF0 body. AMF3: an AS3 client's type-17 body, every value switched with 0x11,
 * one AMF3 reference context.
 *
 * Timing: each (payload, codec, operation) runs in windows (250 ms, 7 of them; 100 ms × 5 when the
 * runner repeats the bench; --quick 40 ms × 3), ours and the package's interleaved, after a warm-up
 * window; the figure is the median window. Mix figures are messages
 * per second over the whole set of a kind, each payload once: count / Σ(1 / opsᵢ).
 *
 * Standalone: `node dist/bench/amf.js [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import { decodeAmf0Values, encodeAmf0Values, encodeAmf0WithAmf3Values } from '../src/codec/amf/amf0.js';
import { AmfByteArray, AmfEcmaArray, AmfMixedArray, AmfTypedObject, AmfXml, AmfXmlDocument, type AmfValue } from '../src/codec/amf/values.js';
import { amfPayloads, type AmfPayload } from './lib/amf-payloads.js';
import { NPM_AMF_LABEL, npmDecodeBody, npmEncodeAmf0, npmEncodeAmf3Body } from './lib/amf-npm.js';
import { median, result, type BenchOptions, type BenchResult, type Target } from './lib/report.js';

type Encoding = 'amf0' | 'amf3';
type Operation = 'decode' | 'encode';

const TARGET: Target = { on: 'ratio', kind: 'min', value: 1, text: 'faster than amfjs (ratio ≥ 1)' };

// Our codec's public limits refuse strings over 1 MiB by default: the large payloads fit.
const ours = {
  encode: (e: Encoding, values: AmfValue[]): Buffer => (e === 'amf0' ? encodeAmf0Values(values) : encodeAmf0WithAmf3Values(values)),
  decode: (bytes: Buffer): unknown[] => decodeAmf0Values(bytes),
};
const npm = {
  encode: (e: Encoding, values: AmfValue[]): Buffer => (e === 'amf0' ? npmEncodeAmf0(values) : npmEncodeAmf3Body(values)),
  decode: (bytes: Buffer): unknown[] => npmDecodeBody(bytes),
};

/** A comparable plain form of a decoded value: what the app would see, whatever the class. */
export function plainAmf(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== 'object') return v ?? null;
  if (v instanceof Date) return { $date: v.getTime() };
  if (Array.isArray(v)) return v.map(plainAmf);
  if (v instanceof AmfEcmaArray) return plainMembers(Object.fromEntries(v.entries));
  if (v instanceof AmfMixedArray) return { dense: v.dense.map(plainAmf), ...(plainMembers(Object.fromEntries(v.associative)) as object) };
  if (v instanceof AmfTypedObject) return { $class: v.className, ...(plainMembers({ ...v.members, ...(v.dynamicMembers ?? {}) }) as object) };
  if (v instanceof AmfXmlDocument || v instanceof AmfXml) return { $xml: v.xml };
  if (v instanceof AmfByteArray) return { $bytes: Buffer.from(v.bytes).toString('hex') };
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('hex') };
  return plainMembers(v as Record<string, unknown>);
}

function plainMembers(o: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = {};
  // amfjs marks its Serializable instances with "__class"; keys starting "__" are its own.
  for (const k of Object.keys(o).sort()) if (!k.startsWith('__')) out[k] = plainAmf(o[k]);
  return out;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(plainAmf(a)) === JSON.stringify(plainAmf(b));

/** Operations per second of `fn` over one window of about `windowMs`. */
function window(fn: () => number, windowMs: number, batch: number): number {
  let n = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(windowMs * 1e6));
  let elapsed = 0n;
  do {
    for (let i = 0; i < batch; i++) sink += fn();
    n += batch;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  if (sink === -1) console.log('unreachable'); // keeps the work observable
  return n / (Number(elapsed) / 1e9);
}

/** Batch size so one batch takes about a millisecond (fewer clock reads for tiny payloads). */
function batchFor(fn: () => number): number {
  const start = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - start < 2_000_000n) {
    fn();
    n++;
  }
  return Math.max(1, Math.floor(n / 2));
}

interface Measured {
  payload: string;
  kind: AmfPayload['kind'];
  encoding: Encoding;
  op: Operation;
  bytes: number;
  ours: number;
  npm: number;
  /** Empty when both agree with the values; otherwise what went wrong. */
  problem: string;
}

function measurePayload(p: AmfPayload, encoding: Encoding, windowMs: number, samples: number): Measured[] {
  const ourBytes = ours.encode(encoding, p.values);
  const out: Measured[] = [];
  for (const op of ['decode', 'encode'] as Operation[]) {
    let problem = '';
    let npmFn: (() => number) | undefined;
    const ourFn = op === 'decode' ? () => ours.decode(ourBytes).length : () => ours.encode(encoding, p.values).length;
    try {
      if (op === 'decode') {
        if (!same(ours.decode(ourBytes), p.values)) throw new Error('our decoder disagrees with the values (bench bug)');
        const theirs = npm.decode(ourBytes);
        if (!same(theirs, p.values)) problem = 'amfjs decodes these bytes to different values';
        npmFn = () => npm.decode(ourBytes).length;
      } else {
        const theirBytes = npm.encode(encoding, p.values);
        let back: unknown;
        try {
          back = ours.decode(theirBytes);
        } catch (error) {
          problem = `amfjs output does not decode (${(error as Error).message})`;
        }
        if (!problem && !same(back, p.values)) problem = 'amfjs output decodes to different values';
        npmFn = () => npm.encode(encoding, p.values).length;
      }
    } catch (error) {
      if ((error as Error).message.includes('bench bug')) throw error;
      problem = `amfjs throws: ${(error as Error).message}`;
      npmFn = undefined;
    }
    const ourBatch = batchFor(ourFn);
    const npmBatch = npmFn ? batchFor(npmFn) : 1;
    // Warm-up, then interleaved windows.
    window(ourFn, windowMs, ourBatch);
    if (npmFn) window(npmFn, windowMs, npmBatch);
    const a: number[] = [];
    const b: number[] = [];
    for (let s = 0; s < samples; s++) {
      a.push(window(ourFn, windowMs, ourBatch));
      if (npmFn) b.push(window(npmFn, windowMs, npmBatch));
    }
    out.push({
      payload: p.name,
      kind: p.kind,
      encoding,
      op,
      bytes: ourBytes.length,
      ours: median(a),
      npm: npmFn ? median(b) : NaN,
      problem,
    });
  }
  return out;
}

/** Messages per second over a set, each once: count / Σ(1 / opsᵢ). */
function mixRate(rates: number[]): number {
  if (rates.length === 0 || rates.some((r) => !(r > 0))) return NaN;
  return rates.length / rates.reduce((sum, r) => sum + 1 / r, 0);
}

const round = (x: number): number => (Number.isFinite(x) ? Math.round(x) : NaN);

export async function run(options: Partial<BenchOptions> & { quick: boolean }): Promise<BenchResult[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // The runner calls a full run `runs` times and takes medians: each of those can be shorter.
  const repeated = (options.runs ?? 1) > 1;
  const windowMs = options.quick ? 40 : repeated ? 100 : 250;
  const samples = options.quick ? 3 : repeated ? 5 : 7;
  const payloads = amfPayloads();
  const measured: Measured[] = [];
  for (const encoding of ['amf0', 'amf3'] as Encoding[]) {
    for (const p of payloads) {
      const m = measurePayload(p, encoding, windowMs, samples);
      for (const x of m) {
        log(
          `amf ${encoding} ${x.op.padEnd(6)} ${x.payload.padEnd(24)} ${String(x.bytes).padStart(7)} B  ours ${round(x.ours).toLocaleString('en')}/s  amfjs ${round(x.npm).toLocaleString('en')}/s  ×${(x.ours / x.npm).toFixed(1)}${x.problem ? `  (${x.problem})` : ''}`,
        );
      }
      measured.push(...m);
      // Let the event loop breathe between payloads (the runner may be logging).
      await new Promise((r) => setImmediate(r));
    }
  }

  const results: BenchResult[] = [];
  for (const encoding of ['amf0', 'amf3'] as Encoding[]) {
    for (const op of ['decode', 'encode'] as Operation[]) {
      for (const kind of ['realistic', 'large'] as const) {
        const set = measured.filter((m) => m.encoding === encoding && m.op === op && m.kind === kind);
        const gateway = mixRate(set.map((m) => m.ours));
        const comparable = set.filter((m) => Number.isFinite(m.npm));
        const baseline = comparable.length === set.length ? mixRate(set.map((m) => m.npm)) : NaN;
        const problems = set.filter((m) => m.problem).map((m) => `${m.payload}: ${m.problem}`);
        const extra: Record<string, number | string> = {};
        for (const m of set) {
          extra[`${m.payload}.ours`] = round(m.ours);
          extra[`${m.payload}.amfjs`] = round(m.npm);
          extra[`${m.payload}.bytes`] = m.bytes;
        }
        results.push(
          result({
            name: `amf.${encoding}.${op}.${kind}`,
            group: 'amf',
            unit: 'msg/s',
            gateway: round(gateway),
            baseline: Number.isFinite(baseline) ? round(baseline) : null,
            baselineLabel: NPM_AMF_LABEL,
            target: TARGET,
            notes:
              `${kind === 'realistic' ? 'call-API command bodies' : 'large bodies'} (${set.map((m) => m.payload).join(', ')}), ` +
              `${encoding === 'amf0' ? 'plain AMF0' : 'AMF3 (type-17 body, 0x11 per value)'}, ${op}; messages/s over the set, each once.` +
              (problems.length ? ` amfjs correctness: ${problems.join('; ')}.` : ''),
            extra,
          }),
        );
      }
    }
  }
  return results;
}

function printTable(results: BenchResult[]): void {
  const rows = results.map((r) => [
    r.name,
    r.gateway.toLocaleString('en'),
    r.baseline === null ? '—' : r.baseline.toLocaleString('en'),
    r.ratio === undefined ? '—' : `×${r.ratio.toFixed(2)}`,
    r.met ? 'met' : 'MISSED',
  ]);
  const head = ['measure', 'ours msg/s', 'amfjs msg/s', 'ratio', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [head, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const started = Date.now();
  run({ quick }).then(
    (results) => {
      printTable(results);
      for (const r of results) if (r.notes.includes('amfjs correctness')) console.log(`\n${r.name}: ${r.notes}`);
      console.log(`\n(${((Date.now() - started) / 1000).toFixed(1)} s${quick ? ', quick' : ''})`);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
