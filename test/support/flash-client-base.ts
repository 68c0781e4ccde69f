/**
 * What the two Flash client emulations share (raw-client.ts: flash.net.Socket, raw mode;
 * nul-client.ts: XMLSocket, NUL mode): the socket and its transcript, the queue of received
 * top-level elements and the waits on it, the violations (which, in strict mode, reject every
 * pending and future wait, so the test fails with the reason) and the close handshake.
 *
 * A subclass checks and parses what it receives the way its client does (`onData`), hands each
 * top-level element to `deliver`, records what its client cannot take with `violation`, and
 * calls `peerClosed` once the peer closed the stream.
 */
import * as net from 'node:net';
import { NS_STREAM, type XmlElement } from './flash-xml.js';

export interface FlashClientOptions {
  /** Reject pending/future waits as soon as a violation is recorded. Default true. */
  strict?: boolean;
  /** Reject a wait when a `<stream:error>` arrives that its predicate does not match. Default true. */
  failOnStreamError?: boolean;
  /** Connect timeout, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Label used in messages. */
  name?: string;
}

/** A wait in progress: settled by the client, or rejected by its timer or by `rejectAll`. */
export interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface ElementWaiter extends Waiter<XmlElement> {
  predicate: (el: XmlElement) => boolean;
}

/** Rejects (and removes) every waiter of `list`. */
export function rejectWaiters<T>(list: Waiter<T>[], err: Error): void {
  for (const w of list.splice(0)) {
    clearTimeout(w.timer);
    w.reject(err);
  }
}

/** `bytes` decoded as UTF-8, or undefined when they are not valid UTF-8 on their own. */
export function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

export abstract class FlashClientBase {
  readonly violations: string[] = [];
  /** Attributes of every (parsable) stream header received, in order. */
  readonly streamHeaders: Record<string, string>[] = [];
  /** Every top-level element received outside headers, in order (whether consumed by a wait or not). */
  readonly received: XmlElement[] = [];
  /** Each socket read, decoded (NULs shown as \0). */
  readonly reads: string[] = [];
  /** "C: ..." / "S: ..." lines (NULs shown as \0). */
  readonly transcript: string[] = [];
  /** True once the peer closed the stream (`</stream:stream>`, or NUL mode's close packet). */
  peerClosedStream = false;
  /** True once the socket is closed. */
  socketClosed = false;

  protected readonly queue: XmlElement[] = [];
  protected readonly waiters: ElementWaiter[] = [];
  protected readonly strict: boolean;
  protected readonly failOnStreamError: boolean;
  protected readonly name: string;
  /** Whose requirements a violation breaks, for messages ("Flash client", "XMLSocket client"). */
  private readonly requirements: string;
  private readonly closeWaiters: (() => void)[] = [];
  private readonly streamCloseWaiters: (() => void)[] = [];

  protected constructor(
    readonly socket: net.Socket,
    opts: FlashClientOptions,
    defaults: { name: string; requirements: string },
  ) {
    this.strict = opts.strict ?? true;
    this.failOnStreamError = opts.failOnStreamError ?? true;
    this.name = opts.name ?? defaults.name;
    this.requirements = defaults.requirements;
    socket.on('data', (buf: Buffer) => this.onData(buf));
    socket.on('error', (err) => this.transcript.push(`!: socket error ${err.message}`));
    socket.on('close', () => {
      this.socketClosed = true;
      this.transcript.push('!: socket closed');
      this.rejectAll(this.closedError());
      for (const w of this.closeWaiters.splice(0)) w();
      for (const w of this.streamCloseWaiters.splice(0)) w();
    });
  }

