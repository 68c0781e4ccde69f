/**
 * A REAL RTMP client for the tests: Debian's python3-librtmp does the TCP/TLS/RTMPT connection,
 * the handshake (simple or digest) and the chunk stream; test/support/rtmp_client.py, a driver
 * process speaking JSON lines, encodes and decodes the AMF0/AMF3 payloads itself (librtmp's own
 * codec is AMF0-only). See the top of rtmp_client.py for the driver protocol and for the JSON
 * mapping of AMF values (`AmfJson`): plain JSON for numbers, strings, booleans, null, anonymous
 * objects and dense arrays; `{"$undefined":true}`, `{"$date":ms}`, `{"$ecma":{...}}`,
 * `{"$class":"C","members":{...}}`, `{"$xmldoc":"..."}`, `{"$bytes":"hex"}`, … for the rest.
 *
 *   const c = await RtmpTestClient.connect(`rtmp://127.0.0.1:${port}/xmpp`, { objectEncoding: 3 });
 *   t.after(() => c.close());
 *   const r = await c.call('xmpp_connect', [{ username, domain, password, resource }]);
 *   assert.deepEqual(r.values, [1]);
 *   const msg = await c.nextInvoke('xmpp_message', (i) => plainAmf(i.args[0]).from === jid);
 *
 * Every wait is bounded; failures carry the driver's stderr. The driver process is killed on
 * close(), by RtmpTestClient.closeAll(), and when the test process exits.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's interpreter: a pyenv `python3` earlier on PATH cannot import python3-librtmp. */
export const RTMP_PYTHON = '/usr/bin/python3';
/** Debian packages the driver needs (python3-librtmp pulls librtmp1; rtmpdump is for manual checks). */
export const RTMP_CLIENT_PACKAGES = ['python3-librtmp', 'rtmpdump'] as const;

/** An AMF value as the driver maps it to JSON (see rtmp_client.py). */
export type AmfJson = null | boolean | number | string | AmfJson[] | { [key: string]: AmfJson };

/** test/support/rtmp_client.py, found from the compiled file (dist/test/support/) or the source. */
export function rtmpDriverPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'rtmp_client.py'), resolve(here, '..', '..', '..', 'test', 'support', 'rtmp_client.py')];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`rtmp_client.py not found (looked at ${candidates.join(', ')})`);
}

export interface RtmpReply {
  /** `_result` or `_error`. */
  name: string;
  txid: number;
  /** The command object (for `connect`: the server's properties). */
  commandObject: AmfJson;
  /** The values after the command object: what a Responder / NetStatus handler receives. */
  values: AmfJson[];
  /** Message type of the reply: 20 (AMF0) or 17 (AMF3 command). */
  type: number;
  /** The reply's message body, hex. */
  body: string;
}

export interface RtmpConnectReply extends RtmpReply {
  /** The handshake librtmp completed: `digest` only if the server answered the digest form. */
  handshake: 'simple' | 'digest';
  protocol: 'rtmp' | 'rtmpt' | 'rtmps';
  objectEncoding: 0 | 3;
}

/** A server → client command message that was not the reply to a call of ours. */
export interface RtmpInvoke {
  name: string;
  txid: number;
  commandObject: AmfJson;
  args: AmfJson[];
  type: number;
  body: string;
  streamId: number;
}

/** A data message (type 18 / 15). */
export interface RtmpDataMessage {
  name: string;
  args: AmfJson[];
  type: number;
  body: string;
  streamId: number;
}

/** Any other message (protocol control, user control, …), as received. */
export interface RtmpPacket {
  type: number;
  channel: number;
  streamId: number;
  timestamp: number;
  body: string;
}

export interface RtmpClosed {
  by: 'server' | 'client' | 'driver';
  reason: string;
}

