/**
 * Which stream features a client may see through the gateway (shared/spec/flash-clients.md,
 * "Features, auth, addressing"): the gateway terminates TLS itself, so STARTTLS and
 * channel-binding (`-PLUS`) mechanisms are meaningless to the client; compression and stream
 * management would act on the gateway's hop, not the client's, so they go too.
 */
import { NS, childElements, text, type XmlElement } from '../codec/xml/element.js';

const REMOVED_FEATURE_NAMESPACES = new Set<string>([
  NS.tls,
  NS.compress,
  'urn:xmpp:sm:2',
  NS.sm,
  'urn:xmpp:sasl:2', // SASL2 / Bind2 assume the client sees the TLS channel
  'urn:xmpp:bind:0',
]);

export function filterFeatures(features: XmlElement): XmlElement {
  const children = features.children.flatMap((node) => {
    if (typeof node === 'string') return [];
    if (REMOVED_FEATURE_NAMESPACES.has(node.ns)) return [];
    if (node.local === 'mechanisms' && node.ns === NS.sasl) {
      const kept = node.children.filter(
        (m) => typeof m !== 'string' && !(m.local === 'mechanism' && text(m).trim().toUpperCase().endsWith('-PLUS')),
      );
      return [{ ...node, children: kept }];
    }
    return [node];
  });
  return { ...features, children };
}

/** The SASL mechanisms the server offers in these features. */
export function saslMechanisms(features: XmlElement): string[] {
  const mechanisms = childElements(features).find((c) => c.local === 'mechanisms' && c.ns === NS.sasl);
  if (!mechanisms) return [];
  return childElements(mechanisms)
    .filter((m) => m.local === 'mechanism')
    .map((m) => text(m).trim());
}

/** `<starttls/>` offered, and whether it is marked `<required/>`. */
export function starttlsOffer(features: XmlElement): { offered: boolean; required: boolean } {
  const starttls = childElements(features).find((c) => c.local === 'starttls' && c.ns === NS.tls);
  if (!starttls) return { offered: false, required: false };
  return { offered: true, required: childElements(starttls).some((c) => c.local === 'required') };
}
