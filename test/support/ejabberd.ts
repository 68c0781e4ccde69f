/**
 * Throw-away ejabberd 23.01 (Debian's package) instances for the integration tests, each in
 * its own temporary directory, on free loopback ports, with a private Erlang node name, cookie
 * and distribution port (no epmd), so several instances run at once.
 *
 * How it runs (see docs in /work/shared/spec/xmpp-servers.md, "ejabberd 23.01"):
 * - `ejabberdctl --config-dir DIR --config DIR/ejabberd.yml --ctl-config DIR/ejabberdctl.cfg
 *   --logs DIR/logs --spool DIR/db foreground`. The ctl config is ours: the system one
 *   (/etc/ejabberd/ejabberdctl.cfg) would override `--config`. It sets the node name,
 *   ERL_DIST_PORT (ejabberdctl then passes `-start_epmd false`), the cookie and the dist
 *   interface (127.0.0.1) through ERL_OPTIONS.
 * - As root, the stock ejabberdctl would `su` to the `ejabberd` user, and su puts the Erlang VM
 *   in a session of its own (a process-group kill would miss it). Instead we spawn ejabberdctl
 *   directly with the uid/gid of `ejabberd` (ejabberdctl then runs "as current user"): the whole
 *   tree stays in the process group we created with setsid (`detached: true`). The directory is
 *   chowned to `ejabberd` and must be reachable (every parent searchable by others).
 *   As a non-root user the stock script exits 7, so a copy with `INSTALLUSER=` emptied is used.
 * - A small sh watchdog is the group leader: it runs ejabberdctl and SIGKILLs the whole group
 *   as soon as the test process is gone (even after a SIGKILL of the test process) or ejabberd
 *   exits, so no beam.smp is ever left behind.
 * - `HOME` = the temp dir (Erlang wants a writable home; the cookie is given explicitly).
 * - stop(): `ejabberdctl stop` (connected clients get `<stream:error><system-shutdown/>` and
 *   `</stream:stream>`), then SIGKILL of the group, bounded; kill(): SIGKILL at once.
 * - Users: `ejabberdctl register`, each call boots an Erlang VM (~0.25 s CPU), 3 at a time.
 * - EJABBERD_KEEP=1 keeps the directory (config, logs/ejabberd.log, logs/error.log, db).
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, readFile, chmod, chown, rm, readdir, stat } from 'node:fs/promises';
import { readFileSync, readdirSync, existsSync, rmSync, openSync, fstatSync, readSync, closeSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildOutput, LiveChildren, PortInUse, logTails, readText, retryOnPortInUse } from '../../src/embedded/children.js';
import { freePorts, canConnect } from './ports.js';
import { makeTestPki, type TestPki } from './certs.js';
import { recordComponentSecrets, recordSecret } from './secrets.js';
import type { XmppServerInstance, XmppServerKind, XmppServerOptions } from './xmpp-server.js';

/** Not lower than 'info': readiness is read from ejabberd's "Start accepting TCP connections" lines. */
export type EjabberdLogLevel = 'info' | 'debug';

export interface EjabberdOptions extends XmppServerOptions {
  /** ejabberd `loglevel`. Default 'debug' (every stanza is logged; no measurable startup cost). */
  logLevel?: EjabberdLogLevel;
  /** `max_stanza_size` of the c2s listener (bytes). Default 262144. */
  stanzaSizeLimit?: number;
  /** In-band registration (XEP-0077): mod_register open to everyone. Default false. */
  inBandRegistration?: boolean;
}

