/**
 * The gateway's XEP-0114 external component connection ("Jabber Component Protocol"): one TCP
 * stream to the XMPP server's component port, authenticated with the shared secret, kept up for
 * as long as the gateway runs (shared/spec/room-control.md: the room-control service is such a
 * component).
 *
 * - Stream: `<stream:stream xmlns="jabber:component:accept" … to="DOMAIN">`; the server answers
 *   with its header carrying the stream id; we send `<handshake>` = the LOWERCASE hex SHA-1 of
 *   (stream id + secret) — ejabberd rejects uppercase (shared/spec/xmpp-servers.md) — and the
 *   empty `<handshake/>` that comes back means online.
 * - Stream errors from the server are reported (log + a 'state' change carrying the error).
 *   `not-authorized` (wrong secret), `conflict` (another connection holds the domain) and
 *   `host-unknown` (the server does not know the domain) are configuration problems: logged at
 *   error level, once per distinct reason, and retried with backoff like every other failure.
 * - Any drop → reconnect with exponential backoff and jitter; the backoff is reset once a
 *   connection has stayed online for `reconnect.stableMs` (so a server that accepts and kicks at
 *   once, e.g. ejabberd replacing us with another instance, is not hammered every second).
 * - Whitespace keepalive while online (RFC 6120 §4.6.1).
 *
 * Stanzas in and out are in the `jabber:client` namespace (NS.client), like every other stanza
 * of the gateway: the connection maps them to and from `jabber:component:accept` on the wire.
 * An outgoing stanza without `from` gets the component's domain (XEP-0114 requires it).
 *
 * The secret is held in an ES private field and never logged; neither is the handshake digest.
 */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { attr, NS, type XmlElement, type XmlNode } from '../codec/xml/element.js';
import { DEFAULT_XML_LIMITS, XmlStreamParser, type XmlLimits, type XmlStreamHandler } from '../codec/xml/parser.js';
import { escapeAttr, escapeText, serialize } from '../codec/xml/serializer.js';
import { StreamError, type StreamErrorCondition } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { streamErrorFromElement } from './upstream.js';
import { STREAM_CLOSE } from './stream-header.js';

/** XEP-0114's stream namespace. */
export const NS_COMPONENT = 'jabber:component:accept';

/** The `<handshake>` content: lowercase hex SHA-1 of stream id + secret (XEP-0114 §3). */
export function handshakeDigest(streamId: string, secret: string): string {
  // Node's 'hex' digest is lowercase; ejabberd rejects uppercase.
  return createHash('sha1').update(streamId + secret, 'utf8').digest('hex');
}

export interface ReconnectOptions {
  /** Delay before the first retry, ms. Default 1000. */
  readonly initialDelayMs: number;
  /** Upper bound of every delay, ms. Default 30000. */
  readonly maxDelayMs: number;
  /** Growth per failed attempt. Default 2. */
  readonly factor: number;
  /**
   * Jitter: each delay is the exponential value minus up to this fraction of it (default 0.2).
   * Below 1 - 1/factor the delays still grow strictly until they reach the maximum.
   */
  readonly jitter: number;
  /** A connection online at least this long resets the backoff. Default 5000 ms. */
  readonly stableMs: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = Object.freeze({
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
  stableMs: 5000,
});

/**
 * The delay before retry number `attempt` (0 = the first retry after a drop or a failure):
 * `min(max, initial * factor^attempt) * (1 - jitter * random())`, rounded. `random` returns
 * [0, 1) like Math.random (inject a fixed one for a deterministic schedule).
 */
export function backoffDelay(
  attempt: number,
  options: Pick<ReconnectOptions, 'initialDelayMs' | 'maxDelayMs'> & Partial<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  const factor = options.factor ?? DEFAULT_RECONNECT.factor;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? DEFAULT_RECONNECT.jitter));
  const exp = options.initialDelayMs * Math.pow(factor, Math.min(Math.max(0, attempt), 64));
  const base = Math.min(options.maxDelayMs, exp);
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(base * (1 - jitter * r)));
}

