/**
 * The value model shared by the AMF0 and AMF3 codecs and by the RTMP session code.
 *
 * What JavaScript expresses natively is used as is:
 *
 * | AMF value                                   | JS value                                        |
 * |---------------------------------------------|-------------------------------------------------|
 * | number (AMF0 0x00), integer/double (AMF3)   | `number` (−0, NaN and ±Infinity kept)           |
 * | boolean                                     | `boolean`                                       |
 * | string, long string (AMF0 0x02/0x0C, AMF3)  | `string`                                        |
 * | null                                        | `null`                                          |
 * | undefined (and AMF0 0x0D "unsupported")     | `undefined`                                     |
 * | date                                        | `Date` (AMF0's timezone field is ignored)       |
 * | AMF0 strict array, AMF3 dense-only array    | `AmfValue[]`                                    |
 * | anonymous object                            | {@link AmfObject}: a plain object made with     |
 * |                                             | `Object.create(null)` (see {@link amfObject})   |
 *
 * and small classes stand for what JavaScript cannot say by itself:
 *
 * | AMF value                                       | class                  |
 * |-------------------------------------------------|------------------------|
 * | AMF0 typed object 0x10, AMF3 object with traits | {@link AmfTypedObject} |
 * | AMF0 ECMA array 0x08, AMF3 associative-only array | {@link AmfEcmaArray} |
 * | AMF3 array with dense AND associative parts     | {@link AmfMixedArray}  |
 * | AMF0 XML document 0x0F, AMF3 XMLDocument 0x07   | {@link AmfXmlDocument} |
 * | AMF3 (E4X) XML 0x0B                             | {@link AmfXml}         |
 * | AMF3 ByteArray 0x0C                             | {@link AmfByteArray}   |
 * | AMF3 Vector 0x0D–0x10                           | {@link AmfVector}      |
 * | AMF3 Dictionary 0x11                            | {@link AmfDictionary}  |
 *
 * Decoded anonymous objects and member tables have a null prototype, so a `__proto__` or
 * `constructor` key from the wire is ordinary data: it never changes a prototype and
 * `Object.prototype` is never reachable from a decoded value. Keys whose order matters on the wire
 * and that JavaScript objects would reorder (integer-like keys such as "0", "1") are kept in
 * `Map`s where the AMF type is an associative array ({@link AmfEcmaArray}, {@link AmfMixedArray});
 * anonymous and typed objects use plain null-prototype objects, whose integer-like keys JavaScript
 * enumerates first — the values are the same, only the re-encoded member order may differ.
 *
 * Encoders also accept ordinary object literals (prototype `Object.prototype`) as anonymous
 * objects, for the convenience of code that builds replies. Anything else (functions, symbols,
 * bigints, `Map`, class instances other than these) is refused with AmfError('unsupported').
 *
 * Decoded values may share structure or be cyclic (AMF references); an object that refers to
 * itself decodes to a cyclic JS structure.
 */

/** A value either codec reads or writes. */
export type AmfValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | AmfValue[]
  | AmfObject
  | AmfTypedObject
  | AmfEcmaArray
  | AmfMixedArray
  | AmfXmlDocument
  | AmfXml
  | AmfByteArray
  | AmfVector
  | AmfDictionary;

/**
 * An anonymous object. Decoders create it with `Object.create(null)`; encoders also accept an
 * object literal. Only own enumerable string keys are encoded.
 */
export interface AmfObject {
  [key: string]: AmfValue;
}

/** A null-prototype object holding `init`'s own enumerable string-keyed members (copied as data). */
export function amfObject(init?: Readonly<Record<string, AmfValue>>): AmfObject {
  const o = Object.create(null) as AmfObject;
  if (init !== undefined) {
    for (const k of Object.keys(init)) {
      // Plain assignment is safe: a null-prototype object has no `__proto__` accessor.
      o[k] = init[k];
    }
  }
  return o;
}

/**
 * True for an anonymous object: a non-array object whose prototype is null or `Object.prototype`.
 */
export function isAmfObject(v: unknown): v is AmfObject {
  if (typeof v !== 'object' || v === null) return false;
  const p = Object.getPrototypeOf(v) as unknown;
  return p === null || p === Object.prototype;
}

