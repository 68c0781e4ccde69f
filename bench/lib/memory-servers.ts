/**
 * The processes of the memory bench: a Prosody with many users (the project's embedded launcher,
 * accounts written straight into its data directory) and the gateway (dist/src/cli.js) started
 * with the inspector on loopback, so the bench can force a garbage collection and read the
 * heap figures before it reads the resident set from /proc.
 *
 * Open files: 10,000 sessions need 20,000 sockets in the gateway. Each child is started under
 * `prlimit --nofile=…` when the bench may raise the limit (root with CAP_SYS_RESOURCE); where it
 * may not, it keeps the inherited limit and the bench caps the session count to fit (see
 * `fileLimit()` and memory.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { LiveChildren } from '../../src/embedded/children.js';
import { canConnect, freePorts } from '../../src/embedded/ports.js';
import { startProsody, type ProsodyInstance } from '../../src/embedded/prosody.js';

export const BENCH_DOMAIN = 'localhost';
export const BENCH_PASSWORD = 'bench-password';
/** Lower than Prosody's default 10,000: the bench measures memory, not PBKDF2. RFC 7677's minimum. */
const ITERATIONS = 4096;
const SALT = 'fxg-bench-salt-0001';
export const WANTED_NOFILE = 200_000;

const children = new LiveChildren<ChildProcess | number>({ signals: true });
children.installHooks();

