#!/usr/bin/env node
// Makes sure Prosody (prosody + prosodyctl) is installed for the integration tests.
// - both on PATH: exit 0
// - missing and root: apt-get update && apt-get install -y prosody lua-unbound lua-event,
//   then stop any system Prosody the package may have started (tests run their own)
// - missing and not root: print the command to run, exit 1
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const PACKAGES = ['prosody', 'lua-unbound', 'lua-event'];
const INSTALL_CMD = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${PACKAGES.join(' ')}`;

function onPath(cmd) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return true;
  }
  return false;
}

function run(cmd, args, env = process.env) {
  console.log(`ensure-prosody: $ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function quiet(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' });
}

/** Stops a Prosody started by the package (service / init script), never our test instances. */
function stopSystemProsody() {
  if (existsSync('/etc/init.d/prosody')) {
    quiet('service', ['prosody', 'stop']);
    quiet('/etc/init.d/prosody', ['stop']);
  }
  if (onPath('systemctl')) quiet('systemctl', ['stop', 'prosody']);
  // A leftover daemon using the system configuration (tests always pass --config <tmpdir>/...).
  const ps = spawnSync('pgrep', ['-a', '-f', 'prosody'], { encoding: 'utf8' });
  for (const line of (ps.stdout ?? '').split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, pid, cmdline] = m;
    if (Number(pid) === process.pid) continue;
    if (!/\blua\S*\s+\S*\/prosody\b|^\S*\/prosody\b|^prosody\b/.test(cmdline)) continue;
    if (cmdline.includes('--config') && !cmdline.includes('/etc/prosody/')) continue; // someone's own instance
    console.log(`ensure-prosody: stopping system Prosody pid ${pid}: ${cmdline}`);
    try {
      process.kill(Number(pid), 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
}

if (onPath('prosody') && onPath('prosodyctl')) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  console.error('ensure-prosody: Prosody is not installed; the integration tests need it. Run as root:');
  console.error(`  ${INSTALL_CMD}`);
  console.error('  (then stop the system service it starts: service prosody stop)');
  process.exit(1);
}

const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
if (run('apt-get', ['update'], env) !== 0) {
  console.error('ensure-prosody: apt-get update failed');
  process.exit(1);
}
const status = run('apt-get', ['install', '-y', ...PACKAGES], env);
stopSystemProsody();
if (status !== 0) {
  console.error(`ensure-prosody: apt-get install failed (exit ${status})`);
  process.exit(1);
}
if (!(onPath('prosody') && onPath('prosodyctl'))) {
  console.error('ensure-prosody: prosody/prosodyctl still not on PATH after installing');
  process.exit(1);
}
console.log('ensure-prosody: Prosody installed');
