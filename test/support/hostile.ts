/**
 * What the hostile-input suites (test/integration/hostile-*.test.ts) share: one Prosody and one
 * gateway per file with small limits and timeouts, raw byte-level clients for every transport
 * (TCP, WebSocket frames written by hand, RTMP handshake and chunks written by hand, RTMPT
 * requests), and the checks every case ends with:
 *
 * (a) the offending connection got a clear error or close (a stream error with its condition and
 *     text, an RTMP onStatus/_error or close, a WebSocket close code, an HTTP status);
 * (b) nothing reached the XMPP server that should not: every case gets a unique `marker` to put in
 *     an attribute of what it sends (Prosody's debug log shows every stanza's top-level tag), and
 *     the marker must not be in Prosody's log afterwards;
 * (c) the gateway process is still up and logged nothing at error level (an internal error);
 * (d) a fresh client logs in right after: a full raw SASL login and a ping (`assertGatewayHealthy`).
 *
 * The RTMP and WebSocket clients here are deliberately minimal and written for breaking rules;
 * the conforming clients live in rtmp-client.ts (librtmp) and ws-bridge.ts (ws).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { decodeAmf0Values, encodeAmf0Values } from '../../src/codec/amf/amf0.js';
import type { AmfValue } from '../../src/codec/amf/values.js';
import { ChunkDecoder, type RtmpMessage } from '../../src/codec/rtmp/chunk-decoder.js';
import { ChunkEncoder } from '../../src/codec/rtmp/chunk-encoder.js';
import { startGateway, type GatewayProcess } from './gateway.js';
import { freePort } from './ports.js';
import { readProsodyLog, startProsody, type ProsodyInstance } from './prosody.js';
import { NS_STREAM_ERRORS, RawFlashClient, parseXmlDocument, sparkwebLogin, xiffHeader } from './raw-client.js';

export { xiffHeader };

/** The limits every hostile gateway runs with (small, so each case is quick). */
export const LIMITS = Object.freeze({
  maxStanzaBytes: 4096,
  maxDepth: 8,
  maxAttributes: 16,
  sniffTimeoutS: 1,
  authTimeoutS: 2,
  idleTimeoutS: 2,
  maxConnectionsPerIp: 3,
});

/**
 * Loopback addresses other than 127.0.0.1 (Linux routes all of 127/8 locally). 127.0.0.1 is
 * exempt from --max-connections-per-ip, so only the flood cases, which come from FLOOD_ADDRESS,
 * are ever held to it; OTHER_ADDRESS shows that another (limited) address is unaffected.
 */
export const FLOOD_ADDRESS = '127.0.0.2';
export const OTHER_ADDRESS = '127.0.0.3';
/** A second flooding address, for a second flood case in the same file (slots free asynchronously). */
export const FLOOD_ADDRESS_2 = '127.0.0.4';
export const EVIL_DOMAIN = 'evil.example';

/** The account the health check logs in with. */
const HEALTH_USER: [string, string] = ['health', 'health-secret'];

