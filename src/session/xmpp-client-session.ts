/**
 * One Flash client's XMPP stream, bridged to one upstream c2s stream; the same code serves raw
 * (flash.net.Socket) and NUL-framed (XMLSocket) clients, over any ClientChannel.
 *
 * The client speaks RFC 6120 minus TLS; the gateway opens the upstream stream for the domain
 * the client asked for (only configured domains: no open relay), hides STARTTLS and the
 * features the client cannot use, passes SASL through untouched and restarts both streams
 * after `<success/>` (RFC 6120 §6.4.6), or runs the login itself for legacy `jabber:iq:auth`
 * (XEP-0078). Every bad input ends this session only, with a stream error that says why
 * (RFC 6120 §4.9).
 */
import { randomUUID } from 'node:crypto';
import { attr, child, el, NS, type XmlElement } from '../codec/xml/element.js';
import { XmlStreamParser, type XmlLimits, type XmlStreamHandler } from '../codec/xml/parser.js';
import { serialize } from '../codec/xml/serializer.js';
import { LoginError, StreamError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ClientChannel } from '../transport/channel.js';
import { filterFeatures } from '../xmpp/features.js';
import { loginUpstream } from '../xmpp/login.js';
import { streamErrorXml } from '../xmpp/stream-header.js';
import type { SaltedPasswordCache } from '../xmpp/sasl/salted-password-cache.js';
import type { UpstreamStream } from '../xmpp/upstream.js';
import { ClientInput, type FramingMode } from './client-input.js';
import { framingFor, UNKNOWN_CLIENT_FRAMING, type ClientFraming } from './framing.js';
import { legacyAuthError, legacyAuthFields, legacyAuthSuccess, parseLegacyAuth, type LegacyAuthRequest } from './legacy-auth.js';
import { answerLocally, type LocalContext } from './local-answers.js';
import { StanzaRateLimiter } from './rate-limiter.js';
import { saslUserName } from './sasl-user.js';
import { UNOBSERVED, type ConnectionObserver } from '../ops/observer.js';
import { traceElement } from '../log/traffic.js';

const STANZAS = new Set(['message', 'presence', 'iq']);
const isStanza = (element: XmlElement): boolean => element.ns === NS.client && STANZAS.has(element.local);

export interface SessionOptions {
  readonly domains: readonly string[];
  /** The gateway's own names and addresses: a header `to` naming one means the default domain. */
  readonly isGatewayName: (name: string) => boolean;
  readonly limits: XmlLimits;
  readonly authTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** How long to wait for a NUL split off after the stream header (client-input.ts). */
  readonly nulGraceMs: number;
  /** Client stanzas held while the upstream stream is not ready. */
  readonly maxPendingStanzas: number;
  /** Stanzas per second a client may send, with a burst; over it, its input is paused. */
  readonly rateLimit: { readonly perSecond: number; readonly burst: number };
  /** Output queued to a client that does not read before it is dropped. */
  readonly maxClientBacklogBytes: number;
  /** Opens the upstream stream for a domain (resolves after TLS, with the server's features). */
  readonly connectUpstream: (domain: string, lang: string | undefined) => Promise<{ stream: UpstreamStream; features: XmlElement }>;
  /** SCRAM SaltedPassword values of earlier legacy logins (RFC 5802 §5.1). */
  readonly saltedPasswords?: SaltedPasswordCache;
  readonly log: Logger;
  /** Metrics and the status page: dialect, logins, stanzas, errors. */
  readonly observer?: ConnectionObserver;
}

type State = 'header' | 'connecting' | 'open' | 'bridging' | 'restarting' | 'closing' | 'closed';

/**
 * Pause reading the server when the client has this much unsent (the other way round, the
 * upstream stream's own `backlogged`, at the same mark).
 */
const HIGH_WATER_BYTES = 256 * 1024;

