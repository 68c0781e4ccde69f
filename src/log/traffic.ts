/**
 * Traffic tracing (`--log-level trace` only): each element a client or the XMPP server sends,
 * with the secrets taken out first — SASL elements are logged by name and mechanism only, and
 * the password and digest of a legacy iq:auth set (XEP-0078) are replaced. Nothing is
 * serialized unless trace is on.
 */
import { attr, NS, type XmlElement, type XmlNode } from '../codec/xml/element.js';
import { serialize } from '../codec/xml/serializer.js';
import type { Logger } from './logger.js';

const SECRET_FIELDS = new Set(['password', 'digest', 'token', 'hash']);

export function traceElement(log: Logger, direction: 'client→server' | 'server→client', element: XmlElement): void {
  if (!log.isLevelEnabled('trace')) return;
  if (element.ns === NS.sasl) {
    log.trace({ direction, saslElement: element.local, mechanism: attr(element, 'mechanism') }, 'traffic');
    return;
  }
  log.trace({ direction, xml: serialize(withoutSecrets(element)) }, 'traffic');
}

function withoutSecrets(element: XmlElement): XmlElement {
  const hidesSecrets = element.ns === NS.iqAuth || element.children.some((c) => typeof c !== 'string' && c.ns === NS.iqAuth);
  if (!hidesSecrets) return element;
  const scrub = (node: XmlNode): XmlNode => {
    if (typeof node === 'string') return node;
    if (node.ns === NS.iqAuth && SECRET_FIELDS.has(node.local)) return { ...node, children: ['[redacted]'] };
    return { ...node, children: node.children.map(scrub) };
  };
  return scrub(element) as XmlElement;
}
