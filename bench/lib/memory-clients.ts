/**
 * Light Flash-client emulations for the memory bench: thousands of them in one process, each
 * logging in and then staying idle. Only what a real client sends, in its framing:
 *
 * - raw (flash.net.Socket): the stream header, then elements, no NUL;
 * - nul (XMLSocket): every packet — header included — followed by a NUL;
 * - websocket (Ruffle's socketProxy): XMLSocket's bytes in binary frames at /xmlsocket;
 * - rtmp (NetConnection, AS3 object encoding): plain handshake, `connect` (AMF0), then
 *   `xmpp_connect` and `xmpp` calls as type-17 messages, with our own codecs.
 *
 * The XMPP clients run SASL SCRAM-SHA-1 themselves (the gateway passes SASL through); every bench
 * user shares one password and salt, so the salted password is derived once. A session counts as
 * logged in when the server answered a ping after the initial presence. Every wait is bounded.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import WebSocket from 'ws';
import { decodeAmf0Values, encodeAmf0Values, encodeAmf0WithAmf3Values } from '../../src/codec/amf/amf0.js';
import type { AmfValue } from '../../src/codec/amf/values.js';
import { ChunkDecoder, type RtmpMessage } from '../../src/codec/rtmp/chunk-decoder.js';
import { ChunkEncoder } from '../../src/codec/rtmp/chunk-encoder.js';
import { controlMessage, decodeControlMessage, MessageType, pingResponseFor } from '../../src/codec/rtmp/control.js';
import { CLIENT_HANDSHAKE_BYTES, HANDSHAKE_SIZE, makeClientC1, makeClientC2 } from '../../src/codec/rtmp/handshake.js';

export type BenchTransport = 'raw' | 'nul' | 'websocket' | 'rtmp';

export interface ClientTarget {
  readonly flashPort: number;
  readonly httpPort: number;
  readonly rtmpPort: number;
  readonly domain: string;
  readonly password: string;
}

export interface BenchClient {
  /** Connects and logs in; rejects (and closes) on any failure or after `timeoutMs`. */
  login(timeoutMs: number): Promise<void>;
  /** Drops the connection at once. */
  destroy(): void;
}

const saltedCache = new Map<string, Buffer>();
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

/** SCRAM-SHA-1 (RFC 5802), client side; `salted` cached per salt and iteration count. */
class Scram {
  private readonly nonce = randomBytes(12).toString('base64');
  private bare = '';
  constructor(
    private readonly user: string,
    private readonly password: string,
  ) {}

  first(): string {
    this.bare = `n=${this.user},r=${this.nonce}`;
    return b64(`n,,${this.bare}`);
  }

  final(challengeB64: string): string {
    const serverFirst = Buffer.from(challengeB64, 'base64').toString('utf8');
    const fields = new Map(serverFirst.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)] as [string, string]));
    const r = fields.get('r') ?? '';
    const s = fields.get('s') ?? '';
    const i = Number(fields.get('i'));
    if (!r.startsWith(this.nonce) || !s || !(i > 0)) throw new Error(`SCRAM: bad server-first-message ${serverFirst}`);
    const key = `${s}:${i}`;
    let salted = saltedCache.get(key);
    if (!salted) {
      salted = pbkdf2Sync(this.password, Buffer.from(s, 'base64'), i, 20, 'sha1');
      saltedCache.set(key, salted);
    }
    const withoutProof = `c=biws,r=${r}`;
    const authMessage = `${this.bare},${serverFirst},${withoutProof}`;
    const clientKey = createHmac('sha1', salted).update('Client Key').digest();
    const storedKey = createHash('sha1').update(clientKey).digest();
    const signature = createHmac('sha1', storedKey).update(authMessage).digest();
    for (let k = 0; k < clientKey.length; k++) clientKey[k]! ^= signature[k]!;
    return b64(`${withoutProof},p=${clientKey.toString('base64')}`);
  }
}

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const FEATURES = /<stream:features[^>]*?(?:\/>|>[\s\S]*?<\/stream:features>)/;
const iqAnswer = (id: string): RegExp => new RegExp(`<iq\\b[^>]*?\\bid=['"]${id}['"][^>]*?(?:/>|>[\\s\\S]*?</iq>)`);