export interface HostileEnv {
  readonly prosody: ProsodyInstance;
  readonly gateway: GatewayProcess;
  readonly domain: string;
  readonly flashPort: number;
  readonly policyPort: number;
  readonly httpPort: number;
  readonly rtmpPort: number;
  /** Byte length of Prosody's log now: pass it to `prosodyLogSince`. */
  logMark(): Promise<number>;
  prosodyLogSince(mark: number): Promise<string>;
  /** Number of gateway log records so far: pass it to `gatewayLogsSince`. */
  recordMark(): number;
  gatewayLogsSince(mark: number): Record<string, unknown>[];
  /** Resolves with the first gateway record after `mark` that matches. */
  waitForGatewayLog(mark: number, predicate: (record: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * Starts a Prosody (with `users` and the health account) and a gateway in front of it with LIMITS.
 * `listeners`: how many "listening" lines to wait for (4: Flash, policy, HTTP, RTMP; one more per
 * port added by `extraArgs`).
 */
export async function startHostileEnv(users: [string, string][], extraArgs: string[] = [], listeners = 4): Promise<HostileEnv> {
  const prosody = await startProsody({ tls: false, users: [...users, HEALTH_USER] });
  let gateway: GatewayProcess;
  const [flashPort, policyPort, httpPort, rtmpPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  try {
    gateway = await startGateway(
      [
        '--listen', `127.0.0.1:${flashPort}`,
        '--policy-port', String(policyPort),
        '--policy-host', '127.0.0.1',
        '--http-port', String(httpPort),
        '--http-host', '127.0.0.1',
        '--rtmp-port', String(rtmpPort),
        '--rtmp-host', '127.0.0.1',
        '--upstream', `${prosody.host}:${prosody.c2sPort}`,
        '--domain', prosody.domain,
        '--upstream-tls', 'off',
        '--max-stanza-bytes', String(LIMITS.maxStanzaBytes),
        '--max-depth', String(LIMITS.maxDepth),
        '--max-attributes', String(LIMITS.maxAttributes),
        '--sniff-timeout', String(LIMITS.sniffTimeoutS),
        '--auth-timeout', String(LIMITS.authTimeoutS),
        '--idle-timeout', String(LIMITS.idleTimeoutS),
        '--max-connections-per-ip', String(LIMITS.maxConnectionsPerIp),
        '--connection-limit-exempt', '127.0.0.1/32',
        ...extraArgs,
      ],
      { listeners },
    );
  } catch (error) {
    await prosody.stop();
    throw error;
  }
  const logSize = async (): Promise<number> => Buffer.byteLength(await readProsodyLog(prosody), 'utf8');
  return {
    prosody,
    gateway,
    domain: prosody.domain,
    flashPort,
    policyPort,
    httpPort,
    rtmpPort,
    logMark: logSize,
    prosodyLogSince: async (mark) => Buffer.from(await readProsodyLog(prosody), 'utf8').subarray(mark).toString('utf8'),
    recordMark: () => gateway.records().length,
    gatewayLogsSince: (mark) => gateway.records().slice(mark),
    waitForGatewayLog: async (mark, predicate, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = gateway.records().slice(mark).find(predicate);
        if (found) return found;
        if (Date.now() > deadline) {
          const recent = gateway.records().slice(mark).slice(-15).map((r) => JSON.stringify(r));
          throw new Error(`no matching gateway log record within ${timeoutMs} ms; records since the mark:\n  ${recent.join('\n  ')}`);
        }
        await sleep(20);
      }
    },
    async stop() {
      await gateway.stop();
      await prosody.stop();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A timeout fired when it should: not before `seconds` (less `earlyMs` for what happened just
 * before the clock started), and not much after (1.5 s of slack for a loaded CI machine).
 */
export function assertTimedOut(tookMs: number, seconds: number, what: string, earlyMs = 150): void {
  const ms = seconds * 1000;
  assert.ok(tookMs >= ms - earlyMs && tookMs < ms + 1500, `${what} after about ${seconds} s (took ${tookMs} ms)`);
}

let healthCount = 0;

/**
 * (c) + (d): the gateway process is up, logged nothing at error level, and a fresh flash.net.Socket
 * client does a full SASL PLAIN login (header, auth, restart, bind, session) and a ping.
 */
export async function assertGatewayHealthy(env: HostileEnv): Promise<void> {
  assert.equal(env.gateway.exited, false, `the gateway process is still up (exit code ${env.gateway.exitCode}, signal ${env.gateway.exitSignal})`);
  const client = await RawFlashClient.connect('127.0.0.1', env.flashPort, { name: 'health check' });
  try {
    const resource = `health-${++healthCount}`;
    const jid = await sparkwebLogin(client, { domain: env.domain, user: HEALTH_USER[0], pass: HEALTH_USER[1], resource });
    assert.equal(jid, `${HEALTH_USER[0]}@${env.domain}/${resource}`);
    client.send(`<iq type="get" id="ping-${resource}" to="${env.domain}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    const pong = await client.nextElement((e) => e.is('iq') && e.attrs['id'] === `ping-${resource}`);
    assert.equal(pong.attrs['type'], 'result');
    client.assertNoViolations();
  } finally {
    await client.close();
  }
  const errors = env.gateway.records().filter((r) => typeof r['level'] === 'number' && (r['level'] as number) >= 50);
  assert.deepEqual(errors, [], 'the gateway logged no errors (an error-level line means an internal error, not a refusal)');
}

export interface HostileContext {
  /** Unique per case: put it in an attribute of what must never reach the server. */
  readonly marker: string;
  /** Prosody's log length when the case started. */
  readonly logMark: number;
  /** The gateway's record count when the case started. */
  readonly recordMark: number;
}

let caseCount = 0;

/**
 * One hostile case as its own test: the body does (a) (and any (b) of its own); then the
 * gateway must be healthy (c, d), and the case's marker must not be in Prosody's log (b).
 */
export function hostileTest(env: () => HostileEnv, name: string, body: (ctx: HostileContext) => Promise<void>): void {
  test(name, async () => {
    const e = env();
    const ctx: HostileContext = { marker: `hx${++caseCount}-${randomBytes(4).toString('hex')}`, logMark: await e.logMark(), recordMark: e.recordMark() };
    await body(ctx);
    await assertGatewayHealthy(e);
    const log = await e.prosodyLogSince(ctx.logMark);
    assert.ok(!log.includes(ctx.marker), `nothing marked ${ctx.marker} reached the XMPP server; Prosody logged:\n${log.split('\n').filter((l) => l.includes(ctx.marker)).join('\n')}`);
  });
}

/** Counts the c2s sessions Prosody accepted in a slice of its log. */
export function prosodySessions(log: string): number {
  return log.split('\n').filter((line) => /\tinfo\tClient connected$/.test(line)).length;
}

// ---------------------------------------------------------------------------------------------
// Raw TCP

export interface RawConnOptions {
  host?: string;
  /** TLS first (any certificate, TLS 1.2 as Flash-era clients), then the raw bytes inside it. */
  tls?: boolean;
  /** Source address (another loopback address for the per-address limit cases). */
  localAddress?: string;
  /** The connect itself, ms. Default 3000. */
  timeoutMs?: number;
}

/** A TCP connection that writes exactly the given bytes and keeps everything it reads. */
export class RawConn {
  closed = false;
  /** Time the socket closed (Date.now()). */
  closedAt = 0;
  readonly openedAt = Date.now();
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private readonly dataWaiters = new Set<() => void>();
  private readonly listeners: ((chunk: Buffer) => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      for (const l of this.listeners) l(chunk);
      for (const w of [...this.dataWaiters]) w();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      for (const w of [...this.dataWaiters]) w();
    });
  }

  static open(port: number, opts: RawConnOptions = {}): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const where = { host: opts.host ?? '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) };
      const socket = opts.tls ? tls.connect({ ...where, rejectUnauthorized: false, maxVersion: 'TLSv1.2' }) : net.connect(where);
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to port ${port} timed out`));
      }, opts.timeoutMs ?? 3000);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(new RawConn(socket));
      });
    });
  }

  /** Everything received so far. */
  get bytes(): Buffer {
    if (this.chunks.length > 1) {
      const all = Buffer.concat(this.chunks, this.length);
      this.chunks.length = 0;
      this.chunks.push(all);
    }
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get text(): string {
    return this.bytes.toString('utf8');
  }

  /** Called with every chunk received from now on. */
  onData(listener: (chunk: Buffer) => void): void {
    this.listeners.push(listener);
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  /** Writes `data` one byte at a time, `everyMs` apart; stops early once the socket closed. */
  async drip(data: string | Buffer, everyMs: number): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let i = 0; i < bytes.length && !this.closed; i++) {
      this.write(bytes.subarray(i, i + 1));
      await sleep(everyMs);
    }
  }

  /** Resolves once `predicate` holds for what was received; rejects on close or timeout. */
  waitFor(predicate: (received: Buffer) => boolean, timeoutMs = 5000, what = 'the expected bytes'): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const got = this.bytes;
        if (predicate(got)) {
          done();
          resolve(got);
        } else if (this.closed) {
          done();
          reject(new Error(`connection closed before ${what}; received: ${show(got)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms; received: ${show(this.bytes)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.dataWaiters.delete(check);
      };
      this.dataWaiters.add(check);
      check();
    });
  }

  /** Resolves with all bytes received once the peer closed the connection; rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 5000): Promise<Buffer> {
    if (!this.closed) {
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!this.closed) return;
          clearTimeout(timer);
          this.dataWaiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          this.dataWaiters.delete(check);
          this.socket.destroy();
          reject(new Error(`the gateway did not close the connection within ${timeoutMs} ms; received: ${show(this.bytes)}`));
        }, timeoutMs);
        this.dataWaiters.add(check);
      });
    }
    return this.bytes;
  }

  /** Resolves true if the connection is still open after `ms`. */
  async stillOpenAfter(ms: number): Promise<boolean> {
    await sleep(ms);
    return !this.closed;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function show(bytes: Buffer, max = 600): string {
  const s = bytes.toString('utf8').replace(/\0/g, '\\0');
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}… (${bytes.length} bytes)` : s);
}

// ---------------------------------------------------------------------------------------------
// XMPP stream errors

export interface StreamErrorSeen {
  condition: string;
  text: string;
  /** A stream header came before the error (RFC 6120 §4.9.1.2). */
  header: boolean;
  /** The stream close tag came after the error. */
  closeTag: boolean;
  /** The output carried NULs (NUL mode framing). */
  nul: boolean;
}

/** The stream error in what a client received, if any. */
export function streamErrorIn(output: Buffer | string): StreamErrorSeen | undefined {
  const s = typeof output === 'string' ? output : output.toString('utf8');
  const start = s.indexOf('<stream:error');
  if (start < 0) return undefined;
  const endTag = '</stream:error>';
  const end = s.indexOf(endTag, start);
  if (end < 0) return undefined;
  const error = parseXmlDocument(s.slice(start, end + endTag.length));
  const condition = error.elements().find((e) => e.uri === NS_STREAM_ERRORS && e.local !== 'text')?.local ?? '';
  const text = error.getChildText('text', NS_STREAM_ERRORS) ?? '';
  const before = s.slice(0, start);
  const after = s.slice(end + endTag.length);
  return {
    condition,
    text,
    header: /<(stream|flash):stream[\s>]/.test(before),
    closeTag: /<\/(stream|flash):stream>/.test(after),
    nul: s.includes('\0'),
  };
}

/**
 * (a) for XMPP framing: the gateway sent a header, a stream error with this condition (and a text
 * matching `text`), the stream close, then closed the connection. Returns what was seen.
 */
export async function expectStreamError(conn: RawConn, condition: string, text?: RegExp, opts: { timeoutMs?: number; nul?: boolean } = {}): Promise<StreamErrorSeen> {
  const out = await conn.waitClosed(opts.timeoutMs ?? 5000);
  const seen = streamErrorIn(out);
  assert.ok(seen, `a stream error before the close; received: ${show(out)}`);
  assert.equal(seen.condition, condition, `stream error condition (text: ${JSON.stringify(seen.text)})`);
  if (text) assert.match(seen.text, text);
  assert.ok(seen.header, 'a stream header precedes the stream error (RFC 6120 §4.9.1.2)');
  assert.ok(seen.closeTag, 'the stream close follows the stream error');
  if (opts.nul !== undefined) {
    assert.equal(seen.nul, opts.nul, opts.nul ? 'NUL-framed output for an XMLSocket client' : 'no NUL for a raw-mode client');
    if (opts.nul) assert.ok(out.toString('utf8').endsWith('>\0'), 'NUL mode: the last packet ends with a NUL');
  }
  return seen;
}

/** XMLSocket's `flash:stream` header (XIFF 3 beta), NUL included. */
export function flashHeader(to: string): string {
  return `<?xml version="1.0"?><flash:stream to="${to}" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">\0`;
}

/** Waits for the stream features after a header. */
export function waitFeatures(conn: RawConn, timeoutMs = 5000): Promise<Buffer> {
  return conn.waitFor((b) => b.includes('</stream:features>'), timeoutMs, 'stream features');
}

// ---------------------------------------------------------------------------------------------
// HTTP (RTMPT, the ops routes)

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request on its own connection. */
export function httpRequest(
  port: number,
  method: string,
  path: string,
  body?: Buffer | string,
  opts: { localAddress?: string; headers?: Record<string, string | number>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { ...(body !== undefined ? { 'Content-Type': 'application/x-fcs' } : {}), ...opts.headers },
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// WebSocket frames by hand (RFC 6455 §5.2)

export interface WsFrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** RSV1..3 as bits 0b100, 0b010, 0b001. */
  rsv?: number;
  /** Client frames must be masked (§5.3); false sends an unmasked one. Default true. */
  mask?: boolean;
  /** Announce this length instead of the payload's (a lie). */
  length?: bigint;
  /** Force the 64-bit length form. */
  long?: boolean;
}

export function wsFrame(spec: WsFrameSpec): Buffer {
  const payload = spec.payload === undefined ? Buffer.alloc(0) : typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : spec.payload;
  const length = spec.length ?? BigInt(payload.length);
  const mask = spec.mask ?? true;
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | (spec.opcode & 0x0f)];
  let ext = Buffer.alloc(0);
  if (length < 126n && !spec.long) head.push((mask ? 0x80 : 0) | Number(length));
  else if (length < 65536n && !spec.long) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i % 4]!;
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

/** A masked binary frame (what Ruffle sends). */
export const wsBinary = (payload: Buffer | string): Buffer => wsFrame({ opcode: 0x2, payload });

export interface WsFrameSeen {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Server frames (never masked) in `bytes`; a trailing incomplete frame is left out. */
export function wsFramesIn(bytes: Buffer): WsFrameSeen[] {
  const frames: WsFrameSeen[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (p + 2 > bytes.length) break;
      len = bytes.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (p + 8 > bytes.length) break;
      len = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    if (b1 & 0x80) p += 4;
    if (p + len > bytes.length) break;
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: bytes.subarray(p, p + len) });
    at = p + len;
  }
  return frames;
}