export interface EjabberdInstance extends XmppServerInstance {
  readonly kind: 'ejabberd';
  readonly configFile: string;
  readonly ctlConfigFile: string;
  /** ejabberd's main log (DIR/logs/ejabberd.log); errors also go to DIR/logs/error.log. */
  readonly logFile: string;
  /** Erlang node name, e.g. `fxg3f9c2a1b@localhost`. */
  readonly nodeName: string;
  /** Erlang distribution port (ERL_DIST_PORT) used by ejabberdctl to reach the node. */
  readonly distPort: number;
  /** Process group id of the instance (its watchdog shell; ejabberdctl and beam.smp are in it). */
  readonly pgid: number;
  /** Runs `ejabberdctl <args>` against this instance; resolves with its output. */
  ctl(args: string[], timeoutMs?: number): Promise<string>;
  /**
   * SIGKILLs the instance at once (no `ejabberdctl stop`: clients see the TCP connection drop
   * without `</stream:stream>`), waits until its processes are gone, removes the directory.
   * Idempotent; shares its result with stop().
   */
  kill(): Promise<void>;
  /**
   * SIGKILLs the instance (like kill(): clients see the connection drop without
   * `</stream:stream>`) and starts it again with the same config, ports, node name and database
   * directory (users persist); resolves once its listeners answer again, as at start.
   * `pgid` and `exited` then refer to the new processes.
   */
  restart(): Promise<void>;
  /** Startup measurements (ms): until the c2s port answered with features, and user registration. */
  readonly timings: { startMs: number; registerMs: number };
}

const ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Running instances, by process group: the group is killed (and the directory removed) on exit
 * or on a fatal signal as a last resort. The instances live in process groups of their own
 * (setsid), so a Ctrl-C or a SIGTERM of the test process does not reach them: the hooks kill
 * them, then let the signal do what it would have done.
 */
const liveGroups = new LiveChildren<number>({ signals: true });

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/**
 * True while a process of the group is still running. Zombies do not count: once the watchdog
 * is gone, its orphans are reaped by PID 1, which some sandboxes do only every few seconds.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // no /proc: trust kill(0)
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ..." — comm may hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') return true;
  }
  return false;
}

/** SIGKILLs the group and waits (bounded) until no process of it is left. */
async function killGroupAndWait(pgid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    killGroup(pgid);
    if (!groupAlive(pgid)) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function findOnPath(cmd: string, fallbacks: string[]): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  for (const f of fallbacks) if (existsSync(f)) return f;
  throw new Error(
    `${cmd} not found: ejabberd is not installed (run \`node scripts/ensure-servers.mjs\` as root, or apt-get install -y ejabberd)`,
  );
}

let ejabberdUser: { uid: number; gid: number } | undefined;
function lookupEjabberdUser(): { uid: number; gid: number } {
  if (ejabberdUser) return ejabberdUser;
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', 'ejabberd'], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    throw new Error('startEjabberd: no `ejabberd` system user (is the ejabberd package installed?)');
  }
  const f = line.split(':');
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`startEjabberd: cannot parse passwd entry ${JSON.stringify(line)}`);
  ejabberdUser = { uid, gid };
  return ejabberdUser;
}

function checkDomain(d: string): void {
  if (!/^[a-z0-9.-]+$/i.test(d)) throw new Error(`startEjabberd: bad domain ${JSON.stringify(d)}`);
}

/** A YAML double-quoted scalar (JSON strings are valid YAML). */
function y(s: string): string {
  return JSON.stringify(s);
}

/** A shell-safe single-quoted word (for the sourced ejabberdctl.cfg). */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A temp dir the `ejabberd` user can reach: every parent must be searchable by others
 * (mkdtemp under a 0700 $TMPDIR would not be). Falls back to /tmp.
 */
async function makeInstanceDir(): Promise<string> {
  const bases = [os.tmpdir(), '/tmp'];
  for (const base of bases) {
    if (!ROOT || (await searchableByOthers(base))) {
      const dir = await mkdtemp(path.join(base, 'fxg-ejabberd-'));
      await chmod(dir, 0o755);
      return dir;
    }
  }
  throw new Error(`startEjabberd: neither ${bases.join(' nor ')} is reachable for the ejabberd user (parents must be 0755)`);
}

