/**
 * AMF3 (Adobe "AMF 3 Specification", January 2013): decoder and encoder, plus the byte reader,
 * byte writer and limits shared with the AMF0 codec (which embeds AMF3 behind its 0x11 marker).
 *
 * Decoding is pure and whole-message: the caller hands over every byte of one value (or of one
 * RTMP message body). Defences against hostile input:
 * - no recursion deeper than `maxDepth` complex values;
 * - every length and count is checked against the bytes that remain BEFORE anything is allocated
 *   from it (a U29 length of 2^28 with 3 bytes left is 'truncated'), then against the limits;
 * - reference tables (strings, objects, traits) stop at `maxReferences` entries each;
 * - strings are strict UTF-8 (a malformed sequence is 'invalid-utf8', never U+FFFD);
 * - objects are null-prototype: `__proto__` and `constructor` keys are plain data;
 * - a reference to an object being read (a cycle) yields the object itself: no loop, no hang.
 * Every failure is an {@link AmfError}; nothing else escapes.
 *
 * The encoder is a complete AMF3 writer: strings, objects (by identity) and traits are sent by
 * reference once they have been sent, so shared and cyclic structures encode finitely.
 */

import { Buffer } from 'node:buffer';
import { AmfError } from './errors.js';
import {
  AmfByteArray,
  AmfDictionary,
  AmfEcmaArray,
  AmfMixedArray,
  AmfTypedObject,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
  isAmfObject,
  type AmfObject,
  type AmfValue,
  type AmfVectorKind,
} from './values.js';

// ---------------------------------------------------------------------------------------------
// Limits

export interface AmfLimits {
  /** Nesting of complex values (objects, arrays, vectors, dictionaries); a top-level object is depth 1. */
  maxDepth: number;
  /** Elements, members or entries in one array (each part of an AMF3 array), object, vector or dictionary. */
  maxItems: number;
  /** UTF-8 bytes of one string (keys and class names too), XML text, or bytes of one ByteArray. */
  maxStringBytes: number;
  /** Entries per reference table: AMF0 objects; AMF3 strings, objects and traits (each table separately). */
  maxReferences: number;
}

export const DEFAULT_AMF_LIMITS: AmfLimits = Object.freeze({
  maxDepth: 64,
  maxItems: 65536,
  maxStringBytes: 1048576,
  maxReferences: 65536,
});

/**
 * Encoders refuse value trees nested deeper than this (AmfError 'too-deep'), well before the JS
 * stack would overflow. Cycles are not depth: AMF3 sends them as references, AMF0 refuses them.
 */
export const MAX_ENCODE_DEPTH = 1000;

/** @internal Fills missing limits from the defaults. */
export function resolveLimits(limits?: Partial<AmfLimits>): AmfLimits {
  if (limits === undefined) return DEFAULT_AMF_LIMITS;
  // Complete limits (an RTMP connection's, on every message) are used as they are: no copy.
  if (limits.maxDepth !== undefined && limits.maxItems !== undefined && limits.maxStringBytes !== undefined && limits.maxReferences !== undefined) {
    return limits as AmfLimits;
  }
  return { ...DEFAULT_AMF_LIMITS, ...limits };
}

// ---------------------------------------------------------------------------------------------
// Reader (shared with amf0.ts)

const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface SliceMethods {
  utf8Slice(start: number, end: number): string;
}
const bufferProto = Buffer.prototype as unknown as Partial<SliceMethods>;
// Buffer's own slice method skips toString()'s argument handling; fall back should a runtime lack it.
const utf8Slice: (b: Buffer, s: number, e: number) => string =
  typeof bufferProto.utf8Slice === 'function'
    ? (b, s, e) => (b as unknown as SliceMethods).utf8Slice(s, e)
    : (b, s, e) => b.toString('utf8', s, e);

/** @internal A cursor over one message's bytes, with the limits and the current nesting depth. */
export class AmfReader {
  readonly buf: Buffer;
  pos = 0;
  private depth = 0;

  constructor(
    bytes: Uint8Array,
    readonly limits: AmfLimits,
  ) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  truncated(what: string): AmfError {
    return new AmfError('truncated', `input ends inside ${what}`, this.buf.length);
  }

