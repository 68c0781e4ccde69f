/**
 * Requests the gateway answers itself instead of passing them to the server
 * (shared/spec/flash-clients.md, "Features, auth, addressing"):
 * - features it hides (STARTTLS, compression, stream management): forwarding them would act on
 *   the gateway's own hop — a `<starttls/>` passed on would leave the server waiting for a
 *   TLS handshake from the gateway;
 * - XEP-0199 pings addressed to the gateway's host name or IP (XIFF pings the host it dialled);
 * - the RFC 3921 session IQ when the server no longer supports it (XIFF waits for its result).
 */
import { attr, child, NS, type XmlElement } from '../codec/xml/element.js';
import { escapeAttr } from '../codec/xml/serializer.js';

export interface LocalAnswer {
  /** Self-contained XML to send back to the client. */
  readonly reply: string;
  /** Whether the stream must be closed after it. */
  readonly close: boolean;
}

export interface LocalContext {
  /** Names and addresses of the gateway itself (not XMPP domains). */
  isGatewayName(name: string): boolean;
  /** Whether the server advertised the session feature on the current stream. */
  readonly serverOffersSession: boolean;
}

const COMPRESS = 'http://jabber.org/protocol/compress';

export function answerLocally(element: XmlElement, context: LocalContext): LocalAnswer | undefined {
  if (element.ns === NS.tls && element.local === 'starttls') {
    // RFC 6120 §5.4.2.2: <failure/>, then the stream is closed.
    return { reply: `<failure xmlns="${NS.tls}"/>`, close: true };
  }
  if (element.ns === COMPRESS && element.local === 'compress') {
    // XEP-0138 §6.2: the method is not supported (compression was never offered).
    return { reply: `<failure xmlns="${COMPRESS}"><unsupported-method/></failure>`, close: false };
  }
  if ((element.ns === NS.sm || element.ns === 'urn:xmpp:sm:2') && (element.local === 'enable' || element.local === 'resume')) {
    // XEP-0198 §3: stream management was not offered on this stream.
    return { reply: `<failed xmlns="${element.ns}"><feature-not-implemented xmlns="${NS.stanzas}"/></failed>`, close: false };
  }
  if (element.local !== 'iq' || element.ns !== NS.client) return undefined;
  const type = attr(element, 'type');
  const id = attr(element, 'id') ?? '';
  const to = attr(element, 'to');
  if (type === 'get' && to !== undefined && context.isGatewayName(to) && child(element, 'ping', NS.ping)) {
    return { reply: `<iq type="result" id="${escapeAttr(id)}" from="${escapeAttr(to)}"/>`, close: false };
  }
  if (type === 'set' && !context.serverOffersSession && child(element, 'session', NS.session)) {
    return { reply: `<iq type="result" id="${escapeAttr(id)}"/>`, close: false };
  }
  return undefined;
}
