/**
 * AMF0 (Adobe "Action Message Format -- AMF 0", December 2007): decoder and encoder for RTMP
 * command and data message bodies (message types 20 and 18; type 17 after its leading 0x00 byte).
 *
 * Decoding reads every value of a body in sequence (command name, transaction id, command object,
 * arguments...). One AMF0 reference table and one AMF3 reference context serve the whole body:
 * a value switched to AMF3 by the avmplus marker 0x11 (§3.1) may refer to strings, objects and
 * traits of an earlier switched value of the same message (docs: "keep one AMF3 reference context
 * per message"). The same defences as the AMF3 decoder apply (see amf3.ts): bounded depth, counts
 * checked against the remaining bytes before use, bounded tables, strict UTF-8, null-prototype
 * objects. Every failure is an {@link AmfError}.
 *
 * Encoding writes plain AMF0 that librtmp reads: numbers as doubles, strings over 65 535 UTF-8
 * bytes as long strings, no references (a shared object is written again at each place; a CYCLE is
 * refused with AmfError('unsupported') since it cannot be written without references), typed
 * objects only for AmfTypedObject, ECMA arrays for AmfEcmaArray/AmfMixedArray, dates with timezone
 * 0. Values with no AMF0 form (ByteArray, Vector, Dictionary) are switched to AMF3 with 0x11, in
 * one AMF3 reference context per encoded body.
 */

import { Buffer } from 'node:buffer';
import { AmfError } from './errors.js';
import {
  Amf3Decoder,
  Amf3Encoder,
  AmfReader,
  AmfWriter,
  describeValue,
  guardStack,
  resolveLimits,
  type AmfLimits,
} from './amf3.js';
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
} from './values.js';

export { DEFAULT_AMF_LIMITS, MAX_ENCODE_DEPTH, type AmfLimits } from './amf3.js';

// AMF0 markers (§2.1)
const M_NUMBER = 0x00;
const M_BOOLEAN = 0x01;
const M_STRING = 0x02;
const M_OBJECT = 0x03;
const M_MOVIECLIP = 0x04;
const M_NULL = 0x05;
const M_UNDEFINED = 0x06;
const M_REFERENCE = 0x07;
const M_ECMA_ARRAY = 0x08;
const M_OBJECT_END = 0x09;
const M_STRICT_ARRAY = 0x0a;
const M_DATE = 0x0b;
const M_LONG_STRING = 0x0c;
const M_UNSUPPORTED = 0x0d;
const M_RECORDSET = 0x0e;
const M_XML_DOCUMENT = 0x0f;
const M_TYPED_OBJECT = 0x10;
const M_AVMPLUS = 0x11;

const hex = (m: number): string => `0x${m.toString(16).padStart(2, '0')}`;

// ---------------------------------------------------------------------------------------------
// Decoder

class Amf0Decoder {
  /** §2.9: anonymous objects, typed objects, ECMA and strict arrays, numbered as they open. */
  private readonly objects: AmfValue[] = [];
  private amf3: Amf3Decoder | null = null;

  constructor(private readonly r: AmfReader) {}

  readValue(): AmfValue {
    const r = this.r;
    const at = r.pos;
    const m = r.u8();
    switch (m) {
      case M_NUMBER:
        return r.f64();
      case M_BOOLEAN:
        return r.u8() !== 0;
      case M_STRING:
        return r.utf8(r.u16(), at);
      case M_OBJECT: {
        r.enter(at);
        const o = Object.create(null) as AmfObject;
        this.addObject(o, at);
        this.readMembers(o, at);
        r.leave();
        return o;
      }
      case M_MOVIECLIP:
        throw new AmfError('unsupported', 'AMF0 movieclip (0x04) is reserved and not supported', at);
      case M_NULL:
        return null;
      case M_UNDEFINED:
        return undefined;
      case M_REFERENCE: {
        const i = r.u16();
        if (i >= this.objects.length) {
          throw new AmfError('bad-reference', `reference ${i} with ${this.objects.length} in the table`, at);
        }
        return this.objects[i];
      }
      case M_ECMA_ARRAY: {
        // §2.10: the count is only a hint; the entries run to the object-end marker.
        r.skip(4, 'an ECMA array count');
        r.enter(at);
        const a = new AmfEcmaArray();
        this.addObject(a, at);
        this.readEntries(a.entries, at);
        r.leave();
        return a;
      }
      case M_OBJECT_END:
        throw new AmfError('bad-marker', 'object-end marker (0x09) outside an object', at);
      case M_STRICT_ARRAY: {
        const n = r.u32();
        r.count(n, 1, 'strict array', at);
        r.enter(at);
        const a: AmfValue[] = [];
        this.addObject(a, at);
        for (let i = 0; i < n; i++) a.push(this.readValue());
        r.leave();
        return a;
      }
      case M_DATE: {
        // §2.13: milliseconds since the epoch (UTC), then a timezone that must be ignored.
        const ms = r.f64();
        r.skip(2, 'a date timezone');
        return new Date(ms);
      }
      case M_LONG_STRING:
        return r.utf8(r.u32(), at);
      case M_UNSUPPORTED:
        // §2.15: a placeholder for a value the sender could not serialise.
        return undefined;
      case M_RECORDSET:
        throw new AmfError('unsupported', 'AMF0 recordset (0x0E) is reserved and not supported', at);
      case M_XML_DOCUMENT:
        return new AmfXmlDocument(r.utf8(r.u32(), at));
      case M_TYPED_OBJECT: {
        // §2.18: class name, then members as in an anonymous object. An empty name is anonymous.
        const className = r.utf8(r.u16(), at);
        r.enter(at);
        const members = Object.create(null) as AmfObject;
        const v: AmfValue = className === '' ? members : new AmfTypedObject(className, members, null);
        this.addObject(v, at);
        this.readMembers(members, at);
        r.leave();
        return v;
      }
      case M_AVMPLUS:
        // §3.1: the next value is AMF3, in the message's one AMF3 reference context.
        return (this.amf3 ??= new Amf3Decoder(r)).readValue();
      default:
        throw new AmfError('bad-marker', `unknown AMF0 marker ${hex(m)}`, at);
    }
  }