/** A WebSocket opened by hand over a raw TCP connection. */
export class RawWebSocket {
  private constructor(
    readonly conn: RawConn,
    /** The HTTP status line and headers of the answer. */
    readonly response: string,
    readonly status: number,
    private readonly bodyStart: number,
  ) {}

  /**
   * Sends an upgrade request for `path` and reads the answer. With `expectUpgrade` (default) the
   * answer must be 101.
   */
  static async open(
    port: number,
    opts: { path?: string; localAddress?: string; tls?: boolean; headers?: Record<string, string>; omit?: string[]; request?: string; dripMs?: number; expectUpgrade?: boolean } = {},
  ): Promise<RawWebSocket> {
    const conn = await RawConn.open(port, { ...(opts.localAddress ? { localAddress: opts.localAddress } : {}), ...(opts.tls ? { tls: true } : {}) });
    const headers: Record<string, string> = {
      Host: `127.0.0.1:${port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      'Sec-WebSocket-Version': '13',
      ...opts.headers,
    };
    for (const name of opts.omit ?? []) delete headers[name];
    const request =
      opts.request ?? `GET ${opts.path ?? '/xmlsocket'} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    if (opts.dripMs !== undefined) await conn.drip(request, opts.dripMs);
    else conn.write(request);
    const got = await conn.waitFor((b) => b.includes('\r\n\r\n'), 5000, 'an HTTP answer to the upgrade');
    const end = got.indexOf('\r\n\r\n') + 4;
    const response = got.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
    if (opts.expectUpgrade ?? true) assert.equal(status, 101, `the upgrade is accepted; answer: ${response}`);
    return new RawWebSocket(conn, response, status, end);
  }

  send(frame: Buffer): void {
    this.conn.write(frame);
  }

  /** Sends bytes in one masked binary frame. */
  sendBinary(data: Buffer | string): void {
    this.conn.write(wsBinary(data));
  }

  frames(): WsFrameSeen[] {
    return wsFramesIn(this.conn.bytes.subarray(this.bodyStart));
  }

  /** The bytes of every data frame so far, in order (the Flash socket's bytes). */
  data(): Buffer {
    return Buffer.concat(this.frames().filter((f) => f.opcode === 0x1 || f.opcode === 0x2 || f.opcode === 0x0).map((f) => f.payload));
  }

  /** Resolves once the data frames satisfy `predicate`. */
  waitData(predicate: (data: Buffer) => boolean, timeoutMs = 5000, what = 'the expected data'): Promise<Buffer> {
    return this.conn.waitFor(() => predicate(this.data()), timeoutMs, what).then(() => this.data());
  }

  /** The close frame the server sent: its code and reason. */
  closeFrame(): { code: number | undefined; reason: string } | undefined {
    const f = this.frames().find((x) => x.opcode === 0x8);
    if (!f) return undefined;
    return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined, reason: f.payload.subarray(2).toString('utf8') };
  }