export interface ComponentOptions {
  /** The XMPP server's component listener. */
  readonly host: string;
  readonly port: number;
  /** The component's domain, e.g. `control.example.com`: the header's `to`. */
  readonly domain: string;
  /** The shared secret configured on the server for this domain. Never logged. */
  readonly secret: string;
  /** Limits for what the server sends. Default DEFAULT_XML_LIMITS. */
  readonly limits?: XmlLimits | undefined;
  /** Whitespace keepalive interval while online, ms. Default 60000. */
  readonly keepaliveMs?: number | undefined;
  readonly reconnect?: Partial<ReconnectOptions> | undefined;
  /** From the TCP connect to the `<handshake/>`, ms. Default 10000. */
  readonly handshakeTimeoutMs?: number | undefined;
  /** Waiting for the server's `</stream:stream>` in stop(), ms. Default 2000. */
  readonly closeTimeoutMs?: number | undefined;
  readonly log: Logger;
  /** For the backoff jitter (tests inject a fixed one). Default Math.random. */
  readonly random?: (() => number) | undefined;
}

export type ComponentState = 'connecting' | 'online' | 'offline' | 'stopped';

export interface ComponentStateChange {
  readonly state: ComponentState;
  readonly previous: ComponentState;
  /**
   * Why the component is not online (set when a connection or an attempt ended): the server's
   * stream error, or a local StreamError (`remote-connection-failed` when the server cannot be
   * reached or the connection was lost, `connection-timeout` when the handshake took too long).
   */
  readonly error?: StreamError | undefined;
  /** The error is a configuration problem (not-authorized, conflict, host-unknown). */
  readonly configProblem?: boolean | undefined;
  /** state 'offline': the delay before the next attempt, ms. */
  readonly retryInMs?: number | undefined;
  /** Failed attempts in a row so far (reset once a connection stayed online `stableMs`). */
  readonly failures: number;
}

/** Why iq() failed: no answer in time, the connection dropped, or the component was not online. */
export class ComponentIqError extends Error {
  override readonly name = 'ComponentIqError';
  constructor(
    readonly reason: 'timeout' | 'disconnected' | 'offline' | 'stopped',
    message: string,
  ) {
    super(message);
  }
}

/** Conditions that retrying cannot fix: the server's or the gateway's configuration must change. */
const CONFIG_PROBLEMS: ReadonlySet<StreamErrorCondition> = new Set(['not-authorized', 'conflict', 'host-unknown']);

function configAdvice(condition: StreamErrorCondition, domain: string): string {
  switch (condition) {
    case 'not-authorized':
      return `the XMPP server refused the handshake of component ${domain} (not-authorized): the component secret does not match the server's`;
    case 'conflict':
      return `another connection holds component ${domain} on the XMPP server (conflict): is a second gateway running with this component?`;
    case 'host-unknown':
      return `the XMPP server does not know component ${domain} (host-unknown): declare it in the server's configuration`;
    default:
      return `component ${domain}: ${condition}`;
  }
}

/** A copy of `node` with every element in namespace `from` moved to `to` (same object when none is). */
function retarget(node: XmlElement, from: string, to: string): XmlElement {
  let children: XmlNode[] | undefined;
  for (let i = 0; i < node.children.length; i++) {
    const c = node.children[i]!;
    if (typeof c === 'string') continue;
    const r = retarget(c, from, to);
    if (r !== c) {
      children ??= node.children.slice();
      children[i] = r;
    }
  }
  if (node.ns !== from && children === undefined) return node;
  return { ...node, ns: node.ns === from ? to : node.ns, children: children ?? node.children };
}

function withAttr(element: XmlElement, name: string, value: string): XmlElement {
  return {
    ...element,
    attrs: [...element.attrs.filter((a) => !(a.prefix === '' && a.local === name)), { prefix: '', local: name, ns: '', value }],
  };
}

const STANZAS = new Set(['iq', 'message', 'presence']);

/**
 * Whether an answer from `from` can be the answer to an iq sent to `to` (lowercased): the same
 * address, or its bare JID or domain answering for it (a server bounces for its users); no
 * address on either side is accepted (the server itself). Ids are random: this only keeps an
 * unrelated entity from answering a request sent with an id of the application's choosing.
 */
function answersTo(fromAttr: string, to: string): boolean {
  const from = fromAttr.toLowerCase();
  if (from === '' || to === '' || from === to) return true;
  const slash = to.indexOf('/');
  const bare = slash < 0 ? to : to.slice(0, slash);
  const at = bare.indexOf('@');
  return from === bare || from === bare.slice(at + 1);
}

