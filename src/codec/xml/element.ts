/**
 * The element model shared by the XML parser, the serializer and the sessions.
 *
 * Names are kept as written (prefix + local name) together with the namespace they resolved
 * to, so the serializer can re-declare exactly the prefixes each packet needs (a Flash client
 * parses every packet on its own: shared/spec/flash-clients.md, "NUL mode").
 */

export const NS = {
  stream: 'http://etherx.jabber.org/streams',
  client: 'jabber:client',
  flash: 'http://www.jabber.com/streams/flash',
  xml: 'http://www.w3.org/XML/1998/namespace',
  xmlns: 'http://www.w3.org/2000/xmlns/',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  compress: 'http://jabber.org/features/compress',
  sm: 'urn:xmpp:sm:3',
  ping: 'urn:xmpp:ping',
  iqAuth: 'jabber:iq:auth',
  iqAuthFeature: 'http://jabber.org/features/iq-auth',
} as const;

export interface XmlAttribute {
  /** Prefix as written ('' when unprefixed). `xmlns` declarations are not kept as attributes. */
  readonly prefix: string;
  readonly local: string;
  /** Namespace of a prefixed attribute; '' for an unprefixed one (XML Namespaces §6.3). */
  readonly ns: string;
  readonly value: string;
}

export type XmlNode = XmlElement | string;

export interface XmlElement {
  /** Prefix as written ('' when unprefixed). */
  readonly prefix: string;
  readonly local: string;
  /** The namespace the name resolved to ('' for none). */
  readonly ns: string;
  readonly attrs: XmlAttribute[];
  readonly children: XmlNode[];
}

/** Builds an element in a namespace, unprefixed (the serializer declares xmlns as needed). */
export function el(
  local: string,
  ns: string,
  attrs: Record<string, string | undefined> = {},
  children: XmlNode[] = [],
): XmlElement {
  const list: XmlAttribute[] = [];
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    if (name === 'xml:lang') list.push({ prefix: 'xml', local: 'lang', ns: NS.xml, value });
    else list.push({ prefix: '', local: name, ns: '', value });
  }
  return { prefix: '', local, ns, attrs: list, children };
}

/** The value of an unprefixed attribute (or `xml:lang` when asked by that name). */
export function attr(element: XmlElement, name: string): string | undefined {
  if (name === 'xml:lang') return element.attrs.find((a) => a.ns === NS.xml && a.local === 'lang')?.value;
  return element.attrs.find((a) => a.prefix === '' && a.local === name)?.value;
}

/** The first child element with this local name (and namespace, when given). */
export function child(element: XmlElement, local: string, ns?: string): XmlElement | undefined {
  for (const c of element.children) {
    if (typeof c !== 'string' && c.local === local && (ns === undefined || c.ns === ns)) return c;
  }
  return undefined;
}

export function childElements(element: XmlElement): XmlElement[] {
  return element.children.filter((c): c is XmlElement => typeof c !== 'string');
}

/** Concatenated text content of the direct text children. */
export function text(element: XmlElement): string {
  return element.children.filter((c): c is string => typeof c === 'string').join('');
}