/**
 * An object of a named ActionScript class: AMF0 typed object (0x10) or an AMF3 object whose traits
 * carry a class name.
 *
 * - `members`: the sealed (declared) members in trait order — for AMF0, every member.
 * - `dynamicMembers`: for an AMF3 object of a dynamic class, its dynamic members (may be empty);
 *   `null` when the traits are not dynamic. AMF0 has no such distinction: its typed objects decode
 *   with `dynamicMembers === null`, and an AMF0 encoder writes `members` then `dynamicMembers`.
 *
 * AMF3 traits are the class name, the sealed member names in order and the dynamic flag; an
 * encoder references traits it has already sent (same name, names and flag).
 * An empty class name is an anonymous object: decoders return an {@link AmfObject} instead.
 */
export class AmfTypedObject {
  constructor(
    public className: string,
    public members: AmfObject = amfObject(),
    public dynamicMembers: AmfObject | null = null,
  ) {}
}

/**
 * An associative array: AMF0 ECMA array (0x08), or an AMF3 array with an associative part only.
 * Entries are kept in wire order; integer-like keys stay strings. An empty one re-encodes in AMF3
 * as an empty (dense) array, which decodes as `[]`.
 */
export class AmfEcmaArray {
  public entries: Map<string, AmfValue>;
  constructor(entries?: Iterable<readonly [string, AmfValue]>) {
    this.entries = new Map(entries);
  }
}

/**
 * An AMF3 array with both a dense part (indices 0..n−1) and an associative part (named keys, in wire
 * order). AMF0 has no such type: its encoder writes an ECMA array whose keys are "0".."n−1" then the
 * associative keys (it decodes as an {@link AmfEcmaArray}).
 */
export class AmfMixedArray {
  public associative: Map<string, AmfValue>;
  constructor(
    public dense: AmfValue[] = [],
    associative?: Iterable<readonly [string, AmfValue]>,
  ) {
    this.associative = new Map(associative);
  }
}

/** A legacy `flash.xml.XMLDocument`: AMF0 XML document (0x0F) / AMF3 XMLDocument (0x07). */
export class AmfXmlDocument {
  constructor(public xml: string) {}
}

/**
 * An E4X `XML` value: AMF3 0x0B. AMF0 has one XML type only, so the AMF0 encoder writes it as an
 * XML document (0x0F), which decodes as {@link AmfXmlDocument}.
 */
export class AmfXml {
  constructor(public xml: string) {}
}

/** A `flash.utils.ByteArray` (AMF3 0x0C). Decoders return a copy, never a view of their input. */
export class AmfByteArray {
  constructor(public bytes: Uint8Array) {}
}

/** Element type of an {@link AmfVector}: AMF3 markers 0x0D (int), 0x0E (uint), 0x0F (double), 0x10 (object). */
export type AmfVectorKind = 'int' | 'uint' | 'double' | 'object';

/**
 * A `Vector.<T>` (AMF3 0x0D–0x10).
 * - `int`: items are integers in −2^31…2^31−1; `uint`: integers in 0…2^32−1; `double`: any
 *   number; `object`: any values, with `typeName` the element class name as sent (e.g. "String",
 *   or "" / "*" for untyped) — the numeric kinds ignore `typeName`.
 * - `fixed`: the vector's fixed-length flag.
 * Encoders refuse numeric items outside the kind's range with AmfError('invalid-value').
 */
export class AmfVector {
  constructor(
    public kind: AmfVectorKind,
    public items: AmfValue[] = [],
    public fixed = false,
    public typeName = '',
  ) {}
}

/**
 * A `flash.utils.Dictionary` (AMF3 0x11): keys may be any values (objects by identity). A `Map`,
 * so a repeated key on the wire keeps the last value and −0 as a key reads as 0.
 */
export class AmfDictionary {
  public entries: Map<AmfValue, AmfValue>;
  constructor(
    entries?: Iterable<readonly [AmfValue, AmfValue]>,
    public weakKeys = false,
  ) {
    this.entries = new Map(entries);
  }
}
