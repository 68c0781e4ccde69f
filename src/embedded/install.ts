/**
 * Installs the Debian packages of real XMPP servers when they are missing: Prosody for the
 * embedded default server of the quick start, Prosody and ejabberd for the test suite. Only as
 * root (what CI and a fresh Debian machine give); otherwise it says exactly what to run.
 *
 * A package may start its system service on install (Prosody on 5222, ejabberd with an epmd):
 * those are stopped again, so they never hold the ports the gateway or the throwaway instances
 * want. Throwaway instances are never touched: they run with configs in temporary directories.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ServerPackages {
  /** Service name, as `service NAME stop` knows it; none for a package that runs no service. */
  readonly service: 'prosody' | 'ejabberd' | 'haproxy' | undefined;
  /** Commands that must be on PATH once installed. */
  readonly commands: readonly string[];
  readonly packages: readonly string[];
}

export const PROSODY: ServerPackages = { service: 'prosody', commands: ['prosody', 'prosodyctl'], packages: ['prosody', 'lua-unbound', 'lua-event'] };
export const EJABBERD: ServerPackages = { service: 'ejabberd', commands: ['ejabberdctl'], packages: ['ejabberd'] };
/** For the browser tests (Ruffle in headless Chromium) and for building the demo SWF. */
export const CHROMIUM: ServerPackages = { service: undefined, commands: ['chromium'], packages: ['chromium'] };
export const HAXE: ServerPackages = { service: undefined, commands: ['haxe'], packages: ['haxe'] };
/** Real RTMP clients for the RTMP tests: librtmp's Python binding and rtmpdump. */
export const RTMP_CLIENTS: ServerPackages = { service: undefined, commands: ['rtmpdump'], packages: ['python3-librtmp', 'rtmpdump'] };
/** For the scale-out test: two gateways behind a load balancer sending PROXY headers. */
export const HAPROXY: ServerPackages = { service: 'haproxy', commands: ['haproxy'], packages: ['haproxy'] };

export class InstallError extends Error {
  override readonly name = 'InstallError';
}

function onPath(command: string): boolean {
  // Root's tools live in sbin, which a non-login PATH may lack.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/** true/false from dpkg; undefined where there is no dpkg. */
function packageInstalled(name: string): boolean | undefined {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  if (result.error) return undefined;
  return result.status === 0 && /\binstall ok installed\b/.test(result.stdout ?? '');
}

/** The packages still to install for these servers. */
export function missingPackages(servers: readonly ServerPackages[]): string[] {
  const missing = new Set<string>();
  for (const server of servers) {
    const commandsOk = server.commands.every(onPath);
    const absent = server.packages.filter((p) => {
      const installed = packageInstalled(p);
      return installed === undefined ? !commandsOk : !installed;
    });
    // Installed but the commands are gone: reinstall the main package.
    if (!commandsOk && absent.length === 0) absent.push(server.packages[0] as string);
    for (const p of absent) missing.add(p);
  }
  return [...missing];
}

export function installCommand(packages: readonly string[]): string {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages.join(' ')}`;
}

/**
 * Makes sure the servers are installed; `say` reports progress (apt-get's own output goes to
 * stderr). Throws InstallError with what to run when it cannot install.
 */
export function ensureInstalled(servers: readonly ServerPackages[], say: (line: string) => void): void {
  const missing = missingPackages(servers);
  if (missing.length === 0) return;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new InstallError(`missing packages: ${missing.join(' ')}. Install them as root:\n  ${installCommand(missing)}`);
  }
  say(`installing ${missing.join(' ')} with apt-get (needed once)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]): number => spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env }).status ?? 1;
  if (run(['update']) !== 0) throw new InstallError('apt-get update failed; see the output above');
  const status = run(['install', '-y', ...missing]);
  for (const server of servers) stopSystemServer(server, say);
  if (status !== 0) throw new InstallError(`apt-get install failed (exit ${status}); see the output above`);
  const still = missingPackages(servers);
  if (still.length > 0) throw new InstallError(`still missing after installing: ${still.join(' ')}`);
}

// ---- stopping what a package started ----

interface ProcessInfo {
  readonly pid: number;
  readonly argv: string[];
  readonly cmdline: string;
  readonly uid: number;
  readonly environ: string;
}

/** Every process, from Linux /proc. */
function processes(): ProcessInfo[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcessInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length === 0) continue;
      let environ = '';
      try {
        environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      } catch {
        /* not ours to read */
      }
      out.push({ pid: Number(entry), argv, cmdline: argv.join(' '), uid: statSync(`/proc/${entry}`).uid, environ });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

function signal(p: ProcessInfo, sig: NodeJS.Signals): void {
  try {
    process.kill(p.pid, sig);
  } catch {
    /* already gone */
  }
}

/** Stops a system Prosody or ejabberd (and the epmd it started); never a throwaway instance. */
export function stopSystemServer(server: ServerPackages, say: (line: string) => void): void {
  if (server.service === undefined) return;
  const quiet = { stdio: 'ignore' as const, timeout: 30_000 };
  if (existsSync(`/etc/init.d/${server.service}`)) spawnSync('service', [server.service, 'stop'], quiet);
  if (onPath('systemctl')) spawnSync('systemctl', ['stop', server.service], quiet);
  // The tests run their own haproxy in the foreground; the system one needs nothing more.
  if (server.service === 'haproxy') return;
  if (server.service === 'prosody') {
    for (const p of processes()) {
      if (!/\blua\S*\s+\S*\/prosody\b|^\S*\/prosody\b|^prosody\b/.test(p.cmdline)) continue;
      if (p.cmdline.includes('--config') && !p.cmdline.includes('/etc/prosody/')) continue; // a throwaway instance
      say(`stopping the system Prosody (pid ${p.pid})`);
      signal(p, 'SIGTERM');
    }
    return;
  }
  const isSystem = (p: ProcessInfo): boolean =>
    /(^|\0)EJABBERD_CONFIG_PATH=\/etc\/ejabberd\//.test(p.environ) ||
    /-mnesia dir "?\/var\/lib\/ejabberd"?(\s|$)/.test(p.cmdline) ||
    /\s-s?name ejabberd@/.test(p.cmdline);
  const systemBeams = (): ProcessInfo[] => processes().filter((p) => /(^|\/)beam(\.smp)?$/.test(p.argv[0] ?? '') && isSystem(p));
  const found = systemBeams();
  for (const p of found) {
    say(`stopping the system ejabberd (pid ${p.pid})`);
    signal(p, 'SIGTERM');
  }
  // The Erlang VM takes a second or two to stop cleanly.
  for (let i = 0; i < 50 && found.length > 0 && systemBeams().length > 0; i++) spawnSync('sleep', ['0.1']);
  for (const p of systemBeams()) signal(p, 'SIGKILL');
  const id = spawnSync('id', ['-u', 'ejabberd'], { encoding: 'utf8' });
  const ejabberdUid = id.status === 0 ? Number(id.stdout.trim()) : undefined;
  for (const p of processes()) {
    // An epmd of the ejabberd user was started by the system ejabberd (throwaway ones use none).
    if (/(^|\/)epmd$/.test(p.argv[0] ?? '') && ejabberdUid !== undefined && p.uid === ejabberdUid) signal(p, 'SIGTERM');
  }
}
