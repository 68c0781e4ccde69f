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

const TLS_CONTEXT_CACHE = new WeakMap<Buffer, tls.SecureContext>();

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
  private closed = false;
  /** TCP connected: tells "cannot reach" from "connection lost" in error texts. */
  private connected = false;
  private streamEnded = false;
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
      stream.fail(
        new StreamError('remote-connection-failed', `the XMPP server at ${where} did not answer within ${options.connectTimeoutMs / 1000} s`),
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
        this.parser.restart();
        secure.once('secureConnect', () => {
          this.tlsActive = true;
          this.listen(secure);
          resolve();
        });
        secure.once('error', (error: Error) => {
          reject(
            new StreamError(
              'remote-connection-failed',
              `the TLS certificate of the XMPP server was not accepted for ${this.options.domain} (${error.message})`,
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
    this.socket.write(data);
    this.keepalive?.refresh();
  }

  /** Bytes queued to the server that it has not read yet (for backpressure). */
  get backlogBytes(): number {
    return this.socket.writableLength;
  }

  onDrain(callback: () => void): void {
    this.socket.once('drain', callback);
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
      if (!this.closed) this.socket.write(' ');
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
      this.socket.write(STREAM_CLOSE);
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
    if (this.keepalive) clearInterval(this.keepalive);
    this.socket.destroy();
  }
}
