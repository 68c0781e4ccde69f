/**
 * Installs the Debian packages of a real XMPP server when they are missing: for the embedded
 * default server of the quick start, and for the test suite. Only as root (what CI and a fresh
 * Debian machine give); otherwise it says exactly what to run. A package may start its system
 * service on install: that service is stopped again, so it never holds ports the gateway or the
 * embedded server want.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ServerPackages {
  /** Service name, as `service NAME stop` knows it. */
  readonly service: string;
  /** Commands that must be on PATH once installed. */
  readonly commands: readonly string[];
  readonly packages: readonly string[];
}

export const PROSODY: ServerPackages = { service: 'prosody', commands: ['prosody', 'prosodyctl'], packages: ['prosody', 'lua-unbound', 'lua-event'] };
export const EJABBERD: ServerPackages = { service: 'ejabberd', commands: ['ejabberdctl'], packages: ['ejabberd'] };

export class InstallError extends Error {
  override readonly name = 'InstallError';
}

function onPath(command: string): boolean {
  // ejabberdctl lives in /usr/sbin, which a non-login shell may not have on PATH.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
  return dirs.some((dir) => dir !== '' && existsSync(join(dir, command)));
}

export function missing(servers: readonly ServerPackages[]): ServerPackages[] {
  return servers.filter((s) => !s.commands.every(onPath));
}

export function installCommand(servers: readonly ServerPackages[]): string {
  const packages = servers.flatMap((s) => s.packages);
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages.join(' ')}`;
}

/**
 * Makes sure the servers are installed; `say` reports progress (the packages' own output goes
 * to stderr). Throws InstallError with what to run when it cannot install.
 */
export function ensureInstalled(servers: readonly ServerPackages[], say: (line: string) => void): void {
  const needed = missing(servers);
  if (needed.length === 0) return;
  const names = needed.map((s) => s.service).join(' and ');
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new InstallError(`${names} is not installed. Install it as root:\n  ${installCommand(needed)}`);
  }
  say(`installing ${needed.flatMap((s) => s.packages).join(' ')} with apt-get (needed once)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]): number => spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env }).status ?? 1;
  if (run(['update']) !== 0) throw new InstallError('apt-get update failed; see the output above');
  const status = run(['install', '-y', ...needed.flatMap((s) => s.packages)]);
  for (const server of needed) stopSystemService(server);
  if (status !== 0) throw new InstallError(`apt-get install failed (exit ${status}); see the output above`);
  const still = missing(needed);
  if (still.length > 0) throw new InstallError(`${still.map((s) => s.commands.join(', ')).join('; ')} still missing after installing`);
}

/** Stops the system service a package started; our own instances run from temp dirs. */
export function stopSystemService(server: ServerPackages): void {
  const quiet = { stdio: 'ignore' as const };
  if (existsSync(`/etc/init.d/${server.service}`)) spawnSync('service', [server.service, 'stop'], quiet);
  if (onPath('systemctl')) spawnSync('systemctl', ['stop', server.service], quiet);
}