export class XmppClientSession implements XmlStreamHandler, LocalContext {
  private state: State = 'header';
  private readonly parser: XmlStreamParser;
  private readonly input: ClientInput;
  private framing: ClientFraming = UNKNOWN_CLIENT_FRAMING;
  private clientHeader: { flash: boolean; selfClosed: boolean; version: string | undefined } | undefined;
  private upstream: UpstreamStream | undefined;
  private domain = '';
  private headerSent = false;
  /** Features that arrived before the framing was decided (client-input.ts grace period). */
  private readyFeatures: XmlElement | undefined;
  /** A refusal found in the client's header, sent once the framing is known. */
  private refusal: StreamError | undefined;
  /** The features of the current upstream stream, for a login the gateway runs. */
  private lastFeatures: XmlElement | undefined;
  /** Client elements that arrived before the upstream stream was ready, in order. */
  private queued: XmlElement[] = [];
  private authenticated = false;
  serverOffersSession = false;
  private readonly authTimer: NodeJS.Timeout;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly rate: StanzaRateLimiter;
  /** Stanzas over the client's rate, waiting for tokens, in order. */
  private rateQueue: XmlElement[] = [];
  /**
   * Why the client's input is paused: stanzas waiting over its rate, or a server that has not
   * read what was sent. It reads again only once no reason is left — the rate queue draining
   * must not resume a client whose server is still backlogged.
   */
  private readonly holds = new Set<'rate' | 'upstream'>();
  private readonly observer: ConnectionObserver;
  /** The SASL login in progress, for the failure log (never the payload itself). */
  private saslAttempt: { mechanism: string; user: string | undefined } | undefined;