  /** Throws 'truncated' unless `n` more bytes are there. */
  need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw this.truncated(what);
  }

  /**
   * Checks a count read from the wire BEFORE anything is allocated or looped over: `n` items of at
   * least `minBytes` each must fit in the remaining bytes ('truncated'), and `n` ≤ maxItems.
   */
  count(n: number, minBytes: number, what: string, at: number): void {
    if (n * minBytes > this.buf.length - this.pos) throw this.truncated(`${what} (${n} announced)`);
    if (n > this.limits.maxItems) {
      throw new AmfError('too-many-items', `${what}: ${n} items, more than ${this.limits.maxItems}`, at);
    }
  }

  /** Throws 'too-many-items' when a count found by reading (not announced) exceeds maxItems. */
  itemLimit(n: number, what: string, at: number): void {
    if (n > this.limits.maxItems) {
      throw new AmfError('too-many-items', `${what}: more than ${this.limits.maxItems} items`, at);
    }
  }

  enter(at: number): void {
    if (++this.depth > this.limits.maxDepth) {
      throw new AmfError('too-deep', `values nested deeper than ${this.limits.maxDepth}`, at);
    }
  }

  leave(): void {
    this.depth--;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw this.truncated('a value');
    return this.buf[this.pos++]!;
  }

  peek(): number {
    if (this.pos >= this.buf.length) throw this.truncated('a value');
    return this.buf[this.pos]!;
  }

  u16(): number {
    this.need(2, 'a 16-bit field');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'a 32-bit field');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4, 'a 32-bit field');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8, 'a double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }

  /**
   * AMF3 §1.3.1 U29: 1 to 4 bytes, 7 value bits in each of the first three (high bit = more
   * follows) and all 8 bits in the fourth; 0 … 2^29−1.
   */
  u29(): number {
    const b = this.buf;
    let p = this.pos;
    const end = b.length;
    if (p >= end) throw this.truncated('a U29 integer');
    let c = b[p++]!;
    if (c < 0x80) {
      this.pos = p;
      return c;
    }
    let v = (c & 0x7f) << 7;
    if (p >= end) throw this.truncated('a U29 integer');
    c = b[p++]!;
    if (c < 0x80) {
      this.pos = p;
      return v | c;
    }
    v = (v | (c & 0x7f)) << 7;
    if (p >= end) throw this.truncated('a U29 integer');
    c = b[p++]!;
    if (c < 0x80) {
      this.pos = p;
      return v | c;
    }
    v = (v | (c & 0x7f)) << 8;
    if (p >= end) throw this.truncated('a U29 integer');
    c = b[p++]!;
    this.pos = p;
    return v | c;
  }

  /** `len` bytes of strict UTF-8 (AMF3 §1.3.2; AMF0 §1.3 UTF-8). Checks remaining bytes first, then the limit. */
  utf8(len: number, at: number): string {
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.length) throw this.truncated(`a string of ${len} bytes`);
    if (len > this.limits.maxStringBytes) {
      throw new AmfError('too-long', `a string of ${len} bytes, more than ${this.limits.maxStringBytes}`, at);
    }
    const s = utf8Slice(this.buf, start, end);
    // Node's decoder replaces bad sequences with U+FFFD; only then pay for the strict decoder.
    if (s.indexOf('\uFFFD') !== -1) {
      try {
        FATAL_UTF8.decode(this.buf.subarray(start, end));
      } catch {
        throw new AmfError('invalid-utf8', 'a string is not well-formed UTF-8', start);
      }
    }
    this.pos = end;
    return s;
  }

  /** A copy of `len` bytes (never a view of the input). */
  bytes(len: number, at: number): Uint8Array {
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.length) throw this.truncated(`a byte array of ${len} bytes`);
    if (len > this.limits.maxStringBytes) {
      throw new AmfError('too-long', `a byte array of ${len} bytes, more than ${this.limits.maxStringBytes}`, at);
    }
    this.pos = end;
    return new Uint8Array(this.buf.subarray(start, end));
  }
}

// ---------------------------------------------------------------------------------------------
// Writer (shared with amf0.ts)

