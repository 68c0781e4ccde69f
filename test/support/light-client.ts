/**
 * A minimal XMPP client for load and fault tests: hundreds of them are cheap (one socket or one
 * WebSocket and a string buffer each, no XML parser, no process). It opens the stream, logs in
 * with SASL PLAIN, binds a resource and then waits, noting when and how the gateway ended it:
 * the stream error (condition and text) and the close of the connection.
 *
 * Transports, as the gateway sees them:
 * - `raw`: flash.net.Socket, XML on a TCP socket with no NUL (raw mode);
 * - `nul`: XMLSocket, every packet (the stream header included) followed by a NUL (NUL mode);
 * - `ws`: Ruffle's socketProxy, XMLSocket packets in binary WebSocket frames at /xmlsocket.
 *
 * The byte-exact Flash emulations (raw-client.ts, nul-client.ts) check every packet against what
 * real Flash clients need; this one only reads enough to log in and to recognise the end.
 */
import net from 'node:net';
import { WebSocket } from 'ws';

export type LightTransport = 'raw' | 'nul' | 'ws';

export interface LightClientOptions {
  readonly transport: LightTransport;
  /** TCP transports: the gateway's Flash port. */
  readonly host?: string;
  readonly port?: number;
  /** `ws`: the WebSocket URL (ws://127.0.0.1:PORT/xmlsocket). */
  readonly url?: string;
  readonly domain: string;
  readonly user: string;
  readonly pass: string;
  readonly resource: string;
  /** Bound on the whole login, ms. Default 15000. */
  readonly timeoutMs?: number;
}

export interface LightStreamError {
  readonly condition: string;
  readonly text: string;
}

