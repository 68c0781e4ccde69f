/**
 * Spawns the built gateway CLI (dist/src/cli.js) as a child process for integration tests.
 * CLI contract: flash-xmpp-gateway --listen 127.0.0.1:PORT --policy-port PORT|0
 *   --upstream HOST:PORT --domain NAME --upstream-tls required|optional|off [--upstream-ca FILE]
 * Logs are JSON lines (pino) on stdout.
 * With FXG_LOG_CAPTURE_DIR set, every line a gateway prints (stdout and stderr) is also appended
 * to a file there, and the secrets it is given are recorded, for the whole-run redaction check
 * (test/support/secrets.ts, scripts/check-redaction.mjs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { freePort } from './ports.js';
import { LOG_CAPTURE_ENV, openLogCapture, recordSecret, type SecretKind } from './secrets.js';

/** Repo root, from this file's compiled location dist/test/support/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GATEWAY_CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface StartGatewayOptions {
  /** How many lines containing "listening" to wait for. Default 1. */
  listeners?: number;
  /** Startup timeout, ms. Default 10000. */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Script to run instead of dist/src/cli.js (for testing the harness itself). */
  cli?: string;
}

export interface GatewayProcess {
  proc: ChildProcess;
  pid: number;
  /** From `--listen HOST:PORT`. */
  host: string;
  port: number;
  /** From `--policy-port` (undefined when absent or 0). */
  policyPort: number | undefined;
  args: string[];
  /** The "listening" lines seen at startup (parsed JSON when possible). */
  listening: unknown[];
  /** Everything printed so far (stdout + stderr, interleaved). */
  logs(): string;
  /** stdout lines that parse as JSON (pino records). */
  records(): Record<string, unknown>[];
  /** Resolves with the first JSON record (present or future) matching `predicate`. */
  waitForLog(predicate: (rec: Record<string, unknown>, line: string) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** True once the process has exited. */
  readonly exited: boolean;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** SIGTERM, then SIGKILL after 3 s. Resolves when the process has exited. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

function argValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === name) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

function parseJson(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The secret a gateway reads from a file (trimmed, as src/config/load.ts does), if readable. */
function secretFromFile(file: string, relativeTo: string[]): string | undefined {
  for (const base of relativeTo) {
    try {
      return readFileSync(resolve(base, file), 'utf8').trim();
    } catch {
      /* try the next base; a missing file is the test's own business */
    }
  }
  return undefined;
}

/**
 * Records (for the redaction check) the secrets a gateway gets: the component secret and push
 * token from the environment, from `--component-secret-file`/`--push-token-file`, or from those
 * keys of a `--config` file.
 */
function recordGatewaySecrets(args: string[], env: Record<string, string> | undefined): void {
  const kinds: [string, string, SecretKind][] = [
    ['FLASH_XMPP_GATEWAY_COMPONENT_SECRET', '--component-secret-file', 'component-secret'],
    ['FLASH_XMPP_GATEWAY_PUSH_TOKEN', '--push-token-file', 'push-token'],
  ];
  for (const [name, value] of Object.entries(env ?? {})) {
    const kind = kinds.find(([envName]) => envName === name)?.[2] ?? (/SECRET|TOKEN|PASSW/i.test(name) ? 'other' : undefined);
    if (kind !== undefined && value.trim() !== '') recordSecret(value.trim(), { kind });
  }
  for (const [, flag, kind] of kinds) {
    const file = argValue(args, flag);
    const value = file !== undefined ? secretFromFile(file, [REPO_ROOT]) : undefined;
    if (value) recordSecret(value, { kind });
  }
  const config = argValue(args, '--config');
  if (config === undefined) return;
  let data: unknown;
  try {
    data = parseYaml(readFileSync(resolve(REPO_ROOT, config), 'utf8'));
  } catch {
    return; // the gateway reports an unreadable config itself
  }
  if (data === null || typeof data !== 'object') return;
  for (const [key, kind] of [['componentSecretFile', 'component-secret'], ['pushTokenFile', 'push-token']] as const) {
    const file = (data as Record<string, unknown>)[key];
    const value = typeof file === 'string' ? secretFromFile(file, [REPO_ROOT, dirname(resolve(REPO_ROOT, config))]) : undefined;
    if (value) recordSecret(value, { kind });
  }
}

export async function startGateway(givenArgs: string[], opts: StartGatewayOptions = {}): Promise<GatewayProcess> {
  // Tests that do not ask for the HTTP or RTMP listener must not take the shared default ports.
  const args = [...givenArgs];
  if (opts.cli === undefined) {
    for (const flag of ['--http-port', '--rtmp-port']) if (argValue(givenArgs, flag) === undefined) args.push(flag, '0');
    // FXG_LOG_CAPTURE_LEVEL=debug|trace: the redaction check over every log line a gateway can write.
    const level = process.env['FXG_LOG_CAPTURE_LEVEL'];
    if (level && process.env[LOG_CAPTURE_ENV] && argValue(givenArgs, '--log-level') === undefined) args.push('--log-level', level);
  }
  const cli = opts.cli ?? GATEWAY_CLI;
  if (!existsSync(cli)) throw new Error(`gateway CLI not built: ${cli} (run npx tsc -p tsconfig.json)`);
  const want = opts.listeners ?? 1;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const listen = argValue(args, '--listen') ?? '';
  const sep = listen.lastIndexOf(':');
  const host = sep > 0 ? listen.slice(0, sep).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const port = Number(sep >= 0 ? listen.slice(sep + 1) : listen);
  const pp = Number(argValue(args, '--policy-port'));
  const policyPort = Number.isInteger(pp) && pp > 0 ? pp : undefined;

  hookExit();
  recordGatewaySecrets(args, opts.env);
  const proc = spawn(process.execPath, [cli, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  live.add(proc);
  // Every line the child prints, stdout and stderr, for the redaction check (FXG_LOG_CAPTURE_DIR).
  const capture = proc.pid !== undefined ? openLogCapture(proc.pid) : undefined;
  let all = '';
  const records: Record<string, unknown>[] = [];
  const listening: unknown[] = [];
  const logWaiters: { pred: (r: Record<string, unknown>, l: string) => boolean; resolve: (r: Record<string, unknown>) => void }[] = [];
  let onListening: (() => void) | undefined;
  let stdoutRest = '';
  const onLine = (line: string): void => {
    const rec = parseJson(line);
    if (rec) {
      records.push(rec);
      for (let i = 0; i < logWaiters.length; i++) {
        const w = logWaiters[i]!;
        if (w.pred(rec, line)) {
          logWaiters.splice(i--, 1);
          w.resolve(rec);
        }
      }
    }
    if (/listening/i.test(line)) {
      listening.push(rec ?? line);
      onListening?.();
    }
  };
  proc.stdout?.on('data', (b: Buffer) => {
    const s = b.toString('utf8');
    all += s;
    stdoutRest += s;
    const lines = stdoutRest.split('\n');
    stdoutRest = lines.pop() ?? '';
    capture?.writeLines(lines);
    for (const l of lines) onLine(l);
  });
  let stderrRest = '';
  proc.stderr?.on('data', (b: Buffer) => {
    const s = b.toString('utf8');
    all += s;
    stderrRest += s;
    const lines = stderrRest.split('\n');
    stderrRest = lines.pop() ?? '';
    capture?.writeLines(lines);
    for (const l of lines) if (/listening/i.test(l)) onLine(l);
  });
  // 'close' comes after the last output: the unfinished last lines, then the file is done.
  proc.once('close', () => {
    capture?.writeLines([stdoutRest, stderrRest].filter((l) => l !== ''));
    capture?.close();
  });
  let exited = false;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exited = true;
      g.exitCode = code;
      g.exitSignal = signal;
      live.delete(proc);
      onListening?.();
      resolve();
    });
    proc.once('error', (err) => {
      spawnError = err;
      exited = true;
      live.delete(proc);
      onListening?.();
      resolve();
    });
  });