interface PendingIq {
  readonly resolve: (element: XmlElement) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** The request's `to`, lowercased ('' when none). */
  readonly to: string;
}

/** One TCP connection attempt and its stream. */
interface Link {
  readonly socket: net.Socket;
  readonly parser: XmlStreamParser;
  phase: 'tcp' | 'header' | 'handshake' | 'online';
  connected: boolean;
  closed: boolean;
  /** The server sent `</stream:stream>`. */
  serverClosed: boolean;
  /** stop() is closing this link: a drop is not a failure. */
  closing: boolean;
  onClosed: (() => void) | undefined;
}

export class ComponentConnection {
  readonly domain: string;
  readonly #secret: string;
  private readonly host: string;
  private readonly port: number;
  private readonly limits: XmlLimits;
  private readonly keepaliveMs: number;
  private readonly reconnectOptions: ReconnectOptions;
  private readonly handshakeTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly random: () => number;
  private readonly log: Logger;

  private currentState: ComponentState = 'offline';
  private started = false;
  private link: Link | undefined;
  /** Failed attempts in a row (drives the backoff). */
  private failures = 0;
  private lastError: StreamError | undefined;
  /** The last failure logged above debug level (condition + text): each distinct one is logged once. */
  private lastReported: string | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private noIdTimer: NodeJS.Timeout | undefined;
  private onlineSince = 0;
  /** When the component last went offline (or was started), and the attempts failed since. */
  private downSince = 0;
  private failedSinceOnline = 0;
  private stopping: Promise<void> | undefined;
  private readonly pending = new Map<string, PendingIq>();
  private readonly stanzaHandlers = new Set<(element: XmlElement) => void>();
  private readonly stateHandlers = new Set<(change: ComponentStateChange) => void>();
  private iqCounter = 0;
  private readonly iqPrefix = `fxgc-${randomBytes(4).toString('hex')}-`;

  constructor(options: ComponentOptions) {
    this.host = options.host;
    this.port = options.port;
    this.domain = options.domain;
    this.#secret = options.secret;
    this.limits = options.limits ?? DEFAULT_XML_LIMITS;
    this.keepaliveMs = options.keepaliveMs ?? 60_000;
    this.reconnectOptions = { ...DEFAULT_RECONNECT, ...(options.reconnect ?? {}) };
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.random = options.random ?? Math.random;
    // The domain is in every message; callers usually bind it as `component` already.
    this.log = options.log.child({ componentServer: `${options.host}:${options.port}` });
  }

  get state(): ComponentState {
    return this.currentState;
  }

  /** The last failure (cleared when online). */
  get error(): StreamError | undefined {
    return this.lastError;
  }

  /** Bytes queued to the server that it has not read yet. */
  get backlogBytes(): number {
    return this.link?.socket.writableLength ?? 0;
  }

  /** Every stanza (iq/message/presence) the server routes to the component; answers to iq() are not. Returns an unsubscribe function. */
  onStanza(handler: (element: XmlElement) => void): () => void {
    this.stanzaHandlers.add(handler);
    return () => this.stanzaHandlers.delete(handler);
  }

