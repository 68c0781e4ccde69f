/**
 * The XMPP session behind an RTMP app: the gateway logs in on the app's behalf and keeps the
 * upstream stream, apart from the RTMP connection that asked for it — so a Redfire client that
 * reconnects can be re-attached to it (reattach.ts). Also the checks every dialect applies to
 * stanzas an app hands the gateway: they are spliced into the XML stream.
 */
import { NS, type XmlElement, type XmlNode } from '../../codec/xml/element.js';
import { parseFragment, type XmlLimits } from '../../codec/xml/parser.js';
import { serialize } from '../../codec/xml/serializer.js';
import { StreamError } from '../../errors.js';
import type { Credentials } from '../../xmpp/sasl/mechanisms.js';
import { loginUpstream } from '../../xmpp/login.js';
import type { SaltedPasswordCache } from '../../xmpp/sasl/salted-password-cache.js';
import type { UpstreamStream } from '../../xmpp/upstream.js';

/** A call the app made wrongly: its responder gets `_error` with this description. */
export class CallError extends Error {
  override readonly name = 'CallError';
}

export interface LinkListener {
  stanza(element: XmlElement): void;
  /** The XMPP connection ended without being asked to; `reason` is its condition. */
  lost(reason: string): void;
}

export type ConnectUpstream = (domain: string) => Promise<{ stream: UpstreamStream; features: XmlElement }>;

export class XmppLink {
  private listener: LinkListener | undefined;
  private closed = false;

  private constructor(
    private readonly stream: UpstreamStream,
    readonly jid: string,
  ) {
    stream.attach({
      element: (e) => this.listener?.stanza(e),
      ended: (error) => {
        if (this.closed) return;
        this.closed = true;
        this.listener?.lost(error?.condition ?? 'remote-connection-failed');
      },
    });
  }

  /** Logs in; throws LoginError for a refusal and StreamError when the server fails. */
  static async open(
    connectUpstream: ConnectUpstream,
    domain: string,
    credentials: Credentials | undefined,
    resource: string,
    timeoutMs: number,
    saltedPasswords?: SaltedPasswordCache,
  ): Promise<XmppLink> {
    const { stream, features } = await connectUpstream(domain);
    try {
      const { jid } = await loginUpstream(stream, features, { credentials, resource, timeoutMs, saltedPasswords });
      return new XmppLink(stream, jid);
    } catch (error) {
      void stream.close();
      throw error;
    }
  }

  listen(listener: LinkListener | undefined): void {
    this.listener = listener;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send(element: XmlElement): void {
    if (!this.closed) this.stream.write(serialize(element));
  }

  /**
   * Undefined while the server takes more; otherwise a promise that resolves once it has read
   * its backlog or the stream is gone (the upstream write timeout ends a server that stopped
   * reading), for the RTMP connection to hold the app's calls meanwhile.
   */
  whenWritable(): Promise<void> | undefined {
    if (this.closed || !this.stream.backlogged) return undefined;
    return new Promise<void>((resolve) => this.stream.onDrain(resolve));
  }

  /** Sends raw XML the gateway wrote itself (never an app's unchecked input). */
  sendRaw(xml: string): void {
    if (!this.closed) this.stream.write(xml);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener = undefined;
    await this.stream.close();
  }
}

const STANZAS = new Set(['message', 'presence', 'iq']);

/**
 * Raw stanzas from an app (XIFF's and Redfire's `xmppSend`): a well-formed fragment of
 * message, presence and iq elements in jabber:client. `from` is dropped: the server sets it.
 */
export function stanzasFromXml(xml: string, limits: XmlLimits): XmlElement[] {
  let nodes: XmlNode[];
  try {
    nodes = parseFragment(xml, limits, NS.client);
  } catch (error) {
    throw new CallError(`the XML is not well-formed (${error instanceof StreamError ? error.text : String(error)})`);
  }
  const stanzas: XmlElement[] = [];
  for (const node of nodes) {
    if (typeof node === 'string') {
      if (node.trim() !== '') throw new CallError('text outside the stanzas');
      continue;
    }
    if (node.ns !== NS.client || !STANZAS.has(node.local)) {
      throw new CallError(`<${node.local}> is not a stanza: send message, presence or iq elements`);
    }
    stanzas.push({ ...node, attrs: node.attrs.filter((a) => !(a.prefix === '' && a.local === 'from')) });
  }
  return stanzas;
}