/** An XMPP client over TCP (raw or NUL framing) or a WebSocket (NUL framing, as Ruffle's XMLSocket). */
export class XmppBenchClient implements BenchClient {
  private socket: net.Socket | undefined;
  private ws: WebSocket | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private waiter: { re: RegExp; resolve: (m: RegExpExecArray) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private loggedIn = false;
  private readonly nul: boolean;

  constructor(
    private readonly transport: 'raw' | 'nul' | 'websocket',
    private readonly target: ClientTarget,
    private readonly user: string,
    private readonly resource: string,
    private readonly localAddress: string,
  ) {
    this.nul = transport !== 'raw';
  }

  async login(timeoutMs: number): Promise<void> {
    const timer = setTimeout(() => this.fail(new Error(`login of ${this.user} over ${this.transport} took more than ${timeoutMs} ms`)), timeoutMs);
    try {
      await this.open();
      const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${this.target.domain}' version='1.0'>`;
      this.send(header);
      const features = (await this.wait(FEATURES))[0];
      if (features.includes('SCRAM-SHA-1')) {
        const scram = new Scram(this.user, this.target.password);
        this.send(`<auth xmlns='${SASL}' mechanism='SCRAM-SHA-1'>${scram.first()}</auth>`);
        const challenge = await this.wait(/<challenge[^>]*>([^<]*)<\/challenge>/);
        this.send(`<response xmlns='${SASL}'>${scram.final(challenge[1]!)}</response>`);
      } else {
        this.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>${b64(`\0${this.user}\0${this.target.password}`)}</auth>`);
      }
      await this.wait(/<success[^>]*?(?:\/>|>[^<]*<\/success>)/);
      this.send(header);
      await this.wait(FEATURES);
      this.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${this.resource}</resource></bind></iq>`);
      const bound = (await this.wait(iqAnswer('b1')))[0];
      if (!/type=['"]result['"]/.test(bound)) throw new Error(`bind refused: ${bound}`);
      this.send('<presence/>');
      this.send(`<iq type='get' id='p1' to='${this.target.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      const pong = (await this.wait(iqAnswer('p1')))[0];
      if (!/type=['"]result['"]/.test(pong)) throw new Error(`ping refused: ${pong}`);
      this.loggedIn = true;
      this.buf = '';
    } catch (error) {
      this.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.transport === 'websocket') {
        const ws = new WebSocket(`ws://127.0.0.1:${this.target.httpPort}/xmlsocket`, { localAddress: this.localAddress, perMessageDeflate: false });
        this.ws = ws;
        ws.binaryType = 'nodebuffer';
        ws.once('open', () => resolve());
        ws.on('message', (data: Buffer) => this.input(data));
        ws.on('error', (e) => {
          reject(e);
          this.fail(e);
        });
        ws.on('close', () => this.fail(new Error('the gateway closed the WebSocket')));
        return;
      }
      const socket = net.connect({ host: '127.0.0.1', port: this.target.flashPort, localAddress: this.localAddress });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.once('connect', () => resolve());
      socket.on('data', (data: Buffer) => this.input(data));
      socket.on('error', (e) => {
        reject(e);
        this.fail(e);
      });
      socket.on('close', () => this.fail(new Error('the gateway closed the connection')));
    });
  }

  private send(text: string): void {
    const data = this.nul ? `${text}\0` : text;
    if (this.ws) this.ws.send(Buffer.from(data, 'utf8'), { binary: true });
    else this.socket?.write(data);
  }

  private input(data: Buffer): void {
    if (this.loggedIn) return; // idle: whatever the server sends (nothing, normally) is dropped
    let text = this.decoder.write(data);
    if (this.nul) text = text.replace(/\0/g, '');
    this.buf += text;
    if (/<stream:error|<failure\b/.test(this.buf)) {
      this.fail(new Error(`refused: ${this.buf.slice(0, 400)}`));
      return;
    }
    this.check();
  }

  private check(): void {
    const w = this.waiter;
    if (!w) return;
    const m = w.re.exec(this.buf);
    if (!m) return;
    this.buf = this.buf.slice(m.index + m[0].length);
    this.waiter = undefined;
    w.resolve(m);
  }

  private wait(re: RegExp): Promise<RegExpExecArray> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { re, resolve, reject };
      this.check();
    });
  }

  private fail(error: Error): void {
    if (this.loggedIn && !this.failure) {
      this.failure = error;
      return;
    }
    this.failure ??= error;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(error);
  }

  /** Whether the connection is still up (an idle session that lost it shows here). */
  get alive(): boolean {
    return this.failure === undefined;
  }

  destroy(): void {
    this.failure ??= new Error('destroyed');
    this.socket?.destroy();
    this.ws?.terminate();
  }
}

const COMMAND_CSID = 3;

/** An AS3 NetConnection (objectEncoding 3) using the call API. */
export class RtmpBenchClient implements BenchClient {
  private socket: net.Socket | undefined;
  private readonly encoder = new ChunkEncoder();
  private readonly decoder = new ChunkDecoder();
  private handshake: Buffer | undefined = Buffer.alloc(0);
  private readonly c1 = makeClientC1({ digest: false });
  private readonly pending = new Map<number, { resolve: (v: AmfValue[]) => void; reject: (e: Error) => void; name: string }>();
  private failure: Error | undefined;
  private handshakeDone: (() => void) | undefined;
  private readonly started = Date.now();

  constructor(
    private readonly target: ClientTarget,
    private readonly user: string,
    private readonly resource: string,
    private readonly localAddress: string,
  ) {}

