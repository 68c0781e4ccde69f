/**
 * Serializes the element model back to XML text.
 *
 * Every output parses on its own: each prefix it uses is declared in it (Flash clients parse each
 * packet alone: shared/spec/flash-clients.md, "NUL mode"). Prefixes are kept as written; a
 * declaration is emitted on the element where a binding is first needed and not already in scope.
 */

import { NS, type XmlAttribute, type XmlElement } from './element.js';

interface Scope {
  readonly prefix: string;
  readonly ns: string;
  readonly next: Scope | null;
}

/** `xml` is bound by definition and never declared (Namespaces in XML 1.0 §3). */
const XML_SCOPE: Scope = { prefix: 'xml', ns: NS.xml, next: null };

function lookup(scope: Scope | null, prefix: string): string | undefined {
  for (let s = scope; s !== null; s = s.next) if (s.prefix === prefix) return s.ns;
  return undefined;
}

// Characters XML 1.0 §2.2 cannot carry at all (not even as references) are replaced by U+FFFD,
// so a serialized packet can never contain, say, a NUL (which would also break NUL framing).
// With the `u` flag, [\uD800-\uDFFF] matches only unpaired surrogates (not valid UTF-16).
const TEXT_ESC = /[&<>\r\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/u;
const TEXT_ESC_G = /[&<>\r\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/gu;
const ATTR_ESC = /[&<>"\x00-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/u;
const ATTR_ESC_G = /[&<>"\x00-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/gu;

function escapeChar(c: string): string {
  switch (c) {
    case '&':
      return '&amp;';
    case '<':
      return '&lt;';
    case '>':
      return '&gt;';
    case '"':
      return '&quot;';
    // As references, white space survives end-of-line handling (XML 1.0 §2.11) and
    // attribute-value normalisation (§3.3.3).
    case '\t':
      return '&#9;';
    case '\n':
      return '&#10;';
    case '\r':
      return '&#13;';
    default:
      return '\uFFFD';
  }
}

/** Escapes character data: &, <, > (and CR, which a parser would turn into LF). */
export function escapeText(s: string): string {
  return TEXT_ESC.test(s) ? s.replace(TEXT_ESC_G, escapeChar) : s;
}

/** Escapes a value for a double-quoted attribute: &, <, >, ", and TAB/LF/CR as references. */
export function escapeAttr(s: string): string {
  return ATTR_ESC.test(s) ? s.replace(ATTR_ESC_G, escapeChar) : s;
}

/**
 * Serializes `element`. `defaultNs` is the default namespace already in scope where the output
 * will be read ('' for none); the output declares everything else it needs.
 */
export function serialize(element: XmlElement, defaultNs: string = NS.client): string {
  return write(element, defaultNs === '' ? XML_SCOPE : { prefix: '', ns: defaultNs, next: XML_SCOPE });
}

function write(el: XmlElement, parent: Scope): string {
  let scope = parent;
  let decls = '';
  // Names the model can hold but XML cannot write as given: a prefix needs a namespace, `xmlns`
  // is never an element prefix nor its namespace an element's, and the xml namespace is only
  // ever spelled `xml:` (Namespaces in XML 1.0 §3).
  const ns = el.ns === NS.xmlns ? '' : el.ns;
  let prefix = el.prefix;
  if (ns === NS.xml) prefix = 'xml';
  else if (ns === '' || prefix === 'xml' || prefix === 'xmlns') prefix = '';

  if (prefix === '') {
    if ((lookup(scope, '') ?? '') !== ns) {
      decls = ` xmlns="${escapeAttr(ns)}"`;
      scope = { prefix: '', ns, next: scope };
    }
  } else if (prefix !== 'xml' && lookup(scope, prefix) !== ns) {
    decls = ` xmlns:${prefix}="${escapeAttr(ns)}"`;
    scope = { prefix, ns, next: scope };
  }

  let attrs = '';
  let used: string[] | null = null;
  const list = el.attrs;
  for (let k = 0; k < list.length; k++) {
    const a = list[k]!;
    const ans = a.ns;
    // A repeated expanded name would make the packet not well-formed (Namespaces §6.3): first wins.
    if (k > 0 && repeated(list, k)) continue;
    let ap: string;
    if (ans === '') {
      // Unprefixed attributes are in no namespace (Namespaces in XML 1.0 §6.3). A literal
      // `xmlns` attribute would be a declaration: declarations come from the namespaces.
      if (a.local === 'xmlns') continue;
      ap = '';
    } else if (ans === NS.xml) {
      ap = 'xml';
    } else if (ans === NS.xmlns) {
      continue;
    } else {
      // Prefixes already used on this element (by its name or earlier attributes) keep their binding.
      if (used === null) used = prefix === '' || prefix === 'xml' ? [] : [prefix, ns];
      ap = a.prefix;
      if (ap === '' || ap === 'xml' || ap === 'xmlns' || (lookup(scope, ap) !== ans && isUsed(used, ap))) {
        // No usable prefix as written (or it is taken on this element by another namespace).
        ap = pickPrefix(scope, ans);
      }
      if (lookup(scope, ap) !== ans) {
        decls += ` xmlns:${ap}="${escapeAttr(ans)}"`;
        scope = { prefix: ap, ns: ans, next: scope };
      }
      used.push(ap, ans);
    }
    attrs += ` ${ap === '' ? a.local : `${ap}:${a.local}`}="${escapeAttr(a.value)}"`;
  }

  let content = '';
  for (const c of el.children) content += typeof c === 'string' ? escapeText(c) : write(c, scope);
  const qname = prefix === '' ? el.local : `${prefix}:${el.local}`;
  return content === '' ? `<${qname}${decls}${attrs}/>` : `<${qname}${decls}${attrs}>${content}</${qname}>`;
}

function repeated(list: readonly XmlAttribute[], k: number): boolean {
  const a = list[k]!;
  for (let j = 0; j < k; j++) {
    const b = list[j]!;
    if (b.local === a.local && b.ns === a.ns) return true;
  }
  return false;
}

function isUsed(used: readonly string[], prefix: string): boolean {
  for (let k = 0; k < used.length; k += 2) if (used[k] === prefix) return true;
  return false;
}

/** An in-scope prefix already bound to `ns`, else a fresh one. */
function pickPrefix(scope: Scope, ns: string): string {
  for (let s: Scope | null = scope; s !== null; s = s.next) {
    if (s.prefix !== '' && s.prefix !== 'xml' && s.ns === ns && lookup(scope, s.prefix) === ns) return s.prefix;
  }
  for (let k = 0; ; k++) {
    const p = `ns${k}`;
    if (lookup(scope, p) === undefined) return p;
  }
}
