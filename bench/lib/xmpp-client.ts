/**
 * The benches' XMPP client: cheap enough that one Node process drives hundreds (one socket or
 * WebSocket and a string buffer each, no XML parser). The same code is the direct client (TCP to
 * Prosody, STARTTLS when asked), the client behind the byte relay, and the Flash client of the
 * gateway in raw mode (flash.net.Socket), NUL mode (XMLSocket) and over a WebSocket (Ruffle).
 *
 * After login it only scans what arrives for `</message>`: `received` counts messages, and in
 * `timestamps` mode each message body `t<ms>` (performance.now() at send) is handed to
 * `onTimestamps` with the time of arrival, for latency.
 */
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';

export interface XmppEndpoint {
  kind: 'tcp' | 'ws';
  host: string;
  port: number;
  /** ws: ws://127.0.0.1:PORT/xmlsocket */
  url?: string;
  /** XMLSocket framing: a NUL after every packet we send (NULs received are ignored). */
  nul: boolean;
  domain: string;
  /** Do STARTTLS ourselves (direct to a TLS Prosody, or through the byte relay), trusting this CA (PEM text). */
  starttlsCa?: string;
}

export interface LoginOptions {
  user: string;
  pass: string;
  resource: string;
  timeoutMs?: number;
}

/** What every bench client (XMPP or RTMP) offers the load generator. */
export interface BenchClient {
  readonly jid: string;
  /** Messages received since login. */
  received: number;
  /** Called with the number of messages that just arrived (before onTimestamps). */
  onReceived: ((count: number) => void) | undefined;
  /** Timestamps mode: the bodies' send times and the arrival time (performance.now()). */
  onTimestamps: ((sentAt: number[], now: number) => void) | undefined;
  /** Sends chat messages to `to`, one stanza per body, all in one write. */
  sendMessages(to: string, bodies: readonly string[]): void;
  /** Bytes queued locally, not yet taken by the kernel. */
  readonly backlog: number;
  /** Ends the session properly and waits (bounded) for the connection to close. */
  close(timeoutMs?: number): Promise<void>;
  destroy(): void;
}

