/**
 * What the fault tests (faults-*.test.ts) measure of a running gateway process: its open file
 * descriptors and resident memory, from /proc and from its own /metrics, and small waiting helpers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';

export const MiB = 1024 * 1024;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Open file descriptors of a process (/proc/PID/fd). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident memory of a process in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** The gateway's own /metrics (loopback may read it), as name → value for unlabelled samples. */
export function scrapeMetrics(httpPort: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: httpPort, path: '/metrics', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`/metrics answered ${res.statusCode}`));
          return;
        }
        const values = new Map<string, number>();
        for (const line of body.split('\n')) {
          const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) ([0-9.eE+-]+)$/.exec(line);
          if (match) values.set(match[1] as string, Number(match[2]));
        }
        resolve(values);
      });
    });
    req.on('timeout', () => req.destroy(new Error('/metrics timed out')));
    req.on('error', reject);
  });
}

/** Polls `probe` until `ok` holds or `timeoutMs` passes; returns the last value either way. */
export async function settle<T>(probe: () => T | Promise<T>, ok: (value: T) => boolean, timeoutMs: number, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let value = await probe();
  while (!ok(value) && Date.now() < end) {
    await sleep(everyMs);
    value = await probe();
  }
  return value;
}

export async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Median and maximum of a list of durations, ms. */
export function spread(values: number[]): { median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}

/**
 * Runs `rounds` full garbage collections in a gateway process through the inspector, so memory
 * figures compare live data rather than whenever V8 last collected. The first call opens the
 * inspector with SIGUSR1 (on the port --inspect-port gave through NODE_OPTIONS: 0 picks a free
 * one) and reads its address from the process's stderr; it stays open, so call this before the
 * baseline too.
 */
export async function forceGc(gateway: { pid: number; logs(): string; proc: { kill(signal: NodeJS.Signals): boolean } }, rounds = 3): Promise<void> {
  const pattern = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+)/;
  if (!pattern.test(gateway.logs())) gateway.proc.kill('SIGUSR1');
  await until(() => pattern.test(gateway.logs()), 10_000, 'the gateway inspector');
  const url = (pattern.exec(gateway.logs()) as RegExpExecArray)[1] as string;
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  try {
    for (let id = 1; id <= rounds; id++) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('HeapProfiler.collectGarbage did not answer within 10 s')), 10_000);
        const onMessage = (data: Buffer): void => {
          const reply = JSON.parse(data.toString('utf8')) as { id?: number; error?: { message: string } };
          if (reply.id !== id) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          if (reply.error) reject(new Error(reply.error.message));
          else resolve();
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
      });
    }
  } finally {
    ws.close();
    await new Promise((r) => ws.once('close', r));
  }
}

/** Environment for a gateway whose inspector forceGc() may open: on a free loopback port. */
export const INSPECTABLE_ENV = { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --inspect-port=127.0.0.1:0`.trim() };
