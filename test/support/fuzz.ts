/**
 * The harness of the fuzz property tests (test/unit/fuzz-*.test.ts) and of `npm run fuzz`
 * (scripts/fuzz.mjs): one `fuzz()` call registers one node:test test running one fast-check
 * property. See docs/fuzzing.md.
 *
 * Environment:
 * - FUZZ_RUNS: runs per property (default: each property's own modest count, for CI).
 * - FUZZ_SEED, FUZZ_PATH: replay a counterexample fast-check reported (select the property with
 *   `--test-name-pattern`, as the printed replay command does).
 * - FUZZ_TIME_MS: stop each property after this long (counted as a pass: the runs done are kept).
 * - FUZZ_REPORT: append one JSON line per property (runs, time, seed, failure) to this file.
 * - FUZZ_LIST=1: record the properties in FUZZ_REPORT without running them.
 * - FUZZ_MAX_RUN_MS: the bound on one run's time (default 3000 ms: catches blow-ups and hangs,
 *   not a loaded machine).
 *
 * With `--expose-gc` the heap retained after a property (after a full GC) is measured and bounded
 * too; without it only the structural bounds the properties assert themselves apply.
 */
import { test } from 'node:test';
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Buffer } from 'node:buffer';
import * as fc from 'fast-check';

function intEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

const ENV = {
  runs: intEnv('FUZZ_RUNS'),
  seed: intEnv('FUZZ_SEED'),
  path: process.env.FUZZ_PATH || undefined,
  timeMs: intEnv('FUZZ_TIME_MS'),
  report: process.env.FUZZ_REPORT || undefined,
  list: process.env.FUZZ_LIST === '1',
  maxRunMs: intEnv('FUZZ_MAX_RUN_MS') ?? 3000,
};

/** Retained heap growth tolerated over one property (only measured with --expose-gc). */
const MAX_RETAINED_HEAP = 64 * 1024 * 1024;