  let stopping: Promise<void> | undefined;
  const g: GatewayProcess = {
    proc,
    pid: proc.pid ?? -1,
    host,
    port,
    policyPort,
    args,
    listening,
    logs: () => all,
    records: () => records,
    waitForLog(pred, waitMs = 5000) {
      const found = records.find((r) => pred(r, JSON.stringify(r)));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (r: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          const i = logWaiters.indexOf(w);
          if (i >= 0) logWaiters.splice(i, 1);
          reject(new Error(`gateway: no matching log record within ${waitMs} ms; log tail:\n${all.slice(-3000)}`));
        }, waitMs);
        logWaiters.push(w);
      });
    },
    get exited() {
      return exited;
    },
    exitCode: null,
    exitSignal: null,
    stop() {
      stopping ??= (async () => {
        if (exited) return;
        proc.kill('SIGTERM');
        let killTimer: NodeJS.Timeout | undefined;
        await Promise.race([
          exitPromise,
          new Promise<void>((r) => {
            killTimer = setTimeout(() => {
              if (!exited) proc.kill('SIGKILL');
              r();
            }, 3000);
          }),
        ]);
        clearTimeout(killTimer);
        await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 2000).unref())]);
      })();
      return stopping;
    },
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        onListening = undefined;
        reject(new Error(`gateway did not print ${want} "listening" line(s) within ${timeoutMs} ms`));
      }, timeoutMs);
      onListening = () => {
        if (exited) {
          clearTimeout(timer);
          onListening = undefined;
          reject(new Error(spawnError ? `cannot spawn gateway: ${spawnError.message}` : `gateway exited during startup (code ${g.exitCode}, signal ${g.exitSignal})`));
        } else if (listening.length >= want) {
          clearTimeout(timer);
          onListening = undefined;
          resolve();
        }
      };
      onListening();
    });
  } catch (err) {
    await g.stop();
    throw new Error(`${(err as Error).message}\nargs: ${args.join(' ')}\n--- gateway output ---\n${all.slice(-5000)}`);
  }
  return g;
}

