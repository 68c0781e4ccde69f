/**
 * One client-to-server (c2s) stream from the gateway to the real XMPP server, knowing nothing
 * of Flash. It connects, negotiates STARTTLS itself (RFC 6120 §5) with the certificate checked
 * against the XMPP domain (RFC 6125), restarts the stream whenever asked (after TLS and after
 * SASL success, RFC 6120 §5.4.3.3 and §6.4.6), keeps the connection alive with whitespace
 * (§4.6.1), and hands every other top-level element to its handler.
 */
import net from 'node:net';
import tls from 'node:tls';
import { attr, NS, type XmlElement } from '../codec/xml/element.js';
import { XmlStreamParser, type XmlLimits, type XmlStreamHandler } from '../codec/xml/parser.js';
import { StreamError, type StreamErrorCondition } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { UpstreamTlsMode } from '../config/settings.js';
import { AT_END_OF_CALLBACK } from '../transport/end-of-callback.js';
import { starttlsOffer } from './features.js';
import { STREAM_CLOSE, streamHeader } from './stream-header.js';

export interface UpstreamOptions {
  readonly host: string;
  readonly port: number;
  /** The XMPP domain: the header's `to` and the name the TLS certificate must carry. */
  readonly domain: string;
  readonly tls: UpstreamTlsMode;
  /** Extra trusted CA certificates (PEM), added to Node's roots. */
  readonly ca?: Buffer | undefined;
  readonly connectTimeoutMs: number;
  readonly keepaliveMs: number;
  /**
   * Output queued to the server of which nothing leaves for this long ends the stream
   * (`remote-connection-failed`: the server stopped reading); 0 or absent: never.
   */
  readonly writeTimeoutMs?: number | undefined;
  readonly limits: XmlLimits;
  readonly lang?: string | undefined;
  readonly log: Logger;
}

/** What the session hears from the server once the stream is up. */
export interface UpstreamHandler {
  element(element: XmlElement): void;
  /** The server closed its stream (`</stream:stream>`) or sent a stream error (then `error` is set). */
  ended(error?: StreamError): void;
}

/** Backlog to the server past which a client's input should wait for it to drain. */
export const UPSTREAM_HIGH_WATER_BYTES = 256 * 1024;

const TLS_CONTEXT_CACHE = new WeakMap<Buffer, tls.SecureContext>();

/**
 * Certificate verification failures (OpenSSL's verify codes, Node's host name check): the peer
 * spoke TLS, but the gateway does not trust what it showed. Anything else failed the handshake.
 */
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)|INVALID_CA|PATH_LENGTH|HOSTNAME|ALTNAME|INVALID_PURPOSE/;

/** A TLS error as one line for a client to read: OpenSSL's reason, not its source location. */
function tlsReason(error: NodeJS.ErrnoException & { reason?: string }): string {
  const text = error.reason ?? error.message.split('\n')[0] ?? '';
  return text.replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:/, '').trim();
}

function secureContextFor(ca: Buffer | undefined): tls.SecureContext | undefined {
  if (!ca) return undefined;
  let context = TLS_CONTEXT_CACHE.get(ca);
  if (!context) {
    context = tls.createSecureContext({ ca: [...tls.rootCertificates, ca.toString('utf8')] });
    TLS_CONTEXT_CACHE.set(ca, context);
  }
  return context;
}

/** Turns a stream error element from the server into a StreamError for the client. */
export function streamErrorFromElement(element: XmlElement): StreamError {
  let condition: StreamErrorCondition = 'undefined-condition';
  let text = '';
  for (const c of element.children) {
    if (typeof c === 'string' || c.ns !== NS.streams) continue;
    if (c.local === 'text') text = c.children.filter((t): t is string => typeof t === 'string').join('');
    else condition = c.local as StreamErrorCondition;
  }
  return new StreamError(condition, text ? `XMPP server: ${text}` : `XMPP server reported ${condition}`);
}