export interface RtmpConnectOptions {
  /** 0 (AMF0 calls, type 20) or 3 (AS3's default: type-17 calls with AMF3 arguments). Default 3. */
  objectEncoding?: 0 | 3;
  /** `digest` makes librtmp send a Flash Player 9+ digest C1 (it sets a SWF hash to get it). Default `simple`. */
  handshake?: 'simple' | 'digest';
  /** Bound on the whole connect (process start, handshake, connect reply), ms. Default 10000. */
  timeoutMs?: number;
  /** librtmp's socket read timeout, seconds. Default 10. */
  socketTimeoutSec?: number;
  app?: string;
  tcUrl?: string;
  flashVer?: string;
  swfUrl?: string;
  pageUrl?: string;
  /** Fields added to (or replacing those of) the connect command object. */
  commandObject?: Record<string, AmfJson>;
  /** Fields to leave out of the connect command object (e.g. `objectEncoding`, as AS2 players do). */
  omitConnectFields?: string[];
  /** Extra connect arguments after the command object. */
  connectArgs?: AmfJson[];
  /** Resolve with the client even if the connect reply is `_error` (default: reject). */
  allowRejection?: boolean;
  /** RTMPT: pause between idle polls, ms. Default 15. */
  pollIntervalMs?: number;
  /** Label for messages. */
  name?: string;
}

export interface RtmpCallOptions {
  /** With a responder (default): transaction id ≥ 1, waits for the `_result`/`_error`. */
  responder?: boolean;
  /** Bound on the wait for the reply, ms. Default 5000. */
  timeoutMs?: number;
  /** Message type: 17 or 20. Default: 17 with objectEncoding 3, else 20. */
  type?: 17 | 20;
  /** 3: every argument switched to AMF3 (0x11); 0: plain AMF0. Default: the objectEncoding. */
  argEncoding?: 0 | 3;
  /** Force a transaction id. */
  txid?: number;
  commandObject?: AmfJson;
  /** Use AMF3 string/traits references like Flash does. Default true. */
  refs?: boolean;
  /** One AMF3 reference context per message (default) or per argument. */
  amf3Context?: 'message' | 'value';
  channel?: number;
  /** Chunk header format librtmp starts from (it compresses further). Default 1. */
  format?: 0 | 1 | 2 | 3;
  streamId?: number;
}

interface DriverResponse {
  id: number | null;
  ok: boolean;
  result?: unknown;
  error?: string;
}

interface DriverEvent {
  event: 'invoke' | 'data' | 'packet' | 'error' | 'closed';
  [key: string]: unknown;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

const live = new Set<RtmpDriver>();
process.on('exit', () => {
  for (const d of live) d.kill();
});

/** The driver process: JSON-lines requests and responses, events to `onEvent`. */
export class RtmpDriver {
  /** Everything the process wrote on stderr. */
  stderr = '';
  /** Exit code (or signal name) once the process ended. */
  exitStatus: string | undefined;
  readonly exited: Promise<string>;
  onEvent: (ev: DriverEvent) => void = () => {};
  /** Responses that arrived after their request timed out. */
  readonly late: DriverResponse[] = [];

  private readonly proc: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private holds = 0;
  private readonly pending = new Map<number, Pending>();
  private buf = '';

