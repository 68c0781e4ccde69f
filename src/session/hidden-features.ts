/**
 * Answers for requests about features the gateway hides from its clients (src/xmpp/features.ts).
 * Forwarding them would act on the gateway's own hop: a `<starttls/>` passed on while the
 * upstream is in plaintext would make the server wait for a TLS handshake from the gateway.
 */
import { NS, type XmlElement } from '../codec/xml/element.js';

export interface LocalAnswer {
  /** Self-contained XML to send back to the client. */
  readonly reply: string;
  /** Whether the stream must be closed after it. */
  readonly close: boolean;
}

const COMPRESS = 'http://jabber.org/protocol/compress';

export function answerHiddenFeature(element: XmlElement): LocalAnswer | undefined {
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
    return {
      reply: `<failed xmlns="${element.ns}"><feature-not-implemented xmlns="${NS.stanzas}"/></failed>`,
      close: false,
    };
  }
  return undefined;
}
