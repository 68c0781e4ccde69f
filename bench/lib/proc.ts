/** CPU time from /proc and the machine description for the report. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import type { MachineInfo } from './report.js';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux this runs on). */
export const CLK_TCK = 100;

/** utime + stime of a process, in seconds (user and system CPU time of all its threads). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** The 1-minute load average. */
export function load1(): number {
  return os.loadavg()[0] ?? 0;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => resolve(err ? '' : `${stdout}${stderr}`));
  });
}

export async function machineInfo(): Promise<MachineInfo> {
  let cpuModel = '?';
  try {
    cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '?';
  } catch {
    /* not Linux */
  }
  // `prosody --version` waits on a console; the package database answers at once.
  const dpkg = await run('dpkg-query', ['-W', '-f', '${Version}', 'prosody']);
  let osName = `${os.type()} ${os.release()}`;
  try {
    osName = /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    /* keep uname */
  }
  return {
    nproc: os.availableParallelism(),
    cpuModel,
    memTotalMiB: Math.round(os.totalmem() / 1048576),
    node: process.version,
    prosody: dpkg.trim() || '?',
    os: osName,
    loadAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