/** The RLIMIT_NOFILE the bench can give its children: raised when allowed, else the inherited one. */
export function fileLimit(): { limit: number; raised: boolean } {
  const probe = spawnSync('prlimit', [`--nofile=${WANTED_NOFILE}:${WANTED_NOFILE}`, '--', 'true'], { stdio: 'ignore' });
  if (probe.status === 0) {
    // The bench's own clients need as many sockets as the gateway has sessions.
    spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${WANTED_NOFILE}:${WANTED_NOFILE}`], { stdio: 'ignore' });
    return { limit: WANTED_NOFILE, raised: true };
  }
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const soft = m?.[1] === 'unlimited' ? WANTED_NOFILE : Number(m?.[1] ?? 1024);
  return { limit: soft, raised: false };
}

/** Users u0 … u(count−1), all with BENCH_PASSWORD, as Prosody's internal_hashed stores them. */
function writeAccounts(dataDir: string, count: number): void {
  const salted = pbkdf2Sync(BENCH_PASSWORD, SALT, ITERATIONS, 20, 'sha1');
  const clientKey = createHmac('sha1', salted).update('Client Key').digest();
  const storedKey = createHash('sha1').update(clientKey).digest('hex');
  const serverKey = createHmac('sha1', salted).update('Server Key').digest('hex');
  const body =
    'return {\n' +
    `\t["iteration_count"] = ${ITERATIONS};\n` +
    `\t["stored_key"] = "${storedKey}";\n` +
    `\t["server_key"] = "${serverKey}";\n` +
    `\t["salt"] = "${SALT}";\n` +
    '};\n';
  const dir = path.join(dataDir, BENCH_DOMAIN, 'accounts');
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  for (let i = 0; i < count; i++) writeFileSync(path.join(dir, `u${i}.dat`), body);
}

export interface BenchProsody {
  readonly instance: ProsodyInstance;
  readonly users: number;
  stop(): Promise<void>;
}

/** A Prosody (plaintext c2s on loopback) with `users` accounts u0…, its file limit raised when allowed. */
export async function startBenchProsody(users: number, raiseLimit: boolean): Promise<BenchProsody> {
  // 'info' is the launcher's least chatty level that still logs the listeners it waits for.
  const instance = await startProsody({ domain: BENCH_DOMAIN, logLevel: 'info', startTimeoutMs: 20_000 });
  // On a signal or an exit without stop(): kill it and remove its directory (10,000 account files).
  children.add(instance.pid, () => {
    process.kill(instance.pid, 'SIGKILL');
    rmSync(instance.dir, { recursive: true, force: true });
  });
  if (raiseLimit) spawnSync('prlimit', ['--pid', String(instance.pid), `--nofile=${WANTED_NOFILE}:${WANTED_NOFILE}`], { stdio: 'ignore' });
  writeAccounts(path.join(instance.dir, 'data'), users);
  return {
    instance,
    users,
    async stop() {
      const pid = instance.pid;
      await instance.stop();
      children.delete(pid);
    },
  };
}

/** A minimal Chrome DevTools Protocol client over the gateway's inspector WebSocket. */
class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('inspector closed'));
      this.pending.clear();
    });
  }

  static connect(url: string): Promise<Inspector> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => resolve(new Inspector(ws)));
      ws.once('error', reject);
    });
  }

  call(method: string, params: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`inspector: ${method} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

export interface MemorySample {
  /** /proc/PID/status VmRSS, bytes. */
  rss: number;
  /** /proc/PID/status RssAnon (heap, stacks, malloc), bytes. */
  rssAnon: number;
  /** process.memoryUsage() inside the gateway, after the forced GC. */
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Open file descriptors of the gateway. */
  fds: number;
}

export interface BenchGateway {
  readonly pid: number;
  readonly flashPort: number;
  readonly httpPort: number;
  readonly rtmpPort: number;
  /** Forced settle: waits, collects garbage (twice, through the inspector), waits, reads. */
  sample(waitMs?: number): Promise<MemorySample>;
  /** Writes a heap snapshot of the gateway to `file` (for profiling a miss). */
  heapSnapshot(file: string): Promise<void>;
  /** The last of what the gateway printed on stderr. */
  stderr(): string;
  readonly exited: boolean;
  /** SIGKILL (the bench measures memory, not shutdown); resolves once it has exited. */
  stop(): Promise<void>;
}

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

function statusField(pid: number, name: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${name} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Starts the gateway in front of `prosody` on free loopback ports (Flash, HTTP, RTMP). */
export async function startBenchGateway(prosody: ProsodyInstance, opts: { raiseLimit: boolean; extraArgs?: string[] }): Promise<BenchGateway> {
  const [flashPort, httpPort, rtmpPort] = (await freePorts(3)) as [number, number, number];
  const node = [
    process.execPath,
    '--inspect=127.0.0.1:0',
    CLI,
    '--listen', `127.0.0.1:${flashPort}`,
    '--http-port', String(httpPort),
    '--http-host', '127.0.0.1',
    '--rtmp-port', String(rtmpPort),
    '--rtmp-host', '127.0.0.1',
    '--policy-port', '0',
    '--upstream', `127.0.0.1:${prosody.c2sPort}`,
    '--domain', prosody.domain,
    '--upstream-tls', 'off',
    // Every client comes from loopback: raise the per-address limit (and the total) above the bench's counts.
    '--max-connections-per-ip', '30000',
    '--max-connections', '60000',
    // Idle sessions must stay for the whole measurement (the default, 600 s, is shorter than a full run).
    '--idle-timeout', '7200',
    ...(opts.extraArgs ?? []),
  ];
  const [cmd, ...args] = opts.raiseLimit ? ['prlimit', `--nofile=${WANTED_NOFILE}:${WANTED_NOFILE}`, '--', ...node] : node;
  // stdout (pino, info level as deployed) is not needed: readiness is the ports answering.
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } });
  children.add(child, () => child.kill('SIGKILL'));
  let err = '';
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      children.delete(child);
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  const inspectorUrl = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway: no inspector URL within 15 s\n${err}`)), 15_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      err = (err + s).slice(-20_000);
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exitPromise.then(() => reject(new Error(`gateway exited during start-up\n${err}`)));
  });
  const stop = async (): Promise<void> => {
    if (!exited) child.kill('SIGKILL');
    await exitPromise;
  };
  let inspector: Inspector;
  try {
    inspector = await Inspector.connect(await inspectorUrl);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const up = await Promise.all([flashPort, httpPort, rtmpPort].map((p) => canConnect('127.0.0.1', p, 500)));
      if (up.every(Boolean)) break;
      if (exited) throw new Error(`gateway exited during start-up\n${err}`);
      if (Date.now() > deadline) throw new Error(`gateway ports not up within 20 s\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const pid = child.pid!;
  return {
    pid,
    flashPort,
    httpPort,
    rtmpPort,
    async sample(waitMs = 3000) {
      await new Promise((r) => setTimeout(r, waitMs));
      await inspector.call('HeapProfiler.collectGarbage');
      await new Promise((r) => setTimeout(r, 300));
      await inspector.call('HeapProfiler.collectGarbage');
      await new Promise((r) => setTimeout(r, 1000));
      const evaluated = (await inspector.call('Runtime.evaluate', {
        expression: 'JSON.stringify(process.memoryUsage())',
        returnByValue: true,
      })) as { result: { value: string } };
      const usage = JSON.parse(evaluated.result.value) as { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
      return {
        rss: statusField(pid, 'VmRSS'),
        rssAnon: statusField(pid, 'RssAnon'),
        heapUsed: usage.heapUsed,
        heapTotal: usage.heapTotal,
        external: usage.external,
        arrayBuffers: usage.arrayBuffers,
        fds: readdirSync(`/proc/${pid}/fd`).length,
      };
    },
    async heapSnapshot(file: string) {
      // The snapshot streams in chunks as events; collect them.
      const chunks: string[] = [];
      const ws = inspector.ws;
      const onMessage = (data: Buffer): void => {
        const msg = JSON.parse(data.toString('utf8')) as { method?: string; params?: { chunk: string } };
        if (msg.method === 'HeapProfiler.addHeapSnapshotChunk' && msg.params) chunks.push(msg.params.chunk);
      };
      ws.on('message', onMessage);
      try {
        await inspector.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, 600_000);
      } finally {
        ws.off('message', onMessage);
      }
      writeFileSync(file, chunks.join(''));
    },
    stderr: () => err,
    get exited() {
      return exited;
    },
    async stop() {
      inspector.close();
      await stop();
    },
  };
}