const NS_STREAM = 'http://etherx.jabber.org/streams';
const STREAM_ERROR = /<(?:stream:)?error[\s>][\s\S]*?<\/(?:stream:)?error>/;
/** A little of the stream is kept after login, enough to hold a stream error split across reads. */
const KEEP_AFTER_LOGIN = 64 * 1024;

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export class LightClient {
  jid = '';
  /** The stream error the gateway sent, once it did. */
  streamError: LightStreamError | undefined;
  /** Date.now() when the stream error arrived. */
  errorAt: number | undefined;
  /** Date.now() when the connection was gone. */
  closedAt: number | undefined;
  /** Bytes of stream received in all. */
  bytesIn = 0;
  readonly closed: Promise<void>;
  private buffer = '';
  private loggedIn = false;
  private waiter: { pattern: RegExp; resolve: (m: RegExpExecArray) => void; reject: (e: Error) => void } | undefined;
  private resolveClosed!: () => void;
  private readonly socket: net.Socket | undefined;
  private readonly ws: WebSocket | undefined;

  private constructor(readonly options: LightClientOptions) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    if (options.transport === 'ws') {
      if (!options.url) throw new Error('light client: ws needs a url');
      const ws = new WebSocket(options.url);
      ws.binaryType = 'nodebuffer';
      ws.on('message', (data: Buffer) => this.receive(data));
      ws.on('close', () => this.gone());
      ws.on('error', (error) => this.gone(error));
      this.ws = ws;
    } else {
      const socket = net.connect({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
      socket.setNoDelay(true);
      socket.on('data', (data: Buffer) => this.receive(data));
      socket.on('close', () => this.gone());
      socket.on('error', (error) => this.gone(error));
      this.socket = socket;
    }
  }

  /** Connects, opens the stream, logs in with SASL PLAIN and binds; rejects with what went wrong. */
  static async login(options: LightClientOptions): Promise<LightClient> {
    const client = new LightClient(options);
    const timeoutMs = options.timeoutMs ?? 15_000;
    const timer = setTimeout(() => client.fail(new Error(`login not done within ${timeoutMs} ms`)), timeoutMs);
    try {
      await client.opened();
      await client.openStream();
      await client.waitFor(/<(?:stream:)?features[\s>][\s\S]*?<\/(?:stream:)?features>/);
      const plain = Buffer.from(`\0${options.user}\0${options.pass}`, 'utf8').toString('base64');
      client.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${plain}</auth>`);
      const sasl = await client.waitFor(/<success[\s/>][\s\S]*?(?:\/>|<\/success>)|<failure[\s>][\s\S]*?<\/failure>/);
      if (sasl[0].startsWith('<failure')) throw new Error(`SASL failed for ${options.user}: ${sasl[0]}`);
      await client.openStream();
      await client.waitFor(/<(?:stream:)?features[\s>][\s\S]*?<\/(?:stream:)?features>/);
      client.send(
        `<iq type="set" id="bind1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${xmlEscape(options.resource)}</resource></bind></iq>`,
      );
      const bound = await client.waitFor(/<iq[^>]*id=["']bind1["'][\s\S]*?<\/iq>/);
      const jid = /<jid>([^<]*)<\/jid>/.exec(bound[0]);
      if (!jid) throw new Error(`bind failed: ${bound[0]}`);
      client.jid = jid[1] as string;
      client.loggedIn = true;
      client.buffer = client.buffer.slice(-KEEP_AFTER_LOGIN);
      client.checkStreamError();
      return client;
    } catch (error) {
      client.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error): void => reject(error);
      if (this.ws) {
        this.ws.once('open', () => resolve());
        this.ws.once('error', failed);
      } else {
        this.socket?.once('connect', () => resolve());
        this.socket?.once('error', failed);
      }
    });
  }

  private openStream(): Promise<void> {
    this.send(`<stream:stream to="${xmlEscape(this.options.domain)}" xmlns="jabber:client" xmlns:stream="${NS_STREAM}" version="1.0">`);
    return Promise.resolve();
  }

  /** Sends one packet: a NUL follows it on the XMLSocket transports. Returns false when the transport buffers. */
  send(xml: string): boolean {
    const packet = this.options.transport === 'raw' ? Buffer.from(xml, 'utf8') : Buffer.from(`${xml}\0`, 'utf8');
    if (this.ws) {
      if (this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(packet, { binary: true });
      return this.ws.bufferedAmount < 64 * 1024;
    }
    if (!this.socket || this.socket.destroyed) return false;
    return this.socket.write(packet);
  }

  /** Bytes this client has queued that its transport has not sent yet. */
  get backlogBytes(): number {
    return this.ws ? this.ws.bufferedAmount : (this.socket?.writableLength ?? 0);
  }

  /** Resolves once the transport has room again (or the connection is gone). */
  whenWritable(): Promise<void> {
    if (this.closedAt !== undefined) return Promise.resolve();
    if (this.socket) {
      if (!this.socket.writableNeedDrain) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          this.socket?.off('drain', done);
          this.socket?.off('close', done);
          resolve();
        };
        this.socket?.once('drain', done);
        this.socket?.once('close', done);
      });
    }
    // ws has no drain event: poll its buffer.
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.closedAt !== undefined || !this.ws || this.ws.bufferedAmount < 64 * 1024) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
  }

  /** Closes our stream properly and waits (bounded) for the connection to end. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closedAt === undefined) {
      this.send('</stream:stream>');
      if (this.ws) this.ws.close();
      else this.socket?.end();
    }
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.destroy();
  }

  destroy(): void {
    if (this.ws) this.ws.terminate();
    else this.socket?.destroy();
  }

  /** Resolves once the connection is gone; rejects after `timeoutMs`. */
  waitClosed(timeoutMs: number): Promise<void> {
    return Promise.race([
      this.closed,
      new Promise<void>((_, reject) =>
        setTimeout(() => reject(new Error(`${this.describe()}: connection still open after ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  }

  describe(): string {
    return `${this.options.transport} client ${this.jid || this.options.user + '/' + this.options.resource}`;
  }

  private receive(data: Buffer): void {
    this.bytesIn += data.length;
    const text = data.toString('utf8');
    this.buffer += this.options.transport === 'raw' ? text : text.replace(/\0/g, '');
    this.checkStreamError();
    if (this.waiter) {
      const match = this.waiter.pattern.exec(this.buffer);
      if (match) {
        const waiter = this.waiter;
        this.waiter = undefined;
        this.buffer = this.buffer.slice(match.index + match[0].length);
        waiter.resolve(match);
      }
    }
    if (this.loggedIn && this.buffer.length > 2 * KEEP_AFTER_LOGIN) this.buffer = this.buffer.slice(-KEEP_AFTER_LOGIN);
  }

  private checkStreamError(): void {
    if (this.streamError) return;
    const match = STREAM_ERROR.exec(this.buffer);
    if (!match) return;
    const condition = /<([a-z-]+)\s+xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/.exec(match[0])?.[1] ?? '?';
    const text = /<text[^>]*>([\s\S]*?)<\/text>/.exec(match[0])?.[1] ?? '';
    this.streamError = { condition, text };
    this.errorAt = Date.now();
    this.waiter?.reject(new Error(`${this.describe()}: stream error ${condition}: ${text}`));
    this.waiter = undefined;
  }

  /**
   * Resolves with the first match of `pattern` in what arrived and was not matched before
   * (consumed up to its end); rejects on a stream error, the close, or after `timeoutMs`.
   */
  waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.match(pattern),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.describe()}: no ${pattern} within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      if (this.waiter?.pattern === pattern) this.waiter = undefined;
    });
  }

  private match(pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      if (this.streamError) {
        reject(new Error(`${this.describe()}: stream error ${this.streamError.condition}: ${this.streamError.text}`));
        return;
      }
      if (this.closedAt !== undefined) {
        reject(new Error(`${this.describe()}: connection closed`));
        return;
      }
      const match = pattern.exec(this.buffer);
      if (match) {
        this.buffer = this.buffer.slice(match.index + match[0].length);
        resolve(match);
        return;
      }
      this.waiter = { pattern, resolve, reject };
    });
  }

  private fail(error: Error): void {
    this.waiter?.reject(error);
    this.waiter = undefined;
    this.destroy();
  }

  private gone(error?: Error): void {
    if (this.closedAt === undefined) this.closedAt = Date.now();
    this.waiter?.reject(new Error(`${this.describe()}: connection closed${error ? ` (${error.message})` : ''}`));
    this.waiter = undefined;
    this.resolveClosed();
  }
}

/** Logs in `count` clients, at most `parallel` logins at a time; clients are built by `make(i)`. */
export async function loginMany(count: number, parallel: number, make: (i: number) => LightClientOptions): Promise<LightClient[]> {
  const clients: LightClient[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      clients[i] = await LightClient.login(make(i));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  } catch (error) {
    for (const c of clients) c?.destroy();
    throw error;
  }
  return clients;
}
