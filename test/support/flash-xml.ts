/**
 * The XML both Flash client emulations (raw-client.ts, nul-client.ts) parse what they receive
 * into: namespaces, a small element model, a strict namespace-aware parser and a start-tag
 * scanner. raw-client.ts re-exports all of it.
 */
import { SaxesParser } from 'saxes';

export const NS_STREAM = 'http://etherx.jabber.org/streams';
export const NS_CLIENT = 'jabber:client';
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';
export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
export const NS_STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams';
export const NS_STANZA_ERRORS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export type XmlNode = XmlElement | string;

/** A parsed element. `attrs` holds the attributes as received, including xmlns declarations. */
export class XmlElement {
  readonly children: XmlNode[] = [];
  constructor(
    readonly name: string,
    readonly local: string,
    readonly prefix: string,
    readonly uri: string,
    readonly attrs: Record<string, string>,
  ) {}

  /** local name and (optionally) namespace URI match. */
  is(local: string, uri?: string): boolean {
    return this.local === local && (uri === undefined || this.uri === uri);
  }

  elements(): XmlElement[] {
    return this.children.filter((c): c is XmlElement => typeof c !== 'string');
  }

  getChild(local: string, uri?: string): XmlElement | undefined {
    return this.elements().find((e) => e.is(local, uri));
  }

  getChildren(local: string, uri?: string): XmlElement[] {
    return this.elements().filter((e) => e.is(local, uri));
  }

  /** Concatenated direct text children. */
  text(): string {
    return this.children.filter((c): c is string => typeof c === 'string').join('');
  }

  getChildText(local: string, uri?: string): string | undefined {
    return this.getChild(local, uri)?.text();
  }

  toString(): string {
    const attrs = Object.entries(this.attrs)
      .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
      .join('');
    if (this.children.length === 0) return `<${this.name}${attrs}/>`;
    const inner = this.children.map((c) => (typeof c === 'string' ? escapeXml(c) : c.toString())).join('');
    return `<${this.name}${attrs}>${inner}</${this.name}>`;
  }
}

/** Parses a complete XML document with saxes (strict, namespace-aware); returns the root. */
export function parseXmlDocument(xml: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  parser.on('opentag', (node) => {
    const attrs: Record<string, string> = {};
    for (const [k, a] of Object.entries(node.attributes)) attrs[k] = a.value;
    const el = new XmlElement(node.name, node.local, node.prefix, node.uri, attrs);
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    if (!node.isSelfClosing) stack.push(el);
  });
  parser.on('closetag', (node) => {
    // self-closing tags are not on the stack (saxes emits closetag for them too)
    if (!node.isSelfClosing) stack.pop();
  });
  const onText = (t: string): void => {
    const parent = stack[stack.length - 1];
    if (!parent) return;
    const last = parent.children[parent.children.length - 1];
    if (typeof last === 'string') parent.children[parent.children.length - 1] = last + t;
    else parent.children.push(t);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.write(xml).close(); // throws on the first error
  if (!root) throw new Error('no root element');
  return root;
}

/** Finds the end ('>') of the start tag that begins at `start`, honouring quoted attribute values. */
export function startTagEnd(s: string, start: number): { end: number; selfClosed: boolean } | undefined {
  let quote: string | undefined;
  for (let i = start; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '>') {
      return { end: i, selfClosed: s[i - 1] === '/' };
    }
  }
  return undefined;
}