async function searchableByOthers(dir: string): Promise<boolean> {
  let d = path.resolve(dir);
  for (;;) {
    try {
      const st = await stat(d);
      if ((st.mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    const parent = path.dirname(d);
    if (parent === d) return true;
    d = parent;
  }
}

async function chownTree(p: string, uid: number, gid: number): Promise<void> {
  await chown(p, uid, gid);
  const st = await stat(p);
  if (!st.isDirectory()) return;
  for (const e of await readdir(p)) await chownTree(path.join(p, e), uid, gid);
}

/** The part of `file` after byte `offset` (for polling a growing log without rereading it). */
function readFrom(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function buildConfig(o: {
  domain: string;
  mucDomain: string;
  c2sPort: number;
  componentPort: number;
  logLevel: EjabberdLogLevel;
  pki: TestPki | undefined;
  stanzaSizeLimit: number;
  components: { domain: string; secret: string }[];
  mucAdmins: string[];
  inBandRegistration: boolean;
}): string {
  const L: string[] = [
    '# generated by test/support/ejabberd.ts',
    `hosts: [${y(o.domain)}]`,
    `loglevel: ${o.logLevel}`,
    'log_rotate_count: 0',
    'hide_sensitive_log_data: false',
    'acme:',
    '  auto: false',
    'auth_method: [internal]',
    // Stored as SCRAM-SHA-1 (like Prosody's internal_hashed): PLAIN and SCRAM-SHA-1 both work.
    'auth_password_format: scram',
    'auth_scram_hash: sha',
    'disable_sasl_mechanisms: ["digest-md5", "x-oauth2"]',
  ];
  // ca_file: ejabberd validates its own certificate against it (no "unknown CA" warning).
  if (o.pki) L.push(`certfiles: [${y(o.pki.cert)}, ${y(o.pki.key)}]`, `ca_file: ${y(o.pki.caCert)}`);
  L.push(
    'listen:',
    '  -',
    `    port: ${o.c2sPort}`,
    '    ip: "127.0.0.1"',
    '    module: ejabberd_c2s',
    `    max_stanza_size: ${Math.floor(o.stanzaSizeLimit)}`,
    `    starttls: ${o.pki ? 'true' : 'false'}`,
    '    starttls_required: false',
    '    access: c2s',
    '    shaper: none',
  );
  if (o.components.length > 0) {
    L.push(
      '  -',
      `    port: ${o.componentPort}`,
      '    ip: "127.0.0.1"',
      '    module: ejabberd_service',
      '    access: all',
      '    shaper_rule: none',
      `    max_stanza_size: ${Math.max(Math.floor(o.stanzaSizeLimit), 1048576)}`,
      '    hosts:',
    );
    for (const c of o.components) L.push(`      ${y(c.domain)}:`, `        password: ${y(c.secret)}`);
  }
  const adminUsers = o.mucAdmins.filter((j) => j.includes('@'));
  const adminServers = o.mucAdmins.filter((j) => !j.includes('@'));
  if (o.mucAdmins.length > 0) {
    L.push('acl:', '  muc_admins:');
    if (adminUsers.length > 0) L.push(`    user: [${adminUsers.map(y).join(', ')}]`);
    // A bare domain (a component) as admin: ejabberd ACLs match it with `server`.
    if (adminServers.length > 0) L.push(`    server: [${adminServers.map(y).join(', ')}]`);
  }
  L.push(
    'access_rules:',
    '  c2s:',
    '    allow: all',
    '  register:',
    '    allow: all',
    '  muc_admin:',
    o.mucAdmins.length > 0 ? '    allow: muc_admins' : '    deny: all',
    'api_permissions:',
    '  "console commands":',
    '    from: [ejabberd_ctl]',
    '    who: all',
    '    what: "*"',
    'modules:',
    '  mod_roster: {}',
    '  mod_disco: {}',
    '  mod_ping: {}',
    '  mod_muc:',
    '    host: "conference.@HOST@"',
    '    access: all',
    '    access_create: all',
    '    access_persistent: all',
    '    access_admin: muc_admin',
    '    history_size: 20',
    '    default_room_options:',
    '      persistent: false',
    '      public: true',
    '      mam: false',
  );
  if (o.inBandRegistration) {
    L.push('  mod_register:', '    access: register', '    ip_access: all');
    // A global option (not one of mod_register): no "wait 600 s between registrations" per IP.
    L.push('registration_timeout: infinity');
  }
  return L.join('\n') + '\n';
}

/** Sends a stream header to the c2s port; true once `<stream:features` comes back. */
function streamAnswers(port: number, domain: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => {});
      if (ok) sock.end('</stream:stream>');
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () =>
      sock.write(
        `<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`,
      ),
    );
    sock.on('data', (b: Buffer) => {
      got += b.toString('utf8');
      if (/<stream:features[\s/>]/.test(got)) done(true);
      else if (/<stream:error|<\/stream:stream>/.test(got)) done(false);
    });
    sock.once('error', () => done(false));
    sock.once('close', () => done(false));
  });
}

