/**
 * What the whole-run redaction check needs (scripts/check-redaction.mjs, run by scripts/test.mjs
 * after the whole suite): every secret the tests hand out and every log line a gateway writes.
 * Both go to the directory named by FXG_LOG_CAPTURE_DIR; when it is unset, nothing is written.
 *
 * - `recordSecret()` appends to `secrets-<test pid>.jsonl`, one JSON object per line:
 *   `{"secret":"…","kind":"password","user":"alice","domain":"localhost"}`. The support code calls
 *   it where secrets are created or handed over (users and components registered on Prosody and
 *   ejabberd, secrets and tokens given to a gateway process), so new tests are covered for free.
 * - `openLogCapture()` gives a gateway child process its own `gateway-<test pid>-<child pid>.log`;
 *   `captureInProcessLog()` collects loggers a test runs in its own process (the gateway's
 *   createLogger writing to memory) in `inproc-<test pid>.log`.
 *
 * Secrets shorter than 6 characters are recorded but the checker skips (and counts) them: such a
 * string turns up in logs by chance. Test passwords are longer than that.
 *
 * The demo accounts of the embedded server (src/embedded/default-server.ts, e.g. alice/alice-demo)
 * are published: the gateway prints them in its human-readable startup banner on purpose. Tests
 * that use them record them as kind 'demo-password'; the checker still fails on them in any JSON
 * log record, and allows them only in non-JSON banner lines.
 */
import { appendFileSync, closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_ACCOUNTS } from '../../src/embedded/default-server.js';

export const LOG_CAPTURE_ENV = 'FXG_LOG_CAPTURE_DIR';

function captureDir(): string | undefined {
  const dir = process.env[LOG_CAPTURE_ENV];
  if (dir === undefined || dir === '') return undefined;
  mkdirSync(dir, { recursive: true });
  return dir;
}

export type SecretKind = 'password' | 'demo-password' | 'component-secret' | 'push-token' | 'other';

export interface SecretContext {
  kind?: SecretKind;
  /** The account a password belongs to: the checker also looks for its SASL PLAIN encodings. */
  user?: string;
  domain?: string;
}

const recorded = new Set<string>();

/** Notes a secret the tests use, for the redaction check; a no-op without FXG_LOG_CAPTURE_DIR. */
export function recordSecret(value: string, context: SecretContext = {}): void {
  const dir = captureDir();
  if (dir === undefined || value === '') return;
  let kind = context.kind ?? 'other';
  if (kind === 'password' && DEMO_ACCOUNTS.some((a) => a.password === value && (context.user === undefined || a.username === context.user))) kind = 'demo-password';
  const entry = JSON.stringify({
    secret: value,
    kind,
    ...(context.user !== undefined ? { user: context.user } : {}),
    ...(context.domain !== undefined ? { domain: context.domain } : {}),
  });
  if (recorded.has(entry)) return;
  recorded.add(entry);
  appendFileSync(join(dir, `secrets-${process.pid}.jsonl`), `${entry}\n`);
}

/** Records the passwords of `[user, password]` pairs registered on an XMPP server. */
export function recordUserPasswords(users: readonly (readonly [string, string])[] | undefined, domain: string): void {
  for (const [user, pass] of users ?? []) recordSecret(pass, { kind: 'password', user, domain });
}

/** Records XEP-0114 component secrets a server accepts. */
export function recordComponentSecrets(components: readonly { domain: string; secret: string }[] | undefined): void {
  for (const c of components ?? []) recordSecret(c.secret, { kind: 'component-secret', domain: c.domain });
}

export interface LogCapture {
  readonly file: string;
  /** Appends complete lines (without their newlines). */
  writeLines(lines: readonly string[]): void;
  close(): void;
}

/** A capture file for one gateway child process; undefined without FXG_LOG_CAPTURE_DIR. */
export function openLogCapture(childPid: number): LogCapture | undefined {
  const dir = captureDir();
  if (dir === undefined) return undefined;
  const file = join(dir, `gateway-${process.pid}-${childPid}.log`);
  let fd: number | undefined = openSync(file, 'a');
  return {
    file,
    writeLines(lines) {
      if (fd === undefined || lines.length === 0) return;
      writeSync(fd, `${lines.join('\n')}\n`);
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

let inProcessFd: number | undefined;

/** Appends what an in-process logger wrote (pino: whole JSON lines) to `inproc-<test pid>.log`. */
export function captureInProcessLog(text: string): void {
  if (inProcessFd === undefined) {
    const dir = captureDir();
    if (dir === undefined) return;
    inProcessFd = openSync(join(dir, `inproc-${process.pid}.log`), 'a');
  }
  writeSync(inProcessFd, text.endsWith('\n') ? text : `${text}\n`);
}