  private addObject(v: AmfValue, at: number): void {
    if (this.objects.length >= this.r.limits.maxReferences) {
      throw new AmfError('too-many-references', `more than ${this.r.limits.maxReferences} objects`, at);
    }
    this.objects.push(v);
  }

  /**
   * Reads a key (UTF-8 with a 16-bit length); returns null at the end marker: an empty key followed
   * by 0x09 (§2.11). An empty key followed by anything else is a member named "".
   */
  private readKey(): string | null {
    const r = this.r;
    const at = r.pos;
    const len = r.u16();
    if (len === 0) {
      if (r.peek() === M_OBJECT_END) {
        r.pos++;
        return null;
      }
      return '';
    }
    return r.utf8(len, at);
  }

  private readMembers(target: AmfObject, at: number): void {
    let count = 0;
    for (;;) {
      const key = this.readKey();
      if (key === null) return;
      this.r.itemLimit(++count, 'object members', at);
      target[key] = this.readValue();
    }
  }

  private readEntries(target: Map<string, AmfValue>, at: number): void {
    let count = 0;
    for (;;) {
      const key = this.readKey();
      if (key === null) return;
      this.r.itemLimit(++count, 'ECMA array entries', at);
      target.set(key, this.readValue());
    }
  }
}

/**
 * Decodes every AMF0 value of a message body, in order. A value with marker 0x11 is AMF3; all of
 * them share one AMF3 reference context (and all AMF0 values one AMF0 reference table).
 */
export function decodeAmf0Values(bytes: Uint8Array, limits?: Partial<AmfLimits>): AmfValue[] {
  const r = new AmfReader(bytes, resolveLimits(limits));
  const d = new Amf0Decoder(r);
  return guardStack(
    () => {
      const values: AmfValue[] = [];
      while (r.pos < r.buf.length) values.push(d.readValue());
      return values;
    },
    () => r.pos,
  );
}

// ---------------------------------------------------------------------------------------------
// Encoder

class Amf0Encoder {
  /** The containers being written (ancestors of the current value): meeting one again is a cycle. */
  private readonly open = new Set<object>();
  private amf3: Amf3Encoder | null = null;

  constructor(private readonly w: AmfWriter) {}