/**
 * Starts a throw-away ejabberd in a fresh temporary directory, on free loopback ports, and
 * resolves once its c2s port answers a stream header with features (and its component port,
 * when components were given, accepts connections), with `users` registered.
 */
export async function startEjabberd(opts: EjabberdOptions): Promise<EjabberdInstance> {
  const domain = opts.domain ?? 'localhost';
  checkDomain(domain);
  const mucDomain = `conference.${domain}`;
  for (const c of opts.components ?? []) checkDomain(c.domain);
  recordComponentSecrets(opts.components); // for the whole-run redaction check
  const ctlPath = findOnPath('ejabberdctl', ['/usr/sbin/ejabberdctl']);
  const owner = ROOT ? lookupEjabberdUser() : undefined;
  const dir = await makeInstanceDir();
  try {
    const pki = opts.tls
      ? await makeTestPki(
          path.join(dir, 'pki'),
          opts.certificateNames ?? [domain, mucDomain, ...(opts.components ?? []).map((c) => c.domain)],
        )
      : undefined;
    let script = ctlPath;
    if (!ROOT) {
      // The stock script refuses (exit 7) any user but root and `ejabberd`.
      script = path.join(dir, 'ejabberdctl');
      const text = await readFile(ctlPath, 'utf8');
      await writeFile(script, text.replace(/^INSTALLUSER=.*$/m, 'INSTALLUSER='), { mode: 0o755 });
    }
    return await retryOnPortInUse((attempt) => launch({ opts, dir, domain, mucDomain, pki, script, owner, attempt }));
  } catch (err) {
    if (process.env.EJABBERD_KEEP !== '1') await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

// The watchdog: group leader; runs ejabberdctl in the background and SIGKILLs the whole process
// group when the test process ($1) is gone or when ejabberdctl has exited.
// When the test process died without stop(), a detached helper removes the instance directory ($2).
const WATCHDOG = [
  'parent=$1; dir=$2; shift 2',
  '"$@" &',
  'child=$!',
  'while [ -d "/proc/$parent" ] && kill -0 "$child" 2>/dev/null; do sleep 0.5; done',
  'if [ -d "/proc/$parent" ]; then',
  '  wait "$child"; echo "[fxg watchdog] ejabberdctl exited with status $?" >&2',
  'elif [ -n "$dir" ]; then',
  '  setsid sh -c \'sleep 1; rm -rf "$1"\' fxg-ejabberd-cleanup "$dir" </dev/null >/dev/null 2>&1 &',
  '  sleep 0.2', // let it leave our process group before the kill below
  'fi',
  'kill -9 0',
].join('\n');

async function launch(a: {
  opts: EjabberdOptions;
  dir: string;
  domain: string;
  mucDomain: string;
  pki: TestPki | undefined;
  script: string;
  owner: { uid: number; gid: number } | undefined;
  attempt: number;
}): Promise<EjabberdInstance> {
  const { opts, dir, domain, mucDomain, pki, script, owner } = a;
  const t0 = Date.now();
  const [c2sPort, componentPort, distPort] = (await freePorts(3)) as [number, number, number];
  const configFile = path.join(dir, 'ejabberd.yml');
  const ctlConfigFile = path.join(dir, 'ejabberdctl.cfg');
  const logDir = path.join(dir, 'logs');
  const spoolDir = path.join(dir, 'db');
  const logFile = path.join(logDir, 'ejabberd.log');
  const errorLogFile = path.join(logDir, 'error.log');
  const pidFile = path.join(dir, 'ejabberd.pid');
  // A fresh database and logs on every attempt.
  await rm(logDir, { recursive: true, force: true });
  await rm(spoolDir, { recursive: true, force: true });
  await mkdir(logDir, { mode: 0o755 });
  await mkdir(spoolDir, { mode: 0o750 });
  const nodeName = `fxg${randomBytes(5).toString('hex')}@localhost`;
  const cookie = randomBytes(16).toString('hex');
  await writeFile(
    configFile,
    buildConfig({
      domain,
      mucDomain,
      c2sPort,
      componentPort,
      logLevel: opts.logLevel ?? 'debug',
      pki,
      stanzaSizeLimit: opts.stanzaSizeLimit ?? 262144,
      components: opts.components ?? [],
      mucAdmins: opts.mucAdmins ?? [],
      inBandRegistration: opts.inBandRegistration ?? false,
    }),
    { mode: 0o640 },
  );
  // Sourced by ejabberdctl (bash). Overrides everything /etc/ejabberd/ejabberdctl.cfg would set.
  await writeFile(
    ctlConfigFile,
    [
      '# generated by test/support/ejabberd.ts',
      `ERLANG_NODE=${sq(nodeName)}`,
      `ERL_DIST_PORT=${distPort}`,
      `ERL_OPTIONS=${sq(`-setcookie ${cookie} -kernel inet_dist_use_interface {127,0,0,1} -env ERL_CRASH_DUMP_BYTES 0`)}`,
      `EJABBERD_CONFIG_PATH=${sq(configFile)}`,
      `EJABBERD_PID_PATH=${sq(pidFile)}`,
      `CONTRIB_MODULES_PATH=${sq(path.join(dir, 'contrib'))}`,
      `CONTRIB_MODULES_CONF_DIR=${sq(path.join(dir, 'contrib'))}`,
      'EJABBERD_BYPASS_WARNINGS=true',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  // ERL_INETRC = <config-dir>/inetrc: resolve localhost without DNS.
  await writeFile(path.join(dir, 'inetrc'), '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n', { mode: 0o644 });
  if (owner) await chownTree(dir, owner.uid, owner.gid);

  const baseArgs = [
    '--config-dir', dir,
    '--config', configFile,
    '--ctl-config', ctlConfigFile,
    '--logs', logDir,
    '--spool', spoolDir,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, LANG: 'C.UTF-8' };
  for (const k of ['ERL_DIST_PORT', 'ERLANG_NODE', 'EJABBERD_CONFIG_PATH', 'ERL_FLAGS', 'ERL_AFLAGS', 'ERL_ZFLAGS', 'ERL_LIBS']) delete env[k];
  const idOpts = owner ? { uid: owner.uid, gid: owner.gid } : {};

  liveGroups.installHooks();
  const keepDir = process.env.EJABBERD_KEEP === '1';
  /** Starts the watchdog (and so ejabberd) in a new process group; restart() runs it again. */
  const spawnInstance = (): { pgid: number; proc: ChildOutput } => {
    const child: ChildProcess = spawn('sh', ['-c', WATCHDOG, 'fxg-ejabberd-watchdog', String(process.pid), keepDir ? '' : dir, script, ...baseArgs, 'foreground'], {
      cwd: spoolDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      detached: true, // setsid: the instance gets a process group of its own
      ...idOpts,
    });
    const pgid = child.pid ?? -1;
    if (pgid > 0) {
      liveGroups.add(pgid, () => {
        killGroup(pgid);
        if (process.env.EJABBERD_KEEP !== '1') {
          try {
            rmSync(dir, { recursive: true, force: true });
          } catch {
            /* best effort */
          }
        }
      });
    }
    return { pgid, proc: new ChildOutput(child) };
  };
  let current = spawnInstance();

  const logTail = (lines = 60): string => {
    const { proc } = current;
    // stdout repeats the log (console backend); show it only when it holds something else.
    const extra = proc.output
      .split('\n')
      .filter((l) => !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\S* \[\w+\] /.test(l))
      .join('\n');
    const parts = [{ file: logFile }, { file: errorLogFile, ifAny: true }, { title: 'ejabberdctl stdout/stderr', text: extra, ifAny: true }];
    return logTails(lines, parts) + proc.exitNote('ejabberd');
  };

  const ctl = (args: string[], timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(script, [...baseArgs, ...args], { cwd: spoolDir, env, timeout: timeoutMs, killSignal: 'SIGKILL', ...idOpts }, (err, stdout, stderr) => {
        const out = `${stdout}${stderr}`.replace(/=ERROR REPORT=+ [^\n]*\ninet_config: file \S+ not found\n\n?/g, '');
        if (err) reject(Object.assign(new Error(`ejabberdctl ${args.join(' ')} failed (${err.code ?? err.signal ?? err.message}): ${out.trim()}`), { output: out }));
        else resolve(out);
      });
    });

  let stopping: Promise<void> | undefined;
  let restarting: Promise<void> | undefined;
  const finish = async (graceful: boolean): Promise<void> => {
    // A restart in progress first settles (its new processes are then killed here).
    if (restarting) await restarting.catch(() => {});
    const { pgid, proc } = current;
    if (graceful && !proc.exited) {
      // Graceful `ejabberdctl stop` (ejabberd closes its streams and listeners), bounded; then
      // SIGKILL the group as soon as ejabberd says it stopped: the Erlang VM would take another
      // second or so to wind down mnesia & co. for a directory we delete anyway.
      const ctlStop = ctl(['stop'], 4000).then(
        () => {},
        () => {},
      );
      const end = Date.now() + 3000;
      const logStart = fileSize(logFile);
      let ctlDone = false;
      void ctlStop.then(() => (ctlDone = true));
      while (!proc.exited && !ctlDone && Date.now() < end && !/ is stopped in the node /.test(readFrom(logFile, logStart))) await sleep(25);
      await killGroupAndWait(pgid, 3000);
      await Promise.race([ctlStop, sleep(2000)]); // the ctl VM ends once the node is gone
    }
    // The watchdog is our child, but ejabberdctl and beam.smp are re-parented once it dies:
    // wait until every process of the group is gone, not just our child.
    await killGroupAndWait(pgid, 3000);
    await Promise.race([proc.exitPromise, sleep(1000)]);
    liveGroups.delete(pgid);
    if (process.env.EJABBERD_KEEP !== '1') await rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  const stop = (): Promise<void> => (stopping ??= finish(true));
  const kill = (): Promise<void> => (stopping ??= finish(false));
  /** Startup failure: kill at once (no graceful stop), keep the dir for the caller to remove. */
  const abort = async (): Promise<void> => {
    const { pgid, proc } = current;
    await killGroupAndWait(pgid, 3000);
    await Promise.race([proc.exitPromise, sleep(1000)]);
    liveGroups.delete(pgid);
  };

  const timeoutMs = opts.startTimeoutMs ?? 20_000;
  const wantListeners = [{ module: 'ejabberd_c2s', port: c2sPort }];
  if ((opts.components ?? []).length > 0) wantListeners.push({ module: 'ejabberd_service', port: componentPort });
  /** Waits until the current processes listen, reading the logs from these byte offsets on. */
  const waitReady = async (from: { log: number; errorLog: number }): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const { proc } = current;
    for (;;) {
      if (proc.spawnError) throw new Error(`cannot spawn ejabberdctl: ${proc.spawnError.message}`);
      // A log that shrank was recreated: read it all.
      const since = (file: string, offset: number): string => readFrom(file, fileSize(file) < offset ? 0 : offset);
      const log = since(logFile, from.log) + since(errorLogFile, from.errorLog) + proc.output;
      if (/eaddrinuse|address already in use|Protocol 'inet_tcp': the name .* seems to be in use|Failed to start distribution/i.test(log)) {
        throw new PortInUse('ejabberd could not bind its ports');
      }
      if (proc.exited) throw new Error(`ejabberd ${proc.exitInfo} during startup`);
      const listening = wantListeners.every(({ module, port }) => log.includes(`Start accepting TCP connections at 127.0.0.1:${port} for ${module}`));
      if (listening) {
        const ok = await Promise.all([
          streamAnswers(c2sPort, domain, 1000),
          ...wantListeners.slice(1).map(({ port }) => canConnect('127.0.0.1', port, 500)),
        ]);
        if (ok.every(Boolean)) break;
      }
      if (Date.now() > deadline) throw new Error(`ejabberd not ready after ${timeoutMs} ms`);
      await sleep(listening ? 50 : 25);
    }
  };
  try {
    await waitReady({ log: 0, errorLog: 0 });
  } catch (err) {
    const tail = logTail(40);
    await abort();
    const msg = `startEjabberd (attempt ${a.attempt + 1}): ${(err as Error).message}\n${tail}`;
    if (err instanceof PortInUse) throw new PortInUse(msg);
    throw new Error(msg);
  }
  const startMs = Date.now() - t0;

  const register = async (user: string, pass: string): Promise<void> => {
    recordSecret(pass, { kind: 'password', user, domain }); // for the whole-run redaction check
    // ejabberdctl names its own node with only 3 random hex chars: parallel calls can clash
    // (the node then refuses the second connection). Retry a few times.
    let lastErr: unknown;
    for (let i = 0; i < 4; i++) {
      try {
        await ctl(['register', user, domain, pass]);
        return;
      } catch (err) {
        lastErr = err;
        const out = String((err as { output?: string }).output ?? '');
        if (/already registered|conflict/i.test(out)) {
          // change_password lives in mod_admin_extra (not loaded): re-create the account.
          await ctl(['unregister', user, domain]);
          continue;
        }
        if (current.proc.exited) break;
        await sleep(50 + Math.random() * 150);
      }
    }
    throw lastErr;
  };

  const t1 = Date.now();
  try {
    // Each `ejabberdctl register` boots an Erlang VM (~0.25 s of CPU): a few at a time.
    const queue = [...(opts.users ?? [])];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) await register(next[0], next[1]);
    };
    await Promise.all(Array.from({ length: Math.min(3, queue.length) }, worker));
  } catch (err) {
    const tail = logTail(40);
    await abort();
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
  const registerMs = Date.now() - t1;

  const restart = (): Promise<void> =>
    (restarting ??= (async () => {
      try {
        if (stopping) throw new Error('ejabberd restart: the instance is stopped');
        const old = current;
        // SIGKILL of the whole group (watchdog, ejabberdctl, beam.smp), as kill() does.
        if (!(await killGroupAndWait(old.pgid, 5000))) throw new Error(`ejabberd restart: process group ${old.pgid} did not die`);
        await Promise.race([old.proc.exitPromise, sleep(1000)]);
        liveGroups.delete(old.pgid);
        const from = { log: fileSize(logFile), errorLog: fileSize(errorLogFile) };
        current = spawnInstance();
        try {
          await waitReady(from);
          // A SIGKILLed ejabberd may lose its latest Mnesia writes (the accounts registered just
          // before): register the instance's users again, so they survive as with Prosody.
          const queue = [...(opts.users ?? [])];
          const worker = async (): Promise<void> => {
            for (let next = queue.shift(); next; next = queue.shift()) await register(next[0], next[1]);
          };
          await Promise.all(Array.from({ length: Math.min(3, queue.length) }, worker));
        } catch (err) {
          // The ports and node name are the instance's: nothing else to try. Leave nothing running.
          const tail = logTail(40);
          await abort();
          throw new Error(`ejabberd restart: ${(err as Error).message}\n${tail}`);
        }
      } finally {
        restarting = undefined;
      }
    })());

  const instance: EjabberdInstance = {
    kind: 'ejabberd',
    host: '127.0.0.1',
    c2sPort,
    componentPort,
    domain,
    mucDomain,
    ...(pki ? { caCert: pki.caCert, pki } : {}),
    dir,
    configFile,
    ctlConfigFile,
    logFile,
    nodeName,
    distPort,
    get pgid() {
      return current.pgid;
    },
    timings: { startMs, registerMs },
    logTail,
    register,
    ctl,
    stop,
    kill,
    restart,
    get exited() {
      return current.proc.exited;
    },
  };
  return instance;
}

/** Reads the whole ejabberd log (for assertions on what ejabberd saw). */
export function readEjabberdLog(e: EjabberdInstance): Promise<string> {
  return readFile(e.logFile, 'utf8');
}

export const ejabberd: XmppServerKind = {
  name: 'ejabberd',
  start: (options: XmppServerOptions) => startEjabberd(options),
};
