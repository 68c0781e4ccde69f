/**
 * Generated element models for the XML property tests: the raw shape fast-check builds, and
 * `toExpressible`, which turns it into a model XML can express as is (a prefix needs a
 * namespace, one namespace per prefix per element, adjacent text merged).
 */
import type { XmlAttribute, XmlElement, XmlNode } from '../../src/codec/xml/element.js';

export interface GenAttr {
  prefix: string;
  ns: string;
  local: string;
  value: string;
}

export interface GenEl {
  prefix: string;
  ns: string;
  local: string;
  attrs: GenAttr[];
  children: (GenEl | string)[];
}

export function toExpressible(g: GenEl): XmlElement {
  const prefix = g.ns === '' ? '' : g.prefix;
  const bound = new Map<string, string>();
  if (prefix !== '') bound.set(prefix, g.ns);
  const attrs: XmlAttribute[] = [];
  for (const a of g.attrs) {
    let ns = a.ns;
    if (a.prefix !== '' && a.prefix !== 'xml') {
      const b = bound.get(a.prefix);
      if (b === undefined) bound.set(a.prefix, ns);
      else ns = b;
    }
    if (attrs.some((x) => x.ns === ns && x.local === a.local)) continue;
    attrs.push({ prefix: a.prefix, local: a.local, ns, value: a.value });
  }
  const children: XmlNode[] = [];
  for (const c of g.children) {
    if (typeof c === 'string') {
      if (c === '') continue;
      const last = children[children.length - 1];
      if (typeof last === 'string') children[children.length - 1] = last + c;
      else children.push(c);
    } else {
      children.push(toExpressible(c));
    }
  }
  return { prefix, local: g.local, ns: g.ns, attrs, children };
}