  writeValue(v: AmfValue): void {
    const w = this.w;
    switch (typeof v) {
      case 'number':
        w.u8(M_NUMBER);
        w.f64(v);
        return;
      case 'boolean':
        w.u8(M_BOOLEAN);
        w.u8(v ? 1 : 0);
        return;
      case 'string':
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

  /** §2.4 / §2.14: lengths count UTF-8 bytes; over 65 535 bytes the long-string form. */
  private writeString(s: string): void {
    const w = this.w;
    const len = Buffer.byteLength(s, 'utf8');
    if (len <= 0xffff) {
      w.u8(M_STRING);
      w.u16(len);
    } else {
      this.long(len, 'a string');
      w.u8(M_LONG_STRING);
      w.u32(len);
    }
    w.utf8(s, len);
  }

  private long(len: number, what: string): void {
    if (len > 0xffffffff) throw new AmfError('too-long', `${what} of ${len} UTF-8 bytes`, this.w.pos);
  }

  /** A member name or class name: UTF-8 with a 16-bit length, no long form. */
  private writeKey(k: string, what: string): void {
    const len = Buffer.byteLength(k, 'utf8');
    if (len > 0xffff) throw new AmfError('too-long', `${what} of ${len} UTF-8 bytes (AMF0 maximum 65535)`, this.w.pos);
    this.w.u16(len);
    this.w.utf8(k, len);
  }

  private writeEnd(): void {
    this.w.u16(0);
    this.w.u8(M_OBJECT_END);
  }

  private writeMembers(members: AmfObject): void {
    for (const k of Object.keys(members)) {
      this.writeKey(k, 'a member name');
      this.writeValue(members[k]);
    }
  }

  private writeComplex(v: object): void {
    const w = this.w;
    if (v instanceof Date) {
      w.u8(M_DATE);
      w.f64(v.getTime());
      w.u16(0); // timezone: 0 (§2.13: reserved, not adjusted for)
      return;
    }
    if (v instanceof AmfXmlDocument || v instanceof AmfXml) {
      // AMF0 has one XML type (§2.17); an E4X value goes as an XML document too.
      const len = Buffer.byteLength(v.xml, 'utf8');
      this.long(len, 'XML text');
      w.u8(M_XML_DOCUMENT);
      w.u32(len);
      w.utf8(v.xml, len);
      return;
    }
    if (v instanceof AmfByteArray || v instanceof AmfVector || v instanceof AmfDictionary) {
      // No AMF0 form: switch to AMF3 (§3.1), one AMF3 context per body.
      w.u8(M_AVMPLUS);
      (this.amf3 ??= new Amf3Encoder(w)).writeValue(v);
      return;
    }
    const isArray = Array.isArray(v);
    if (!isArray && !(v instanceof AmfTypedObject || v instanceof AmfEcmaArray || v instanceof AmfMixedArray)) {
      if (!isAmfObject(v)) throw new AmfError('unsupported', `${describeValue(v)} is not an AMF value`, w.pos);
    }
    if (this.open.has(v)) {
      throw new AmfError('unsupported', 'a cyclic value cannot be written as plain AMF0 (no references)', w.pos);
    }
    this.open.add(v);
    w.enter();
    if (isArray) {
      const a = v as AmfValue[];
      w.u8(M_STRICT_ARRAY);
      w.u32(a.length);
      for (let i = 0; i < a.length; i++) this.writeValue(a[i]);
    } else if (v instanceof AmfTypedObject) {
      // As the AMF3 encoder does: a class name that is not a string (from untyped code) is an
      // AmfError, not the TypeError Buffer.byteLength would throw (found by fuzz-amf.test.ts).
      if (typeof v.className !== 'string') throw new AmfError('invalid-value', 'a typed object without a string class name', w.pos);
      if (v.className === '') {
        w.u8(M_OBJECT);
      } else {
        w.u8(M_TYPED_OBJECT);
        this.writeKey(v.className, 'a class name');
      }
      this.writeMembers(v.members);
      if (v.dynamicMembers !== null && v.dynamicMembers !== undefined) this.writeMembers(v.dynamicMembers);
      this.writeEnd();
    } else if (v instanceof AmfEcmaArray) {
      w.u8(M_ECMA_ARRAY);
      w.u32(v.entries.size);
      for (const [k, val] of v.entries) {
        this.writeKey(k, 'an ECMA array key');
        this.writeValue(val);
      }
      this.writeEnd();
    } else if (v instanceof AmfMixedArray) {
      // An ECMA array: the dense part under keys "0".."n−1", then the named keys.
      w.u8(M_ECMA_ARRAY);
      w.u32(v.dense.length + v.associative.size);
      for (let i = 0; i < v.dense.length; i++) {
        this.writeKey(String(i), 'an ECMA array key');
        this.writeValue(v.dense[i]);
      }
      for (const [k, val] of v.associative) {
        this.writeKey(k, 'an ECMA array key');
        this.writeValue(val);
      }
      this.writeEnd();
    } else {
      w.u8(M_OBJECT);
      this.writeMembers(v as AmfObject);
      this.writeEnd();
    }
    w.leave();
    this.open.delete(v);
  }
}

/**
 * Encodes values as one plain AMF0 body (see the file comment for the rules). Throws AmfError
 * ('unsupported' for a cycle or a non-AMF value, 'too-long', 'too-deep', 'invalid-value').
 */
export function encodeAmf0Values(values: readonly AmfValue[]): Buffer {
  const w = new AmfWriter();
  const e = new Amf0Encoder(w);
  guardStack(
    () => {
      for (const v of values) e.writeValue(v);
    },
    () => w.pos,
  );
  return w.finish();
}

/**
 * Encodes each value as 0x11 + AMF3 (the AMF0 body of an AS3 client's type-17 message, without the
 * message's leading 0x00 byte), all in one AMF3 reference context: later values may refer to
 * strings, objects and traits of earlier ones.
 */
export function encodeAmf0WithAmf3Values(values: readonly AmfValue[]): Buffer {
  const w = new AmfWriter();
  const e = new Amf3Encoder(w);
  guardStack(
    () => {
      for (const v of values) {
        w.u8(M_AVMPLUS);
        e.writeValue(v);
      }
    },
    () => w.pos,
  );
  return w.finish();
}
