/**
 * The XMPP call API over RTMP, dialect A (shared/spec/rtmp.md, "The XMPP-RTMP gateway spec"):
 * `xmpp_connect`, `xmpp_disconnect` and `xmpp` from the app; `xmpp_message`, `xmpp_presence`,
 * `xmpp_iq` and `xmpp_disconnected` to it. The gateway runs the XMPP login itself
 * (src/xmpp/login.ts) and relays stanzas both ways; it knows nothing of RTMP framing: it talks
 * to its app through the small `CallPeer` interface.
 */
import { randomUUID } from 'node:crypto';
import { attr, NS, type XmlAttribute, type XmlElement, type XmlNode } from '../../codec/xml/element.js';
import { parseFragment, type XmlLimits } from '../../codec/xml/parser.js';
import { escapeAttr, escapeText, serialize } from '../../codec/xml/serializer.js';
import { LoginError, StreamError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { AmfValue } from '../../codec/amf/values.js';
import { CallError, XmppLink, type ConnectUpstream } from './xmpp-link.js';
import type { SaltedPasswordCache } from '../../xmpp/sasl/salted-password-cache.js';
import { UNOBSERVED, type ConnectionObserver } from '../../ops/observer.js';
import { traceElement } from '../../log/traffic.js';

export { CallError };

/** What the API needs of the RTMP connection it serves. */
export interface CallPeer {
  /** Invokes a method on the client, without asking for an answer (transaction id 0). */
  invoke(method: string, args: AmfValue[]): void;
}

/** What an RTMP connection dispatches its calls to (one per dialect). */
export interface RtmpApplication {
  /** Answers a call (`txid` 0: no responder); undefined when the method is not this dialect's. */
  call(method: string, args: AmfValue[], txid: number): Promise<AmfValue> | undefined;
  /**
   * Undefined when the app's calls may go on; otherwise they wait (the connection's input
   * paused) until the promise resolves: its XMPP server has not read what was sent yet.
   */
  whenWritable?(): Promise<void> | undefined;
  /** The RTMP connection is gone. */
  dispose(): void;
  /** The gateway is stopping: tell the app why and close the XMPP session properly. */
  shutdown(reason: string): Promise<void>;
}

export interface XmppCallApiOptions {
  readonly domains: readonly string[];
  readonly limits: XmlLimits;
  /** Connects to the server for a domain (resolves after TLS, with the server's features). */
  readonly connectUpstream: ConnectUpstream;
  readonly loginTimeoutMs: number;
  /** SCRAM SaltedPassword values of earlier logins (RFC 5802 §5.1). */
  readonly saltedPasswords?: SaltedPasswordCache;
  /** How long an iq sent with a responder waits for its answer. */
  readonly iqTimeoutMs: number;
  /** How long an inbound iq get/set may stay unanswered before the gateway answers it. */
  readonly unansweredIqMs: number;
  readonly log: Logger;
  /** Metrics and the status page: logins and stanzas. */
  readonly observer?: ConnectionObserver;
}

type StanzaType = 'message' | 'presence' | 'iq';
const STANZA_TYPES = new Set<string>(['message', 'presence', 'iq']);
/** RFC 6120 §8.1: the attributes an app may set; `from` is always the session's own JID. */
const SETTABLE_ATTRIBUTES = ['to', 'type', 'id', 'xml:lang'] as const;

function plainObject(): Record<string, AmfValue> {
  return Object.create(null) as Record<string, AmfValue>;
}

/**
 * The stanza's top-level attributes, as the `attrib` object the app receives. An object literal,
 * which V8 gives a fast shape shared by every stanza with the same attributes; a null-prototype
 * object is a hash table to V8 (several µs per stanza in docs/performance.md). Only an attribute
 * named `__proto__` (a valid XML name) needs one, so that it stays a member.
 */
export function attributesOf(element: XmlElement): Record<string, AmfValue> {
  const out = element.attrs.some((a) => a.prefix === '' && a.local === '__proto__') ? plainObject() : {};
  for (const a of element.attrs) out[a.prefix === '' ? a.local : `${a.prefix}:${a.local}`] = a.value;
  return out;
}

/** The stanza's inner XML (`rawbody`), every child self-contained in jabber:client. */
export function innerXmlOf(element: XmlElement): string {
  let out = '';
  for (const c of element.children) out += typeof c === 'string' ? escapeText(c) : serialize(c);
  return out;
}

export class XmppCallApi implements RtmpApplication {
  private upstream: XmppLink | undefined;
  private connecting = false;
  /** iq get/set the app sent with a responder, by id. */
  private readonly pendingIqs = new Map<string, { resolve: (value: AmfValue) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  /** Inbound iq get/set the app has not answered yet, by `from` + id. */
  private readonly unanswered = new Map<string, NodeJS.Timeout>();
  private disposed = false;
  /** The name of the login in progress, for the failure log (never the password). */
  private user: string | undefined;

  constructor(
    private readonly peer: CallPeer,
    private readonly options: XmppCallApiOptions,
  ) {}

  private get observer(): ConnectionObserver {
    return this.options.observer ?? UNOBSERVED;
  }

  get connected(): boolean {
    return this.upstream !== undefined;
  }

  whenWritable(): Promise<void> | undefined {
    return this.upstream?.whenWritable();
  }

  call(method: string, args: AmfValue[], txid: number): Promise<AmfValue> | undefined {
    switch (method) {
      case 'xmpp_connect':
        return this.connect(args);
      case 'xmpp_disconnect':
        return this.disconnect();
      case 'xmpp':
        return this.send(args, txid > 0);
      default:
        return undefined;
    }
  }

  /** `xmpp_connect({username, domain, password, resource})` → 1 when logged in, else 0. */
  async connect(args: AmfValue[]): Promise<number> {
    const request = args[0];
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
      throw new CallError('xmpp_connect takes one object: {username, domain, password, resource}');
    }
    const field = (name: string): string => {
      const value = (request as Record<string, AmfValue>)[name];
      return typeof value === 'string' ? value : '';
    };
    if (this.upstream || this.connecting) throw new CallError('xmpp_connect: already connected; call xmpp_disconnect first');
    const domain = field('domain').toLowerCase() || (this.options.domains[0] ?? '');
    if (!this.options.domains.includes(domain)) return this.refused('host-unknown', `this gateway does not serve the domain "${domain}"`);
    const username = field('username');
    const password = field('password');
    this.connecting = true;
    this.user = username === '' ? undefined : username;
    this.observer.dialect('call-api');
    this.observer.loginStarted();
    try {
      const credentials = username === '' && password === '' ? undefined : { username, password };
      const link = await XmppLink.open(this.options.connectUpstream, domain, credentials, field('resource'), this.options.loginTimeoutMs, this.options.saltedPasswords);
      if (this.disposed) {
        void link.close();
        return 0;
      }
      this.upstream = link;
      link.listen({ stanza: (e) => this.inbound(e), lost: (reason) => this.lost(reason) });
      this.options.log.info({ jid: link.jid, method: 'rtmp' }, 'client authenticated');
      this.observer.loginSucceeded('rtmp');
      return 1;
    } catch (error) {
      if (error instanceof LoginError) return this.refused(error.condition, error.text);
      if (error instanceof StreamError) return this.refused(error.condition, error.text);
      throw error;
    } finally {
      this.connecting = false;
    }
  }

  /** A failed login: the responder gets 0, then the app hears why (spec: dialect A). */
  private refused(reason: string, text: string): number {
    this.options.log.info({ reason, method: 'rtmp', user: this.user }, `client login failed: ${text}`);
    this.observer.loginFailed({ method: 'rtmp', reason, user: this.user });
    // After the _result with 0 (the caller sends it first, then this runs on the next tick).
    setImmediate(() => this.peer.invoke('xmpp_disconnected', [reason]));
    return 0;
  }

  /** `xmpp_disconnect()` → the reason, once the stream is closed. */
  async disconnect(): Promise<string> {
    const upstream = this.upstream;
    this.upstream = undefined;
    this.failPending(new CallError('disconnected'));
    if (upstream) await upstream.close();
    return 'disconnected';
  }

  /**
   * `xmpp(type, attrs, innerXml)`: sends a stanza with `from` set by the server. For an iq get
   * or set with a responder, resolves with the answering iq as `[attrs, innerXml]`.
   */
  async send(args: AmfValue[], wantsAnswer: boolean): Promise<AmfValue> {
    const upstream = this.upstream;
    if (!upstream) throw new CallError('xmpp: not connected; call xmpp_connect first');
    const [type, attrs, inner] = args;
    if (typeof type !== 'string' || !STANZA_TYPES.has(type)) throw new CallError('xmpp: the first argument must be "message", "presence" or "iq"');
    if (attrs !== null && attrs !== undefined && (typeof attrs !== 'object' || Array.isArray(attrs))) {
      throw new CallError('xmpp: the second argument must be an object of attributes (to, type, id, xml:lang)');
    }
    if (inner !== null && inner !== undefined && typeof inner !== 'string') throw new CallError('xmpp: the third argument must be a string of inner XML');
    let children: XmlNode[];
    try {
      // The inner XML is spliced into the stream: it must be a balanced, well-formed fragment.
      children = parseFragment(inner ?? '', this.options.limits, NS.client);
    } catch (error) {
      throw new CallError(`xmpp: the inner XML is not a well-formed fragment (${error instanceof StreamError ? error.text : String(error)})`);
    }
    const attributes: XmlAttribute[] = [];
    // Only the settable names are read, straight from the (null-prototype, so hash-table) object:
    // cheaper per stanza than listing all its entries, and the rest are ignored anyway.
    const given = (attrs ?? {}) as Record<string, AmfValue>;
    for (const name of SETTABLE_ATTRIBUTES) {
      const value = given[name];
      if (value === null || value === undefined) continue;
      // RFC 6120 §8.1 attributes are strings (rtmp.md, dialect A): an object here (a decoded AMF
      // object has no prototype, so String() throws; a cyclic one from AMF references too) is the
      // app's mistake, told as one, not an internal error.
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new CallError(`xmpp: the attribute ${name} must be a string`);
      }
      const text = String(value);
      if (name === 'xml:lang') attributes.push({ prefix: 'xml', local: 'lang', ns: NS.xml, value: text });
      else attributes.push({ prefix: '', local: name, ns: '', value: text });
    }
    const iqType = attributes.find((a) => a.local === 'type' && a.prefix === '')?.value;
    const isRequest = type === 'iq' && (iqType === 'get' || iqType === 'set');
    if (type === 'iq' && !isRequest && iqType !== 'result' && iqType !== 'error') throw new CallError('xmpp: an iq needs type get, set, result or error');
    let id = attributes.find((a) => a.local === 'id' && a.prefix === '')?.value;
    if (isRequest && id === undefined) {
      id = `rtmp-${randomUUID()}`;
      attributes.push({ prefix: '', local: 'id', ns: '', value: id });
    }
    const element: XmlElement = { prefix: '', local: type as StanzaType, ns: NS.client, attrs: attributes, children };
    if (type === 'iq' && !isRequest && id !== undefined) {
      // The app answers an inbound request: no need for the gateway to answer it later.
      const to = attributes.find((a) => a.local === 'to' && a.prefix === '')?.value ?? '';
      const key = `${to}\u0000${id}`;
      clearTimeout(this.unanswered.get(key));
      this.unanswered.delete(key);
    }
    upstream.send(element);
    traceElement(this.options.log, 'client→server', element);
    this.observer.stanzaIn();
    if (!isRequest || !wantsAnswer) return null;
    const requestId = id as string;
    return new Promise<AmfValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingIqs.delete(requestId);
        reject(new CallError(`xmpp: no answer to iq ${requestId} within ${this.options.iqTimeoutMs / 1000} s`));
      }, this.options.iqTimeoutMs);
      timer.unref();
      this.pendingIqs.set(requestId, { resolve, reject, timer });
    });
  }

  /** A stanza from the server, for the app. */
  private inbound(element: XmlElement): void {
    if (element.ns !== NS.client || !STANZA_TYPES.has(element.local)) return;
    this.observer.stanzaOut();
    traceElement(this.options.log, 'server→client', element);
    const type = attr(element, 'type');
    const id = attr(element, 'id');
    if (element.local === 'iq' && (type === 'result' || type === 'error') && id !== undefined) {
      const pending = this.pendingIqs.get(id);
      if (pending) {
        this.pendingIqs.delete(id);
        clearTimeout(pending.timer);
        pending.resolve([attributesOf(element), innerXmlOf(element)]);
        return;
      }
    }
    if (element.local === 'iq' && (type === 'get' || type === 'set') && id !== undefined) this.expectAnswer(element, id);
    this.peer.invoke(`xmpp_${element.local}`, [attributesOf(element), innerXmlOf(element)]);
  }

  /** No peer waits forever: an inbound request the app leaves unanswered gets an error. */
  private expectAnswer(element: XmlElement, id: string): void {
    const from = attr(element, 'from') ?? '';
    const key = `${from}\u0000${id}`;
    const timer = setTimeout(() => {
      this.unanswered.delete(key);
      const to = from === '' ? '' : ` to="${escapeAttr(from)}"`;
      this.upstream?.sendRaw(
        `<iq type="error" id="${escapeAttr(id)}"${to}><error type="cancel"><service-unavailable xmlns="${NS.stanzas}"/>` +
          `<text xmlns="${NS.stanzas}">the Flash application did not answer</text></error></iq>`,
      );
    }, this.options.unansweredIqMs);
    timer.unref();
    this.unanswered.set(key, timer);
  }

  /** The XMPP connection ended without the app asking. */
  private lost(reason: string): void {
    this.upstream = undefined;
    this.failPending(new CallError('the XMPP connection was lost'));
    this.options.log.info({ reason }, 'XMPP connection lost');
    this.peer.invoke('xmpp_disconnected', [reason]);
  }

  private failPending(error: Error): void {
    for (const [, pending] of this.pendingIqs) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pendingIqs.clear();
    for (const timer of this.unanswered.values()) clearTimeout(timer);
    this.unanswered.clear();
  }

  /** The RTMP connection is gone: close the XMPP stream properly. */
  dispose(): void {
    this.disposed = true;
    const upstream = this.upstream;
    this.upstream = undefined;
    this.failPending(new CallError('the RTMP connection closed'));
    if (upstream) void upstream.close();
  }

  async shutdown(reason: string): Promise<void> {
    const upstream = this.upstream;
    this.upstream = undefined;
    this.failPending(new CallError('the gateway is shutting down'));
    if (!upstream) return;
    this.peer.invoke('xmpp_disconnected', [reason]);
    await upstream.close();
  }
}