  /**
   * (a) for WebSocket: the server sent a close frame with `code`, then closed the TCP connection.
   * Returns the close frame.
   */
  async expectClose(code: number, timeoutMs = 5000): Promise<{ code: number | undefined; reason: string }> {
    // The peer answers our close frame (if we sent none, ws waits for ours a while): end our side.
    await this.conn.waitFor(() => this.closeFrame() !== undefined, timeoutMs, `a close frame (${code})`).catch((error: Error) => {
      throw new Error(`${error.message}; frames: ${JSON.stringify(this.frames().map((f) => ({ op: f.opcode, len: f.payload.length })))}`);
    });
    const close = this.closeFrame() as { code: number | undefined; reason: string };
    assert.equal(close.code, code, `close code (reason: ${JSON.stringify(close.reason)})`);
    this.conn.end();
    await this.conn.waitClosed(timeoutMs);
    return close;
  }
}

// ---------------------------------------------------------------------------------------------
// RTMP by hand

export const RTMP_HANDSHAKE_SIZE = 1536;

/** A decoded command from the server: [name, txid, commandObject, ...args]. */
export interface RtmpCommand {
  name: string;
  txid: number;
  commandObject: AmfValue;
  args: AmfValue[];
}

/** One chunk header + payload written by hand (fmt 0: the full 11-byte message header). */
export function rtmpChunk(o: { fmt?: 0 | 1 | 2 | 3; csid: number; timestamp?: number; length?: number; typeId?: number; streamId?: number; payload?: Buffer }): Buffer {
  const fmt = o.fmt ?? 0;
  const parts: Buffer[] = [];
  if (o.csid < 64) parts.push(Buffer.from([(fmt << 6) | o.csid]));
  else if (o.csid < 320) parts.push(Buffer.from([fmt << 6, o.csid - 64]));
  else parts.push(Buffer.from([(fmt << 6) | 1, (o.csid - 64) & 0xff, (o.csid - 64) >> 8]));
  const payload = o.payload ?? Buffer.alloc(0);
  const header = Buffer.alloc([11, 7, 3, 0][fmt]!);
  if (fmt <= 2) header.writeUIntBE(o.timestamp ?? 0, 0, 3);
  if (fmt <= 1) {
    header.writeUIntBE(o.length ?? payload.length, 3, 3);
    header[6] = o.typeId ?? 20;
  }
  if (fmt === 0) header.writeUInt32LE(o.streamId ?? 0, 7);
  parts.push(header, payload);
  return Buffer.concat(parts);
}

