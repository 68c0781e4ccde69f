/**
 * One Flash client's XMPP stream, bridged to one upstream c2s stream.
 *
 * The client speaks RFC 6120 minus TLS; the gateway opens the upstream stream for the domain
 * the client asked for (only configured domains: no open relay), hides STARTTLS and the
 * features the client cannot use, passes SASL through untouched and restarts both streams
 * after `<success/>` (RFC 6120 §6.4.6). Every bad input ends this session only, with a stream
 * error that says why (RFC 6120 §4.9).
 */
import { attr, NS, type XmlElement } from '../codec/xml/element.js';
import { XmlStreamParser, type XmlLimits, type XmlStreamHandler } from '../codec/xml/parser.js';
import { serialize } from '../codec/xml/serializer.js';
import { StreamError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ClientChannel } from '../transport/channel.js';
import { filterFeatures } from '../xmpp/features.js';
import { streamErrorXml } from '../xmpp/stream-header.js';
import type { UpstreamHandler, UpstreamStream } from '../xmpp/upstream.js';
import type { ClientFraming } from './framing.js';
import { answerHiddenFeature } from './hidden-features.js';

export interface SessionOptions {
  readonly domains: readonly string[];
  readonly limits: XmlLimits;
  readonly authTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Output queued to a client that does not read before it is dropped. */
  readonly maxClientBacklogBytes: number;
  /** Opens the upstream stream for a domain (resolves after TLS, with the server's features). */
  readonly connectUpstream: (domain: string, lang: string | undefined) => Promise<{ stream: UpstreamStream; features: XmlElement }>;
  readonly log: Logger;
}

type State = 'header' | 'connecting' | 'open' | 'restarting' | 'closing' | 'closed';

/** Pause reading one side when the other has this much unsent. */
const HIGH_WATER_BYTES = 256 * 1024;

export class XmppClientSession implements XmlStreamHandler {
  private state: State = 'header';
  private readonly parser: XmlStreamParser;
  private upstream: UpstreamStream | undefined;
  private domain = '';
  private headerSent = false;
  /** Client elements that arrived before the upstream stream was ready, in order. */
  private queued: XmlElement[] = [];
  private authenticated = false;
  private readonly authTimer: NodeJS.Timeout;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(
    private readonly channel: ClientChannel,
    private readonly framing: ClientFraming,
    private readonly options: SessionOptions,
  ) {
    this.log = options.log;
    this.parser = new XmlStreamParser(this, options.limits);
    this.authTimer = setTimeout(
      () => this.fail(new StreamError('policy-violation', `not authenticated within ${options.authTimeoutMs / 1000} s`)),
      options.authTimeoutMs,
    );
    this.idleTimer = setTimeout(
      () => this.fail(new StreamError('connection-timeout', `no traffic for ${options.idleTimeoutMs / 1000} s`)),
      options.idleTimeoutMs,
    );
    this.authTimer.unref();
    this.idleTimer.unref();
    channel.start({ data: (chunk) => this.receive(chunk), closed: () => this.channelClosed() });
  }

