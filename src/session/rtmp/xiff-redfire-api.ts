/**
 * The XMPP call API of XIFF's XMPPRTMPConnection (dialect B) and of Redfire (dialect C),
 * shared/spec/rtmp.md. Both call `xmppConnect(username, password, resource)` and `xmppSend`,
 * and receive `xmppRecieve` — misspelt, and the misspelling is the contract. They are told
 * apart as the spec says: XIFF calls xmppConnect with a responder and expects a Boolean;
 * Redfire calls it without one and expects the call-back `xmppConnect(digest, resource)`, then
 * passes the digest with every later call. A Redfire session outlives a dropped RTMP
 * connection for the grace period (reattach.ts).
 */
import { randomBytes } from 'node:crypto';
import type { XmlElement } from '../../codec/xml/element.js';
import type { XmlLimits } from '../../codec/xml/parser.js';
import { serialize } from '../../codec/xml/serializer.js';
import type { AmfValue } from '../../codec/amf/values.js';
import { LoginError, StreamError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { streamErrorXml } from '../../xmpp/stream-header.js';
import type { ReattachRegistry } from './reattach.js';
import type { CallPeer, RtmpApplication } from './xmpp-call-api.js';
import { CallError, stanzasFromXml, XmppLink, type ConnectUpstream } from './xmpp-link.js';
import type { SaltedPasswordCache } from '../../xmpp/sasl/salted-password-cache.js';
import { UNOBSERVED, type ConnectionObserver } from '../../ops/observer.js';
import { traceElement } from '../../log/traffic.js';

export interface XiffRedfireOptions {
  readonly domains: readonly string[];
  readonly limits: XmlLimits;
  readonly connectUpstream: ConnectUpstream;
  readonly loginTimeoutMs: number;
  /** SCRAM SaltedPassword values of earlier logins (RFC 5802 §5.1). */
  readonly saltedPasswords?: SaltedPasswordCache;
  readonly reattach: ReattachRegistry;
  readonly log: Logger;
  /** Metrics and the status page: logins and stanzas. */
  readonly observer?: ConnectionObserver;
}

type Dialect = 'xiff' | 'redfire';

export class XiffRedfireApi implements RtmpApplication {
  private link: XmppLink | undefined;
  private dialect: Dialect | undefined;
  private digest = '';
  private resource = '';
  /** Bare JID + resource: where a parked Redfire session is found again. */
  private key = '';
  private password = '';

  private get observer(): ConnectionObserver {
    return this.options.observer ?? UNOBSERVED;
  }
  private busy = false;
  private disposed = false;

  constructor(
    private readonly peer: CallPeer,
    private readonly options: XiffRedfireOptions,
  ) {}

  whenWritable(): Promise<void> | undefined {
    return this.link?.whenWritable();
  }

  call(method: string, args: AmfValue[], txid: number): Promise<AmfValue> | undefined {
    switch (method) {
      case 'xmppConnect':
        return this.connect(args, txid > 0 ? 'xiff' : 'redfire');
      case 'xmppSend':
        return this.send(args);
      case 'xmppDisconnect':
        return this.disconnect(args);
      default:
        return undefined;
    }
  }

  private async connect(args: AmfValue[], dialect: Dialect): Promise<AmfValue> {
    const [username, password, resource] = args;
    if (typeof username !== 'string' || typeof password !== 'string') {
      throw new CallError('xmppConnect takes (username, password, resource)');
    }
    if (this.link || this.busy) throw new CallError('xmppConnect: already connected');
    this.dialect = dialect;
    this.observer.dialect(dialect);
    // XIFF and Redfire pass a bare user name; "user@domain" picks one of the gateway's domains.
    const at = username.lastIndexOf('@');
    const user = at < 0 ? username : username.slice(0, at);
    const domain = at < 0 ? (this.options.domains[0] ?? '') : username.slice(at + 1).toLowerCase();
    this.resource = typeof resource === 'string' ? resource : '';
    this.key = `${user.toLowerCase()}@${domain}/${this.resource}`;
    this.password = password;
    if (!this.options.domains.includes(domain)) return this.loginFailed('host-unknown', `this gateway does not serve the domain "${domain}"`);

    if (dialect === 'redfire') {
      const parked = this.options.reattach.claim(this.key, password);
      if (parked) {
        this.attach(parked.link, parked.digest);
        this.options.log.info({ jid: parked.link.jid, dialect, missed: parked.missed.length }, 'Redfire client re-attached to its XMPP session');
        this.peer.invoke('xmppConnect', [this.digest, this.resource]);
        for (const element of parked.missed) this.deliver(element);
        return null;
      }
    }

    this.busy = true;
    this.observer.loginStarted();
    try {
      const credentials = user === '' && password === '' ? undefined : { username: user, password };
      const link = await XmppLink.open(this.options.connectUpstream, domain, credentials, this.resource, this.options.loginTimeoutMs, this.options.saltedPasswords);
      if (this.disposed) {
        void link.close();
        return null;
      }
      this.attach(link, randomBytes(16).toString('hex'));
      this.options.log.info({ jid: link.jid, method: 'rtmp', dialect }, 'client authenticated');
      this.observer.loginSucceeded('rtmp');
      if (dialect === 'xiff') return true;
      this.peer.invoke('xmppConnect', [this.digest, this.resource]);
      return null;
    } catch (error) {
      if (error instanceof LoginError || error instanceof StreamError) return this.loginFailed(error.condition, error.text);
      throw error;
    } finally {
      this.busy = false;
    }
  }

  private attach(link: XmppLink, digest: string): void {
    this.link = link;
    this.digest = digest;
    link.listen({ stanza: (e) => this.deliver(e), lost: (reason) => this.lost(reason) });
  }

  /** XIFF's responder gets false; Redfire's call-back gets a null digest (its "not authorized"). */
  private loginFailed(reason: string, text: string): AmfValue {
    const user = this.key.slice(0, this.key.indexOf('@'));
    this.options.log.info({ reason, method: 'rtmp', dialect: this.dialect, user }, `client login failed: ${text}`);
    this.observer.loginFailed({ method: 'rtmp', reason, user });
    if (this.dialect === 'xiff') return false;
    this.peer.invoke('xmppConnect', [null, this.resource]);
    return null;
  }

  /** `xmppSend(xml)` (XIFF) or `xmppSend(digest, xml)` (Redfire): raw stanzas, checked. */
  private async send(args: AmfValue[]): Promise<AmfValue> {
    const xml = args.length >= 2 ? args[1] : args[0];
    if (args.length >= 2) this.checkDigest(args[0], 'xmppSend');
    if (typeof xml !== 'string') throw new CallError('xmppSend takes the XML of the stanzas to send');
    const link = this.link;
    if (!link) throw new CallError('xmppSend: not connected; call xmppConnect first');
    for (const stanza of stanzasFromXml(xml, this.options.limits)) {
      link.send(stanza);
      traceElement(this.options.log, 'client→server', stanza);
      this.observer.stanzaIn();
    }
    return null;
  }

  private async disconnect(args: AmfValue[]): Promise<AmfValue> {
    if (args.length > 0) this.checkDigest(args[0], 'xmppDisconnect');
    const link = this.link;
    this.link = undefined;
    if (link) await link.close();
    return null;
  }

  private checkDigest(digest: AmfValue, method: string): void {
    if (this.link && digest !== this.digest) throw new CallError(`${method}: wrong session digest`);
  }

  /** One stanza per call, well-formed on its own (XIFF parses it with XMLDocument). */
  private deliver(element: XmlElement): void {
    this.observer.stanzaOut();
    traceElement(this.options.log, 'server→client', element);
    const xml = serialize(element);
    this.peer.invoke('xmppRecieve', this.dialect === 'redfire' ? [xml, this.resource] : [xml]);
  }

  /** The app learns the XMPP session ended the way XIFF would over a socket: a stream error. */
  private lost(reason: string): void {
    this.link = undefined;
    this.options.log.info({ reason }, 'XMPP connection lost');
    const xml = streamErrorXml(reason as Parameters<typeof streamErrorXml>[0], 'the XMPP connection was lost');
    this.peer.invoke('xmppRecieve', this.dialect === 'redfire' ? [xml, this.resource] : [xml]);
  }

  async shutdown(reason: string): Promise<void> {
    const link = this.link;
    this.link = undefined;
    if (!link) return;
    // Told as XIFF would hear it over a socket: a stream error.
    const xml = streamErrorXml(reason as Parameters<typeof streamErrorXml>[0], 'the gateway is shutting down');
    this.peer.invoke('xmppRecieve', this.dialect === 'redfire' ? [xml, this.resource] : [xml]);
    await link.close();
  }

  /** The RTMP connection is gone: a Redfire session waits to be re-attached, others close. */
  dispose(): void {
    this.disposed = true;
    const link = this.link;
    this.link = undefined;
    if (!link) return;
    if (this.dialect === 'redfire' && link.isOpen) this.options.reattach.park(this.key, link, this.digest, this.password);
    else void link.close();
    this.password = '';
  }
}
