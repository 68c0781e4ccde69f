/**
 * The processes a bench runs against, all on loopback: a throw-away Prosody (plain, or offering
 * STARTTLS with a generated PKI), the gateway CLI (dist/src/cli.js) in front of it, and the byte
 * relay (relay.ts). Each is its own process, so its CPU time can be read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProsody, type ProsodyInstance } from '../../src/embedded/prosody.js';
import { canConnect, freePorts } from '../../src/embedded/ports.js';
import { makeTestPki } from '../../test/support/certs.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GATEWAY_CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const RELAY = fileURLToPath(new URL('./relay.js', import.meta.url));

export type Upstream = 'plain' | 'starttls';

export interface Server {
  prosody: ProsodyInstance;
  domain: string;
  /** PEM text of the CA that signed Prosody's certificate (starttls only). */
  caPem?: string;
  caFile?: string;
  stop(): Promise<void>;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function startServer(upstream: Upstream, users: [string, string][]): Promise<Server> {
  const domain = 'localhost';
  let pkiDir: string | undefined;
  let certificate: { cert: string; key: string } | undefined;
  let caFile: string | undefined;
  if (upstream === 'starttls') {
    pkiDir = await mkdtemp(path.join(os.tmpdir(), 'fxg-bench-pki-'));
    const pki = await makeTestPki(pkiDir, [domain, `conference.${domain}`]);
    certificate = { cert: pki.cert, key: pki.key };
    caFile = pki.caCert;
  }
  // info, not warn: the launcher waits for the "Activated service" lines.
  const prosody = await startProsody({ domain, logLevel: 'info', ...(certificate ? { certificate } : {}) });
  const stop = async (): Promise<void> => {
    await prosody.stop();
    if (pkiDir) await rm(pkiDir, { recursive: true, force: true }).catch(() => {});
  };
  try {
    // prosodyctl is one process per user: a few at a time.
    await pool(users, 4, ([u, p]) => prosody.register(u, p));
  } catch (error) {
    await stop();
    throw error;
  }
  return { prosody, domain, ...(caFile ? { caFile, caPem: await readFile(caFile, 'utf8') } : {}), stop };
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

function spawnChild(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  const keep = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const kill = (): void => {
    try {
      proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', kill);
  let stopping: Promise<void> | undefined;
  return {
    proc,
    pid: proc.pid ?? -1,
    output: () => out,
    stop: () =>
      (stopping ??= (async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill('SIGTERM');
        const t = setTimeout(kill, 15_000);
        await exited;
        clearTimeout(t);
        process.off('exit', kill);
      })()),
  };
}

async function waitPorts(child: Child, ports: number[], what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`${what} exited during start-up:\n${child.output()}`);
    const up = await Promise.all(ports.map((p) => canConnect('127.0.0.1', p, 300)));
    if (up.every(Boolean)) return;
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${what} not listening after ${timeoutMs} ms:\n${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Gateway extends Child {
  flashPort: number;
  httpPort: number;
  rtmpPort: number;
}

export interface GatewayOptions {
  /** Directory for `node --cpu-prof` profiles (written when the gateway stops). */
  cpuProfDir?: string;
  /** More node options for diagnosis, e.g. `--trace-gc`. */
  nodeArgs?: string[];
  /** More gateway options, e.g. `--nul-grace 0`. */
  gatewayArgs?: string[];
}

export async function startGateway(server: Server, upstream: Upstream, o: GatewayOptions = {}): Promise<Gateway> {
  const [flashPort, httpPort, rtmpPort] = (await freePorts(3)) as [number, number, number];
  const args = [
    ...(o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : []),
    ...(o.nodeArgs ?? []),
    GATEWAY_CLI,
    '--listen', `127.0.0.1:${flashPort}`,
    '--http-port', String(httpPort),
    '--http-host', '127.0.0.1',
    '--rtmp-port', String(rtmpPort),
    '--rtmp-host', '127.0.0.1',
    '--policy-port', '0',
    '--upstream', `127.0.0.1:${server.prosody.c2sPort}`,
    '--domain', server.domain,
    '--upstream-tls', upstream === 'starttls' ? 'required' : 'off',
    ...(upstream === 'starttls' && server.caFile ? ['--upstream-ca', server.caFile] : []),
    '--rate-limit', '1000000',
    '--rate-burst', '1000000',
    '--max-connections-per-ip', '100000',
    '--max-connections', '100000',
    '--log-level', 'warn',
    ...(o.gatewayArgs ?? []),
  ];
  const child = spawnChild(args);
  await waitPorts(child, [flashPort, httpPort, rtmpPort], 'gateway');
  return { ...child, flashPort, httpPort, rtmpPort };
}

export interface Relay extends Child {
  port: number;
}

/** The byte relay; with `terminateTls`, the relay that runs STARTTLS to the server itself (relay.ts). */
export async function startRelay(server: Server, o: { terminateTls?: boolean } = {}): Promise<Relay> {
  const [port] = (await freePorts(1)) as [number];
  if (o.terminateTls && !server.caFile) throw new Error('a TLS-terminating relay needs the server with STARTTLS');
  const tlsArgs = o.terminateTls ? ['--starttls', server.domain, server.caFile as string] : [];
  const child = spawnChild([RELAY, String(port), '127.0.0.1', String(server.prosody.c2sPort), ...tlsArgs]);
  await waitPorts(child, [port], 'relay');
  return { ...child, port };
}

/** Pins a process (all its threads) to the given CPU list with taskset; false when that failed. */
export function pin(pid: number, cpus: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('taskset', ['-a', '-pc', cpus, String(pid)], { timeout: 5000 }, (err) => resolve(!err));
  });
}
