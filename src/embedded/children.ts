import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * The child processes of the throw-away servers (src/embedded/prosody.ts, and the tests'
 * ejabberd in test/support/ejabberd.ts): a registry of the live ones, killed as a last resort
 * when this process ends without stopping them, what each printed and how it ended, and the
 * log tails that go into failure messages.
 */

/**
 * Live children (a ChildProcess, a process group id…), each with what kills it. Once
 * `installHooks()` ran, every one still registered is killed when this process exits and, with
 * `signals`, on SIGINT, SIGTERM and SIGHUP first, after which the signal does what it would have
 * done: for children in a process group of their own, which a Ctrl-C or a SIGTERM of this
 * process does not reach.
 */
export class LiveChildren<K> {
  private readonly live = new Map<K, () => void>();
  private hooksInstalled = false;

  constructor(private readonly options: { signals?: boolean } = {}) {}

  /** Registers `key`; `kill` ends it (errors are ignored: it may be gone already). */
  add(key: K, kill: () => void): void {
    this.live.set(key, kill);
  }

  delete(key: K): void {
    this.live.delete(key);
  }

  /** Kills every registered child now and forgets them. */
  killAll(): void {
    for (const kill of this.live.values()) {
      try {
        kill();
      } catch {
        /* already gone */
      }
    }
    this.live.clear();
  }

  /** Installs the exit (and signal) hooks; later calls do nothing. */
  installHooks(): void {
    if (this.hooksInstalled) return;
    this.hooksInstalled = true;
    process.on('exit', () => this.killAll());
    if (!this.options.signals) return;
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const onSignal = (): void => {
        this.killAll();
        if (process.listenerCount(sig) === 1) {
          process.removeListener(sig, onSignal);
          process.kill(process.pid, sig);
        }
      };
      process.on(sig, onSignal);
    }
  }
}

/** What a spawned child printed (stdout and stderr together, the last 100-200 KB) and how it ended. */
export class ChildOutput {
  output = '';
  exited = false;
  /** "exited with code … signal …" once it exited. */
  exitInfo = '';
  /** Why it could not be spawned. */
  spawnError: Error | undefined;
  /** Settles when the child exits. */
  readonly exitPromise: Promise<void>;

  /** `onGone` runs once the child exited or could not be spawned. */
  constructor(child: ChildProcess, onGone: () => void = () => {}) {
    const collect = (b: Buffer): void => {
      this.output += b.toString('utf8');
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exitPromise = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitInfo = `exited with code ${code} signal ${signal}`;
        onGone();
        resolve();
      });
    });
    child.once('error', (err) => {
      this.spawnError = err;
      this.exited = true;
      onGone();
    });
  }

  /** For a log tail: `\n--- NAME exited with code … signal …` once the child is gone, else ''. */
  exitNote(name: string): string {
    return this.exited ? `\n--- ${name} ${this.exitInfo || 'exited'} ${this.spawnError ? this.spawnError.message : ''}` : '';
  }
}

/** The whole text of `file`, or '' when it cannot be read. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The last `lines` lines of `text` (a final newline does not end another, empty, line). */
export function lastLines(text: string, lines: number): string {
  const all = text.replace(/\n$/, '').split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

/** A part of a log tail: a log file, or a text with a title. */
export type TailPart = ({ file: string } | { title: string; text: string }) & {
  /** Leave the part out when it holds nothing but white space. */
  ifAny?: boolean;
};

/**
 * Log tails for failure messages: for each part, `--- TITLE ---` and its last `lines` lines (a
 * file's title is `FILE (last N lines)`), one part after the other.
 */
export function logTails(lines: number, parts: TailPart[]): string {
  const shown: string[] = [];
  for (const part of parts) {
    const [title, text] = 'file' in part ? [`${part.file} (last ${lines} lines)`, readText(part.file)] : [part.title, part.text];
    if (part.ifAny && text.trim() === '') continue;
    shown.push(`--- ${title} ---\n${lastLines(text, lines)}`);
  }
  return shown.join('\n');
}

/** A child could not bind its ports: another process took a "free" port first. New ports may do. */
export class PortInUse extends Error {}

/** Runs `launch(attempt)` up to `attempts` times while it fails with PortInUse; any other error ends it. */
export async function retryOnPortInUse<T>(launch: (attempt: number) => Promise<T>, attempts = 3): Promise<T> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await launch(attempt);
    } catch (err) {
      lastErr = err;
      if (!(err instanceof PortInUse)) throw err;
    }
  }
  throw lastErr;
}