  private constructor(readonly label: string) {
    this.proc = spawn(RTMP_PYTHON, [rtmpDriverPath()], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    // A forgotten client must not keep the test process alive (the exit hook kills it): the
    // process and its pipes keep Node's event loop running only while something awaits them.
    this.updateRef();
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.setEncoding('utf8');
    this.proc.stdout.on('data', (s: string) => this.onStdout(s));
    this.proc.stderr.on('data', (s: string) => {
      this.stderr += s;
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
    });
    this.proc.stdin.on('error', () => {
      /* the process died: reported by 'exit' */
    });
    this.exited = new Promise((resolve) => {
      let done = false;
      const finish = (status: string): void => {
        if (done) return;
        done = true;
        this.exitStatus = status;
        live.delete(this);
        this.failAll(new Error(`${this.label}: driver process ended (${status})${this.stderrTail()}`));
        resolve(status);
      };
      this.proc.on('error', (err) => finish(`spawn error: ${err.message}`));
      this.proc.on('exit', (code, signal) => finish(signal ?? `exit code ${code}`));
    });
  }

  static start(label = 'rtmp driver'): RtmpDriver {
    return new RtmpDriver(label);
  }

  /** `\nstderr: …` (the last part), or nothing. */
  stderrTail(max = 2000): string {
    const s = this.stderr.trim();
    return s ? `\n${this.label} stderr: ${s.length > max ? `…${s.slice(-max)}` : s}` : '';
  }

  request<T>(op: string, params: Record<string, unknown>, timeoutMs: number, what = op): Promise<T> {
    if (this.exitStatus !== undefined) {
      return Promise.reject(new Error(`${this.label}: driver process ended (${this.exitStatus}) before ${what}${this.stderrTail()}`));
    }
    const id = this.nextId++;
    const release = this.hold();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: ${what} timed out after ${timeoutMs} ms${this.stderrTail()}`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, what });
      this.proc.stdin.write(`${JSON.stringify({ id, op, ...params })}\n`);
    }).finally(release);
  }

  /** Ends stdin (the driver closes its connection and exits); kills it if it lingers. Never throws. */
  async stop(timeoutMs = 2000): Promise<void> {
    if (this.exitStatus === undefined) {
      const release = this.hold();
      this.proc.stdin.end();
      const timer = setTimeout(() => this.kill(), timeoutMs);
      await this.exited;
      clearTimeout(timer);
      release();
    }
  }

  kill(): void {
    if (this.exitStatus === undefined) this.proc.kill('SIGKILL');
  }

  /** Keeps the test process alive until the returned release is called (idempotent). */
  hold(): () => void {
    this.holds++;
    this.updateRef();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.updateRef();
    };
  }

  private updateRef(): void {
    const handles = [this.proc, this.proc.stdout, this.proc.stderr] as unknown as { ref?: () => void; unref?: () => void }[];
    for (const h of handles) {
      if (this.holds > 0) h.ref?.();
      else h.unref?.();
    }
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new Error(`${err.message.split('\n')[0]} while waiting for ${p.what}${this.stderrTail()}`));
    }
  }

  private onStdout(s: string): void {
    this.buf += s;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() === '') continue;
      let msg: DriverResponse | DriverEvent;
      try {
        msg = JSON.parse(line) as DriverResponse | DriverEvent;
      } catch {
        this.stderr += `[unparsable driver line] ${line}\n`;
        continue;
      }
      if ('event' in msg) {
        this.onEvent(msg);
        continue;
      }
      const p = msg.id === null ? undefined : this.pending.get(msg.id);
      if (!p) {
        this.late.push(msg);
        continue;
      }
      this.pending.delete(msg.id as number);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${this.label}: ${p.what} failed: ${msg.error ?? 'unknown error'}${this.stderrTail()}`));
    }
  }
}

interface InvokeWaiter {
  name: string;
  predicate: (inv: RtmpInvoke) => boolean;
  resolve: (inv: RtmpInvoke) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const clients = new Set<RtmpTestClient>();

export class RtmpConnectRejected extends Error {
  override readonly name = 'RtmpConnectRejected';
  constructor(
    message: string,
    readonly reply: RtmpConnectReply,
  ) {
    super(message);
  }
}

export class RtmpTestClient {
  /** Every server invocation not consumed as a reply (in order), whether a wait took it or not. */
  readonly invokes: RtmpInvoke[] = [];
  readonly data: RtmpDataMessage[] = [];
  /** Every other message received (window ack size, peer bandwidth, chunk size, user control…). */
  readonly packets: RtmpPacket[] = [];
  /** Messages the driver could not decode (each a description with the body in hex). */
  readonly decodeErrors: string[] = [];
  closedInfo: RtmpClosed | undefined;
  connectReply!: RtmpConnectReply;

  private readonly closedPromise: Promise<RtmpClosed>;
  private readonly queue: RtmpInvoke[] = [];
  private readonly waiters: InvokeWaiter[] = [];
  private resolveClosed!: (c: RtmpClosed) => void;