export class UpstreamStream implements XmlStreamHandler {
  private socket: net.Socket | tls.TLSSocket;
  private readonly parser: XmlStreamParser;
  private handler: UpstreamHandler | undefined;
  /** Set while waiting for the header and features of a (re)started stream. */
  private waiting: { resolve: (features: XmlElement) => void; reject: (error: Error) => void } | undefined;
  /** Set while waiting for `<proceed/>` after `<starttls/>`. */
  private waitingProceed: ((element: XmlElement) => void) | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  /** Characters handed to the current socket (what `writableLength` counts). */
  private queued = 0;
  /** Set while output waits: since when none of it has left, and how far it had got then. */
  private stall: { timer: NodeJS.Timeout; since: number; progress: string } | undefined;
  /** Called once the backlog drains or the stream is gone (onDrain). */
  private drainWaiters: (() => void)[] = [];
  private closed = false;
  /** Output gathered until the end of the current callback (send()). */
  private pendingOut = '';
  /** TCP connected: tells "cannot reach" from "connection lost" in error texts. */
  private connected = false;
  private streamEnded = false;
  /** Between `<proceed/>` and the end of the TLS handshake (for the connect timeout's text). */
  private tlsHandshaking = false;
  streamId = '';
  tlsActive = false;

  private constructor(
    private readonly options: UpstreamOptions,
    socket: net.Socket,
  ) {
    this.socket = socket;
    this.parser = new XmlStreamParser(this, options.limits);
    socket.once('connect', () => (this.connected = true));
    this.listen(socket);
  }