  /** Connects (no Nagle delay) and builds the client on the connected socket with `make`. */
  protected static connectSocket<C>(host: string, port: number, opts: FlashClientOptions, make: (socket: net.Socket) => C): Promise<C> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, opts.connectTimeoutMs ?? 5000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(make(socket));
      });
    });
  }

  /** The stream id of the last stream header received. */
  get streamId(): string | undefined {
    return this.streamHeaders[this.streamHeaders.length - 1]?.['id'];
  }

  /**
   * Resolves with the first received top-level element (oldest first) that matches, removing it
   * from the queue; non-matching elements stay queued for later waits.
   */
  nextElement(predicate: (el: XmlElement) => boolean = () => true, timeoutMs = 5000): Promise<XmlElement> {
    const take = (): XmlElement | undefined => {
      const idx = this.queue.findIndex(predicate);
      return idx >= 0 ? this.queue.splice(idx, 1)[0] : undefined;
    };
    return this.waitFor(this.waiters, take, (w) => ({ ...w, predicate }), 'matching element', timeoutMs);
  }

  /** Elements received but not consumed by a wait. */
  queued(): readonly XmlElement[] {
    return this.queue;
  }

  /** Drops queued elements. */
  drain(): XmlElement[] {
    return this.queue.splice(0);
  }

  /** Throws if any violation was recorded. */
  assertNoViolations(): void {
    if (this.violations.length > 0) throw this.violationError();
  }

  /** Resolves once the peer closed the stream or the socket. */
  waitStreamClosed(timeoutMs = 5000): Promise<void> {
    if (this.peerClosedStream || this.socketClosed) return Promise.resolve();
    return this.bounded(this.streamCloseWaiters, timeoutMs, 'stream close');
  }

  /** Resolves once the socket is closed (by either side). */
  waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.socketClosed) return Promise.resolve();
    return this.bounded(this.closeWaiters, timeoutMs, 'socket close');
  }

  /**
   * Sends the client's stream close (`</stream:stream>`; in NUL mode the close tag matching the
   * header the client opened with, plus `\0`), waits (bounded) for the peer's stream close or
   * end, then ends and destroys the socket. Never throws.
   */
  async close(timeoutMs = 3000): Promise<void> {
    if (!this.socketClosed && !this.socket.destroyed) {
      try {
        this.send(this.closeTag());
        await this.waitStreamClosed(timeoutMs);
      } catch {
        /* peer did not answer in time */
      }
      this.socket.end();
      await this.waitClosed(500).catch(() => {});
    }
    this.socket.destroy();
  }

  /** Destroys the socket at once (a vanished client). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Sends one XML string the way the client's transport does (NUL-terminated on XMLSocket). */
  abstract send(xml: string): void;

  /** Handles one socket read. */
  protected abstract onData(buf: Buffer): void;

  /** The client's stream close tag. */
  protected abstract closeTag(): string;

  /** Writes exactly these bytes (a string as UTF-8), with a "C:" transcript line. */
  protected write(bytes: string | Buffer): void {
    if (typeof bytes === 'string') {
      this.transcript.push(`C: ${bytes.replace(/\0/g, '\\0')}`);
      this.socket.write(bytes, 'utf8');
    } else {
      this.transcript.push(`C: <${bytes.length} bytes> ${bytes.toString('utf8').replace(/\0/g, '\\0')}`);
      this.socket.write(bytes);
    }
  }

  /** Records one socket read, decoded, in `reads` and in the transcript. */
  protected noteRead(text: string): void {
    this.reads.push(text.replace(/\0/g, '\\0'));
    this.transcript.push(`S: ${text.replace(/\0/g, '\\0')}`);
  }

  /**
   * The shared shape of a wait: fails at once on a violation (strict mode), resolves at once with
   * what `find` finds, fails at once on a queued stream error (failOnStreamError) or a closed
   * socket; otherwise waits in `list` (bounded) until the subclass settles the waiter `make` built.
   */
  protected waitFor<T, W extends Waiter<T>>(
    list: W[],
    find: () => T | undefined,
    make: (waiter: Waiter<T>) => W,
    what: string,
    timeoutMs: number,
  ): Promise<T> {
    if (this.strict && this.violations.length > 0) return Promise.reject(this.violationError());
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    if (this.failOnStreamError) {
      const se = this.queue.find((e) => e.is('error', NS_STREAM));
      if (se) return Promise.reject(this.streamErrorError(se));
    }
    if (this.socketClosed) return Promise.reject(this.closedError());
    return new Promise<T>((resolve, reject) => {
      const waiter = make({
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = list.indexOf(waiter);
          if (i >= 0) list.splice(i, 1);
          reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms${this.describeRecent()}`));
        }, timeoutMs),
      });
      list.push(waiter);
    });
  }

  /** Hands a received top-level element to the first wait it matches, or queues it. */
  protected deliver(el: XmlElement): void {
    this.received.push(el);
    const i = this.waiters.findIndex((w) => w.predicate(el));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w!.timer);
      w!.resolve(el);
      return;
    }
    this.queue.push(el);
    if (this.failOnStreamError && el.is('error', NS_STREAM)) {
      this.rejectAll(this.streamErrorError(el));
    }
  }

  /** The peer closed the stream. */
  protected peerClosed(): void {
    this.peerClosedStream = true;
    this.transcript.push('!: peer closed the stream');
    for (const w of this.streamCloseWaiters.splice(0)) w();
  }

  protected violation(msg: string): void {
    this.violations.push(msg);
    this.transcript.push(`!: VIOLATION ${msg}`);
    if (this.strict) this.rejectAll(this.violationError());
  }

  /** Rejects every pending wait (a subclass with waits of its own extends it). */
  protected rejectAll(err: Error): void {
    rejectWaiters(this.waiters, err);
  }

  protected violationError(): Error {
    return new Error(`${this.name}: ${this.requirements} requirements violated:\n  ${this.violations.join('\n  ')}${this.describeRecent()}`);
  }

  protected describeRecent(): string {
    const v = this.violations.length > 0 ? `\nviolations:\n  ${this.violations.join('\n  ')}` : '';
    const cut = (l: string): string => (l.length > 600 ? `${l.slice(0, 600)}... (${l.length} chars)` : l);
    return `${v}\ntranscript (last 20):\n  ${this.transcript.slice(-20).map(cut).join('\n  ')}`;
  }

  private closedError(): Error {
    return new Error(`${this.name}: connection closed${this.describeRecent()}`);
  }

  private streamErrorError(el: XmlElement): Error {
    return new Error(`${this.name}: stream error received: ${el.toString()}`);
  }

  private bounded(list: (() => void)[], timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = list.indexOf(done);
        if (i >= 0) list.splice(i, 1);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms${this.describeRecent()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      list.push(done);
    });
  }
}