  /** Every state change. Returns an unsubscribe function. */
  onState(handler: (change: ComponentStateChange) => void): () => void {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  /** Connects, and keeps reconnecting until stop(). Later calls do nothing. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.downSince = Date.now();
    this.log.info(`component ${this.domain}: connecting to the XMPP server at ${this.host}:${this.port}`);
    this.connect();
  }

  /** Resolves once online (at once when it is); rejects after `timeoutMs` or on stop(). */
  waitOnline(timeoutMs: number): Promise<void> {
    if (this.currentState === 'online') return Promise.resolve();
    if (this.currentState === 'stopped') return Promise.reject(new Error(`component ${this.domain} is stopped`));
    return new Promise<void>((resolve, reject) => {
      const off = this.onState((change) => {
        if (change.state === 'online') {
          done();
          resolve();
        } else if (change.state === 'stopped') {
          done();
          reject(new Error(`component ${this.domain} was stopped before it came online`));
        }
      });
      const timer = setTimeout(() => {
        done();
        const why = this.lastError ? ` (last error: ${this.lastError.message})` : '';
        reject(new Error(`component ${this.domain} not online after ${timeoutMs} ms${why}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        off();
      };
    });
  }

  /**
   * Sends a stanza (in NS.client or jabber:component:accept; `from` defaults to the domain).
   * Returns false, sending nothing, when the component is not online.
   */
  send(element: XmlElement): boolean {
    const link = this.link;
    if (this.currentState !== 'online' || !link || link.phase !== 'online' || link.closed) return false;
    let out = retarget(element, NS.client, NS_COMPONENT);
    if (STANZAS.has(out.local) && out.ns === NS_COMPONENT && attr(out, 'from') === undefined) out = withAttr(out, 'from', this.domain);
    this.write(link, serialize(out, NS_COMPONENT));
    return true;
  }

  /**
   * Sends an iq get/set and resolves with the answer of that id (a result or an error iq: check
   * its `type`). An id is generated when the request has none. Rejects with ComponentIqError
   * when not online, after `timeoutMs`, or when the connection drops first.
   */
  iq(element: XmlElement, timeoutMs = 10_000): Promise<XmlElement> {
    if (element.local !== 'iq') return Promise.reject(new TypeError(`iq() needs an <iq/>, not <${element.local}/>`));
    const type = attr(element, 'type');
    if (type !== 'get' && type !== 'set') return Promise.reject(new TypeError(`iq() sends type get or set, not ${String(type)}`));
    if (this.currentState !== 'online') {
      return Promise.reject(new ComponentIqError(this.currentState === 'stopped' ? 'stopped' : 'offline', `component ${this.domain} is not online`));
    }
    let id = attr(element, 'id');
    let request = element;
    if (id === undefined || id === '') {
      id = `${this.iqPrefix}${++this.iqCounter}`;
      request = withAttr(element, 'id', id);
    }
    if (this.pending.has(id)) return Promise.reject(new TypeError(`iq() with id ${id} is already waiting for an answer`));
    const to = (attr(request, 'to') ?? '').toLowerCase();
    const requestId = id;
    return new Promise<XmlElement>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new ComponentIqError('timeout', `iq ${requestId} to ${to || '(no to)'}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer, to });
      if (!this.send(request)) {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new ComponentIqError('offline', `component ${this.domain} is not online`));
      }
    });
  }

  /** Closes the stream properly (our `</stream:stream>`, the server's, bounded wait) and stops reconnecting. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.clearTimers();
    this.rejectPending('stopped', `component ${this.domain} stopped`);
    const link = this.link;
    if (link && !link.closed) {
      link.closing = true;
      if (link.phase === 'online' || link.phase === 'handshake' || link.phase === 'header') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.closeTimeoutMs);
          timer.unref();
          link.onClosed = () => {
            clearTimeout(timer);
            resolve();
          };
          if (link.serverClosed) {
            // The server closed first: answering with ours is all that is left.
            link.socket.end(STREAM_CLOSE);
          } else {
            link.socket.write(STREAM_CLOSE);
            link.socket.end();
          }
        });
      }
      this.destroyLink(link);
    }
    this.link = undefined;
    const wasOnline = this.currentState === 'online';
    this.setState('stopped', {});
    if (wasOnline || this.started) this.log.info(`component ${this.domain}: stopped`);
  }

  // -------------------------------------------------------------------------------------------

  private connect(): void {
    if (this.stopping) return;
    this.reconnectTimer = undefined;
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    const handler: XmlStreamHandler = {
      streamOpen: (header) => this.streamOpen(link, header),
      element: (element) => this.element(link, element),
      streamClose: () => this.streamClose(link),
    };
    const link: Link = {
      socket,
      parser: new XmlStreamParser(handler, this.limits),
      phase: 'tcp',
      connected: false,
      closed: false,
      serverClosed: false,
      closing: false,
      onClosed: undefined,
    };
    this.link = link;
    this.setState('connecting', {});
    this.log.debug({ attempt: this.failures + 1 }, `component ${this.domain}: connecting`);
    this.handshakeTimer = setTimeout(() => {
      const where = link.connected ? 'did not complete the component handshake' : 'did not accept the TCP connection';
      this.fail(link, new StreamError('connection-timeout', `the XMPP server at ${this.host}:${this.port} ${where} within ${this.handshakeTimeoutMs} ms`));
    }, this.handshakeTimeoutMs);

    socket.once('connect', () => {
      link.connected = true;
      link.phase = 'header';
      socket.setKeepAlive(true, this.keepaliveMs);
      this.write(
        link,
        `<?xml version='1.0'?><stream:stream xmlns="${NS_COMPONENT}" xmlns:stream="${NS.stream}" to="${escapeAttr(this.domain)}">`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      if (link.closed) return;
      try {
        link.parser.write(chunk);
      } catch (error) {
        const text = error instanceof StreamError ? error.text : (error as Error).message;
        this.fail(link, new StreamError('remote-connection-failed', `the XMPP server sent bad XML (${text})`));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code ?? error.message;
      this.fail(
        link,
        new StreamError(
          'remote-connection-failed',
          link.connected
            ? `the connection to the XMPP server at ${this.host}:${this.port} failed (${reason})`
            : `cannot reach the XMPP server's component port at ${this.host}:${this.port} (${reason})`,
        ),
      );
    });
    socket.on('close', () => {
      const done = link.onClosed;
      link.onClosed = undefined;
      done?.();
      this.fail(link, new StreamError('remote-connection-failed', 'the XMPP server closed the connection'));
    });
  }

  private streamOpen(link: Link, header: XmlElement): void {
    if (link.closed || link.closing) return;
    if (header.local !== 'stream' || header.ns !== NS.stream) {
      this.fail(link, new StreamError('remote-connection-failed', `the XMPP server opened a stream named ${header.local} in ${header.ns}`));
      return;
    }
    const id = attr(header, 'id') ?? '';
    if (id === '') {
      // Prosody opens with an empty id right before a stream error (host-unknown): let it arrive.
      this.noIdTimer = setTimeout(() => {
        this.fail(link, new StreamError('invalid-xml', 'the XMPP server sent no stream id in its component stream header'));
      }, 1000);
      return;
    }
    link.phase = 'handshake';
    this.write(link, `<handshake>${escapeText(handshakeDigest(id, this.#secret))}</handshake>`);
  }

  private element(link: Link, element: XmlElement): void {
    if (link.closed) return;
    if (element.ns === NS.stream && element.local === 'error') {
      // The server ends the stream after its error: answer with our close (RFC 6120 §4.4).
      this.fail(link, streamErrorFromElement(element), STREAM_CLOSE);
      return;
    }
    if (link.closing) return;
    if (link.phase !== 'online') {
      if (link.phase === 'handshake' && element.local === 'handshake' && element.ns === NS_COMPONENT) {
        this.goOnline(link);
        return;
      }
      this.fail(link, new StreamError('remote-connection-failed', `the XMPP server sent <${element.local}> before accepting the component handshake`));
      return;
    }
    if (!STANZAS.has(element.local) || element.ns !== NS_COMPONENT) {
      this.log.debug({ element: element.local, ns: element.ns }, `component ${this.domain}: ignored a non-stanza element from the server`);
      return;
    }
    const stanza = retarget(element, NS_COMPONENT, NS.client);
    if (stanza.local === 'iq') {
      const type = attr(stanza, 'type');
      const id = attr(stanza, 'id');
      const waiting = id === undefined ? undefined : this.pending.get(id);
      if (waiting && (type === 'result' || type === 'error') && answersTo(attr(stanza, 'from') ?? '', waiting.to)) {
        this.pending.delete(id!);
        clearTimeout(waiting.timer);
        waiting.resolve(stanza);
        return;
      }
    }
    for (const handler of [...this.stanzaHandlers]) {
      try {
        handler(stanza);
      } catch (error) {
        this.log.error({ err: error }, `component ${this.domain}: a stanza handler threw`);
      }
    }
  }

  private streamClose(link: Link): void {
    link.serverClosed = true;
    if (link.closing) {
      this.destroyLink(link);
      return;
    }
    // Answer the close, then treat it as a drop.
    this.fail(link, new StreamError('remote-connection-failed', 'the XMPP server closed the component stream'), STREAM_CLOSE);
  }

  private goOnline(link: Link): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    link.phase = 'online';
    this.onlineSince = Date.now();
    const n = this.failedSinceOnline;
    const after = n > 0 ? ` after ${((this.onlineSince - this.downSince) / 1000).toFixed(1)} s and ${n} failed attempt${n === 1 ? '' : 's'}` : '';
    this.log.info({ failedAttempts: n }, `component ${this.domain}: online${after}`);
    this.failedSinceOnline = 0;
    this.lastError = undefined;
    this.lastReported = undefined;
    this.stableTimer = setTimeout(() => {
      this.stableTimer = undefined;
      this.failures = 0;
    }, this.reconnectOptions.stableMs);
    this.stableTimer.unref();
    this.keepaliveTimer = setInterval(() => {
      if (!link.closed) link.socket.write(' ');
    }, this.keepaliveMs);
    this.keepaliveTimer.unref();
    this.setState('online', {});
  }

  private write(link: Link, data: string): void {
    if (link.closed) return;
    link.socket.write(data);
    this.keepaliveTimer?.refresh();
  }

  /**
   * The link failed or dropped: report, and schedule the next attempt. `farewell` is written
   * (then the socket ends) instead of dropping the socket at once.
   */
  private fail(link: Link, error: StreamError, farewell?: string): void {
    if (link.closed) return;
    const wasOnline = link.phase === 'online';
    const closing = link.closing;
    this.destroyLink(link, farewell);
    if (this.link === link) this.link = undefined;
    if (closing || this.stopping) {
      if (error.condition !== 'remote-connection-failed') {
        this.log.info({ condition: error.condition }, `component ${this.domain}: ${error.text} while closing`);
      }
      return;
    }
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    if (this.stableTimer) {
      // Dropped before it was stable: this counts as a failure like any other.
      clearTimeout(this.stableTimer);
      this.stableTimer = undefined;
    }
    this.rejectPending('disconnected', `component ${this.domain}: the connection dropped (${error.message})`);

    if (wasOnline) this.downSince = Date.now();
    else this.failedSinceOnline++;
    const configProblem = CONFIG_PROBLEMS.has(error.condition);
    const retryInMs = backoffDelay(this.failures, this.reconnectOptions, this.random);
    this.failures++;
    this.lastError = error;
    this.report(error, configProblem, wasOnline, retryInMs);
    this.setState('offline', { error, configProblem, retryInMs });
    if (this.stopping) return;
    this.reconnectTimer = setTimeout(() => this.connect(), retryInMs);
  }

  private report(error: StreamError, configProblem: boolean, wasOnline: boolean, retryInMs: number): void {
    const key = `${error.condition}|${error.text}`;
    const fields = { condition: error.condition, text: error.text, retryInMs, failures: this.failures };
    const retry = `retrying in ${(retryInMs / 1000).toFixed(1)} s`;
    if (key === this.lastReported) {
      this.log.debug(fields, `component ${this.domain}: attempt ${this.failures} failed again (${error.condition}); ${retry}`);
      return;
    }
    this.lastReported = key;
    if (configProblem) {
      this.log.error(fields, `${configAdvice(error.condition, this.domain)} [${error.text}]; ${retry}`);
    } else if (wasOnline) {
      const up = Math.round((Date.now() - this.onlineSince) / 1000);
      this.log.warn(fields, `component ${this.domain}: connection lost after ${up} s online (${error.condition}: ${error.text}); ${retry}`);
    } else {
      this.log.warn(fields, `component ${this.domain}: cannot connect (${error.condition}: ${error.text}); ${retry}`);
    }
  }

  private destroyLink(link: Link, farewell?: string): void {
    if (link.closed) return;
    link.closed = true;
    clearTimeout(this.noIdTimer);
    this.noIdTimer = undefined;
    const { socket } = link;
    if (farewell !== undefined && link.connected && !link.closing && socket.writable) {
      socket.end(farewell);
      // The server closes its side right after; do not wait for it for long.
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      socket.destroy();
    }
  }

  private rejectPending(reason: 'disconnected' | 'stopped', message: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new ComponentIqError(reason, `iq ${id}: ${message}`));
    }
  }

  private clearTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.stableTimer);
    clearTimeout(this.noIdTimer);
    clearInterval(this.keepaliveTimer);
    this.reconnectTimer = this.handshakeTimer = this.stableTimer = this.noIdTimer = this.keepaliveTimer = undefined;
  }

  private setState(state: ComponentState, extra: Omit<ComponentStateChange, 'state' | 'previous' | 'failures'>): void {
    const previous = this.currentState;
    if (previous === 'stopped') return;
    this.currentState = state;
    const change: ComponentStateChange = { state, previous, failures: this.failures, ...extra };
    for (const handler of [...this.stateHandlers]) {
      try {
        handler(change);
      } catch (error) {
        this.log.error({ err: error }, `component ${this.domain}: a state handler threw`);
      }
    }
  }
}