  constructor(
    private readonly channel: ClientChannel,
    private readonly options: SessionOptions,
  ) {
    this.log = options.log;
    this.observer = options.observer ?? UNOBSERVED;
    this.rate = new StanzaRateLimiter(options.rateLimit.perSecond, options.rateLimit.burst);
    this.parser = new XmlStreamParser(this, options.limits);
    this.input = new ClientInput(this.parser, options.nulGraceMs, (mode) => this.framingDecided(mode));
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
      this.input.push(chunk);
    } catch (error) {
      this.fail(error instanceof StreamError ? error : new StreamError('internal-server-error', 'internal error'), error);
    }
  }

  isGatewayName(name: string): boolean {
    return !this.options.domains.includes(name.toLowerCase()) && this.options.isGatewayName(name.toLowerCase());
  }

  // ---- the client's stream (XmlStreamHandler) ----

  streamOpen(header: XmlElement, selfClosed: boolean): void {
    if (this.state === 'header') {
      this.clientHeader = { flash: header.ns === NS.flash, selfClosed, version: attr(header, 'version') };
      if (header.local !== 'stream' || (header.ns !== NS.stream && header.ns !== NS.flash)) {
        this.refuse(new StreamError('invalid-namespace', `the stream must be <stream:stream xmlns:stream="${NS.stream}">`));
        return;
      }
      const to = (attr(header, 'to') ?? '').toLowerCase();
      const domain = this.resolveDomain(to);
      if (domain === undefined) {
        // No open relay: only configured domains are reachable, and nothing goes upstream.
        this.refuse(new StreamError('host-unknown', `this gateway does not serve the domain "${to}"`));
        return;
      }
      this.domain = domain;
      this.state = 'connecting';
      this.log.debug({ domain, to }, 'client stream opened');
      this.options.connectUpstream(domain, attr(header, 'xml:lang')).then(
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

  /** A configured domain, the default domain for the gateway's own names, or undefined. */
  private resolveDomain(to: string): string | undefined {
    const fallback = this.options.domains[0];
    if (to === '') return fallback;
    if (this.options.domains.includes(to)) return to;
    // XIFF 2 and XIFF 3.4.5 put the host they dialled in `to` (flash-clients.md).
    return this.options.isGatewayName(to) ? fallback : undefined;
  }

  element(element: XmlElement): void {
    // Per-client rate limit: over it, stanzas wait their turn and the input is paused.
    if (this.rateQueue.length > 0 || this.rate.tryTake() > 0) {
      if (this.rateQueue.length >= this.options.maxPendingStanzas) {
        throw new StreamError('policy-violation', `more than ${this.options.rateLimit.perSecond} stanzas per second, and ${this.options.maxPendingStanzas} waiting`);
      }
      this.rateQueue.push(element);
      if (this.rateQueue.length === 1) {
        this.hold('rate');
        this.drainRateQueue();
      }
      return;
    }
    this.dispatch(element);
  }

  private drainRateQueue(): void {
    while (this.rateQueue.length > 0 && this.state !== 'closed') {
      const wait = this.rate.tryTake();
      if (wait > 0) {
        setTimeout(() => this.drainRateQueue(), wait).unref();
        return;
      }
      try {
        this.dispatch(this.rateQueue.shift() as XmlElement);
      } catch (error) {
        // From a timer, not the parser: end the session here, never let it escape.
        this.fail(error instanceof StreamError ? error : new StreamError('internal-server-error', 'internal error'), error);
        return;
      }
    }
    this.release('rate');
  }

  private hold(reason: 'rate' | 'upstream'): void {
    if (this.holds.size === 0) this.channel.pause();
    this.holds.add(reason);
  }

  private release(reason: 'rate' | 'upstream'): void {
    if (!this.holds.delete(reason)) return;
    if (this.holds.size === 0 && this.state !== 'closed') this.channel.resume();
  }

  private dispatch(element: XmlElement): void {
    if (this.state === 'open') this.forward(element);
    else if (this.state === 'connecting' || this.state === 'bridging' || this.state === 'restarting') {
      if (this.queued.length >= this.options.maxPendingStanzas) {
        throw new StreamError('policy-violation', `more than ${this.options.maxPendingStanzas} stanzas sent before the stream was ready`);
      }
      this.queued.push(element);
    }
  }

  streamClose(): void {
    this.log.debug('client closed its stream');
    void this.close();
  }

  // ---- framing ----

  private framingDecided(mode: FramingMode): void {
    const header = this.clientHeader ?? { flash: false, selfClosed: false, version: '1.0' };
    this.framing = framingFor({ mode, flashHeader: header.flash, selfClosedHeader: header.selfClosed });
    this.log.debug({ mode }, 'client framing decided');
    this.observer.dialect(mode);
    if (this.refusal) this.fail(this.refusal);
    else if (this.readyFeatures) {
      const features = this.readyFeatures;
      this.readyFeatures = undefined;
      this.streamReady(features);
    }
  }

  /** A refusal of the header waits for the framing, so an XMLSocket client can read it. */
  private refuse(error: StreamError): void {
    this.state = 'closing';
    this.domain = this.options.domains[0] ?? '';
    if (this.input.mode) this.fail(error);
    else this.refusal = error;
  }

  // ---- upstream stream set-up ----

  private upstreamReady(stream: UpstreamStream, features: XmlElement): void {
    if (this.state !== 'connecting') {
      void stream.close();
      return;
    }
    this.upstream = stream;
    this.attachUpstream(stream);
    this.log.info({ domain: this.domain, tls: stream.tlsActive }, 'upstream stream ready');
    this.streamReady(features);
  }

  private attachUpstream(stream: UpstreamStream): void {
    stream.attach({ element: (e) => this.upstreamElement(e), ended: (error) => this.upstreamEnded(error) });
  }

  /** Sends the header and the filtered features in one write, then releases queued elements. */
  private streamReady(features: XmlElement): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (!this.input.mode) {
      this.readyFeatures = features;
      return;
    }
    this.lastFeatures = features;
    this.serverOffersSession = child(features, 'session', NS.session) !== undefined;
    let out = this.headerXml();
    // RFC 6120 §4.3.2: no features for a client that did not say version 1.0.
    if (this.clientHeader?.version !== undefined) out += this.framing.element(serialize(this.clientFeatures(features)));
    this.channel.write(out);
    this.state = 'open';
    this.drainQueue();
  }

  /** What the client may use: filtered, plus legacy auth before login (XEP-0078 §4). */
  private clientFeatures(features: XmlElement): XmlElement {
    const filtered = filterFeatures(features);
    if (this.authenticated || !child(features, 'mechanisms', NS.sasl)) return filtered;
    return { ...filtered, children: [...filtered.children, el('auth', NS.iqAuthFeature)] };
  }

  private headerXml(): string {
    this.headerSent = true;
    // The server's stream id when there is one; our own when the header precedes an error.
    const id = this.upstream?.streamId || randomUUID();
    return this.framing.header({ from: this.domain || this.options.domains[0], id, lang: 'en', version: '1.0' });
  }

  private drainQueue(): void {
    while (this.state === 'open' && this.queued.length > 0) this.forward(this.queued.shift() as XmlElement);
  }

  // ---- client → server ----

  private forward(element: XmlElement): void {
    const upstream = this.upstream;
    if (!upstream) return;
    const local = answerLocally(element, this);
    if (local) {
      this.channel.write(this.framing.element(local.reply));
      if (local.close) void this.close();
      return;
    }
    if (!this.authenticated) {
      const legacy = parseLegacyAuth(element);
      if (legacy) {
        this.legacyAuth(legacy, upstream);
        return;
      }
    }
    traceElement(this.log, 'client→server', element);
    if (isStanza(element)) this.observer.stanzaIn();
    else if (element.local === 'auth' && element.ns === NS.sasl) this.saslStarted(element);
    upstream.write(serialize(element));
    if (upstream.backlogged && !this.holds.has('upstream')) {
      // The server is not reading: stop reading the client until it does (or until the stream
      // is gone: the upstream write timeout ends a server that never reads again).
      this.hold('upstream');
      upstream.onDrain(() => this.release('upstream'));
    }
  }

  /** A SASL `<auth/>` passes through untouched; the name in it goes to the failure log. */
  private saslStarted(auth: XmlElement): void {
    const mechanism = attr(auth, 'mechanism') ?? '';
    const initial = auth.children.filter((c): c is string => typeof c === 'string').join('');
    this.saslAttempt = { mechanism, user: saslUserName(mechanism, initial) };
    this.observer.loginStarted();
  }

  /** XEP-0078 through the gateway: answer the fields, run the login upstream on a set. */
  private legacyAuth(request: LegacyAuthRequest, upstream: UpstreamStream): void {
    if (request.kind === 'fields') {
      this.channel.write(this.framing.element(legacyAuthFields(request.id, request.username)));
      return;
    }
    if (request.kind === 'invalid') {
      this.log.info({ reason: request.reason }, 'legacy login refused');
      this.channel.write(this.framing.element(legacyAuthError(request.id, 'not-acceptable', request.reason)));
      return;
    }
    this.state = 'bridging';
    this.observer.loginStarted();
    const credentials = request.kind === 'login' ? { username: request.username, password: request.password } : undefined;
    loginUpstream(upstream, this.lastFeatures ?? el('features', NS.stream), {
      credentials,
      resource: request.resource,
      timeoutMs: this.options.authTimeoutMs,
      saltedPasswords: this.options.saltedPasswords,
    }).then(
      ({ jid, features }) => {
        if (this.state !== 'bridging') return;
        this.authenticated = true;
        clearTimeout(this.authTimer);
        this.serverOffersSession = child(features, 'session', NS.session) !== undefined;
        this.attachUpstream(upstream);
        this.log.info({ jid, method: 'iq:auth' }, 'client authenticated');
        this.observer.loginSucceeded('iq:auth');
        this.channel.write(this.framing.element(legacyAuthSuccess(request.id)));
        this.state = 'open';
        this.drainQueue();
      },
      (error: unknown) => {
        if (this.state !== 'bridging') return;
        if (!(error instanceof LoginError)) {
          this.fail(asStreamError(error));
          return;
        }
        const user = request.kind === 'login' ? request.username : undefined;
        this.log.info({ reason: error.condition, method: 'iq:auth', user, detail: error.text }, 'client login failed');
        this.observer.loginFailed({ method: 'iq:auth', reason: error.condition, user });
        this.channel.write(this.framing.element(legacyAuthError(request.id, error.condition, error.text)));
        // SASL failed on this upstream stream; a new attempt needs a fresh one.
        this.reopenAfterFailedLogin(upstream);
      },
    );
  }

  /** After a refused legacy login the upstream stream is unusable for SASL: open a new one. */
  private reopenAfterFailedLogin(old: UpstreamStream): void {
    this.upstream = undefined;
    void old.close();
    this.state = 'connecting';
    this.options.connectUpstream(this.domain, undefined).then(
      ({ stream, features }) => {
        if (this.state !== 'connecting') {
          void stream.close();
          return;
        }
        this.upstream = stream;
        this.attachUpstream(stream);
        this.lastFeatures = features;
        this.state = 'open';
        this.drainQueue();
      },
      (error: unknown) => this.fail(asStreamError(error)),
    );
  }

  // ---- server → client ----

  private upstreamElement(element: XmlElement): void {
    traceElement(this.log, 'server→client', element);
    if (element.ns === NS.sasl) {
      if (element.local === 'success') {
        this.authenticated = true;
        clearTimeout(this.authTimer);
        // Both sides start a new stream now (RFC 6120 §6.4.6): reset both parsers.
        this.upstream?.expectRestart();
        this.parser.restart();
        this.log.info({ method: 'sasl', mechanism: this.saslAttempt?.mechanism, user: this.saslAttempt?.user }, 'client authenticated');
        this.observer.loginSucceeded('sasl');
      } else if (element.local === 'failure') {
        const reason = element.children.find((c): c is XmlElement => typeof c !== 'string')?.local ?? 'unknown';
        const attempt = { method: 'sasl', reason, user: this.saslAttempt?.user, mechanism: this.saslAttempt?.mechanism };
        this.log.info(attempt, 'client login failed');
        this.observer.loginFailed(attempt);
      }
    } else if (isStanza(element)) this.observer.stanzaOut();
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

  /**
   * The gateway is stopping: the client reads `system-shutdown` and the stream close, the
   * upstream stream is closed properly; resolves once that is done.
   */
  async shutdown(): Promise<void> {
    if (this.state === 'closed') return;
    const upstream = this.upstream;
    this.upstream = undefined;
    this.fail(new StreamError('system-shutdown', 'the gateway is shutting down; reconnect in a moment'));
    if (upstream) await upstream.close();
  }

  /** Ends the session with a stream error to the client (RFC 6120 §4.9.1). */
  fail(error: StreamError, cause?: unknown): void {
    if (this.state === 'closed') return;
    if (cause !== undefined && !(cause instanceof StreamError)) this.log.error({ err: cause }, 'session error');
    this.log.info({ condition: error.condition }, `stream error to client: ${error.text}`);
    this.observer.errorSent(error.condition);
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
    this.stopTimers();
    this.queued = [];
    this.rateQueue = [];
    this.channel.end();
  }

  private channelClosed(): void {
    if (this.state !== 'closed') this.log.debug('client connection closed');
    this.observer.closed();
    this.state = 'closed';
    this.stopTimers();
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream) void upstream.close();
  }

  private stopTimers(): void {
    clearTimeout(this.authTimer);
    clearTimeout(this.idleTimer);
    this.input.dispose();
  }

  get isAuthenticated(): boolean {
    return this.authenticated;
  }
}

function asStreamError(error: unknown): StreamError {
  return error instanceof StreamError ? error : new StreamError('internal-server-error', 'internal error');
}