  private constructor(
    readonly driver: RtmpDriver,
    readonly url: string,
    readonly name: string,
    readonly objectEncoding: 0 | 3,
  ) {
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    driver.onEvent = (ev) => this.onEvent(ev);
    void driver.exited.then((status) => this.markClosed({ by: 'driver', reason: `driver process ended (${status})` }));
    clients.add(this);
  }

  /** Connects (handshake, `connect` command) and resolves once the `_result` arrived. */
  static async connect(url: string, opts: RtmpConnectOptions = {}): Promise<RtmpTestClient> {
    const name = opts.name ?? 'rtmp client';
    const objectEncoding = opts.objectEncoding ?? 3;
    const driver = RtmpDriver.start(name);
    const client = new RtmpTestClient(driver, url, name, objectEncoding);
    const params: Record<string, unknown> = {
      url,
      objectEncoding,
      handshake: opts.handshake ?? 'simple',
      timeout: opts.socketTimeoutSec ?? 10,
    };
    for (const key of ['app', 'tcUrl', 'flashVer', 'swfUrl', 'pageUrl', 'commandObject', 'connectArgs', 'pollIntervalMs'] as const) {
      if (opts[key] !== undefined) params[key] = opts[key];
    }
    if (opts.omitConnectFields !== undefined) params['omit'] = opts.omitConnectFields;
    try {
      const reply = await driver.request<RtmpConnectReply>('connect', params, opts.timeoutMs ?? 10_000, `connect to ${url}`);
      client.connectReply = reply;
      if (reply.name !== '_result' && !opts.allowRejection) {
        throw new RtmpConnectRejected(`${name}: connect to ${url} answered ${reply.name}: ${JSON.stringify(reply.values)}`, reply);
      }
      return client;
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** The handshake librtmp completed. */
  get handshake(): 'simple' | 'digest' {
    return this.connectReply.handshake;
  }

  /**
   * Resolves once the RTMP connection is closed (by either side) or the driver ended. Awaiting it
   * keeps the test process alive (the test's own timeout bounds it); prefer `waitClosed`.
   */
  get closed(): Promise<RtmpClosed> {
    if (this.closedInfo) return this.closedPromise;
    const release = this.driver.hold();
    return this.closedPromise.finally(release);
  }

  /** Resolves once the connection is closed; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 5000): Promise<RtmpClosed> {
    if (this.closedInfo) return Promise.resolve(this.closedInfo);
    const release = this.driver.hold();
    return new Promise<RtmpClosed>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: connection still open after ${timeoutMs} ms; received: ${this.describeInvokes()}${this.driver.stderrTail()}`)),
        timeoutMs,
      );
      void this.closedPromise.then((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    }).finally(release);
  }

  get isClosed(): boolean {
    return this.closedInfo !== undefined;
  }

  /**
   * `nc.call(method, responder, ...args)`. With a responder (default) resolves with the
   * `_result`/`_error` of its transaction; with `{responder: false}` (transaction id 0) resolves
   * once sent.
   */
  call(method: string, args?: AmfJson[], opts?: RtmpCallOptions & { responder?: true }): Promise<RtmpReply>;
  call(method: string, args: AmfJson[], opts: RtmpCallOptions & { responder: false }): Promise<undefined>;
  async call(method: string, args: AmfJson[] = [], opts: RtmpCallOptions = {}): Promise<RtmpReply | undefined> {
    const responder = opts.responder ?? true;
    const params: Record<string, unknown> = { method, args, responder };
    for (const key of ['type', 'argEncoding', 'txid', 'commandObject', 'refs', 'amf3Context', 'channel', 'format', 'streamId'] as const) {
      if (opts[key] !== undefined) params[key] = opts[key];
    }
    const result = await this.driver.request<RtmpReply | { txid: number }>('call', params, opts.timeoutMs ?? 5000, `call ${method}`);
    return responder ? (result as RtmpReply) : undefined;
  }

  /** `nc.call(method, null, ...args)`: transaction id 0, no reply expected. */
  async send(method: string, args: AmfJson[] = [], opts: Omit<RtmpCallOptions, 'responder'> = {}): Promise<void> {
    await this.call(method, args, { ...opts, responder: false });
  }

  /** Answers a server invocation that carried a transaction id (> 0). */
  async reply(txid: number, values: AmfJson[], opts: { name?: '_result' | '_error'; type?: 17 | 20; argEncoding?: 0 | 3; timeoutMs?: number } = {}): Promise<void> {
    const params: Record<string, unknown> = { txid, values, name: opts.name ?? '_result' };
    if (opts.type !== undefined) params['type'] = opts.type;
    if (opts.argEncoding !== undefined) params['argEncoding'] = opts.argEncoding;
    await this.driver.request('reply', params, opts.timeoutMs ?? 5000, `reply to transaction ${txid}`);
  }

  /** Sends one message with exactly this body (through librtmp's chunking). */
  async raw(type: number, body: Buffer | string, opts: { channel?: number; format?: 0 | 1 | 2 | 3; streamId?: number; timestamp?: number } = {}): Promise<void> {
    const hex = typeof body === 'string' ? body : body.toString('hex');
    await this.driver.request('raw', { type, body: hex, ...opts }, 5000, `raw type-${type} message`);
  }

  /** Sends Set Chunk Size and chunks what follows with it. */
  async setChunkSize(size: number): Promise<void> {
    await this.driver.request('set_chunk_size', { size }, 5000, `set chunk size ${size}`);
  }

  /** librtmp's view: chunk sizes, bytes received, transactions awaiting a reply. */
  status(): Promise<{ connected: boolean; handshake?: string; inChunkSize?: number; outChunkSize?: number; bytesIn?: number; pending?: number[] }> {
    return this.driver.request('status', {}, 5000);
  }

  /**
   * Resolves with the oldest server invocation named `name` that matches and was not taken by an
   * earlier wait. Rejects on timeout, or as soon as the connection is closed with none queued.
   */
  nextInvoke(name: string, predicate: (inv: RtmpInvoke) => boolean = () => true, timeoutMs = 5000): Promise<RtmpInvoke> {
    const idx = this.queue.findIndex((i) => i.name === name && predicate(i));
    if (idx >= 0) return Promise.resolve(this.queue.splice(idx, 1)[0] as RtmpInvoke);
    if (this.closedInfo) return Promise.reject(this.closedWhileWaiting(name));
    const release = this.driver.hold();
    return new Promise<RtmpInvoke>((resolve, reject) => {
      const w: InvokeWaiter = {
        name,
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error(`${this.name}: no ${name} invocation within ${timeoutMs} ms; received: ${this.describeInvokes()}${this.driver.stderrTail()}`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    }).finally(release);
  }

  /** Invocations received and not taken by a wait. */
  queued(): readonly RtmpInvoke[] {
    return this.queue;
  }

  /** `_result`/`_error` messages that answered no call of ours (duplicates, replies to id 0). */
  strayReplies(): RtmpInvoke[] {
    return this.invokes.filter((i) => i.name === '_result' || i.name === '_error');
  }

  /** Closes the connection and ends the driver. Never throws. */
  async close(timeoutMs = 3000): Promise<void> {
    clients.delete(this);
    if (this.driver.exitStatus === undefined && !this.closedInfo) {
      await this.driver.request('close', {}, timeoutMs).catch(() => {});
    }
    await this.driver.stop(timeoutMs);
    this.markClosed({ by: 'client', reason: 'closed by the test' });
  }

  /** Kills the driver at once (a vanished client: no RTMPT /close, no FIN before the kill). */
  kill(): void {
    clients.delete(this);
    this.driver.kill();
  }

  /** Closes every client still open (for an `after` hook). */
  static async closeAll(): Promise<void> {
    await Promise.all([...clients].map((c) => c.close()));
  }

  private onEvent(ev: DriverEvent): void {
    switch (ev.event) {
      case 'invoke': {
        const inv = ev as unknown as RtmpInvoke & { event: string };
        const { event: _e, ...rest } = inv;
        const invoke = rest as RtmpInvoke;
        this.invokes.push(invoke);
        const w = this.waiters.find((x) => x.name === invoke.name && x.predicate(invoke));
        if (w) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(invoke);
        } else {
          this.queue.push(invoke);
        }
        break;
      }
      case 'data': {
        const { event: _e, ...rest } = ev;
        this.data.push(rest as unknown as RtmpDataMessage);
        break;
      }
      case 'packet': {
        const { event: _e, ...rest } = ev;
        this.packets.push(rest as unknown as RtmpPacket);
        break;
      }
      case 'error':
        this.decodeErrors.push(`${String(ev['message'])} (body ${String(ev['body'])})`);
        break;
      case 'closed':
        this.markClosed({ by: ev['by'] as RtmpClosed['by'], reason: String(ev['reason']) });
        break;
    }
  }

  private markClosed(info: RtmpClosed): void {
    if (this.closedInfo) return;
    this.closedInfo = info;
    this.resolveClosed(info);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.closedWhileWaiting(w.name));
    }
  }

  private closedWhileWaiting(name: string): Error {
    const c = this.closedInfo as RtmpClosed;
    return new Error(`${this.name}: connection closed (by ${c.by}: ${c.reason}) while waiting for ${name}; received: ${this.describeInvokes()}${this.driver.stderrTail()}`);
  }

  private describeInvokes(): string {
    if (this.invokes.length === 0) return 'no invocations';
    return this.invokes
      .slice(-10)
      .map((i) => `${i.name}(${JSON.stringify(i.args).slice(0, 200)})`)
      .join(', ');
  }
}

/**
 * Drops the AMF container distinctions a Flash app does not see through ordinary property
 * access: ECMA arrays, escaped and typed objects become plain objects (typed: their members),
 * a mixed AMF3 array its dense part.
 */
export function plainAmf(v: AmfJson): any {
  if (Array.isArray(v)) return v.map(plainAmf);
  if (v === null || typeof v !== 'object') return v;
  const mapObj = (o: AmfJson): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o as Record<string, AmfJson>)) {
      Object.defineProperty(out, k, { value: plainAmf(x), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  if ('$ecma' in v) return mapObj(v['$ecma'] as AmfJson);
  if ('$object' in v) return mapObj(v['$object'] as AmfJson);
  if ('$class' in v) return mapObj((v['members'] ?? {}) as AmfJson);
  if ('$array' in v) return plainAmf(v['$array'] as AmfJson);
  const keys = Object.keys(v);
  if (keys.length > 0 && keys.every((k) => k.startsWith('$'))) return v; // $undefined, $date, …
  return mapObj(v);
}

/** The driver's AMF codec on its own (no connection): for checking the codec itself. */
export class AmfCodec {
  private constructor(private readonly driver: RtmpDriver) {}

  static start(): AmfCodec {
    return new AmfCodec(RtmpDriver.start('amf codec'));
  }

  /** AMF0 (encoding 0) or AMF3 (encoding 3) bytes of `values`, hex. */
  async encode(values: AmfJson[], encoding: 0 | 3, opts: { refs?: boolean } = {}): Promise<string> {
    const r = await this.driver.request<{ hex: string }>('encode', { values, encoding, refs: opts.refs ?? true }, 5000);
    return r.hex;
  }

  async decode(hex: string, encoding: 0 | 3): Promise<AmfJson[]> {
    const r = await this.driver.request<{ values: AmfJson[] }>('decode', { hex, encoding }, 5000);
    return r.values;
  }

  /** A command message body: [name, txid, commandObject, ...args]. */
  async encodeMessage(type: 17 | 20, values: AmfJson[], opts: { argEncoding?: 0 | 3; refs?: boolean; amf3Context?: 'message' | 'value' } = {}): Promise<string> {
    const r = await this.driver.request<{ hex: string }>('encode_message', { type, values, ...opts }, 5000);
    return r.hex;
  }

  async decodeMessage(type: 15 | 17 | 18 | 20, hex: string): Promise<AmfJson[]> {
    const r = await this.driver.request<{ values: AmfJson[] }>('decode_message', { type, hex }, 5000);
    return r.values;
  }

  close(): Promise<void> {
    return this.driver.stop();
  }
}