/**
 * A raw RTMP client: C0/C1/C2 as the test says, chunks built by hand or by the gateway's own
 * encoder (for the well-formed parts), the server's messages decoded with generous limits.
 */
export class RawRtmp {
  readonly messages: RtmpMessage[] = [];
  readonly commands: RtmpCommand[] = [];
  readonly decodeErrors: string[] = [];
  private readonly decoder = new ChunkDecoder({ maxChunkSize: 0x7fffffff, maxMessageLength: 0xffffff, maxChunkStreams: 65598, maxBufferedBytes: 64 * 1024 * 1024 });
  private readonly encoder = new ChunkEncoder();
  private handshaken = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly conn: RawConn) {
    conn.onData((chunk) => {
      if (this.handshaken) this.decode(chunk);
      for (const w of [...this.waiters]) w();
    });
  }

  static async open(port: number, opts: RawConnOptions = {}): Promise<RawRtmp> {
    return new RawRtmp(await RawConn.open(port, opts));
  }

  /**
   * C0 (3) + C1, waits for S0+S1+S2, then C2 (by default the echo of S1, as the spec says).
   * Everything after S2 goes to the chunk decoder.
   */
  async handshake(opts: { c2?: (s1: Buffer) => Buffer } = {}): Promise<void> {
    const c1 = Buffer.alloc(RTMP_HANDSHAKE_SIZE);
    c1.writeUInt32BE(0, 0);
    randomBytes(RTMP_HANDSHAKE_SIZE - 8).copy(c1, 8);
    this.conn.write(Buffer.concat([Buffer.from([3]), c1]));
    const got = await this.conn.waitFor((b) => b.length >= 1 + 2 * RTMP_HANDSHAKE_SIZE, 5000, 'S0+S1+S2');
    assert.equal(got[0], 3, 'S0 is version 3');
    const s1 = got.subarray(1, 1 + RTMP_HANDSHAKE_SIZE);
    this.conn.write(opts.c2 ? opts.c2(Buffer.from(s1)) : Buffer.from(s1));
    this.handshaken = true;
    const rest = got.subarray(1 + 2 * RTMP_HANDSHAKE_SIZE);
    if (rest.length > 0) this.decode(rest);
  }

  private decode(chunk: Buffer): void {
    try {
      this.decoder.write(chunk, (m) => {
        this.messages.push(m);
        if (m.typeId === 20) {
          const [name, txid, commandObject, ...args] = decodeAmf0Values(m.payload);
          this.commands.push({ name: String(name), txid: Number(txid), commandObject: commandObject ?? null, args });
        }
      });
    } catch (error) {
      this.decodeErrors.push((error as Error).message);
    }
  }

  /** Writes raw bytes. */
  send(bytes: Buffer): void {
    this.conn.write(bytes);
  }

  /** One message through the gateway's own chunk encoder (chunk size 128 unless changed). */
  sendMessage(typeId: number, payload: Buffer, opts: { csid?: number; streamId?: number } = {}): void {
    this.conn.write(this.encoder.encode({ csid: opts.csid ?? 3, timestamp: 0, typeId, streamId: opts.streamId ?? 0, payload }));
  }

  /** An AMF0 command message (type 20). */
  sendCommand(name: string, txid: number, commandObject: AmfValue, args: AmfValue[] = []): void {
    this.sendMessage(20, encodeAmf0Values([name, txid, commandObject, ...args]));
  }

  /** Resolves with the first server command (not yet taken) that matches. */
  async waitCommand(predicate: (c: RtmpCommand) => boolean, timeoutMs = 5000, what = 'a matching command'): Promise<RtmpCommand> {
    const taken = new Set<RtmpCommand>();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.commands.find((c) => !taken.has(c) && predicate(c));
        if (found) {
          done();
          resolve(found);
        } else if (this.conn.closed) {
          done();
          reject(new Error(`RTMP connection closed before ${what}; commands: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms; commands: ${this.describe()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The reply (`_result` or `_error`) to transaction `txid`. */
  reply(txid: number, timeoutMs = 5000): Promise<RtmpCommand> {
    return this.waitCommand((c) => (c.name === '_result' || c.name === '_error') && c.txid === txid, timeoutMs, `the reply to transaction ${txid}`);
  }

  /** Handshake + NetConnection connect to `app`; resolves with the `_result`. */
  async connectApp(app = 'xmpp', extra: Record<string, AmfValue> = {}): Promise<RtmpCommand> {
    await this.handshake();
    this.sendCommand('connect', 1, { app, flashVer: 'WIN 10,0,32,18', tcUrl: `rtmp://127.0.0.1/${app}`, objectEncoding: 0, ...extra });
    const reply = await this.reply(1);
    assert.equal(reply.name, '_result', `connect answered: ${JSON.stringify(reply.args)}`);
    return reply;
  }

  /** `nc.call(name, responder, ...args)` with transaction `txid`; resolves with the reply. */
  async call(name: string, txid: number, args: AmfValue[], timeoutMs = 5000): Promise<RtmpCommand> {
    this.sendCommand(name, txid, null, args);
    return this.reply(txid, timeoutMs);
  }

  /** xmpp_connect as dialect A; asserts the login worked. */
  async login(user: string, password: string, domain: string, resource: string, txid = 2): Promise<void> {
    const reply = await this.call('xmpp_connect', txid, [{ username: user, password, domain, resource }]);
    assert.deepEqual([reply.name, reply.args], ['_result', [1]], `xmpp_connect answered ${JSON.stringify(reply.args)}`);
  }

  describe(): string {
    return this.commands.map((c) => `${c.name}#${c.txid}(${JSON.stringify(c.args).slice(0, 200)})`).join(', ') || 'none';
  }

  /**
   * (a) for RTMP: the gateway closed the connection; when it was connected, an onStatus
   * NetConnection.Connect.Closed saying why (matching `reason`) came first.
   */
  async expectClosed(opts: { reason?: RegExp; timeoutMs?: number } = {}): Promise<void> {
    await this.conn.waitClosed(opts.timeoutMs ?? 5000);
    if (opts.reason) {
      const status = this.commands.find((c) => c.name === 'onStatus');
      assert.ok(status, `an onStatus before the close; commands: ${this.describe()}`);
      const info = status.args[0] as Record<string, AmfValue>;
      assert.equal(info['code'], 'NetConnection.Connect.Closed');
      assert.match(String(info['description']), opts.reason);
    }
  }
}

/** A Set Chunk Size message (protocol control, csid 2) with this 32-bit value, by hand. */
export function setChunkSizeMessage(value: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(value >>> 0);
  return rtmpChunk({ csid: 2, typeId: 1, payload });
}

/** The gateway's log has an RTMP protocol error with this code (or a code matching) since `mark`. */
export function rtmpProtocolError(env: HostileEnv, mark: number, code: string | RegExp): Promise<Record<string, unknown>> {
  const matches = (c: unknown): boolean => (typeof code === 'string' ? c === code : code.test(String(c)));
  return env.waitForGatewayLog(mark, (r) => matches(r['code']) && /RTMP protocol error/.test(String(r['msg'])));
}

/** GET /metrics (loopback may read it). */
export async function metricsText(env: HostileEnv): Promise<string> {
  const answer = await httpRequest(env.httpPort, 'GET', '/metrics');
  assert.equal(answer.status, 200);
  return answer.body.toString('utf8');
}

/** What a login needs of a byte stream: a RawConn, or a RawWebSocket's data frames. */
export interface ByteStream {
  write(data: string | Buffer): void;
  readonly text: string;
  waitFor(predicate: (received: Buffer) => boolean, timeoutMs?: number, what?: string): Promise<Buffer>;
}

/** A RawWebSocket as a ByteStream: writes go in binary frames, reads are the data frames' bytes. */
export function wsStream(ws: RawWebSocket): ByteStream {
  return {
    write: (data) => ws.sendBinary(data),
    get text() {
      return ws.data().toString('utf8');
    },
    waitFor: (predicate, timeoutMs, what) => ws.waitData(predicate, timeoutMs, what),
  };
}

/**
 * A SASL PLAIN login in raw mode (XIFF 3's open header): header, features, auth, success, header
 * again, features, bind. `headerSent`: the first header went already (its features may be in).
 * Resolves with the bound JID.
 */
export async function rawSaslLogin(conn: ByteStream, domain: string, user: string, pass: string, resource: string, opts: { headerSent?: boolean } = {}): Promise<string> {
  const header = xiffHeader(domain);
  const count = (): number => conn.text.split('</stream:features>').length - 1;
  const base = opts.headerSent ? 0 : count();
  if (!opts.headerSent) conn.write(header);
  await conn.waitFor(() => count() > base, 5000, 'stream features');
  const plain = Buffer.from(`\0${user}\0${pass}`, 'utf8').toString('base64');
  conn.write(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${plain}</auth>`);
  await conn.waitFor(() => /<success[\s/>]|<failure[\s>]/.test(conn.text), 5000, 'the SASL answer');
  assert.match(conn.text, /<success[\s/>]/, 'SASL PLAIN succeeds');
  conn.write(header);
  await conn.waitFor(() => count() > base + 1, 5000, 'the stream features after SASL');
  const id = `bind-${resource}`;
  conn.write(`<iq type="set" id="${id}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${resource}</resource></bind></iq>`);
  const jidRe = new RegExp(`<jid>([^<]+/${resource})</jid>`);
  await conn.waitFor(() => jidRe.test(conn.text), 5000, 'the bound JID');
  return (jidRe.exec(conn.text) as RegExpExecArray)[1] as string;
}

/**
 * (a) for XMPP over a WebSocket: a stream error (in binary data frames) with this condition, the
 * stream close, then a close frame with `closeCode` (1000 after a stream error).
 */
export async function expectWsStreamError(ws: RawWebSocket, condition: string, text?: RegExp, opts: { closeCode?: number; timeoutMs?: number } = {}): Promise<StreamErrorSeen> {
  await ws.expectClose(opts.closeCode ?? 1000, opts.timeoutMs ?? 5000);
  for (const f of ws.frames()) assert.ok(f.opcode !== 0x1, 'no text frames (Ruffle ignores them)');
  const seen = streamErrorIn(ws.data());
  assert.ok(seen, `a stream error before the close frame; data: ${show(ws.data())}`);
  assert.equal(seen.condition, condition, `stream error condition (text: ${JSON.stringify(seen.text)})`);
  if (text) assert.match(seen.text, text);
  assert.ok(seen.header, 'a stream header precedes the stream error (RFC 6120 §4.9.1.2)');
  assert.ok(seen.closeTag, 'the stream close follows the stream error');
  return seen;
}