/** @internal A growable output buffer: capacity doubles, bytes are copied once per growth. */
export class AmfWriter {
  private buf: Buffer;
  pos = 0;
  private depth = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private grow(n: number): void {
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  enter(): void {
    if (++this.depth > MAX_ENCODE_DEPTH) {
      throw new AmfError('too-deep', `values nested deeper than ${MAX_ENCODE_DEPTH}`, this.pos);
    }
  }

  leave(): void {
    this.depth--;
  }

  u8(v: number): void {
    if (this.pos >= this.buf.length) this.grow(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    if (this.pos + 2 > this.buf.length) this.grow(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  i32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    if (this.pos + 8 > this.buf.length) this.grow(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** AMF3 §1.3.1 U29, 0 ≤ v < 2^29. */
  u29(v: number): void {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    const b = this.buf;
    let p = this.pos;
    if (v < 0x80) {
      b[p++] = v;
    } else if (v < 0x4000) {
      b[p++] = (v >>> 7) | 0x80;
      b[p++] = v & 0x7f;
    } else if (v < 0x200000) {
      b[p++] = (v >>> 14) | 0x80;
      b[p++] = ((v >>> 7) & 0x7f) | 0x80;
      b[p++] = v & 0x7f;
    } else {
      b[p++] = (v >>> 22) | 0x80;
      b[p++] = ((v >>> 15) & 0x7f) | 0x80;
      b[p++] = ((v >>> 8) & 0x7f) | 0x80;
      b[p++] = v & 0xff;
    }
    this.pos = p;
  }

  /** `s` as UTF-8; `byteLength` must be `Buffer.byteLength(s)`. */
  utf8(s: string, byteLength: number): void {
    if (this.pos + byteLength > this.buf.length) this.grow(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
  }

  bytes(b: Uint8Array): void {
    if (this.pos + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

// ---------------------------------------------------------------------------------------------
// AMF3 markers (§3.1)

const M_UNDEFINED = 0x00;
const M_NULL = 0x01;
const M_FALSE = 0x02;
const M_TRUE = 0x03;
const M_INTEGER = 0x04;
const M_DOUBLE = 0x05;
const M_STRING = 0x06;
const M_XML_DOC = 0x07;
const M_DATE = 0x08;
const M_ARRAY = 0x09;
const M_OBJECT = 0x0a;
const M_XML = 0x0b;
const M_BYTE_ARRAY = 0x0c;
const M_VECTOR_INT = 0x0d;
const M_VECTOR_UINT = 0x0e;
const M_VECTOR_DOUBLE = 0x0f;
const M_VECTOR_OBJECT = 0x10;
const M_DICTIONARY = 0x11;

const VECTOR_KINDS: readonly AmfVectorKind[] = ['int', 'uint', 'double', 'object'];
const VECTOR_MARKERS: Readonly<Record<AmfVectorKind, number>> = {
  int: M_VECTOR_INT,
  uint: M_VECTOR_UINT,
  double: M_VECTOR_DOUBLE,
  object: M_VECTOR_OBJECT,
};

/** §3.6: integers in −2^28 … 2^28−1 travel as U29; anything else as a double. */
export const AMF3_INT_MIN = -0x10000000;
export const AMF3_INT_MAX = 0x0fffffff;
/** Largest length/count a U29 with a flag bit can carry (2^28−1). */
const U28_MAX = 0x0fffffff;

const hex = (m: number): string => `0x${m.toString(16).padStart(2, '0')}`;

// ---------------------------------------------------------------------------------------------
// Decoder

/** §3.12 traits: class name, sealed member names in order, dynamic flag. */
interface Traits {
  readonly className: string;
  readonly sealed: readonly string[];
  readonly dynamic: boolean;
}

/**
 * @internal One AMF3 reference context (strings, objects, traits) reading from a shared
 * {@link AmfReader}. amf0.ts keeps one per message for all its 0x11-switched values.
 */
export class Amf3Decoder {
  private readonly strings: string[] = [];
  private readonly objects: AmfValue[] = [];
  /** The marker each object-table entry was read under: a reference must use the same one. */
  private readonly objectMarkers: number[] = [];
  private readonly traits: Traits[] = [];

  constructor(private readonly r: AmfReader) {}

  readValue(): AmfValue {
    const r = this.r;
    const at = r.pos;
    const m = r.u8();
    switch (m) {
      case M_UNDEFINED:
        return undefined;
      case M_NULL:
        return null;
      case M_FALSE:
        return false;
      case M_TRUE:
        return true;
      case M_INTEGER: {
        // §3.6: sign-extend the 29-bit value.
        const u = r.u29();
        return u & 0x10000000 ? u - 0x20000000 : u;
      }
      case M_DOUBLE:
        return r.f64();
      case M_STRING:
        return this.readString();
      case M_XML_DOC:
      case M_XML:
        return this.readXml(m, at);
      case M_DATE:
        return this.readDate(at);
      case M_ARRAY:
        return this.readArray(at);
      case M_OBJECT:
        return this.readObject(at);
      case M_BYTE_ARRAY:
        return this.readByteArray(at);
      case M_VECTOR_INT:
      case M_VECTOR_UINT:
      case M_VECTOR_DOUBLE:
      case M_VECTOR_OBJECT:
        return this.readVector(m, at);
      case M_DICTIONARY:
        return this.readDictionary(at);
      default:
        throw new AmfError('bad-marker', `unknown AMF3 marker ${hex(m)}`, at);
    }
  }

  /** §1.3.2 UTF-8-vr: a string-table reference or an inline string; "" is never a reference nor added. */
  private readString(): string {
    const r = this.r;
    const at = r.pos;
    const u = r.u29();
    if ((u & 1) === 0) {
      const i = u >>> 1;
      const s = this.strings[i];
      if (s === undefined) {
        throw new AmfError('bad-reference', `string reference ${i} with ${this.strings.length} in the table`, at);
      }
      return s;
    }
    const len = u >>> 1;
    if (len === 0) return '';
    const s = r.utf8(len, at);
    if (this.strings.length >= r.limits.maxReferences) {
      throw new AmfError('too-many-references', `more than ${r.limits.maxReferences} distinct strings`, at);
    }
    this.strings.push(s);
    return s;
  }

  private objectRef(u: number, marker: number, at: number): AmfValue {
    const i = u >>> 1;
    if (i >= this.objects.length) {
      throw new AmfError('bad-reference', `object reference ${i} with ${this.objects.length} in the table`, at);
    }
    if (this.objectMarkers[i] !== marker) {
      throw new AmfError(
        'bad-reference',
        `marker ${hex(marker)} refers to object ${i}, read as ${hex(this.objectMarkers[i]!)}`,
        at,
      );
    }
    return this.objects[i];
  }

  /** Complex values enter the object table when they open, before their children (§2.2). */
  private addObject(v: AmfValue, marker: number, at: number): void {
    if (this.objects.length >= this.r.limits.maxReferences) {
      throw new AmfError('too-many-references', `more than ${this.r.limits.maxReferences} objects`, at);
    }
    this.objects.push(v);
    this.objectMarkers.push(marker);
  }

  /** §3.9 XMLDocument, §3.13 XML: U29X-value, UTF-8 text; in the object table, not the string table. */
  private readXml(m: number, at: number): AmfValue {
    const u = this.r.u29();
    if ((u & 1) === 0) return this.objectRef(u, m, at);
    const text = this.r.utf8(u >>> 1, at);
    const v = m === M_XML ? new AmfXml(text) : new AmfXmlDocument(text);
    this.addObject(v, m, at);
    return v;
  }

  /** §3.10 Date: U29D-value (flag bit; other bits unused), then milliseconds since the epoch (UTC). */
  private readDate(at: number): AmfValue {
    const u = this.r.u29();
    if ((u & 1) === 0) return this.objectRef(u, M_DATE, at);
    const d = new Date(this.r.f64());
    this.addObject(d, M_DATE, at);
    return d;
  }

  /**
   * §3.11 Array: U29A-value = dense count, then the associative part (key, value)* ended by "",
   * then the dense values. Dense only → JS array; associative only → AmfEcmaArray; both →
   * AmfMixedArray. The first key is read before the container is chosen and registered: keys touch
   * only the string table, so object-table order is that of the spec.
   */
  private readArray(at: number): AmfValue {
    const r = this.r;
    const u = r.u29();
    if ((u & 1) === 0) return this.objectRef(u, M_ARRAY, at);
    const n = u >>> 1;
    r.count(n, 1, 'dense array part', at);
    r.enter(at);
    let key = this.readString();
    let result: AmfValue;
    if (key === '') {
      const arr: AmfValue[] = [];
      this.addObject(arr, M_ARRAY, at);
      for (let i = 0; i < n; i++) arr.push(this.readValue());
      result = arr;
    } else {
      let assoc: Map<string, AmfValue>;
      let dense: AmfValue[] | null = null;
      if (n === 0) {
        const ecma = new AmfEcmaArray();
        assoc = ecma.entries;
        result = ecma;
      } else {
        const mixed = new AmfMixedArray();
        assoc = mixed.associative;
        dense = mixed.dense;
        result = mixed;
      }
      this.addObject(result, M_ARRAY, at);
      let count = 0;
      do {
        r.itemLimit(++count, 'associative array part', at);
        assoc.set(key, this.readValue());
        key = this.readString();
      } while (key !== '');
      if (dense !== null) for (let i = 0; i < n; i++) dense.push(this.readValue());
    }
    r.leave();
    return result;
  }

  /**
   * §3.12 Object: U29O-ref | U29O-traits-ref | U29O-traits-ext | U29O-traits, then sealed values in
   * trait order, then (dynamic traits) name/value pairs ended by "". An empty class name is an
   * anonymous object (sealed and dynamic members merged into one null-prototype object).
   */
  private readObject(at: number): AmfValue {
    const r = this.r;
    const u = r.u29();
    if ((u & 1) === 0) return this.objectRef(u, M_OBJECT, at);
    let traits: Traits;
    if ((u & 2) === 0) {
      const i = u >>> 2;
      const t = this.traits[i];
      if (t === undefined) {
        throw new AmfError('bad-reference', `traits reference ${i} with ${this.traits.length} in the table`, at);
      }
      traits = t;
    } else if ((u & 4) !== 0) {
      const className = this.readString();
      throw new AmfError(
        'unsupported',
        `externalizable class ${JSON.stringify(className)}: its encoding is private to the class`,
        at,
      );
    } else {
      const n = u >>> 4;
      const dynamic = (u & 8) !== 0;
      const className = this.readString();
      r.count(n, 1, 'sealed member names', at);
      const sealed: string[] = [];
      for (let i = 0; i < n; i++) sealed.push(this.readString());
      if (this.traits.length >= r.limits.maxReferences) {
        throw new AmfError('too-many-references', `more than ${r.limits.maxReferences} traits`, at);
      }
      traits = { className, sealed, dynamic };
      this.traits.push(traits);
    }
    r.enter(at);
    const members = Object.create(null) as AmfObject;
    let dynamicTarget: AmfObject | null;
    let result: AmfValue;
    if (traits.className === '') {
      result = members;
      dynamicTarget = traits.dynamic ? members : null;
    } else {
      dynamicTarget = traits.dynamic ? (Object.create(null) as AmfObject) : null;
      result = new AmfTypedObject(traits.className, members, dynamicTarget);
    }
    this.addObject(result, M_OBJECT, at);
    for (const name of traits.sealed) members[name] = this.readValue();
    if (dynamicTarget !== null) {
      let count = 0;
      for (;;) {
        const key = this.readString();
        if (key === '') break;
        r.itemLimit(++count, 'dynamic members', at);
        dynamicTarget[key] = this.readValue();
      }
    }
    r.leave();
    return result;
  }

  /** §3.14 ByteArray: U29B-value, raw bytes. */
  private readByteArray(at: number): AmfValue {
    const u = this.r.u29();
    if ((u & 1) === 0) return this.objectRef(u, M_BYTE_ARRAY, at);
    const v = new AmfByteArray(this.r.bytes(u >>> 1, at));
    this.addObject(v, M_BYTE_ARRAY, at);
    return v;
  }

  /** §3.15 Vector: U29V-value, fixed-vector byte, [object type name], items. */
  private readVector(m: number, at: number): AmfValue {
    const r = this.r;
    const u = r.u29();
    if ((u & 1) === 0) return this.objectRef(u, m, at);
    const n = u >>> 1;
    const fixed = r.u8() !== 0;
    const kind = VECTOR_KINDS[m - M_VECTOR_INT]!;
    const items: AmfValue[] = [];
    switch (m) {
      case M_VECTOR_INT: {
        r.count(n, 4, 'Vector.<int>', at);
        const v = new AmfVector(kind, items, fixed);
        this.addObject(v, m, at);
        for (let i = 0; i < n; i++) items.push(r.i32());
        return v;
      }
      case M_VECTOR_UINT: {
        r.count(n, 4, 'Vector.<uint>', at);
        const v = new AmfVector(kind, items, fixed);
        this.addObject(v, m, at);
        for (let i = 0; i < n; i++) items.push(r.u32());
        return v;
      }
      case M_VECTOR_DOUBLE: {
        r.count(n, 8, 'Vector.<Number>', at);
        const v = new AmfVector(kind, items, fixed);
        this.addObject(v, m, at);
        for (let i = 0; i < n; i++) items.push(r.f64());
        return v;
      }
      default: {
        const typeName = this.readString();
        r.count(n, 1, 'Vector.<Object>', at);
        r.enter(at);
        const v = new AmfVector(kind, items, fixed, typeName);
        this.addObject(v, m, at);
        for (let i = 0; i < n; i++) items.push(this.readValue());
        r.leave();
        return v;
      }
    }
  }

  /** §3.16 Dictionary: U29Dict-value, weak-keys byte, (key value)*. */
  private readDictionary(at: number): AmfValue {
    const r = this.r;
    const u = r.u29();
    if ((u & 1) === 0) return this.objectRef(u, M_DICTIONARY, at);
    const n = u >>> 1;
    const weak = r.u8() !== 0;
    r.count(n, 2, 'Dictionary', at);
    r.enter(at);
    const d = new AmfDictionary(undefined, weak);
    this.addObject(d, M_DICTIONARY, at);
    for (let i = 0; i < n; i++) {
      const k = this.readValue();
      d.entries.set(k, this.readValue());
    }
    r.leave();
    return d;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder

const ANONYMOUS_TRAITS = '\u0000anonymous-dynamic';

function invalid(text: string, at: number): AmfError {
  return new AmfError('invalid-value', text, at);
}

/** @internal The JS type/class name of a value outside the model, for error texts. */
export function describeValue(v: unknown): string {
  if (typeof v !== 'object' || v === null) return typeof v;
  const c = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return c ? `a ${c}` : 'an object';
}

/**
 * @internal One AMF3 reference context writing to a shared {@link AmfWriter}. Strings, objects
 * (by identity: arrays, objects, dates, XML, byte arrays, vectors, dictionaries) and traits (same
 * class name, sealed names and dynamic flag) are sent by reference after their first appearance.
 */
export class Amf3Encoder {
  private readonly strings = new Map<string, number>();
  private readonly objects = new Map<object, number>();
  private readonly traits = new Map<string, number>();

  constructor(private readonly w: AmfWriter) {}

  writeValue(v: AmfValue): void {
    const w = this.w;
    switch (typeof v) {
      case 'number':
        if (Number.isInteger(v) && v >= AMF3_INT_MIN && v <= AMF3_INT_MAX && !Object.is(v, -0)) {
          w.u8(M_INTEGER);
          w.u29(v & 0x1fffffff);
        } else {
          w.u8(M_DOUBLE);
          w.f64(v);
        }
        return;
      case 'boolean':
        w.u8(v ? M_TRUE : M_FALSE);
        return;
      case 'string':
        w.u8(M_STRING);
        this.writeString(v);
        return;
      case 'undefined':
        w.u8(M_UNDEFINED);
        return;
      case 'object':
        if (v === null) w.u8(M_NULL);
        else this.writeComplex(v);
        return;
      default:
        throw new AmfError('unsupported', `${describeValue(v)} is not an AMF value`, w.pos);
    }
  }

  /** UTF-8-vr. */
  private writeString(s: string): void {
    const w = this.w;
    if (s === '') {
      w.u8(0x01);
      return;
    }
    const ref = this.strings.get(s);
    if (ref !== undefined) {
      w.u29(ref << 1);
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    if (len > U28_MAX) throw new AmfError('too-long', `a string of ${len} UTF-8 bytes (AMF3 maximum 2^28−1)`, w.pos);
    this.strings.set(s, this.strings.size);
    w.u29((len << 1) | 1);
    w.utf8(s, len);
  }

  private header(n: number, what: string): void {
    if (n > U28_MAX) throw new AmfError('too-long', `${what} of ${n} (AMF3 maximum 2^28−1)`, this.w.pos);
    this.w.u29((n << 1) | 1);
  }

  private writeComplex(v: object): void {
    const w = this.w;
    let marker: number;
    if (Array.isArray(v) || v instanceof AmfEcmaArray || v instanceof AmfMixedArray) marker = M_ARRAY;
    else if (v instanceof Date) marker = M_DATE;
    else if (v instanceof AmfTypedObject) marker = M_OBJECT;
    else if (v instanceof AmfXmlDocument) marker = M_XML_DOC;
    else if (v instanceof AmfXml) marker = M_XML;
    else if (v instanceof AmfByteArray) marker = M_BYTE_ARRAY;
    else if (v instanceof AmfVector) {
      const m = VECTOR_MARKERS[v.kind];
      if (m === undefined) throw invalid(`unknown vector kind ${JSON.stringify(v.kind)}`, w.pos);
      marker = m;
    } else if (v instanceof AmfDictionary) marker = M_DICTIONARY;
    else if (isAmfObject(v)) marker = M_OBJECT;
    else throw new AmfError('unsupported', `${describeValue(v)} is not an AMF value`, w.pos);

    w.u8(marker);
    const ref = this.objects.get(v);
    if (ref !== undefined) {
      w.u29(ref << 1);
      return;
    }
    // Numbered when it opens, before its children: a cycle becomes a reference to it.
    this.objects.set(v, this.objects.size);

    switch (marker) {
      case M_DATE:
        w.u29(0x01);
        w.f64((v as Date).getTime());
        return;
      case M_XML_DOC:
      case M_XML: {
        const text = (v as AmfXml | AmfXmlDocument).xml;
        const len = Buffer.byteLength(text, 'utf8');
        this.header(len, 'XML text');
        w.utf8(text, len);
        return;
      }
      case M_BYTE_ARRAY: {
        const bytes = (v as AmfByteArray).bytes;
        this.header(bytes.length, 'a byte array');
        w.bytes(bytes);
        return;
      }
    }

    w.enter();
    if (marker === M_ARRAY) this.writeArray(v as AmfValue[] | AmfEcmaArray | AmfMixedArray);
    else if (marker === M_OBJECT) this.writeObject(v as AmfObject | AmfTypedObject);
    else if (marker === M_DICTIONARY) this.writeDictionary(v as AmfDictionary);
    else this.writeVector(v as AmfVector, marker);
    w.leave();
  }

  private writeArray(v: AmfValue[] | AmfEcmaArray | AmfMixedArray): void {
    if (Array.isArray(v)) {
      this.header(v.length, 'an array');
      this.w.u8(0x01); // no associative part
      for (let i = 0; i < v.length; i++) this.writeValue(v[i]);
      return;
    }
    const dense = v instanceof AmfMixedArray ? v.dense : [];
    const assoc = v instanceof AmfMixedArray ? v.associative : v.entries;
    this.header(dense.length, 'an array');
    for (const [k, val] of assoc) {
      if (k === '') throw invalid('an associative array key is empty (AMF3 ends the list with "")', this.w.pos);
      this.writeString(k);
      this.writeValue(val);
    }
    this.w.u8(0x01);
    for (let i = 0; i < dense.length; i++) this.writeValue(dense[i]);
  }

  private writeDynamic(members: AmfObject): void {
    for (const k of Object.keys(members)) {
      if (k === '') throw invalid('a dynamic member name is empty (AMF3 ends the list with "")', this.w.pos);
      this.writeString(k);
      this.writeValue(members[k]);
    }
    this.w.u8(0x01);
  }

  private writeObject(v: AmfObject | AmfTypedObject): void {
    const w = this.w;
    if (!(v instanceof AmfTypedObject)) {
      const ref = this.traits.get(ANONYMOUS_TRAITS);
      if (ref !== undefined) {
        w.u29((ref << 2) | 0x01);
      } else {
        this.traits.set(ANONYMOUS_TRAITS, this.traits.size);
        w.u29(0x0b); // inline traits, not externalizable, dynamic, 0 sealed members
        w.u8(0x01); // class name ""
      }
      this.writeDynamic(v);
      return;
    }
    const { className, members, dynamicMembers } = v;
    if (typeof className !== 'string') throw invalid('a typed object without a string class name', w.pos);
    const names = Object.keys(members);
    const dynamic = dynamicMembers !== null && dynamicMembers !== undefined;
    const key = JSON.stringify([className, dynamic, names]);
    const ref = this.traits.get(key);
    if (ref !== undefined) {
      w.u29((ref << 2) | 0x01);
    } else {
      if (names.length > 0x1ffffff) throw new AmfError('too-long', `${names.length} sealed members`, w.pos);
      this.traits.set(key, this.traits.size);
      w.u29((names.length << 4) | (dynamic ? 0x08 : 0) | 0x03);
      this.writeString(className);
      for (const n of names) this.writeString(n);
    }
    for (const n of names) this.writeValue(members[n]);
    if (dynamicMembers !== null && dynamicMembers !== undefined) this.writeDynamic(dynamicMembers);
  }

  private writeVector(v: AmfVector, marker: number): void {
    const w = this.w;
    const items = v.items;
    this.header(items.length, 'a vector');
    w.u8(v.fixed ? 1 : 0);
    switch (marker) {
      case M_VECTOR_INT:
        for (const x of items) {
          if (typeof x !== 'number' || !Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) {
            throw invalid(`Vector.<int> item ${String(x)} is not a 32-bit signed integer`, w.pos);
          }
          w.i32(x);
        }
        return;
      case M_VECTOR_UINT:
        for (const x of items) {
          if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffffffff) {
            throw invalid(`Vector.<uint> item ${String(x)} is not a 32-bit unsigned integer`, w.pos);
          }
          w.u32(x);
        }
        return;
      case M_VECTOR_DOUBLE:
        for (const x of items) {
          if (typeof x !== 'number') throw invalid(`Vector.<Number> item of type ${typeof x}`, w.pos);
          w.f64(x);
        }
        return;
      default:
        this.writeString(v.typeName);
        for (const x of items) this.writeValue(x);
    }
  }

  private writeDictionary(v: AmfDictionary): void {
    this.header(v.entries.size, 'a dictionary');
    this.w.u8(v.weakKeys ? 1 : 0);
    for (const [k, val] of v.entries) {
      this.writeValue(k);
      this.writeValue(val);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * @internal Runs a codec step and turns a JS stack overflow (possible only with a very large
 * `maxDepth`) into AmfError('too-deep'), so nothing but AmfError escapes.
 */
export function guardStack<T>(run: () => T, offset: () => number): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      throw new AmfError('too-deep', 'values nested too deep for the call stack', offset());
    }
    throw e;
  }
}

/** Decodes exactly one AMF3 value; bytes left over are AmfError('trailing-bytes'). */
export function decodeAmf3Value(bytes: Uint8Array, limits?: Partial<AmfLimits>): AmfValue {
  const r = new AmfReader(bytes, resolveLimits(limits));
  const value = guardStack(
    () => new Amf3Decoder(r).readValue(),
    () => r.pos,
  );
  if (r.pos !== r.buf.length) {
    throw new AmfError('trailing-bytes', `${r.buf.length - r.pos} bytes after the value`, r.pos);
  }
  return value;
}

/** Encodes one AMF3 value with its own reference context. */
export function encodeAmf3Value(value: AmfValue): Buffer {
  const w = new AmfWriter();
  guardStack(
    () => new Amf3Encoder(w).writeValue(value),
    () => w.pos,
  );
  return w.finish();
}
