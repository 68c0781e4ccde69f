/**
 * A streaming, byte-oriented, namespace-aware parser for XMPP's "restricted XML" (RFC 6120 §11).
 *
 * Bytes arrive in arbitrary chunks. The parser finds token boundaries on the raw bytes (only ASCII
 * delimiters matter: '<', '>', quotes, ']]>'), so a token is decoded once, whole, with strict UTF-8;
 * the result is the same however the input was split. Scan state is kept across writes, so a token
 * that arrives one byte at a time is still scanned in linear time. Unparsed bytes are bounded by
 * `maxStanzaBytes` (+1) and released as soon as they are consumed.
 *
 * Never expands entities or reads DTDs: comments, processing instructions, DOCTYPEs and entity
 * references other than the predefined five are refused with `restricted-xml` (RFC 6120 §11.1).
 */

import { Buffer } from 'node:buffer';
import { StreamError } from '../../errors.js';
import { NS, type XmlAttribute, type XmlElement, type XmlNode } from './element.js';
import { INVALID_CHAR_RE, LONE_SURROGATE_RE, NAME_RE, QNAME_RE, codePointLabel, isXmlChar } from './names.js';

export interface XmlLimits {
  /**
   * Bytes of one top-level element (a depth-1 child of the stream) from its '<' to the end of its
   * end tag; also caps the stream header and any not-yet-parsed pending input.
   */
  maxStanzaBytes: number;
  /** Element nesting below the stream element (a stanza is depth 1, its child depth 2 ...). */
  maxDepth: number;
  /** Attributes per element (namespace declarations included). */
  maxAttributes: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = Object.freeze({
  maxStanzaBytes: 262144,
  maxDepth: 32,
  maxAttributes: 64,
});

export interface XmlStreamHandler {
  /** The stream root's start tag is complete. `header` has no children. */
  streamOpen(header: XmlElement, selfClosed: boolean): void;
  /** One complete depth-1 element (a stanza or a stream-level element). */
  element(stanza: XmlElement): void;
  /** The root's end tag. */
  streamClose(): void;
}

// ---------------------------------------------------------------------------------------------
// Byte classes

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QMARK = 0x3f;
const BANG = 0x21;
const DQ = 0x22;
const SQ = 0x27;
const EQ = 0x3d;
const COLON = 0x3a;
const DASH = 0x2d;
const LBRACK = 0x5b;

const C_WS = 1; // XML 1.0 §2.3 S: space, tab, CR, LF
const C_NSTART = 2; // ASCII NCName start char (XML 1.0 §2.3, Namespaces §3)
const C_NAME = 4; // ASCII name char, including ':' (colons are checked separately)
const C_HIGH = 8; // non-ASCII byte: may be part of a name, validated after decoding
const C_NAMEISH = C_NAME | C_HIGH;

const CLS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) CLS[c] = C_WS;
for (let c = 0x41; c <= 0x5a; c++) CLS[c] = C_NSTART | C_NAME;
for (let c = 0x61; c <= 0x7a; c++) CLS[c] = C_NSTART | C_NAME;
CLS[0x5f] = C_NSTART | C_NAME; // '_'
for (let c = 0x30; c <= 0x39; c++) CLS[c] = C_NAME;
CLS[0x2d] = C_NAME; // '-'
CLS[0x2e] = C_NAME; // '.'
CLS[COLON] = C_NAME;
for (let c = 0x80; c <= 0xff; c++) CLS[c] = C_HIGH;

const CDATA_OPEN = Buffer.from('<![CDATA[', 'latin1');
const CDATA_END = Buffer.from(']]>', 'latin1');
const BOM = [0xef, 0xbb, 0xbf];

// Tokens (what the bytes at `pos` are the start of)
const T_NONE = 0;
const T_LT = 1; // '<' seen, kind not known yet
const T_STAG = 2;
const T_ETAG = 3;
const T_PI = 4;
const T_BANG = 5; // '<!' seen
const T_CDATA = 6;
const T_TEXT = 7;
const T_BOM = 8;

// Document phases
const P_DOC = 0; // start of a stream document: whitespace tolerated, XML declaration allowed
const P_PROLOG = 1; // after the XML declaration, before the root
const P_STREAM = 2; // inside the root (the stream)
const P_CLOSED = 3; // after the root's end tag

// ---------------------------------------------------------------------------------------------
// Namespace scopes: an immutable linked list of bindings; every chain ends with `xml`.

interface Scope {
  readonly prefix: string;
  readonly uri: string;
  readonly next: Scope | null;
}

/** The `xml` prefix is bound by definition (Namespaces in XML 1.0 §3). */
const XML_SCOPE: Scope = { prefix: 'xml', uri: NS.xml, next: null };

function lookup(scope: Scope | null, prefix: string): string | undefined {
  for (let s = scope; s !== null; s = s.next) if (s.prefix === prefix) return s.uri;
  return undefined;
}

interface Frame {
  readonly el: XmlElement;
  readonly qname: string;
  readonly scope: Scope;
}

// ---------------------------------------------------------------------------------------------
// Errors

function nwf(text: string): StreamError {
  return new StreamError('not-well-formed', text);
}

function restricted(text: string): StreamError {
  return new StreamError('restricted-xml', text);
}

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}

// ---------------------------------------------------------------------------------------------
// Decoding of complete slices