  async login(timeoutMs: number): Promise<void> {
    const timer = setTimeout(() => this.fail(new Error(`RTMP login of ${this.user} took more than ${timeoutMs} ms`)), timeoutMs);
    try {
      await this.open();
      const connected = await this.call(20, 'connect', 1, {
        app: 'xmpp',
        flashVer: 'WIN 32,0,0,465',
        swfUrl: 'http://127.0.0.1/bench.swf',
        tcUrl: `rtmp://127.0.0.1:${this.target.rtmpPort}/xmpp`,
        fpad: false,
        capabilities: 239,
        audioCodecs: 3575,
        videoCodecs: 252,
        videoFunction: 1,
        pageUrl: 'http://127.0.0.1/',
        objectEncoding: 3,
      });
      if (connected[0] !== '_result') throw new Error(`connect refused: ${JSON.stringify(connected.slice(3))}`);
      const login = await this.call(17, 'xmpp_connect', 2, null, [
        { username: this.user, domain: this.target.domain, password: this.target.password, resource: this.resource },
      ]);
      if (login[0] !== '_result' || login[3] !== 1) throw new Error(`xmpp_connect refused: ${JSON.stringify(login.slice(3))}`);
      this.send(17, 'xmpp', 0, null, ['presence', {}, '']);
      const pong = await this.call(17, 'xmpp', 3, null, ['iq', { type: 'get', to: this.target.domain }, "<ping xmlns='urn:xmpp:ping'/>"]);
      if (pong[0] !== '_result') throw new Error(`ping refused: ${JSON.stringify(pong.slice(3))}`);
    } catch (error) {
      this.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.target.rtmpPort, localAddress: this.localAddress });
      this.socket = socket;
      socket.setNoDelay(true);
      this.handshakeDone = resolve;
      socket.once('connect', () => socket.write(Buffer.concat([Buffer.from([3]), this.c1])));
      socket.on('data', (data: Buffer) => this.input(data));
      socket.on('error', (e) => {
        reject(e);
        this.fail(e);
      });
      socket.on('close', () => {
        reject(new Error('the gateway closed the connection'));
        this.fail(new Error('the gateway closed the connection'));
      });
    });
  }

  private input(data: Buffer): void {
    try {
      if (this.handshake) {
        const have = Buffer.concat([this.handshake, data]);
        if (have.length < CLIENT_HANDSHAKE_BYTES) {
          this.handshake = have;
          return;
        }
        // S0 (1) + S1 (1536) + S2 (1536), then chunks.
        const s1 = have.subarray(1, 1 + HANDSHAKE_SIZE);
        this.socket!.write(makeClientC2(this.c1, s1));
        this.handshake = undefined;
        this.handshakeDone?.();
        const rest = have.subarray(CLIENT_HANDSHAKE_BYTES);
        if (rest.length > 0) this.decoder.write(rest, (m) => this.message(m));
        return;
      }
      this.decoder.write(data, (m) => this.message(m));
    } catch (error) {
      this.fail(error as Error);
    }
  }

  private message(m: RtmpMessage): void {
    const control = decodeControlMessage(m.typeId, m.payload);
    if (control) {
      if (control.type === 'user-control') {
        const pong = pingResponseFor(control.event);
        if (pong) this.socket?.write(this.encoder.encode(controlMessage({ type: 'user-control', event: pong }, this.now())));
      }
      return;
    }
    if (m.typeId !== MessageType.CommandAmf0) return;
    const values = decodeAmf0Values(m.payload);
    const [name, txid] = values;
    if ((name === '_result' || name === '_error') && typeof txid === 'number') {
      const p = this.pending.get(txid);
      if (p) {
        this.pending.delete(txid);
        p.resolve(values);
      }
    }
  }

  private now(): number {
    return (Date.now() - this.started) >>> 0;
  }

  /** A command: type 20 (all AMF0) or 17 (AS3: name and txid in AMF0, the rest switched to AMF3). */
  private send(typeId: 17 | 20, name: string, txid: number, commandObject: AmfValue, args: AmfValue[] = []): void {
    const payload =
      typeId === 20
        ? encodeAmf0Values([name, txid, commandObject, ...args])
        : Buffer.concat([Buffer.from([0]), encodeAmf0Values([name, txid, commandObject]), encodeAmf0WithAmf3Values(args)]);
    this.socket?.write(this.encoder.encode({ csid: COMMAND_CSID, timestamp: this.now(), typeId, streamId: 0, payload }));
  }

  private call(typeId: 17 | 20, name: string, txid: number, commandObject: AmfValue, args: AmfValue[] = []): Promise<AmfValue[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(txid, { resolve, reject, name });
      this.send(typeId, name, txid, commandObject, args);
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  get alive(): boolean {
    return this.failure === undefined;
  }

  destroy(): void {
    this.failure ??= new Error('destroyed');
    this.socket?.destroy();
  }
}

export function benchClient(transport: BenchTransport, target: ClientTarget, user: string, resource: string, localAddress: string): BenchClient & { readonly alive: boolean } {
  return transport === 'rtmp'
    ? new RtmpBenchClient(target, user, resource, localAddress)
    : new XmppBenchClient(transport, target, user, resource, localAddress);
}
