/**
 * Small character-class helpers shared by the XML parser and serializer.
 * No I/O; pure functions and constant tables.
 */

// XML 1.0 (5th ed.) §2.3 NameStartChar minus ':' — i.e. the start of an NCName (Namespaces in XML 1.0 §3).
const NC_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
// XML 1.0 §2.3 NameChar minus ':'.
const NC_CHAR = NC_START + '\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040';

/** An NCName: an XML name without a colon (Namespaces in XML 1.0 §3). */
export const NCNAME_RE = new RegExp(`^[${NC_START}][${NC_CHAR}]*$`, 'u');
/** A QName: NCName or NCName ':' NCName (Namespaces in XML 1.0 §3). */
export const QNAME_RE = new RegExp(`^[${NC_START}][${NC_CHAR}]*(?::[${NC_START}][${NC_CHAR}]*)?$`, 'u');
/** An XML 1.0 Name (colons allowed anywhere), used for entity names and PI targets. */
export const NAME_RE = new RegExp(`^[:${NC_START}][:${NC_CHAR}]*$`, 'u');

/**
 * Characters that XML 1.0 §2.2 (Char) does not allow, as they can appear in a decoded JS string:
 * C0 controls other than TAB/LF/CR, and U+FFFE/U+FFFF. (Surrogates cannot come out of a strict
 * UTF-8 decode; lone surrogates in JS strings are handled separately where it matters.)
 */
export const INVALID_CHAR_RE = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;

/** Lone (unpaired) UTF-16 surrogates: not representable in UTF-8. */
export const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** XML 1.0 §2.2 Char production, for a code point produced by a character reference. */
export function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** "U+0000" style label for error texts. */
export function codePointLabel(s: string): string {
  const cp = s.codePointAt(0) ?? 0;
  return 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
}