  /**
   * Connects and opens the stream, with STARTTLS per `options.tls`; resolves with the features
   * offered on the final (post-TLS) stream. Every failure is a StreamError whose text says what
   * went wrong, for the client to read.
   */
  static async connect(options: UpstreamOptions): Promise<{ stream: UpstreamStream; features: XmlElement }> {
    const where = `${options.host}:${options.port}`;
    const socket = net.connect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    const stream = new UpstreamStream(options, socket);
    const timer = setTimeout(() => {
      const seconds = options.connectTimeoutMs / 1000;
      stream.fail(
        new StreamError(
          'remote-connection-failed',
          stream.tlsHandshaking
            ? `the TLS handshake with the XMPP server at ${where} did not finish within ${seconds} s`
            : `the XMPP server at ${where} did not answer within ${seconds} s`,
        ),
      );
    }, options.connectTimeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        stream.waiting = { resolve: () => undefined, reject };
      });
      let features = await stream.openStream();
      const offer = starttlsOffer(features);
      if (options.tls === 'required' && !offer.offered) {
        throw new StreamError(
          'remote-connection-failed',
          `the XMPP server at ${where} does not offer STARTTLS, and the gateway requires TLS upstream (upstreamTls: required)`,
        );
      }
      if (options.tls === 'off' && offer.required) {
        throw new StreamError(
          'remote-connection-failed',
          `the XMPP server at ${where} requires STARTTLS, but the gateway has upstreamTls: off`,
        );
      }
      if (offer.offered && options.tls !== 'off') {
        await stream.startTls();
        features = await stream.openStream();
      }
      return { stream, features };
    } catch (error) {
      stream.destroy();
      throw error instanceof StreamError ? error : new StreamError('remote-connection-failed', (error as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  private listen(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.write(chunk);
      } catch (error) {
        const streamError =
          error instanceof StreamError ? error : new StreamError('internal-server-error', (error as Error).message);
        this.options.log.warn({ condition: streamError.condition }, `XMPP server sent bad XML: ${streamError.text}`);
        this.fail(new StreamError('remote-connection-failed', `the XMPP server sent bad XML (${streamError.text})`));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const where = `${this.options.host}:${this.options.port}`;
      const reason = error.code ?? error.message;
      this.fail(
        new StreamError(
          'remote-connection-failed',
          !this.connected ? `cannot reach the XMPP server at ${where} (${reason})` : `the connection to the XMPP server at ${where} failed (${reason})`,
        ),
      );
    });
    socket.on('close', () => {
      if (!this.closed) this.fail(new StreamError('remote-connection-failed', 'the XMPP server closed the connection'));
    });
  }

  /** Starts handing server elements to the session; from now on failures go to it too. */
  attach(handler: UpstreamHandler): void {
    this.handler = handler;
    this.armKeepalive();
  }

  /** Sends a new stream header and resolves with the features of the new stream. */
  openStream(): Promise<XmlElement> {
    return new Promise<XmlElement>((resolve, reject) => {
      if (this.closed) {
        reject(new StreamError('remote-connection-failed', 'the connection to the XMPP server is closed'));
        return;
      }
      this.waiting = { resolve, reject };
      this.write(streamHeader({ to: this.options.domain, version: '1.0', lang: this.options.lang ?? 'en' }));
    });
  }

  /**
   * The server just sent SASL `<success/>`: its next bytes start a new stream (RFC 6120
   * §6.4.6), so the parser is reset before they arrive.
   */
  expectRestart(): void {
    this.parser.restart();
  }

  private startTls(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting = { resolve: () => undefined, reject };
      this.waitingProceed = (element) => {
        // `waiting` stays set through the handshake, so the connect timeout still rejects.
        if (element.local !== 'proceed') {
          reject(new StreamError('remote-connection-failed', 'the XMPP server refused STARTTLS'));
          return;
        }
        const plain = this.socket as net.Socket;
        plain.removeAllListeners('data');
        plain.removeAllListeners('close');
        plain.removeAllListeners('error');
        const context = secureContextFor(this.options.ca);
        const secure = tls.connect({
          socket: plain,
          servername: this.options.domain,
          ...(context ? { secureContext: context } : {}),
          // Flash-era servers may be old, but the gateway's hop is ours: TLS 1.2 at least.
          minVersion: 'TLSv1.2',
        });
        this.socket = secure;
        this.queued = 0;
        this.tlsHandshaking = true;
        this.parser.restart();
        secure.once('secureConnect', () => {
          this.tlsHandshaking = false;
          this.tlsActive = true;
          this.listen(secure);
          resolve();
        });
        secure.once('error', (error: NodeJS.ErrnoException) => {
          const where = `${this.options.host}:${this.options.port}`;
          reject(
            new StreamError(
              'remote-connection-failed',
              CERTIFICATE_ERROR.test(error.code ?? '')
                ? `the TLS certificate of the XMPP server was not accepted for ${this.options.domain} (${tlsReason(error)})`
                : `the TLS handshake with the XMPP server at ${where} failed (${tlsReason(error)})`,
            ),
          );
        });
      };
      this.write(`<starttls xmlns="${NS.tls}"/>`);
    });
  }

  // XmlStreamHandler: the server's side of the stream.
  streamOpen(header: XmlElement): void {
    if (header.local !== 'stream' || header.ns !== NS.stream) {
      this.fail(new StreamError('remote-connection-failed', `the XMPP server opened a stream named ${header.local} in ${header.ns}`));
      return;
    }
    this.streamId = attr(header, 'id') ?? '';
  }

  element(element: XmlElement): void {
    if (element.ns === NS.stream && element.local === 'error') {
      this.fail(streamErrorFromElement(element));
      return;
    }
    if (this.waitingProceed && element.ns === NS.tls) {
      const proceed = this.waitingProceed;
      this.waitingProceed = undefined;
      proceed(element);
      return;
    }
    if (this.waiting) {
      if (element.ns === NS.stream && element.local === 'features') {
        const { resolve } = this.waiting;
        this.waiting = undefined;
        resolve(element);
        return;
      }
      this.fail(new StreamError('remote-connection-failed', `the XMPP server sent <${element.local}> before its stream features`));
      return;
    }
    this.handler?.element(element);
  }

  streamClose(): void {
    this.streamEnded = true;
    if (this.waiting) {
      this.fail(new StreamError('remote-connection-failed', 'the XMPP server closed the stream'));
      return;
    }
    const handler = this.handler;
    this.destroy();
    handler?.ended();
  }

  write(data: string): void {
    if (this.closed) return;
    this.send(data);
    this.keepalive?.refresh();
  }

  /** Every write to the server goes here, so output that stops leaving is noticed. */
  private send(data: string): void {
    // Gathered until the end of the current callback, as TcpChannel does toward the client: the
    // stanzas of one client read (or one RTMP read) leave in one write — one syscall, one TLS
    // record — instead of one segment each (bench/traffic.ts measured 1.03 writes per message
    // before). A microtask and a string, not cork() and nextTick(): no per-write buffering
    // in the stream and no tick to process (docs/performance.md, "CPU per message").
    if (this.pendingOut === '') void AT_END_OF_CALLBACK.then(this.flushOut);
    this.pendingOut += data;
  }

  private readonly flushOut = (): void => {
    const data = this.pendingOut;
    this.pendingOut = '';
    if (data === '' || this.closed) return;
    const socket = this.socket;
    socket.write(data);
    this.queued += data.length;
    // The stall watch starts when output is really queued.
    if (socket.writableLength > 0) this.watchBacklog();
  };

  /**
   * Output is queued: check every quarter of the write timeout whether any of it has left since
   * the last check; when none has for the whole timeout, the server has stopped reading, and the
   * stream ends (the session tells its client, the socket is destroyed). A slow server that
   * still reads is never cut; output that fits the kernel's buffers never starts the watch.
   */
  private watchBacklog(): void {
    const limit = this.options.writeTimeoutMs ?? 0;
    if (this.stall || limit <= 0) return;
    const check = (): void => {
      const stall = this.stall;
      if (this.closed || !stall) return;
      const pending = this.socket.writableLength;
      if (pending === 0) {
        this.stall = undefined;
        return;
      }
      const progress = this.progress();
      const now = Date.now();
      if (progress !== stall.progress) {
        stall.progress = progress;
        stall.since = now;
      } else if (now - stall.since >= limit) {
        const seconds = Math.round((now - stall.since) / 1000);
        this.options.log.warn({ backlog: pending, seconds }, 'the XMPP server stopped reading; stream ended');
        this.fail(
          new StreamError(
            'remote-connection-failed',
            `the XMPP server stopped reading: none of the ${pending} bytes queued to it left in ${seconds} s (upstreamWriteTimeout)`,
          ),
        );
        return;
      }
      stall.timer.refresh();
    };
    const timer = setTimeout(check, Math.max(10, Math.floor(limit / 4)));
    timer.unref();
    this.stall = { timer, since: Date.now(), progress: this.progress() };
  }

  /**
   * How far the output has got: the characters whose writes completed and, inside the write in
   * progress, what libuv still holds (`writeQueueSize`, which Node's own socket timeout reads
   * the same way; absent on TLS, where a write in progress counts when it completes). Any change
   * is progress.
   */
  private progress(): string {
    const handle = (this.socket as unknown as { _handle?: { writeQueueSize?: unknown } })._handle;
    return `${this.queued - this.socket.writableLength}/${String(handle?.writeQueueSize)}`;
  }

  /** Bytes queued to the server that it has not read yet (for backpressure). */
  get backlogBytes(): number {
    return this.socket.writableLength + this.pendingOut.length;
  }

  /** Whether a client's input should wait for the server to read: see onDrain. */
  get backlogged(): boolean {
    return !this.closed && this.backlogBytes > UPSTREAM_HIGH_WATER_BYTES;
  }

  /**
   * Calls back once the backlog has drained, or once the stream is gone (so nothing waits on a
   * stream the write timeout ended). At once when it is not backlogged.
   */
  onDrain(callback: () => void): void {
    // What is gathered goes to the socket first, so its 'drain' reflects all of the backlog.
    this.flushOut();
    if (this.closed || !this.socket.writableNeedDrain) {
      queueMicrotask(callback);
      return;
    }
    if (this.drainWaiters.length === 0) this.socket.once('drain', () => this.drained());
    this.drainWaiters.push(callback);
  }

  private drained(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const callback of waiters) callback();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private armKeepalive(): void {
    if (this.keepalive) return;
    // RFC 6120 §4.6.1: a single space keeps NATs and the server's idle check happy; the client
    // behind the gateway cannot be relied on to do it (shared/spec/flash-clients.md).
    this.keepalive = setInterval(() => {
      if (!this.closed) this.send(' ');
    }, this.options.keepaliveMs);
    this.keepalive.unref();
  }

  /** Closes our stream and waits briefly for the server's close before dropping the socket. */
  close(graceMs = 2000): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.handler = undefined;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.destroy();
        resolve();
      };
      const timer = setTimeout(done, graceMs);
      timer.unref();
      this.socket.once('close', done);
      if (this.streamEnded) {
        done();
        return;
      }
      this.handler = { element: () => undefined, ended: done };
      this.send(STREAM_CLOSE);
      this.flushOut();
      this.socket.end();
    });
  }

  private fail(error: StreamError): void {
    if (this.closed) return;
    const { waiting, handler } = this;
    this.waiting = undefined;
    this.destroy();
    if (waiting) waiting.reject(error);
    else handler?.ended(error);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.pendingOut = '';
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.stall) clearTimeout(this.stall.timer);
    this.stall = undefined;
    this.socket.destroy();
    this.drained();
  }
}