const NS_STREAM = 'http://etherx.jabber.org/streams';
const FEATURES = /<(?:stream:)?features[\s>/][\s\S]*?(?:<\/(?:stream:)?features>|<(?:stream:)?features\s*\/>)/;
const STREAM_ERROR = /<(?:stream:)?error[\s>][\s\S]*?<\/(?:stream:)?error>/;

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export class XmppBenchClient implements BenchClient {
  jid = '';
  received = 0;
  onReceived: ((count: number) => void) | undefined;
  onTimestamps: ((sentAt: number[], now: number) => void) | undefined;
  /** Set once the connection is gone. */
  closedAt: number | undefined;
  private buffer = '';
  private loggedIn = false;
  private waiter: { pattern: RegExp; resolve: (m: RegExpExecArray) => void; reject: (e: Error) => void } | undefined;
  private socket: net.Socket | tls.TLSSocket | undefined;
  private ws: WebSocket | undefined;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private failure: Error | undefined;

  private constructor(readonly endpoint: XmppEndpoint) {
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
  }

  static async login(endpoint: XmppEndpoint, o: LoginOptions): Promise<XmppBenchClient> {
    const c = new XmppBenchClient(endpoint);
    const timeoutMs = o.timeoutMs ?? 15_000;
    const timer = setTimeout(() => c.fail(new Error(`login of ${o.user} not done within ${timeoutMs} ms`)), timeoutMs);
    try {
      await c.open();
      c.header();
      let features = (await c.waitFor(FEATURES))[0];
      if (endpoint.starttlsCa !== undefined) {
        if (!features.includes('<starttls')) throw new Error('the server offers no STARTTLS');
        c.send(`<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>`);
        await c.waitFor(/<proceed[\s/>]/);
        await c.startTls(endpoint.starttlsCa);
        c.header();
        features = (await c.waitFor(FEATURES))[0];
      }
      const plain = Buffer.from(`\0${o.user}\0${o.pass}`, 'utf8').toString('base64');
      c.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${plain}</auth>`);
      const sasl = await c.waitFor(/<success[\s/>][\s\S]*?(?:\/>|<\/success>)|<failure[\s>][\s\S]*?<\/failure>/);
      if (sasl[0].startsWith('<failure')) throw new Error(`SASL failed for ${o.user}: ${sasl[0]}`);
      c.header();
      await c.waitFor(FEATURES);
      c.send(`<iq type="set" id="bind1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${xmlEscape(o.resource)}</resource></bind></iq>`);
      const bound = await c.waitFor(/<iq[^>]*id=["']bind1["'][\s\S]*?(?:<\/iq>|\/>)/);
      const jid = /<jid>([^<]*)<\/jid>/.exec(bound[0]);
      if (!jid) throw new Error(`bind failed: ${bound[0]}`);
      c.jid = jid[1]!;
      c.loggedIn = true;
      return c;
    } catch (error) {
      c.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private open(): Promise<void> {
    const e = this.endpoint;
    return new Promise((resolve, reject) => {
      if (e.kind === 'ws') {
        const ws = new WebSocket(e.url!, { perMessageDeflate: false });
        ws.binaryType = 'nodebuffer';
        ws.on('message', (data: Buffer) => this.receive(data));
        ws.on('close', () => this.gone());
        ws.on('error', (err) => {
          reject(err);
          this.gone(err);
        });
        ws.once('open', () => resolve());
        this.ws = ws;
      } else {
        const socket = net.connect({ host: e.host, port: e.port });
        socket.setNoDelay(true);
        this.attach(socket);
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      }
    });
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    this.socket = socket;
    socket.on('data', (data: Buffer) => this.receive(data));
    socket.on('close', () => {
      if (this.socket === socket) this.gone();
    });
    socket.on('error', (err) => {
      if (this.socket === socket) this.gone(err);
    });
  }

  private startTls(ca: string): Promise<void> {
    const plain = this.socket as net.Socket;
    plain.removeAllListeners('data');
    this.buffer = '';
    return new Promise((resolve, reject) => {
      const secure = tls.connect({ socket: plain, servername: this.endpoint.domain, ca: [ca] });
      secure.setNoDelay(true);
      this.attach(secure);
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
  }

  private header(): void {
    this.buffer = '';
    this.send(`<stream:stream to="${xmlEscape(this.endpoint.domain)}" xmlns="jabber:client" xmlns:stream="${NS_STREAM}" version="1.0">`);
  }

  /** One packet; in NUL mode a NUL follows it. */
  send(xml: string): void {
    this.write(this.endpoint.nul ? `${xml}\0` : xml);
  }

  private write(data: string): void {
    if (this.ws) {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(Buffer.from(data, 'utf8'), { binary: true });
    } else if (this.socket && !this.socket.destroyed) {
      this.socket.write(data);
    }
  }

  sendMessages(to: string, bodies: readonly string[]): void {
    const end = this.endpoint.nul ? '</body></message>\0' : '</body></message>';
    const head = `<message to="${to}" type="chat"><body>`;
    let out = '';
    for (const b of bodies) out += head + b + end;
    this.write(out);
  }

  get backlog(): number {
    return this.ws ? this.ws.bufferedAmount : (this.socket?.writableLength ?? 0);
  }

  private receive(data: Buffer): void {
    // Everything the benches send is ASCII: latin1 is the cheapest decoding.
    const text = data.toString('latin1');
    if (!this.loggedIn) {
      this.buffer += this.endpoint.nul ? text.replace(/\0/g, '') : text;
      const error = STREAM_ERROR.exec(this.buffer);
      if (error) {
        this.fail(new Error(`stream error: ${error[0].slice(0, 300)}`));
        return;
      }
      if (this.waiter) {
        const m = this.waiter.pattern.exec(this.buffer);
        if (m) {
          const w = this.waiter;
          this.waiter = undefined;
          this.buffer = this.buffer.slice(m.index + m[0].length);
          w.resolve(m);
        }
      }
      return;
    }
    this.scan(text);
  }

  /** Counts complete messages; in timestamps mode reads each body's send time. */
  private scan(text: string): void {
    const buf = this.buffer.length > 0 ? this.buffer + text : text;
    let count = 0;
    let from = 0;
    let times: number[] | undefined;
    for (;;) {
      const end = buf.indexOf('</message>', from);
      if (end < 0) break;
      count++;
      if (this.onTimestamps) {
        const b = buf.lastIndexOf('<body>t', end);
        if (b >= from) {
          const close = buf.indexOf('<', b + 7);
          (times ??= []).push(Number(buf.slice(b + 7, close)));
        }
      }
      from = end + 10;
    }
    // Keep the unfinished tail (at most one partial stanza).
    this.buffer = from === 0 ? (buf.length > 65536 ? buf.slice(-8192) : buf) : buf.slice(from);
    if (count > 0) {
      this.received += count;
      this.onReceived?.(count);
      if (times) this.onTimestamps?.(times, performance.now());
    }
  }

  private waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const m = pattern.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m.index + m[0].length);
        return resolve(m);
      }
      this.waiter = { pattern, resolve, reject };
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(error);
    this.destroy();
  }

  private gone(error?: Error): void {
    if (this.closedAt !== undefined) return;
    this.closedAt = Date.now();
    this.fail(error ?? new Error('connection closed'));
    this.resolveClosed();
  }

  async close(timeoutMs = 3000): Promise<void> {
    if (this.closedAt === undefined) {
      this.send('</stream:stream>');
      if (this.ws) this.ws.close();
      else this.socket?.end();
      const timer = setTimeout(() => this.destroy(), timeoutMs);
      await this.closedPromise;
      clearTimeout(timer);
    }
  }

  destroy(): void {
    if (this.ws) this.ws.terminate();
    else this.socket?.destroy();
    if (this.closedAt === undefined) {
      this.closedAt = Date.now();
      this.resolveClosed();
    }
  }
}