export interface GatewayForProsodyOptions {
  upstreamTls?: 'required' | 'optional' | 'off';
  /** Serve socket policy files on a free port (counted as a second listener). Default false (--policy-port 0). */
  policy?: boolean;
  /** Extra CLI arguments appended as is. */
  extraArgs?: string[];
  /** Override the number of "listening" lines to wait for. */
  listeners?: number;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/**
 * Starts the gateway on a free port in front of a test Prosody (--upstream its c2s port,
 * --domain its domain, --upstream-ca its CA when it has one). Default upstream TLS:
 * 'required' for a TLS Prosody, 'off' otherwise.
 */
export async function startGatewayFor(
  p: { host: string; c2sPort: number; domain: string; caCert?: string },
  o: GatewayForProsodyOptions = {},
): Promise<GatewayProcess> {
  const port = await freePort();
  const policyPort = o.policy ? await freePort() : 0;
  const upstreamTls = o.upstreamTls ?? (p.caCert !== undefined ? 'required' : 'off');
  const args = [
    '--listen', `127.0.0.1:${port}`,
    '--policy-port', String(policyPort),
    '--upstream', `${p.host}:${p.c2sPort}`,
    '--domain', p.domain,
    '--upstream-tls', upstreamTls,
    ...(p.caCert !== undefined && upstreamTls !== 'off' ? ['--upstream-ca', p.caCert] : []),
    ...(o.extraArgs ?? []),
  ];
  return startGateway(args, {
    listeners: o.listeners ?? (o.policy ? 2 : 1),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.env !== undefined ? { env: o.env } : {}),
  });
}

/** A gateway with its RTMP port on a free loopback port in front of a test Prosody (plaintext upstream). */
export async function startRtmpGatewayFor(
  p: { host: string; c2sPort: number; domain: string },
  extraArgs: string[] = [],
): Promise<{ gateway: GatewayProcess; rtmpPort: number }> {
  const rtmpPort = await freePort();
  const gateway = await startGatewayFor(p, {
    upstreamTls: 'off',
    extraArgs: ['--rtmp-port', String(rtmpPort), '--rtmp-host', '127.0.0.1', ...extraArgs],
    listeners: 2,
  });
  return { gateway, rtmpPort };
}