const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Buffer's own slice methods skip toString()'s argument and encoding handling (measurably faster
// on the per-name/per-value hot path); fall back to toString() should a runtime lack them.
interface SliceMethods {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
const proto = Buffer.prototype as unknown as Partial<SliceMethods>;
const utf8Slice: (v: Buffer, s: number, e: number) => string =
  typeof proto.utf8Slice === 'function'
    ? (v, s, e) => (v as unknown as SliceMethods).utf8Slice(s, e)
    : (v, s, e) => v.toString('utf8', s, e);
const latin1Slice: (v: Buffer, s: number, e: number) => string =
  typeof proto.latin1Slice === 'function'
    ? (v, s, e) => (v as unknown as SliceMethods).latin1Slice(s, e)
    : (v, s, e) => v.toString('latin1', s, e);

/** Strict UTF-8 decode of a slice that starts and ends at ASCII delimiters. */
function utf8(v: Buffer, s: number, e: number): string {
  const str = utf8Slice(v, s, e);
  // Node's decoder replaces bad sequences with U+FFFD; only then pay for the strict decoder.
  if (str.indexOf('\uFFFD') !== -1) {
    try {
      FATAL_UTF8.decode(v.subarray(s, e));
    } catch {
      throw nwf('invalid UTF-8 byte sequence (RFC 6120 §11.6)');
    }
  }
  return str;
}

function checkChars(str: string): void {
  const m = INVALID_CHAR_RE.exec(str);
  if (m !== null) throw nwf(`character ${codePointLabel(m[0])} is not allowed in XML (XML 1.0 §2.2)`);
}

// One regex pass decides whether the slow path is needed at all.
const TEXT_SPECIAL = /[\x00-\x08\x0B\x0C\x0E-\x1F\r&>\uFFFE\uFFFF]/;
const CDATA_SPECIAL = /[\x00-\x08\x0B\x0C\x0E-\x1F\r\uFFFE\uFFFF]/;
const ATTR_SPECIAL = /[\x00-\x1F&<\uFFFE\uFFFF]/;
const EOL_RE = /\r\n?/g;
const ATTR_WS_RE = /\r\n|[\t\n\r]/g;
const ATTR_WS_TEST = /[\t\n\r]/;
const ONLY_WS = /^[ \t\r\n]*$/;

function decodeText(v: Buffer, s: number, e: number): string {
  const str = utf8(v, s, e);
  if (!TEXT_SPECIAL.test(str)) return str;
  checkChars(str);
  if (str.indexOf(']]>') !== -1) throw nwf("']]>' is not allowed in text (XML 1.0 §2.4)");
  // End-of-line handling (XML 1.0 §2.11) applies to literal CRs only, before references.
  const eol = str.indexOf('\r') === -1 ? str : str.replace(EOL_RE, '\n');
  return eol.indexOf('&') === -1 ? eol : expandRefs(eol);
}

function decodeCdata(v: Buffer, s: number, e: number): string {
  const str = utf8(v, s, e);
  if (!CDATA_SPECIAL.test(str)) return str;
  checkChars(str);
  return str.replace(EOL_RE, '\n');
}

function decodeAttr(v: Buffer, s: number, e: number): string {
  let str = utf8(v, s, e);
  if (!ATTR_SPECIAL.test(str)) return str;
  checkChars(str);
  if (str.indexOf('<') !== -1) throw nwf("'<' in an attribute value (XML 1.0 §3.1 WFC: No < in Attribute Values)");
  // Attribute-value normalisation for CDATA attributes (XML 1.0 §3.3.3, after §2.11): literal
  // white space becomes a space; character references are appended as they are.
  if (ATTR_WS_TEST.test(str)) str = str.replace(ATTR_WS_RE, ' ');
  return str.indexOf('&') === -1 ? str : expandRefs(str);
}

function expandRefs(str: string): string {
  let out = '';
  let last = 0;
  let amp = str.indexOf('&');
  while (amp !== -1) {
    const semi = str.indexOf(';', amp + 1);
    if (semi === -1) throw nwf("'&' that does not start a reference (XML 1.0 §4.1)");
    out += str.slice(last, amp) + resolveRef(str.slice(amp + 1, semi));
    last = semi + 1;
    amp = str.indexOf('&', last);
  }
  return out + str.slice(last);
}

const HEX_REF = /^#x([0-9A-Fa-f]+)$/;
const DEC_REF = /^#([0-9]+)$/;

function resolveRef(name: string): string {
  switch (name) {
    case 'lt':
      return '<';
    case 'gt':
      return '>';
    case 'amp':
      return '&';
    case 'quot':
      return '"';
    case 'apos':
      return "'";
  }
  if (name.charCodeAt(0) === 0x23) {
    let m = HEX_REF.exec(name);
    let radix = 16;
    if (m === null) {
      m = DEC_REF.exec(name);
      radix = 10;
    }
    // The reference itself stays out of the text: it may sit inside a password, and the text is logged.
    if (m === null) throw nwf('malformed character reference (XML 1.0 §4.1)');
    const digits = (m[1] ?? '').replace(/^0+(?=.)/, '');
    const cp = digits.length > 7 ? -1 : parseInt(digits, radix);
    // WFC: Legal Character (XML 1.0 §4.1): &#0; &#x1; etc. are not well-formed.
    if (!isXmlChar(cp)) throw nwf('a character reference to a character XML does not allow (XML 1.0 §4.1)');
    return String.fromCodePoint(cp);
  }
  if (NAME_RE.test(name)) {
    throw restricted('an entity reference is not allowed: only the predefined entities and character references (RFC 6120 §11.1)');
  }
  throw nwf('malformed reference (XML 1.0 §4.1)');
}

const XML_DECL_RE =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.[0-9]+"|'1\.[0-9]+')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"([A-Za-z][A-Za-z0-9._-]*)"|'([A-Za-z][A-Za-z0-9._-]*)'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>$/;

/** XML 1.0 §2.8 XMLDecl; RFC 6120 §11.6: UTF-8 only. */
function checkXmlDecl(decl: string): void {
  const m = XML_DECL_RE.exec(decl);
  if (m === null) throw nwf(`malformed XML declaration ${JSON.stringify(clip(decl))} (XML 1.0 §2.8)`);
  const enc = m[1] ?? m[2];
  if (enc !== undefined && enc.toLowerCase() !== 'utf-8') {
    throw new StreamError('unsupported-encoding', `encoding "${enc}" is not supported: XMPP uses UTF-8 (RFC 6120 §11.6)`);
  }
}

// Interning caches (module-wide; strings are immutable): element and attribute names repeat
// constantly, as do short attribute values (type="chat", xml:lang="en"). Hit = no allocation,
// no decoding, no re-validation.
interface QName {
  readonly name: string;
  readonly prefix: string;
  readonly local: string;
}
const QCACHE_MASK = 1023;
const QCACHE: (QName | undefined)[] = new Array<QName | undefined>(QCACHE_MASK + 1);
const MAX_CACHED_NAME = 64;
const VCACHE_MASK = 1023;
const VCACHE: (string | undefined)[] = new Array<string | undefined>(VCACHE_MASK + 1);
const MAX_CACHED_VALUE = 32;

function sameAscii(str: string, v: Buffer, s: number): boolean {
  for (let k = 0; k < str.length; k++) if (str.charCodeAt(k) !== v[s + k]) return false;
  return true;
}

/** An attribute value, via the cache when it is short, ASCII and needs no normalisation. */
function attrValue(v: Buffer, s: number, e: number): string {
  const n = e - s;
  if (n > MAX_CACHED_VALUE) return decodeAttr(v, s, e);
  let h = n;
  for (let k = s; k < e; k++) {
    const c = v[k]!;
    // Controls (incl. TAB/LF/CR), '&', '<' and non-ASCII take the full path.
    if (c < 0x20 || c >= 0x7f || c === 0x26 || c === LT) return decodeAttr(v, s, e);
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = h & VCACHE_MASK;
  const hit = VCACHE[slot];
  if (hit !== undefined && hit.length === n && sameAscii(hit, v, s)) return hit;
  const str = latin1Slice(v, s, e);
  VCACHE[slot] = str;
  return str;
}

const kFragment = Symbol('fragment');
const kFinish = Symbol('finish');

// ---------------------------------------------------------------------------------------------

export class XmlStreamParser {
  private readonly handler: XmlStreamHandler;
  private readonly maxBytes: number;
  private readonly maxDepth: number;
  private readonly maxAttrs: number;

  /** Owned storage for unparsed bytes (null when none). Valid bytes: [0, len). */
  private buf: Buffer | null = null;
  private len = 0;
  /** Absolute stream offset of byte 0 of the view being parsed. */
  private abs0 = 0;
  /** Total bytes received. */
  private total = 0;
  /** Parse position in the current view: the start of the pending token. */
  private pos = 0;
  private tok = T_NONE;
  /** How far (from `pos`) the pending token has been scanned already. */
  private scanOff = 0;
  /** Token sub-state: the open quote byte inside a start tag; 1 once a PI target was checked. */
  private sub = 0;

  private phase = P_DOC;
  private docFresh = true;
  private depth = 0;
  private stack: Frame[] = [];
  private baseScope: Scope = XML_SCOPE;
  private rootScope: Scope = XML_SCOPE;
  private rootQName = '';
  /** Absolute offset of the '<' of the depth-1 element being parsed, or -1. */
  private stanzaStart = -1;
  private elements = 0;

  private failed = false;
  private failure: unknown = null;
  private writing = false;
  /** Non-null in fragment mode: the top-level nodes. */
  private frag: XmlNode[] | null = null;

  // Scratch state for name and start-tag parsing (no per-tag allocation).
  private nColons = 0;
  private nColon = -1;
  private nHigh = false;
  private nHash = 0;
  private tName = '';
  private tPrefix = '';
  private tLocal = '';
  private tSelf = false;
  private tN = 0;
  private qPrefix = '';
  private qLocal = '';
  private readonly aq: string[] = [];
  private readonly ap: string[] = [];
  private readonly al: string[] = [];
  private readonly av: string[] = [];

  constructor(handler: XmlStreamHandler, limits: XmlLimits = DEFAULT_XML_LIMITS) {
    this.handler = handler;
    this.maxBytes = limits.maxStanzaBytes;
    this.maxDepth = limits.maxDepth;
    this.maxAttrs = limits.maxAttributes;
  }

  /** Unparsed pending bytes (an incomplete token). */
  get bytesBuffered(): number {
    return this.len;
  }

  /**
   * True between top-level elements: nothing pending and no element open below the stream.
   * XMLSocket clients end every packet here, so a NUL anywhere else is a framing error.
   */
  get atTopLevel(): boolean {
    return this.len === 0 && this.depth === 0 && this.tok === T_NONE;
  }

  /** Top-level elements delivered since the stream (re)started. */
  get elementCount(): number {
    return this.elements;
  }

  /** True once a stream header has been read (and until restart()). */
  get streamOpened(): boolean {
    return this.phase === P_STREAM || this.phase === P_CLOSED;
  }

  write(chunk: Uint8Array): void {
    if (this.failed) throw this.failure;
    if (this.writing) throw new Error('XmlStreamParser.write() called from inside a handler callback');
    this.writing = true;
    try {
      this.feed(chunk);
    } catch (e) {
      this.fail(e);
      throw e;
    } finally {
      this.writing = false;
    }
  }

  /**
   * Starts a new stream document at the current position (after STARTTLS or SASL success,
   * RFC 6120 §5.3.3, §6.4.6). Inside a handler callback, the rest of the chunk is the new stream.
   */
  restart(): void {
    if (this.failed) return;
    this.phase = P_DOC;
    this.docFresh = true;
    this.depth = 0;
    this.stack = [];
    this.rootScope = this.baseScope;
    this.rootQName = '';
    this.stanzaStart = -1;
    this.elements = 0;
    this.tok = T_NONE;
    this.scanOff = 0;
    this.sub = 0;
  }

  /** @internal Switches to fragment mode (see parseFragment). */
  [kFragment](defaultNs: string): XmlNode[] {
    this.frag = [];
    this.baseScope = defaultNs === '' ? XML_SCOPE : { prefix: '', uri: defaultNs, next: XML_SCOPE };
    this.rootScope = this.baseScope;
    this.phase = P_STREAM;
    this.docFresh = false;
    return this.frag;
  }

  /** @internal End of a fragment: flush trailing text, require balance. */
  [kFinish](): void {
    if (this.failed) throw this.failure;
    try {
      if (this.tok === T_TEXT && this.buf !== null) {
        const v = this.buf.subarray(0, this.len);
        this.checkSize(v.length);
        this.addText(decodeText(v, this.pos, v.length));
        this.tok = T_NONE;
        this.buf = null;
        this.len = 0;
      } else if (this.tok !== T_NONE) {
        throw nwf('unexpected end of input inside markup');
      }
      const top = this.stack[this.stack.length - 1];
      if (top !== undefined) throw nwf(`element <${top.qname}> is not closed`);
    } catch (e) {
      this.fail(e);
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Buffer management

  private feed(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    let off = 0;
    while (off < n) {
      if (this.len === 0) {
        // Nothing pending: parse the caller's bytes in place, keep only an unfinished tail.
        const v = Buffer.from(chunk.buffer, chunk.byteOffset + off, n - off);
        this.abs0 = this.total;
        this.total += v.length;
        this.pos = 0;
        this.run(v);
        this.keep(v, false);
        return;
      }
      // Something pending: append no more than the limit still allows, so the buffer never
      // grows past maxStanzaBytes + 1 however large the chunk is; and no more than the pending
      // bytes again (at least 4 KiB), as the pending token usually ends early in the chunk.
      const old = this.len;
      const used = this.stanzaStart >= 0 ? this.abs0 + old - this.stanzaStart : old;
      const room = this.maxBytes + 1 - used;
      const take = Math.min(n - off, room > 1 ? room : 1, old > 4096 ? old : 4096);
      this.append(chunk, off, take);
      const v = (this.buf as Buffer).subarray(0, this.len);
      this.pos = 0;
      this.run(v);
      if (this.pos >= old && off + take < n) {
        // The pending bytes are consumed: the rest of the chunk is parsed in place (scan state
        // is relative to `pos`, so an unfinished token carries over).
        off += this.pos - old;
        this.total = this.abs0 + this.pos;
        this.buf = null;
        this.len = 0;
        continue;
      }
      off += take;
      this.total += take;
      this.keep(v, true);
    }
  }

  private append(chunk: Uint8Array, off: number, take: number): void {
    let buf = this.buf as Buffer;
    const need = this.len + take;
    if (buf.length < need) {
      const cap = Math.max(need, Math.min(buf.length * 2, this.maxBytes + 64));
      const nb = Buffer.allocUnsafeSlow(cap);
      buf.copy(nb, 0, 0, this.len);
      this.buf = buf = nb;
    }
    buf.set(chunk.subarray(off, off + take), this.len);
    this.len = need;
  }

  /** After a run: check the limits on what is left, then keep it (compacted) or release all. */
  private keep(v: Buffer, owned: boolean): void {
    const rem = v.length - this.pos;
    if (rem > 0) {
      if (this.stanzaStart >= 0 ? this.abs0 + v.length - this.stanzaStart > this.maxBytes : rem > this.maxBytes) {
        throw this.tooBig();
      }
    }
    this.abs0 += this.pos;
    if (rem === 0) {
      this.buf = null;
      this.len = 0;
      this.pos = 0;
      return;
    }
    const cur = this.buf;
    if (owned && cur !== null && !(cur.length > 16384 && rem * 4 < cur.length)) {
      if (this.pos > 0) cur.copyWithin(0, this.pos, v.length);
    } else {
      const nb = Buffer.allocUnsafeSlow(Math.max(rem, Math.min(rem * 2, this.maxBytes + 64), 256));
      v.copy(nb, 0, this.pos, v.length);
      this.buf = nb;
    }
    this.len = rem;
    this.pos = 0;
  }

  private fail(e: unknown): void {
    this.failed = true;
    this.failure = e;
    this.buf = null;
    this.len = 0;
    this.pos = 0;
    this.stack = [];
    this.aq.length = this.ap.length = this.al.length = this.av.length = 0;
  }

  private tooBig(): StreamError {
    return new StreamError(
      'policy-violation',
      this.stanzaStart >= 0
        ? `stanza larger than maxStanzaBytes (${this.maxBytes} bytes)`
        : `stream header or unfinished markup larger than maxStanzaBytes (${this.maxBytes} bytes)`,
    );
  }

  /** Size check when a token (or a decisive prefix of one) ends at `tokEnd`: before any other check. */
  private checkSize(tokEnd: number): void {
    if (this.stanzaStart >= 0 ? this.abs0 + tokEnd - this.stanzaStart > this.maxBytes : tokEnd - this.pos > this.maxBytes) {
      throw this.tooBig();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tokenizer. Each step returns false when it needs more bytes (pos stays at the token start).

  private run(v: Buffer): void {
    const end = v.length;
    while (this.pos < end) {
      let ok: boolean;
      switch (this.tok) {
        case T_NONE:
          ok = this.begin(v);
          break;
        case T_TEXT:
          ok = this.text(v);
          break;
        case T_LT:
          ok = this.lt(v);
          break;
        case T_STAG:
          ok = this.startTag(v);
          break;
        case T_ETAG:
          ok = this.endTag(v);
          break;
        case T_CDATA:
          ok = this.cdata(v);
          break;
        case T_BANG:
          ok = this.bang(v);
          break;
        case T_PI:
          ok = this.pi(v);
          break;
        default:
          ok = this.bom(v);
      }
      if (!ok) return;
    }
  }

  private begin(v: Buffer): boolean {
    const p = this.pos;
    const c = v[p]!;
    if (c === LT) {
      if (this.phase === P_CLOSED) throw nwf('data after the end of the stream');
      if (this.phase === P_STREAM && this.depth === 0) this.stanzaStart = this.abs0 + p;
      this.tok = T_LT;
      this.docFresh = false;
      return true;
    }
    if (this.phase === P_STREAM && (this.depth > 0 || this.frag !== null)) {
      this.tok = T_TEXT;
      this.scanOff = 0;
      return true;
    }
    // Outside stanzas only white space is allowed: whitespace keepalives (RFC 6120 §4.6.1), and
    // leading white space before a (re)started stream is tolerated.
    const end = v.length;
    let i = p;
    while (i < end && CLS[v[i]!] === C_WS) i++;
    if (i > p) {
      this.pos = i;
      this.docFresh = false;
      return true;
    }
    if (this.phase === P_DOC && this.docFresh) {
      if (c === 0xef) {
        this.tok = T_BOM;
        return true;
      }
      if (c === 0xfe || c === 0xff) {
        throw new StreamError('unsupported-encoding', 'UTF-16 byte order mark: XMPP uses UTF-8 (RFC 6120 §11.6)');
      }
    }
    if (this.phase === P_STREAM) throw nwf('text outside stanzas (only white space is allowed between stanzas)');
    if (this.phase === P_CLOSED) throw nwf('data after the end of the stream');
    throw nwf('text before the stream header');
  }

  /** UTF-8 byte order mark at the very start of a document (XML 1.0 §4.3.3, Appendix F). */
  private bom(v: Buffer): boolean {
    const p = this.pos;
    const avail = v.length - p;
    // The size check comes first here too, as for every other token: otherwise, with a
    // maxStanzaBytes under 3, a BOM in one write passed while the same BOM split across writes
    // was refused as too big (found by fuzz-xml.test.ts).
    for (let k = 1; k < 3 && k < avail; k++) {
      if (v[p + k] !== BOM[k]) {
        this.checkSize(p + k + 1);
        throw nwf('invalid UTF-8 byte sequence (RFC 6120 §11.6)');
      }
    }
    if (avail < 3) return false;
    this.checkSize(p + 3);
    this.pos = p + 3;
    this.tok = T_NONE;
    this.docFresh = false;
    return true;
  }

  private lt(v: Buffer): boolean {
    const p = this.pos;
    if (p + 1 >= v.length) return false;
    switch (v[p + 1]) {
      case SLASH:
        this.tok = T_ETAG;
        this.scanOff = 2;
        break;
      case QMARK:
        this.tok = T_PI;
        this.scanOff = 2;
        this.sub = 0;
        break;
      case BANG:
        this.tok = T_BANG;
        break;
      default:
        this.tok = T_STAG;
        this.scanOff = 1;
        this.sub = 0;
    }
    return true;
  }

  private text(v: Buffer): boolean {
    const lt = v.indexOf(LT, this.pos + this.scanOff);
    if (lt < 0) {
      this.scanOff = v.length - this.pos;
      return false;
    }
    this.checkSize(lt);
    this.addText(decodeText(v, this.pos, lt));
    this.pos = lt;
    this.tok = T_NONE;
    return true;
  }

  /** Adjacent text (character data, CDATA, references) becomes one string child. */
  private addText(s: string): void {
    if (s.length === 0) return;
    const top = this.stack[this.stack.length - 1];
    const list = top !== undefined ? top.el.children : (this.frag as XmlNode[]);
    const last = list.length - 1;
    const prev = list[last];
    if (typeof prev === 'string') list[last] = prev + s;
    else list.push(s);
  }

  private bang(v: Buffer): boolean {
    const p = this.pos;
    const avail = v.length - p;
    if (avail < 3) return false;
    const c = v[p + 2]!;
    if (c === DASH) {
      if (avail < 4) return false;
      this.checkSize(p + 4);
      if (v[p + 3] === DASH) throw restricted('comments are not allowed (RFC 6120 §11.1)');
      throw nwf("malformed markup '<!-'");
    }
    if (c === LBRACK) {
      const m = avail < 9 ? avail : 9;
      for (let k = 3; k < m; k++) {
        if (v[p + k] !== CDATA_OPEN[k]) {
          this.checkSize(p + k + 1);
          throw nwf("malformed markup '<![' (only CDATA sections are allowed)");
        }
      }
      if (avail < 9) return false;
      this.checkSize(p + 9);
      if (this.phase !== P_STREAM) throw nwf('CDATA section outside the stream element');
      this.tok = T_CDATA;
      this.scanOff = 9;
      return true;
    }
    this.checkSize(p + 3);
    if ((CLS[c]! & C_NSTART) !== 0) {
      throw restricted(
        c === 0x44 ? 'DOCTYPE declarations (DTDs) are not allowed (RFC 6120 §11.1)' : 'markup declarations are not allowed (RFC 6120 §11.1)',
      );
    }
    throw nwf("malformed markup after '<!'");
  }

  private cdata(v: Buffer): boolean {
    const p = this.pos;
    const j = v.indexOf(CDATA_END, p + this.scanOff);
    if (j < 0) {
      // ']]>' may straddle the chunk boundary: rescan the last two bytes next time.
      this.scanOff = Math.max(9, v.length - 2 - p);
      return false;
    }
    this.checkSize(j + 3);
    const s = decodeCdata(v, p + 9, j);
    if (this.depth > 0 || this.frag !== null) this.addText(s);
    else if (!ONLY_WS.test(s)) throw nwf('text outside stanzas (only white space is allowed between stanzas)');
    this.pos = j + 3;
    this.tok = T_NONE;
    if (this.depth === 0) this.stanzaStart = -1;
    return true;
  }

  /** Processing instructions are refused (RFC 6120 §11.1); `<?xml ...?>` only opens a document. */
  private pi(v: Buffer): boolean {
    const p = this.pos;
    if (this.sub === 0) {
      const end = v.length;
      let i = p + this.scanOff;
      while (i < end && (CLS[v[i]!]! & C_NAMEISH) !== 0) i++;
      if (i >= end) {
        this.scanOff = i - p;
        return false;
      }
      this.checkSize(i + 1);
      const target = latin1Slice(v, p + 2, i);
      if (target.toLowerCase() !== 'xml') throw restricted('processing instructions are not allowed (RFC 6120 §11.1)');
      if (this.phase !== P_DOC) throw nwf('XML declaration not at the start of the stream (XML 1.0 §2.8)');
      this.sub = 1;
      this.scanOff = i - p;
    }
    const gt = v.indexOf(GT, p + this.scanOff);
    if (gt < 0) {
      this.scanOff = v.length - p;
      return false;
    }
    this.checkSize(gt + 1);
    checkXmlDecl(latin1Slice(v, p, gt + 1));
    this.phase = P_PROLOG;
    this.pos = gt + 1;
    this.tok = T_NONE;
    this.sub = 0;
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Tags

  /**
   * A start tag. Usually it is all here, so it is parsed in one pass; when it is not (or it is
   * malformed), the resumable scanner below finds its end first, so errors are only reported on
   * complete tags, after the size check, whatever the chunking.
   */
  private startTag(v: Buffer): boolean {
    const p = this.pos;
    if (this.scanOff === 1) {
      let gt = -1;
      try {
        gt = this.parseStartTag(v, p, v.length);
      } catch (e) {
        if (!(e instanceof StreamError)) throw e;
      }
      if (gt >= 0) {
        this.checkSize(gt + 1);
        return this.onStartTag(gt);
      }
    }
    // Find the '>' that ends the tag: the first one outside a quoted attribute value.
    const end = v.length;
    let i = p + this.scanOff;
    let q = this.sub;
    while (i < end) {
      if (q !== 0) {
        const j = v.indexOf(q, i);
        if (j < 0) {
          i = end;
          break;
        }
        q = 0;
        i = j + 1;
        continue;
      }
      const c = v[i]!;
      if (c === GT) break;
      if (c === DQ || c === SQ) q = c;
      i++;
    }
    if (i >= end) {
      this.scanOff = i - p;
      this.sub = q;
      return false;
    }
    this.checkSize(i + 1);
    this.sub = 0;
    return this.onStartTag(this.parseStartTag(v, p, i + 1));
  }

  /** Scans a name; records colon count/position and whether it had non-ASCII bytes. */
  private readName(v: Buffer, i: number, stop: number): number {
    let colons = 0;
    let colon = -1;
    let high = false;
    let h = 0;
    while (i < stop) {
      const c = v[i]!;
      const k = CLS[c]!;
      if ((k & C_NAMEISH) === 0) break;
      h = (Math.imul(h, 31) + c) | 0;
      if (c === COLON) {
        colons++;
        colon = i;
      } else if (k === C_HIGH) {
        high = true;
      }
      i++;
    }
    this.nColons = colons;
    this.nColon = colon;
    this.nHigh = high;
    this.nHash = h;
    return i;
  }

  /** Validates [s, e) as a QName (Namespaces in XML 1.0 §3) and splits it into qPrefix/qLocal. */
  private qname(v: Buffer, s: number, e: number, what: string): string {
    if (e === s) throw nwf(`name expected in ${what} (XML 1.0 §3.1)`);
    const colons = this.nColons;
    const colon = this.nColon;
    const n = e - s;
    const slot = this.nHash & QCACHE_MASK;
    if (!this.nHigh && n <= MAX_CACHED_NAME) {
      const hit = QCACHE[slot];
      if (hit !== undefined && hit.name.length === n && sameAscii(hit.name, v, s)) {
        this.qPrefix = hit.prefix;
        this.qLocal = hit.local;
        return hit.name;
      }
    }
    let name: string;
    if (!this.nHigh) {
      name = latin1Slice(v, s, e);
      if (
        (CLS[v[s]!]! & C_NSTART) === 0 ||
        colons > 1 ||
        (colons === 1 && (colon === e - 1 || (CLS[v[colon + 1]!]! & C_NSTART) === 0))
      ) {
        throw nwf(`invalid name ${JSON.stringify(clip(name))} in ${what} (XML 1.0 §2.3, Namespaces in XML 1.0 §3)`);
      }
    } else {
      name = utf8(v, s, e);
      if (!QNAME_RE.test(name)) throw nwf(`invalid name ${JSON.stringify(clip(name))} in ${what} (XML 1.0 §2.3, Namespaces in XML 1.0 §3)`);
    }
    if (colons === 0) {
      this.qPrefix = '';
      this.qLocal = name;
    } else {
      const c = name.indexOf(':');
      this.qPrefix = name.slice(0, c);
      this.qLocal = name.slice(c + 1);
    }
    if (!this.nHigh && n <= MAX_CACHED_NAME) QCACHE[slot] = { name, prefix: this.qPrefix, local: this.qLocal };
    return name;
  }

  /**
   * Parses the start tag at `s` (XML 1.0 §3.1) into the scratch fields; returns the index of its
   * '>' or -1 when the bytes before `end` do not complete it.
   */
  private parseStartTag(v: Buffer, s: number, end: number): number {
    let i = this.readName(v, s + 1, end);
    if (i >= end) return -1;
    const qname = this.qname(v, s + 1, i, 'start tag');
    this.tName = qname;
    this.tPrefix = this.qPrefix;
    this.tLocal = this.qLocal;
    const aq = this.aq;
    const ap = this.ap;
    const al = this.al;
    const av = this.av;
    let n = 0;
    for (;;) {
      const ws = i;
      while (i < end && CLS[v[i]!] === C_WS) i++;
      if (i >= end) return -1;
      const c = v[i];
      if (c === GT) {
        this.tSelf = false;
        break;
      }
      if (c === SLASH) {
        if (i + 1 >= end) return -1;
        if (v[i + 1] !== GT) throw nwf(`malformed start tag <${qname}> (XML 1.0 §3.1)`);
        this.tSelf = true;
        i++;
        break;
      }
      if (i === ws) throw nwf(`malformed start tag <${qname}> (XML 1.0 §3.1)`);
      if (n === this.maxAttrs) {
        throw new StreamError('policy-violation', `element <${qname}> has more than maxAttributes (${this.maxAttrs}) attributes`);
      }
      const ns = i;
      i = this.readName(v, i, end);
      if (i >= end) return -1;
      const an = this.qname(v, ns, i, `start tag <${qname}>`);
      while (i < end && CLS[v[i]!] === C_WS) i++;
      if (i >= end) return -1;
      if (v[i] !== EQ) throw nwf(`attribute ${an} of <${qname}> has no value (XML 1.0 §3.1)`);
      i++;
      while (i < end && CLS[v[i]!] === C_WS) i++;
      if (i >= end) return -1;
      const q = v[i];
      if (q !== DQ && q !== SQ) throw nwf(`value of attribute ${an} of <${qname}> is not quoted (XML 1.0 §3.1)`);
      const ve = v.indexOf(q, i + 1);
      if (ve < 0 || ve >= end) return -1;
      aq[n] = an;
      ap[n] = this.qPrefix;
      al[n] = this.qLocal;
      av[n] = attrValue(v, i + 1, ve);
      n++;
      i = ve + 1;
    }
    this.tN = n;
    return i;
  }

  /** A complete, parsed start tag ending at `gt`: namespaces, then the element. */
  private onStartTag(gt: number): boolean {
    const qname = this.tName;
    const prefix = this.tPrefix;
    const local = this.tLocal;
    const selfClose = this.tSelf;
    const n = this.tN;
    const aq = this.aq;
    const ap = this.ap;
    const al = this.al;
    const av = this.av;

    // Namespace declarations first: they apply to the element's own name and attributes.
    const top = this.stack[this.stack.length - 1];
    let scope = top !== undefined ? top.scope : this.phase === P_STREAM ? this.rootScope : this.baseScope;
    let plain = 0;
    for (let k = 0; k < n; k++) {
      const p = ap[k]!;
      const name = aq[k]!;
      // WFC: Unique Att Spec (XML 1.0 §3.1)
      for (let j = 0; j < k; j++) if (aq[j] === name) throw nwf(`duplicate attribute ${name} on <${qname}> (XML 1.0 §3.1)`);
      if (p === 'xmlns') scope = declarePrefix(scope, al[k]!, av[k]!);
      else if (p === '' && name === 'xmlns') scope = declareDefault(scope, av[k]!);
      else plain++;
    }

    let ns: string;
    if (prefix === '') {
      ns = lookup(scope, '') ?? '';
    } else {
      if (prefix === 'xmlns') throw nwf(`element name ${qname} uses the reserved prefix xmlns (Namespaces in XML 1.0 §3)`);
      const u = lookup(scope, prefix);
      if (u === undefined) throw new StreamError('bad-namespace-prefix', `prefix ${prefix} of <${qname}> is not declared`);
      ns = u;
    }

    // Exactly as long as needed: a pushed-to [] reserves 16 slots, and this is per stanza.
    const attrs: XmlAttribute[] = plain > 0 ? new Array<XmlAttribute>(plain) : [];
    if (plain > 0) {
      let count = 0;
      for (let k = 0; k < n; k++) {
        const p = ap[k]!;
        const l = al[k]!;
        if (p === 'xmlns' || (p === '' && l === 'xmlns')) continue;
        let ans = '';
        if (p !== '') {
          const u = lookup(scope, p);
          if (u === undefined) throw new StreamError('bad-namespace-prefix', `prefix ${p} of attribute ${aq[k]} on <${qname}> is not declared`);
          ans = u;
          // Namespaces in XML 1.0 §6.3: no two attributes with the same expanded name.
          for (let j = 0; j < count; j++) {
            const b = attrs[j]!;
            if (b.ns === ans && b.local === l) throw nwf(`duplicate attribute {${ans}}${l} on <${qname}> (Namespaces in XML 1.0 §6.3)`);
          }
        }
        attrs[count++] = { prefix: p, local: l, ns: ans, value: av[k]! };
      }
    }
    // Do not keep (possibly large) strings of the last tag alive in the scratch arrays.
    for (let k = 0; k < n; k++) aq[k] = ap[k] = al[k] = av[k] = '';

    const el: XmlElement = { prefix, local, ns, attrs, children: [] };
    const end = gt + 1;
    if (this.phase !== P_STREAM) {
      // The stream root (RFC 6120 §4.2). Self-closed, it still opens the stream: Flash clients
      // send `<stream:stream .../>`; a later end tag with the root's name closes it.
      this.phase = P_STREAM;
      this.depth = 0;
      this.rootScope = scope;
      this.rootQName = qname;
      this.pos = end;
      this.tok = T_NONE;
      this.handler.streamOpen(el, selfClose);
      return true;
    }
    const depth = this.depth + 1;
    if (depth > this.maxDepth) throw new StreamError('policy-violation', `elements nested deeper than maxDepth (${this.maxDepth})`);
    if (top !== undefined) top.el.children.push(el);
    this.pos = end;
    this.tok = T_NONE;
    if (selfClose) {
      if (depth === 1) {
        this.stanzaStart = -1;
        this.emit(el);
      }
      return true;
    }
    this.stack.push({ el, qname, scope });
    this.depth = depth;
    return true;
  }

  private endTag(v: Buffer): boolean {
    const gt = v.indexOf(GT, this.pos + this.scanOff);
    if (gt < 0) {
      this.scanOff = v.length - this.pos;
      return false;
    }
    this.checkSize(gt + 1);
    const s = this.pos + 2;
    let i = this.readName(v, s, gt);
    const qname = this.qname(v, s, i, 'end tag');
    while (i < gt && CLS[v[i]!] === C_WS) i++;
    if (i !== gt) throw nwf(`malformed end tag </${qname}> (XML 1.0 §3.1)`);
    if (this.phase !== P_STREAM) throw nwf(`end tag </${qname}> before the stream header`);
    const end = gt + 1;
    if (this.depth === 0) {
      if (this.frag !== null) throw nwf(`end tag </${qname}> without a start tag`);
      // WFC: Element Type Match (XML 1.0 §3) — the root's name as written.
      if (qname !== this.rootQName) throw nwf(`end tag </${qname}> does not match the stream element <${this.rootQName}>`);
      this.phase = P_CLOSED;
      this.stanzaStart = -1;
      this.pos = end;
      this.tok = T_NONE;
      this.handler.streamClose();
      return true;
    }
    const f = this.stack[this.stack.length - 1]!;
    if (f.qname !== qname) throw nwf(`end tag </${qname}> does not match <${f.qname}> (XML 1.0 §3)`);
    this.stack.pop();
    this.depth--;
    this.pos = end;
    this.tok = T_NONE;
    if (this.depth === 0) {
      this.stanzaStart = -1;
      this.emit(f.el);
    }
    return true;
  }

  private emit(el: XmlElement): void {
    if (this.frag !== null) this.frag.push(el);
    else {
      this.elements++;
      this.handler.element(el);
    }
  }
}

/** `xmlns:p="uri"` (Namespaces in XML 1.0 §3, "Namespace constraints"). */
function declarePrefix(scope: Scope, p: string, uri: string): Scope {
  if (p === 'xmlns') throw nwf('the prefix xmlns must not be declared (Namespaces in XML 1.0 §3)');
  if (p === 'xml') {
    if (uri !== NS.xml) throw nwf('the prefix xml must not be bound to another namespace (Namespaces in XML 1.0 §3)');
    return scope;
  }
  if (uri === '') throw nwf(`xmlns:${p}="": prefixes cannot be undeclared in Namespaces in XML 1.0 (§5)`);
  if (uri === NS.xml || uri === NS.xmlns) throw nwf(`prefix ${p} bound to a reserved namespace (Namespaces in XML 1.0 §3)`);
  return { prefix: p, uri, next: scope };
}

/** `xmlns="uri"`; `xmlns=""` undeclares the default namespace (Namespaces in XML 1.0 §6.2). */
function declareDefault(scope: Scope, uri: string): Scope {
  if (uri === NS.xml || uri === NS.xmlns) throw nwf('the default namespace cannot be a reserved namespace (Namespaces in XML 1.0 §3)');
  return { prefix: '', uri, next: scope };
}

const NOOP_HANDLER: XmlStreamHandler = {
  streamOpen() {},
  element() {},
  streamClose() {},
};

/**
 * Parses a balanced, well-formed fragment (elements and text, no root needed) with `defaultNs` as
 * the default namespace in scope. Same rules and limits as the stream parser (each top-level
 * element is limited like a stanza). Throws StreamError.
 */
export function parseFragment(xml: string, limits: XmlLimits = DEFAULT_XML_LIMITS, defaultNs: string = NS.client): XmlNode[] {
  if (LONE_SURROGATE_RE.test(xml)) throw nwf('lone UTF-16 surrogate: not representable in UTF-8');
  const parser = new XmlStreamParser(NOOP_HANDLER, limits);
  const nodes = parser[kFragment](defaultNs);
  parser.write(Buffer.from(xml, 'utf8'));
  parser[kFinish]();
  return nodes;
}