  /** Feeds client bytes (the sniffer's first read included). */
  receive(chunk: Buffer): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.idleTimer.refresh();
    try {
      this.parser.write(chunk);
    } catch (error) {
      this.fail(error instanceof StreamError ? error : new StreamError('internal-server-error', 'internal error'), error);
    }
  }

  // ---- the client's stream (XmlStreamHandler) ----

  streamOpen(header: XmlElement): void {
    if (header.local !== 'stream' || (header.ns !== NS.stream && header.ns !== NS.flash)) {
      throw new StreamError('invalid-namespace', `the stream must be <stream:stream xmlns:stream="${NS.stream}">`);
    }
    if (this.state === 'header') {
      const to = (attr(header, 'to') ?? this.options.domains[0] ?? '').toLowerCase();
      if (!this.options.domains.includes(to)) {
        // No open relay: only configured domains are reachable, and nothing goes upstream.
        this.domain = this.options.domains[0] ?? '';
        throw new StreamError('host-unknown', `this gateway does not serve the domain "${to}"`);
      }
      this.domain = to;
      this.state = 'connecting';
      this.log.debug({ domain: to }, 'client stream opened');
      this.options.connectUpstream(to, attr(header, 'xml:lang')).then(
        ({ stream, features }) => this.upstreamReady(stream, features),
        (error: unknown) => this.fail(asStreamError(error)),
      );
      return;
    }
    if (this.state === 'open' && this.upstream) {
      // The client's stream restart after SASL success (RFC 6120 §6.4.6).
      this.state = 'restarting';
      this.upstream.openStream().then(
        (features) => this.streamReady(features),
        (error: unknown) => this.fail(asStreamError(error)),
      );
      return;
    }
    throw new StreamError('not-well-formed', 'unexpected stream header');
  }

  element(element: XmlElement): void {
    if (this.state !== 'open') {
      this.queued.push(element);
      return;
    }
    this.forward(element);
  }

  streamClose(): void {
    this.log.debug('client closed its stream');
    void this.close();
  }

  private upstreamReady(stream: UpstreamStream, features: XmlElement): void {
    if (this.state !== 'connecting') {
      void stream.close();
      return;
    }
    this.upstream = stream;
    const handler: UpstreamHandler = {
      element: (element) => this.upstreamElement(element),
      ended: (error) => this.upstreamEnded(error),
    };
    stream.attach(handler);
    this.log.info({ domain: this.domain, tls: stream.tlsActive }, 'upstream stream ready');
    this.streamReady(features);
  }

  /** Sends the header and the filtered features in one write, then releases queued elements. */
  private streamReady(features: XmlElement): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.channel.write(this.headerXml() + this.framing.element(serialize(filterFeatures(features))));
    this.state = 'open';
    const queued = this.queued;
    this.queued = [];
    for (const element of queued) this.forward(element);
  }

  private headerXml(): string {
    this.headerSent = true;
    return this.framing.header({
      from: this.domain,
      id: this.upstream?.streamId || undefined,
      lang: 'en',
      version: '1.0',
    });
  }

  private forward(element: XmlElement): void {
    const upstream = this.upstream;
    if (!upstream) return;
    const local = answerHiddenFeature(element);
    if (local) {
      this.channel.write(this.framing.element(local.reply));
      if (local.close) void this.close();
      return;
    }
    upstream.write(serialize(element));
    if (upstream.backlogBytes > HIGH_WATER_BYTES) {
      // The server is not reading: stop reading the client until it does.
      this.channel.pause();
      upstream.onDrain(() => this.channel.resume());
    }
  }

  // ---- the server's stream (UpstreamHandler) ----

  private upstreamElement(element: XmlElement): void {
    if (element.ns === NS.sasl) {
      if (element.local === 'success') {
        this.authenticated = true;
        clearTimeout(this.authTimer);
        // Both sides start a new stream now (RFC 6120 §6.4.6): reset both parsers.
        this.upstream?.expectRestart();
        this.parser.restart();
        this.log.info('client authenticated (SASL)');
      } else if (element.local === 'failure') {
        const reason = element.children.find((c): c is XmlElement => typeof c !== 'string')?.local ?? 'unknown';
        this.log.info({ reason }, 'client login failed');
      }
    }
    this.sendToClient(element);
  }

  private upstreamEnded(error?: StreamError): void {
    if (this.state === 'closed') return;
    if (error) {
      this.log.info({ condition: error.condition }, `upstream ended: ${error.text}`);
      this.fail(error);
      return;
    }
    // The server closed its stream: close ours the same way.
    this.upstream = undefined;
    this.channel.write(this.framing.close());
    this.finish();
  }

  private sendToClient(element: XmlElement): void {
    // Traffic either way is life: a client only listening to a busy room is not idle. A dead
    // one is found by TCP keepalive or by its backlog growing past the limit below.
    this.idleTimer.refresh();
    this.channel.write(this.framing.element(serialize(element)));
    const backlog = this.channel.backlogBytes;
    if (backlog > this.options.maxClientBacklogBytes) {
      this.log.warn({ backlog }, 'client does not read its stream; dropped');
      this.finish();
    } else if (backlog > HIGH_WATER_BYTES && this.upstream) {
      const upstream = this.upstream;
      upstream.pause();
      this.channel.onDrain(() => upstream.resume());
    }
  }

  // ---- endings ----

  /** The client closed its stream: close upstream properly, then answer with our close. */
  private async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream) await upstream.close();
    if (this.headerSent) this.channel.write(this.framing.close());
    this.finish();
  }

  /** Ends the session with a stream error to the client (RFC 6120 §4.9.1). */
  fail(error: StreamError, cause?: unknown): void {
    if (this.state === 'closed') return;
    if (cause !== undefined && !(cause instanceof StreamError)) this.log.error({ err: cause }, 'session error');
    this.log.info({ condition: error.condition }, `stream error to client: ${error.text}`);
    let out = '';
    // §4.9.1.2: an error before our header still needs a header first.
    if (!this.headerSent) out += this.headerXml();
    out += this.framing.element(streamErrorXml(error.condition, error.text)) + this.framing.close();
    this.channel.write(out);
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream) void upstream.close();
    this.finish();
  }

  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.authTimer);
    clearTimeout(this.idleTimer);
    this.queued = [];
    this.channel.end();
  }

  private channelClosed(): void {
    if (this.state !== 'closed') this.log.debug('client connection closed');
    this.state = 'closed';
    clearTimeout(this.authTimer);
    clearTimeout(this.idleTimer);
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream) void upstream.close();
  }

  get isAuthenticated(): boolean {
    return this.authenticated;
  }
}

function asStreamError(error: unknown): StreamError {
  return error instanceof StreamError ? error : new StreamError('internal-server-error', 'internal error');
}