export interface FuzzOptions {
  /** Runs in CI (FUZZ_RUNS overrides). */
  runs: number;
  /** Bound on one run, ms (default FUZZ_MAX_RUN_MS or 3000). */
  maxRunMs?: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function testFile(): string {
  const main = process.argv[1] ?? '';
  return main === '' ? '?' : relative(process.cwd(), main);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The command that replays a failure (after `npm run build`). */
export function replayCommand(name: string, seed: number, path: string | null): string {
  const vars = `FUZZ_SEED=${seed}${path ? ` FUZZ_PATH=${shellQuote(path)}` : ''}`;
  return `${vars} node --test --test-name-pattern=${shellQuote(`^${escapeRegExp(name)}$`)} ${testFile()}`;
}

function record(entry: Record<string, unknown>): void {
  if (ENV.report === undefined) return;
  appendFileSync(ENV.report, JSON.stringify({ file: testFile(), ...entry }) + '\n');
}

function describeFailure<T>(details: fc.RunDetails<T>): string {
  let text = fc.defaultReportMessage(details) ?? 'failed';
  const e = details.errorInstance;
  if (e !== null && e !== undefined && !text.includes('Got error')) {
    text += `\nGot error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  }
  return text;
}

/**
 * Registers a test that checks `predicate` on values of `arb`. The predicate fails by throwing
 * (node:assert). Each run is also timed against `maxRunMs`.
 */
export function fuzz<T>(name: string, options: FuzzOptions, arb: fc.Arbitrary<T>, predicate: (value: T) => void): void {
  test(name, () => {
    if (ENV.list) {
      record({ name, listed: true });
      return;
    }
    const maxRunMs = options.maxRunMs ?? ENV.maxRunMs;
    let slowest = 0;
    const property = fc.property(arb, (value) => {
      const t0 = performance.now();
      predicate(value);
      const dt = performance.now() - t0;
      if (dt > slowest) slowest = dt;
      if (dt > maxRunMs) throw new Error(`one run took ${dt.toFixed(0)} ms (bound ${maxRunMs} ms)`);
    });
    const params: fc.Parameters<[T]> = { numRuns: ENV.runs ?? options.runs };
    if (ENV.seed !== undefined) params.seed = ENV.seed;
    if (ENV.path !== undefined) {
      params.path = ENV.path;
      params.endOnFailure = true;
    }
    if (ENV.timeMs !== undefined) params.plugins = [fc.interruptAfterTimeLimit(ENV.timeMs) as unknown as fc.Plugin<[T]>];

    gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const details = fc.check(property, params);
    const ms = performance.now() - t0;
    let retained: number | null = null;
    if (gc !== undefined) {
      gc();
      retained = process.memoryUsage().heapUsed - heap0;
    }
    const failure = details.failed ? describeFailure(details) : null;
    record({
      name,
      runs: details.numRuns,
      ms: Math.round(ms),
      slowestRunMs: Math.round(slowest),
      retainedHeap: retained,
      seed: details.seed,
      failed: details.failed,
      path: details.counterexamplePath,
      failure,
      replay: details.failed ? replayCommand(name, details.seed, details.counterexamplePath) : null,
    });
    if (details.failed) {
      throw new Error(`${failure}\n\nReplay: ${replayCommand(name, details.seed, details.counterexamplePath)}`, {
        cause: details.errorInstance,
      });
    }
    if (retained !== null && retained > MAX_RETAINED_HEAP) {
      throw new Error(`${(retained / 1048576).toFixed(1)} MiB of heap retained after ${details.numRuns} runs (bound ${MAX_RETAINED_HEAP / 1048576} MiB)`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Splitting and mutating inputs

/** Arbitrary cut points; `splitAt` takes them modulo the input length. */
export const cutsArb: fc.Arbitrary<number[]> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.nat(), { maxLength: 12 }) },
  // Many small pieces now and then (byte-by-byte-like delivery).
  { weight: 1, arbitrary: fc.array(fc.nat(), { minLength: 20, maxLength: 200 }) },
);

/** The input cut at the given points (duplicates and order do not matter); empty pieces kept out. */
export function splitAt(input: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) chunks.push(input.subarray(last, p));
    last = p;
  }
  if (input.length > last || chunks.length === 0) chunks.push(input.subarray(last));
  return chunks;
}

export type MutationOp = 'flip' | 'set' | 'insert' | 'delete' | 'truncate' | 'duplicate' | 'int';

export interface Mutation {
  op: MutationOp;
  /** Position, modulo the current length. */
  at: number;
  byte: number;
  len: number;
}

/** Values that make length and count fields lie (written big-endian, 1 to 4 bytes). */
const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xffffffff];

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom<MutationOp>('flip', 'flip', 'set', 'set', 'insert', 'delete', 'truncate', 'duplicate', 'int', 'int'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  len: fc.integer({ min: 1, max: 24 }),
});

export const mutationsArb = (maxLength = 6): fc.Arbitrary<Mutation[]> => fc.array(mutationArb, { minLength: 1, maxLength });

/**
 * Applies the mutations in order: flip one bit, set a byte, insert or delete `len` bytes,
 * truncate, duplicate a slice in place, or overwrite 1–4 bytes with a lying length.
 */
export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const n = b.length;
    const at = m.at % (n + 1);
    switch (m.op) {
      case 'flip':
        if (n > 0) b[at % n]! ^= 1 << (m.byte & 7);
        break;
      case 'set':
        if (n > 0) b[at % n] = m.byte;
        break;
      case 'insert': {
        const ins = Buffer.alloc(m.len);
        for (let i = 0; i < m.len; i++) ins[i] = (m.byte + i * 0x3b) & 0xff;
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(n, at + m.len))]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'duplicate': {
        const slice = b.subarray(at, Math.min(n, at + m.len));
        b = Buffer.concat([b.subarray(0, at), slice, b.subarray(at)]);
        break;
      }
      case 'int': {
        const width = (m.len % 4) + 1;
        const value = INTERESTING[m.byte % INTERESTING.length]!;
        for (let i = 0; i < width && at + i < n; i++) b[at + i] = (value >>> (8 * (width - 1 - i))) & 0xff;
        break;
      }
    }
  }
  return b;
}
