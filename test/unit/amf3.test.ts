import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import * as fc from 'fast-check';
import { DEFAULT_AMF_LIMITS, MAX_ENCODE_DEPTH, decodeAmf3Value, encodeAmf3Value, type AmfLimits } from '../../src/codec/amf/amf3.js';
import type { AmfErrorCode } from '../../src/codec/amf/errors.js';
import {
  AmfByteArray,
  AmfDictionary,
  AmfEcmaArray,
  AmfMixedArray,
  AmfTypedObject,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
  amfObject as obj,
  type AmfObject,
  type AmfValue,
} from '../../src/codec/amf/values.js';
import { assertNoPrototypes, assertOnlyAmfError, b, expectCode, hexOf, txt } from '../support/amf-assertions.js';

// ---------------------------------------------------------------------------------------------
// Helpers



/** Every strict prefix of a one-value encoding is 'truncated', never another error. */
function assertTruncations(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) {
    expectCode(() => decodeAmf3Value(bytes.subarray(0, i)), 'truncated', `prefix of ${i}/${bytes.length} bytes`);
  }
}



// ---------------------------------------------------------------------------------------------
// Fixtures: hand-computed bytes (AMF 3 Specification, January 2013; section numbers cited)

interface Fixture {
  name: string;
  bytes: Uint8Array;
  /** What decoding gives. */
  value: AmfValue;
  /** encodeAmf3Value(value) gives exactly `bytes` (default true). */
  canonical?: boolean;
  /** Another value that encodes to exactly `bytes` (when `value` itself does not). */
  encodeFrom?: AmfValue;
  /** Extra checks on the decoded value (identity, prototypes, order). */
  check?: (v: AmfValue) => void;
}

const FOO_XY = (x: AmfValue, y: AmfValue): AmfTypedObject => new AmfTypedObject('Foo', obj({ x, y }));

const selfObject = (): AmfObject => {
  const o = obj();
  o.self = o;
  return o;
};
const selfArray = (): AmfValue[] => {
  const a: AmfValue[] = [];
  a.push(a);
  return a;
};
const shared = obj({ a: 1 });
const sharedDate = new Date(0);
const sharedBytes = new AmfByteArray(Uint8Array.of(0xff));
const sharedVector = new AmfVector('int', [7]);
const sharedArray: AmfValue[] = [];
const sharedEmpty = obj();
const sharedFoo = new AmfTypedObject('Foo', obj({ x: 'x' }));

const A64 = 'a'.repeat(64);
const LONG = 'é'.repeat(35000); // 70 000 UTF-8 bytes

const fixtures: Fixture[] = [
  // §3.2–3.5
  { name: 'undefined', bytes: b('00'), value: undefined },
  { name: 'null', bytes: b('01'), value: null },
  { name: 'false', bytes: b('02'), value: false },
  { name: 'true', bytes: b('03'), value: true },

  // §3.6 integer, §1.3.1 U29 at every length boundary
  { name: 'int 0', bytes: b('04 00'), value: 0 },
  { name: 'int 1', bytes: b('04 01'), value: 1 },
  { name: 'int 127 (largest 1-byte U29)', bytes: b('04 7f'), value: 127 },
  { name: 'int 128 (smallest 2-byte U29)', bytes: b('04 81 00'), value: 128 },
  { name: 'int 16383 (largest 2-byte U29)', bytes: b('04 ff 7f'), value: 16383 },
  { name: 'int 16384 (smallest 3-byte U29)', bytes: b('04 81 80 00'), value: 16384 },
  { name: 'int 2097151 (largest 3-byte U29)', bytes: b('04 ff ff 7f'), value: 2097151 },
  { name: 'int 2097152 (smallest 4-byte U29, 8-bit last byte)', bytes: b('04 80 c0 80 00'), value: 2097152 },
  { name: 'int 2^28−1 (largest)', bytes: b('04 bf ff ff ff'), value: 268435455 },
  { name: 'int −1 (sign-extended 29 bits)', bytes: b('04 ff ff ff ff'), value: -1 },
  { name: 'int −128', bytes: b('04 ff ff ff 80'), value: -128 },
  { name: 'int −2^28 (smallest)', bytes: b('04 c0 80 80 00'), value: -268435456 },
  { name: 'int 0 in a non-minimal 2-byte U29', bytes: b('04 80 00'), value: 0, canonical: false },
  { name: 'int 0 in a non-minimal 4-byte U29', bytes: b('04 80 80 80 00'), value: 0, canonical: false },

  // §3.7 double
  { name: '2^28 is a double', bytes: b('05 41 b0 00 00 00 00 00 00'), value: 268435456 },
  { name: '−2^28−1 is a double', bytes: b('05 c1 b0 00 00 01 00 00 00'), value: -268435457 },
  { name: '2^31 is a double', bytes: b('05 41 e0 00 00 00 00 00 00'), value: 2147483648 },
  { name: '2^53 is a double', bytes: b('05 43 40 00 00 00 00 00 00'), value: 2 ** 53 },
  { name: '1.5', bytes: b('05 3f f8 00 00 00 00 00 00'), value: 1.5 },
  { name: '0.1', bytes: b('05 3f b9 99 99 99 99 99 9a'), value: 0.1 },
  { name: '−0 is a double, sign kept', bytes: b('05 80 00 00 00 00 00 00 00'), value: -0 },
  { name: 'NaN', bytes: b('05 7f f8 00 00 00 00 00 00'), value: NaN },
  { name: 'NaN with another payload', bytes: b('05 7f f0 00 00 00 00 00 01'), value: NaN, canonical: false },
  { name: '+Infinity', bytes: b('05 7f f0 00 00 00 00 00 00'), value: Infinity },
  { name: '−Infinity', bytes: b('05 ff f0 00 00 00 00 00 00'), value: -Infinity },
  { name: 'integral double 5.0 decodes as 5', bytes: b('05 40 14 00 00 00 00 00 00'), value: 5, canonical: false },

  // §3.8 String, §1.3.2 UTF-8-vr
  { name: 'empty string', bytes: b('06 01'), value: '' },
  { name: 'hello', bytes: b('06 0b', txt('hello')), value: 'hello' },
  { name: 'multi-byte UTF-8: length counts bytes (9), not UTF-16 units (4)', bytes: b('06 13 c3a9 e4b8ad f09f9880'), value: 'é中😀' },
  { name: 'BOM and U+FFFD are ordinary characters', bytes: b('06 0f efbbbf efbfbd 41'), value: '\uFEFF\uFFFDA' },
  { name: '63-byte string: 1-byte header', bytes: b('06 7f', txt('a'.repeat(63))), value: 'a'.repeat(63) },
  { name: '64-byte string: 2-byte header', bytes: b('06 81 01', txt(A64)), value: A64 },
  { name: '70 000-byte string: 3-byte header', bytes: b('06 88 c5 61', txt(LONG)), value: LONG },
  { name: 'string reference', bytes: b('09 05 01 06 05 6162 06 00'), value: ['ab', 'ab'] },
  {
    name: 'the empty string is never added to the table',
    bytes: b('09 09 01 06 01 06 03 61 06 01 06 00'),
    value: ['', 'a', '', 'a'],
  },
  {
    name: 'keys, class names and values share the string table',
    bytes: b('09 07 01 0a 0b 01 03 61 06 00 01 06 00 0a 13 05 6363 00 06 00'),
    value: [obj({ a: 'a' }), 'a', new AmfTypedObject('cc', obj({ a: 'a' }))],
  },

  // §3.9 XMLDocument, §3.13 XML
  { name: 'XMLDocument', bytes: b('07 09', txt('<a/>')), value: new AmfXmlDocument('<a/>') },
  { name: 'XML (E4X)', bytes: b('0b 09', txt('<a/>')), value: new AmfXml('<a/>') },
  { name: 'XML with multi-byte text (length in bytes)', bytes: b('0b 15', txt('<é>x</é>')), value: new AmfXml('<é>x</é>') },
  {
    name: 'XML text is not in the string table (same text as a string is sent again)',
    bytes: b('09 05 01 0b 09', txt('<a/>'), '06 09', txt('<a/>')),
    value: [new AmfXml('<a/>'), '<a/>'],
  },
  {
    name: 'XML and XMLDocument references (object table)',
    bytes: b('09 09 01 0b 09', txt('<a/>'), '07 09', txt('<b/>'), '0b 02 07 04'),
    value: [new AmfXml('<a/>'), new AmfXmlDocument('<b/>'), new AmfXml('<a/>'), new AmfXmlDocument('<b/>')],
    canonical: false,
    check: (v) => {
      const a = v as AmfValue[];
      assert.equal(a[2], a[0]);
      assert.equal(a[3], a[1]);
    },
  },

  // §3.10 Date
  { name: 'Date 0', bytes: b('08 01 00 00 00 00 00 00 00 00'), value: new Date(0) },
  { name: 'Date 2009-02-13T23:31:30Z', bytes: b('08 01 42 71 f7 1f b0 45 00 00'), value: new Date(1234567890000) },
  { name: 'Date before the epoch', bytes: b('08 01 c0 8f 40 00 00 00 00 00'), value: new Date(-1000) },
  {
    name: 'Date reference',
    bytes: b('09 05 01 08 01 00 00 00 00 00 00 00 00 08 02'),
    value: [sharedDate, sharedDate],
    check: (v) => assert.equal((v as AmfValue[])[1], (v as AmfValue[])[0]),
  },

  // §3.11 Array
  { name: 'empty array', bytes: b('09 01 01'), value: [] },
  { name: 'dense array', bytes: b('09 07 01 04 01 04 02 04 03'), value: [1, 2, 3] },
  { name: 'nested dense arrays', bytes: b('09 05 01 09 03 01 04 01 09 01 01'), value: [[1], []] },
  { name: 'array with undefined and null', bytes: b('09 05 01 00 01'), value: [undefined, null] },
  { name: 'associative-only array → AmfEcmaArray', bytes: b('09 01 03 61 04 01 01'), value: new AmfEcmaArray([['a', 1]]) },
  {
    name: 'associative keys keep wire order, integer-like keys stay strings',
    bytes: b('09 01 03 31 04 01 03 30 04 00 01'),
    value: new AmfEcmaArray([
      ['1', 1],
      ['0', 0],
    ]),
    check: (v) => assert.deepEqual([...(v as AmfEcmaArray).entries.keys()], ['1', '0']),
  },
  {
    name: 'mixed array: associative part first on the wire, then dense',
    bytes: b('09 03 03 62 03 01 04 01'),
    value: new AmfMixedArray([1], [['b', true]]),
  },
  {
    name: 'array self-reference (numbered before its elements)',
    bytes: b('09 03 01 09 00'),
    value: selfArray(),
    canonical: false,
    encodeFrom: selfArray(),
    check: (v) => assert.equal((v as AmfValue[])[0], v),
  },
  {
    name: 'array reference',
    bytes: b('09 05 01 09 01 01 09 02'),
    value: [sharedArray, sharedArray],
    check: (v) => assert.equal((v as AmfValue[])[1], (v as AmfValue[])[0]),
  },
  {
    name: 'mixed array referring to itself from its associative part',
    bytes: b('09 03 09 73656c66 09 00 01 04 05'),
    value: (() => {
      const m = new AmfMixedArray([5]);
      m.associative.set('self', m);
      return m;
    })(),
    check: (v) => assert.equal((v as AmfMixedArray).associative.get('self'), v),
  },

  // §3.12 Object
  { name: 'empty anonymous object', bytes: b('0a 0b 01 01'), value: obj() },
  { name: 'anonymous object', bytes: b('0a 0b 01 03 61 04 01 03 62 06 03 78 01'), value: obj({ a: 1, b: 'x' }) },
  {
    name: 'nested anonymous objects use a traits reference',
    bytes: b('0a 0b 01 03 61 0a 01 03 62 0a 01 03 63 01 01 01 01'),
    value: obj({ a: obj({ b: obj({ c: null }) }) }),
  },
  {
    name: 'second anonymous object: traits and key by reference',
    bytes: b('09 05 01 0a 0b 01 03 61 04 01 01 0a 01 00 04 02 01'),
    value: [obj({ a: 1 }), obj({ a: 2 })],
  },
  {
    name: 'object reference',
    bytes: b('09 05 01 0a 0b 01 03 61 04 01 01 0a 02'),
    value: [shared, shared],
    check: (v) => assert.equal((v as AmfValue[])[1], (v as AmfValue[])[0]),
  },
  {
    name: 'object self-reference (numbered before its members)',
    bytes: b('0a 0b 01 09 73656c66 0a 00 01'),
    value: selfObject(),
    encodeFrom: selfObject(),
    canonical: false,
    check: (v) => assert.equal((v as AmfObject).self, v),
  },
  {
    name: '__proto__ key is plain data',
    bytes: b('0a 0b 01 13', txt('__proto__'), '0a 01 03 78 04 01 01 01'),
    value: obj({ ['__proto__']: obj({ x: 1 }) }),
    check: (v) => {
      assert.equal(Object.getPrototypeOf(v), null);
      assert.ok(Object.hasOwn(v as object, '__proto__'));
      assert.deepEqual(Object.keys(v as object), ['__proto__']);
      assert.equal(({} as Record<string, unknown>).x, undefined);
    },
  },
  {
    name: 'constructor and prototype keys are plain data',
    bytes: b('0a 0b 01 17', txt('constructor'), '06 03 78 13', txt('prototype'), '01 01'),
    value: obj({ constructor: 'x', prototype: null }),
    check: (v) => assert.equal(Object.getPrototypeOf(v), null),
  },
  {
    name: 'sealed typed object',
    bytes: b('0a 23 07', txt('Foo'), '03 78 03 79 04 01 04 02'),
    value: FOO_XY(1, 2),
  },
  {
    name: 'typed object of a dynamic class',
    bytes: b('0a 1b 07', txt('Foo'), '03 78 04 01 03 7a 03 01'),
    value: new AmfTypedObject('Foo', obj({ x: 1 }), obj({ z: true })),
  },
  {
    name: 'dynamic typed object with no members',
    bytes: b('0a 0b 07', txt('Bar'), '01'),
    value: new AmfTypedObject('Bar', obj(), obj()),
  },
  {
    name: 'typed object traits reference',
    bytes: b('09 05 01 0a 23 07', txt('Foo'), '03 78 03 79 04 01 04 02 0a 01 04 03 04 04'),
    value: [FOO_XY(1, 2), FOO_XY(3, 4)],
  },
  {
    name: 'anonymous and typed traits side by side (traits indices 0, 1, 0, 1)',
    bytes: b('09 09 01 0a 0b 01 01 0a 13 07', txt('Foo'), '03 78 04 01 0a 01 01 0a 05 04 02'),
    value: [obj(), new AmfTypedObject('Foo', obj({ x: 1 })), obj(), new AmfTypedObject('Foo', obj({ x: 2 }))],
  },
  {
    name: 'typed object members with __proto__ stay data',
    bytes: b('0a 13 07', txt('Foo'), '13', txt('__proto__'), '04 01'),
    value: new AmfTypedObject('Foo', obj({ ['__proto__']: 1 })),
    check: (v) => assert.equal(Object.getPrototypeOf((v as AmfTypedObject).members), null),
  },
  {
    name: 'anonymous traits with sealed members merge into a plain object',
    bytes: b('0a 1b 01 03 61 04 01 03 62 04 02 01'),
    value: obj({ a: 1, b: 2 }),
    canonical: false,
    encodeFrom: new AmfTypedObject('', obj({ a: 1 }), obj({ b: 2 })),
  },
  { name: 'anonymous sealed object with no members', bytes: b('0a 03 01'), value: obj(), canonical: false },

  // §3.14 ByteArray
  { name: 'ByteArray', bytes: b('0c 07 01 02 03'), value: new AmfByteArray(Uint8Array.of(1, 2, 3)) },
  { name: 'empty ByteArray', bytes: b('0c 01'), value: new AmfByteArray(new Uint8Array(0)) },
  {
    name: 'ByteArray reference',
    bytes: b('09 05 01 0c 03 ff 0c 02'),
    value: [sharedBytes, sharedBytes],
    check: (v) => assert.equal((v as AmfValue[])[1], (v as AmfValue[])[0]),
  },

  // §3.15 Vector
  {
    name: 'Vector.<int>',
    bytes: b('0d 09 00 00000001 ffffffff 7fffffff 80000000'),
    value: new AmfVector('int', [1, -1, 2147483647, -2147483648]),
  },
  { name: 'fixed Vector.<uint>', bytes: b('0e 05 01 00000000 ffffffff'), value: new AmfVector('uint', [0, 4294967295], true) },
  {
    name: 'Vector.<Number>',
    bytes: b('0f 07 00 3ff8000000000000 8000000000000000 7ff8000000000000'),
    value: new AmfVector('double', [1.5, -0, NaN]),
  },
  {
    name: 'Vector.<String>',
    bytes: b('10 05 00 0d', txt('String'), '06 03 61 06 03 62'),
    value: new AmfVector('object', ['a', 'b'], false, 'String'),
  },
  {
    name: 'Vector.<*> of objects',
    bytes: b('10 05 00 01 0a 0b 01 01 0a 02'),
    value: new AmfVector('object', [sharedEmpty, sharedEmpty], false, ''),
    check: (v) => assert.equal((v as AmfVector).items[1], (v as AmfVector).items[0]),
  },
  { name: 'empty Vector.<int>', bytes: b('0d 01 00'), value: new AmfVector('int', []) },
  {
    name: 'vector reference',
    bytes: b('09 05 01 0d 03 00 00000007 0d 02'),
    value: [sharedVector, sharedVector],
    check: (v) => assert.equal((v as AmfValue[])[1], (v as AmfValue[])[0]),
  },

  // §3.16 Dictionary
  {
    name: 'Dictionary with primitive keys',
    bytes: b('11 05 00 06 03 61 04 01 04 02 06 03 62'),
    value: new AmfDictionary([
      ['a', 1],
      [2, 'b'],
    ]),
  },
  {
    name: 'Dictionary with weak object keys',
    bytes: b('11 03 01 0a 0b 01 01 03'),
    value: new AmfDictionary([[obj(), true]], true),
  },
  { name: 'empty Dictionary', bytes: b('11 01 00'), value: new AmfDictionary() },

  // All three tables in one value
  {
    name: 'strings, objects and traits referenced together',
    bytes: b(
      '09 07 01',
      '0a 13 07', txt('Foo'), '03 78 06 02', // Foo{x:'x'}: traits 0, object 1, strings Foo=0 x=1 (value 'x' by reference)
      '0a 01 06 02', // another Foo{x:'x'}: traits reference 0, string reference 1
      '0a 02', // object reference 1
    ),
    value: [sharedFoo, new AmfTypedObject('Foo', obj({ x: 'x' })), sharedFoo],
    check: (v) => {
      const a = v as AmfValue[];
      assert.equal(a[2], a[0]);
      assert.notEqual(a[1], a[0]);
    },
  },
];

describe('AMF3 fixtures (bytes ↔ value)', () => {
  for (const f of fixtures) {
    test(f.name, () => {
      const got = decodeAmf3Value(f.bytes);
      assert.deepEqual(got, f.value);
      assertNoPrototypes(got);
      f.check?.(got);
      if (f.canonical !== false) assert.equal(hexOf(encodeAmf3Value(f.value)), hexOf(f.bytes), 'encode');
      if (f.encodeFrom !== undefined) assert.equal(hexOf(encodeAmf3Value(f.encodeFrom)), hexOf(f.bytes), 'encode');
      // Input arrives whole per message: every truncation is 'truncated', nothing else.
      assertTruncations(f.bytes);
    });
  }

  test('the table covers every AMF3 marker', () => {
    const markers = new Set(fixtures.map((f) => f.bytes[0]));
    for (let m = 0; m <= 0x11; m++) assert.ok(markers.has(m), `marker 0x${m.toString(16)}`);
  });

  test('decodes from a view with a byte offset (pooled Buffer, plain Uint8Array)', () => {
    const big = b('ff ff 0a 0b 01 03 61 06 05 6869 01 ff');
    assert.deepEqual(decodeAmf3Value(big.subarray(2, big.length - 1)), obj({ a: 'hi' }));
    assert.deepEqual(decodeAmf3Value(new Uint8Array(big).subarray(2, big.length - 1)), obj({ a: 'hi' }));
  });

  test('a decoded ByteArray is a copy, not a view of the input', () => {
    const input = b('0c 05 01 02');
    const v = decodeAmf3Value(input) as AmfByteArray;
    input[2] = 0xee;
    assert.deepEqual(v.bytes, Uint8Array.of(1, 2));
  });
});

// ---------------------------------------------------------------------------------------------

describe('AMF3 encoder', () => {
  test('numbers: integers in −2^28 … 2^28−1 as U29, everything else as a double (§3.6)', () => {
    const cases: [number, string][] = [
      [0, '0400'],
      [-0, '058000000000000000'],
      [268435455, '04bfffffff'],
      [268435456, '0541b0000000000000'],
      [-268435456, '04c0808000'],
      [-268435457, '05c1b0000001000000'],
      [0.5, '053fe0000000000000'],
      [Infinity, '057ff0000000000000'],
    ];
    for (const [n, h] of cases) assert.equal(hexOf(encodeAmf3Value(n)), h, String(n));
  });

  test('a cycle through several objects is sent by reference and decodes to the same shape', () => {
    const a = obj({ name: 'a' });
    const bb = obj({ name: 'b', a });
    a.b = bb;
    a.list = [a, bb, new AmfMixedArray([bb], [['a', a]])];
    const back = decodeAmf3Value(encodeAmf3Value(a)) as AmfObject;
    assert.deepEqual(back, a);
    const bk = back.b as AmfObject;
    assert.equal(bk.a, back);
    const list = back.list as AmfValue[];
    assert.equal(list[0], back);
    assert.equal(list[1], bk);
    assert.equal((list[2] as AmfMixedArray).dense[0], bk);
  });

  test('a shared Date, XML, ByteArray, vector and dictionary are referenced', () => {
    const d = new Date(5);
    const x = new AmfXml('<x/>');
    const ba = new AmfByteArray(Uint8Array.of(9));
    const v = new AmfVector('uint', [1]);
    const dict = new AmfDictionary([[1, 2]]);
    const bytes = encodeAmf3Value([d, x, ba, v, dict, d, x, ba, v, dict]);
    // Array is object 0, so the second occurrences are references 1..5.
    assert.ok(hexOf(bytes).endsWith('0802' + '0b04' + '0c06' + '0e08' + '110a'), hexOf(bytes));
    const back = decodeAmf3Value(bytes) as AmfValue[];
    for (let i = 0; i < 5; i++) assert.equal(back[i + 5], back[i]);
  });

  test('a dictionary whose key is the dictionary itself', () => {
    const d = new AmfDictionary();
    d.entries.set(d, 'me');
    const back = decodeAmf3Value(encodeAmf3Value(d)) as AmfDictionary;
    assert.deepEqual([...back.entries.values()], ['me']);
    assert.equal([...back.entries.keys()][0], back);
  });

  test('object literals (Object.prototype) are anonymous objects too', () => {
    assert.equal(hexOf(encodeAmf3Value({ a: 1 } as AmfObject)), hexOf(b('0a 0b 01 03 61 04 01 01')));
  });

  test('values outside the model are refused with unsupported', () => {
    const bad: unknown[] = [() => 1, Symbol('s'), 10n, new Map(), new Set(), Uint8Array.of(1), new (class X {})(), [1, () => 1], { f: () => 1 }];
    for (const v of bad) expectCode(() => encodeAmf3Value(v as AmfValue), 'unsupported', String(typeof v));
  });

  test('vector items out of range are invalid-value', () => {
    const bad: AmfVector[] = [
      new AmfVector('int', [1.5]),
      new AmfVector('int', [2 ** 31]),
      new AmfVector('int', [-(2 ** 31) - 1]),
      new AmfVector('int', ['1']),
      new AmfVector('uint', [-1]),
      new AmfVector('uint', [2 ** 32]),
      new AmfVector('uint', [NaN]),
      new AmfVector('double', [null]),
      new AmfVector('bogus' as 'int', []),
    ];
    for (const v of bad) expectCode(() => encodeAmf3Value(v), 'invalid-value', `${v.kind} ${String(v.items[0])}`);
  });

  test('an empty dynamic key or associative key cannot be written (it ends the list)', () => {
    expectCode(() => encodeAmf3Value(obj({ '': 1 })), 'invalid-value');
    expectCode(() => encodeAmf3Value(new AmfEcmaArray([['', 1]])), 'invalid-value');
    expectCode(() => encodeAmf3Value(new AmfMixedArray([1], [['', 1]])), 'invalid-value');
    expectCode(() => encodeAmf3Value(new AmfTypedObject('T', obj(), obj({ '': 1 }))), 'invalid-value');
    // A sealed member may be named "": its names are counted, not terminated.
    const t = new AmfTypedObject('T', obj({ '': 1 }));
    assert.deepEqual(decodeAmf3Value(encodeAmf3Value(t)), t);
  });

  test(`nesting deeper than MAX_ENCODE_DEPTH (${MAX_ENCODE_DEPTH}) is too-deep, not a stack overflow`, () => {
    let deep: AmfValue = null;
    for (let i = 0; i < MAX_ENCODE_DEPTH; i++) deep = [deep];
    assert.ok(encodeAmf3Value(deep).length > MAX_ENCODE_DEPTH);
    expectCode(() => encodeAmf3Value([deep]), 'too-deep');
    let deeper: AmfValue = null;
    for (let i = 0; i < 100000; i++) deeper = obj({ a: deeper });
    expectCode(() => encodeAmf3Value(deeper), 'too-deep');
  });

  test('the output buffer grows for large values', () => {
    const big = 'x'.repeat(300000);
    const out = encodeAmf3Value([big, new AmfByteArray(new Uint8Array(100000).fill(7)), big]);
    const back = decodeAmf3Value(out, { maxStringBytes: 400000 }) as AmfValue[];
    assert.equal(back[0], big);
    assert.equal(back[2], big);
    assert.equal((back[1] as AmfByteArray).bytes.length, 100000);
  });
});

// ---------------------------------------------------------------------------------------------

describe('AMF3 decoder errors', () => {
  const cases: [string, Uint8Array, AmfErrorCode, Partial<AmfLimits>?][] = [
    ['unknown marker 0x12', b('12'), 'bad-marker'],
    ['unknown marker 0xff', b('ff'), 'bad-marker'],
    ['unknown marker inside an array', b('09 03 01 20'), 'bad-marker'],
    ['externalizable traits (flex ArrayCollection)', b('0a 07 43', txt('flex.messaging.io.ArrayCollection'), '09 01 01'), 'unsupported'],
    ['externalizable, truncated class name', b('0a 07 43'), 'truncated'],
    ['string reference with an empty table', b('06 00'), 'bad-reference'],
    ['string reference past the table', b('09 05 01 06 03 61 06 02'), 'bad-reference'],
    ['object reference with an empty table', b('0a 00'), 'bad-reference'],
    ['object reference past the table', b('09 03 01 09 02'), 'bad-reference'],
    ['traits reference with an empty table', b('0a 01'), 'bad-reference'],
    ['traits reference past the table', b('09 05 01 0a 0b 01 01 0a 05'), 'bad-reference'],
    ['a Date reference to an array', b('09 03 01 08 00'), 'bad-reference'],
    ['an XML reference to an XMLDocument', b('09 05 01 07 03 61 0b 02'), 'bad-reference'],
    ['an object reference to an array', b('09 03 01 0a 00'), 'bad-reference'],
    ['a Vector.<int> reference to a Vector.<uint>', b('09 05 01 0e 01 00 0d 02'), 'bad-reference'],
    ['a dictionary reference to a ByteArray', b('09 05 01 0c 01 11 02'), 'bad-reference'],
    ['invalid UTF-8: stray continuation byte', b('06 03 80'), 'invalid-utf8'],
    ['invalid UTF-8: 0xff', b('06 03 ff'), 'invalid-utf8'],
    ['invalid UTF-8: bad continuation', b('06 05 c3 28'), 'invalid-utf8'],
    ['invalid UTF-8: overlong "/"', b('06 05 c0 af'), 'invalid-utf8'],
    ['invalid UTF-8: encoded surrogate', b('06 07 ed a0 80'), 'invalid-utf8'],
    ['invalid UTF-8: above U+10FFFF', b('06 09 f4 90 80 80'), 'invalid-utf8'],
    ['invalid UTF-8: cut sequence', b('06 05 61 e4'), 'invalid-utf8'],
    ['invalid UTF-8 in a key', b('0a 0b 01 03 ff 01 01'), 'invalid-utf8'],
    ['invalid UTF-8 in a class name', b('0a 03 03 ff'), 'invalid-utf8'],
    ['invalid UTF-8 in XML', b('0b 03 ff'), 'invalid-utf8'],
    ['trailing bytes', b('01 01'), 'trailing-bytes'],
    ['empty input', b(''), 'truncated'],
    // Lying lengths: never an allocation, always 'truncated' (checked before the limits).
    ['string length 2^28−1 with 3 bytes left', b('06 ff ff ff ff 61 62 63'), 'truncated'],
    ['XML length 2^28−1', b('0b ff ff ff ff 3c'), 'truncated'],
    ['ByteArray length 2^28−1', b('0c ff ff ff ff 00 00 00'), 'truncated'],
    ['dense count 2^28−1', b('09 ff ff ff ff 01 01 01'), 'truncated'],
    ['Vector.<int> count 2^28−1', b('0d ff ff ff ff 00 00 00 00 01'), 'truncated'],
    ['Vector.<Number> count 2^27 (8 bytes each)', b('0f c0 80 80 01 00', '00'.repeat(16)), 'truncated'],
    ['Vector.<Object> count 2^28−1', b('10 ff ff ff ff 00 01 01'), 'truncated'],
    ['Dictionary count 2^28−1', b('11 ff ff ff ff 00 01 01'), 'truncated'],
    ['2^25−1 sealed member names', b('0a ff ff ff f3 01 01 01'), 'truncated'],
    ['associative part never ended', b('09 01 03 61 01 03 62 01'), 'truncated'],
    ['dynamic members never ended', b('0a 0b 01 03 61 01'), 'truncated'],
  ];
  for (const [name, bytes, code, limits] of cases) {
    test(`${name} → ${code}`, () => {
      expectCode(() => decodeAmf3Value(bytes, limits), code, name);
    });
  }

  test('errors carry the offset', () => {
    const e = expectCode(() => decodeAmf3Value(b('09 05 01 01 12')), 'bad-marker');
    assert.equal(e.offset, 4);
    const t = expectCode(() => decodeAmf3Value(b('06 ff ff ff ff 61')), 'truncated');
    assert.equal(t.offset, 6);
  });
});

describe('AMF3 decoder limits', () => {
  const nestArrays = (n: number): Buffer => b('09 03 01'.repeat(n), '01');
  const nestObjects = (n: number): Buffer => b('0a 0b 01 03 61', '0a 01 00'.repeat(n - 1), '01', '01'.repeat(n));

  test('maxDepth: arrays nested to the limit decode, one more is too-deep', () => {
    const d = DEFAULT_AMF_LIMITS.maxDepth;
    decodeAmf3Value(nestArrays(d));
    expectCode(() => decodeAmf3Value(nestArrays(d + 1)), 'too-deep');
    decodeAmf3Value(nestArrays(5), { maxDepth: 5 });
    expectCode(() => decodeAmf3Value(nestArrays(6), { maxDepth: 5 }), 'too-deep');
  });

  test('maxDepth: objects, vectors and dictionaries count too', () => {
    decodeAmf3Value(nestObjects(3), { maxDepth: 3 });
    expectCode(() => decodeAmf3Value(nestObjects(4), { maxDepth: 3 }), 'too-deep');
    const vec = (n: number): Buffer => b('10 03 00 01'.repeat(n), '01');
    decodeAmf3Value(vec(3), { maxDepth: 3 });
    expectCode(() => decodeAmf3Value(vec(4), { maxDepth: 3 }), 'too-deep');
    const dict = (n: number): Buffer => b('11 03 00 01'.repeat(n), '01');
    decodeAmf3Value(dict(3), { maxDepth: 3 });
    expectCode(() => decodeAmf3Value(dict(4), { maxDepth: 3 }), 'too-deep');
  });

  test('100 000 nested arrays: too-deep quickly, no stack overflow', () => {
    const t0 = performance.now();
    expectCode(() => decodeAmf3Value(nestArrays(100000)), 'too-deep');
    assert.ok(performance.now() - t0 < 2000, "the depth limit stops it early");
  });

  test('a huge maxDepth still ends in too-deep, never a RangeError', () => {
    expectCode(() => decodeAmf3Value(nestArrays(200000), { maxDepth: 1e9 }), 'too-deep');
  });

  test('a reference loop is no nesting: a self-referencing object at maxDepth 1', () => {
    const v = decodeAmf3Value(b('0a 0b 01 09 73656c66 0a 00 01'), { maxDepth: 1 }) as AmfObject;
    assert.equal(v.self, v);
  });

  test('maxItems applies to every kind of collection', () => {
    const L = { maxItems: 2 };
    const cases: [string, Buffer, Buffer][] = [
      ['dense array', b('09 05 01 01 01'), b('09 07 01 01 01 01')],
      ['associative part', b('09 01 03 61 01 03 62 01 01'), b('09 01 03 61 01 03 62 01 03 63 01 01')],
      ['dynamic members', b('0a 0b 01 03 61 01 03 62 01 01'), b('0a 0b 01 03 61 01 03 62 01 03 63 01 01')],
      ['sealed members', b('0a 23 03 54 03 61 03 62 01 01'), b('0a 33 03 54 03 61 03 62 03 63 01 01 01')],
      ['Vector.<int>', b('0d 05 00 00000000 00000000'), b('0d 07 00 00000000 00000000 00000000')],
      ['Vector.<uint>', b('0e 05 00 00000000 00000000'), b('0e 07 00 00000000 00000000 00000000')],
      ['Vector.<Number>', b('0f 05 00', '00'.repeat(16)), b('0f 07 00', '00'.repeat(24))],
      ['Vector.<Object>', b('10 05 00 01 01 01'), b('10 07 00 01 01 01 01')],
      ['Dictionary', b('11 05 00 04 01 01 04 02 01'), b('11 07 00 04 01 01 04 02 01 04 03 01')],
    ];
    for (const [name, ok, tooMany] of cases) {
      decodeAmf3Value(ok, L);
      expectCode(() => decodeAmf3Value(tooMany, L), 'too-many-items', name);
    }
  });

  test('maxStringBytes applies to strings, keys, class names, XML and ByteArrays', () => {
    const L = { maxStringBytes: 3 };
    const cases: [string, Buffer, Buffer][] = [
      ['string', b('06 07 616263'), b('06 09 61626364')],
      ['key', b('0a 0b 01 07 616263 01 01'), b('0a 0b 01 09 61626364 01 01')],
      ['class name', b('0a 03 07 616263'), b('0a 03 09 61626364')],
      ['XML', b('0b 07 616263'), b('0b 09 61626364')],
      ['XMLDocument', b('07 07 616263'), b('07 09 61626364')],
      ['ByteArray', b('0c 07 010203'), b('0c 09 01020304')],
    ];
    for (const [name, ok, tooLong] of cases) {
      decodeAmf3Value(ok, L);
      expectCode(() => decodeAmf3Value(tooLong, L), 'too-long', name);
    }
    // Default: 1 MiB.
    const big = 'x'.repeat(DEFAULT_AMF_LIMITS.maxStringBytes + 1);
    expectCode(() => decodeAmf3Value(encodeAmf3Value(big)), 'too-long');
    assert.equal(decodeAmf3Value(encodeAmf3Value(big.slice(1))), big.slice(1));
  });

  test('maxReferences bounds each table: strings, objects, traits', () => {
    const L = { maxReferences: 3 };
    // Strings: the array is the only object; 3 distinct strings fit, 4 do not.
    const strings = (n: number): AmfValue[] => Array.from({ length: n }, (_, i) => `s${i}`);
    decodeAmf3Value(encodeAmf3Value(strings(3)), L);
    expectCode(() => decodeAmf3Value(encodeAmf3Value(strings(4)), L), 'too-many-references', 'strings');
    // Repeated strings are references, not new entries.
    decodeAmf3Value(encodeAmf3Value([...strings(3), ...strings(3), ...strings(3)]), L);
    // Objects: the outer array and 2 inner ones fit; 3 inner ones do not.
    decodeAmf3Value(encodeAmf3Value([[], []]), L);
    expectCode(() => decodeAmf3Value(encodeAmf3Value([[], [], []]), L), 'too-many-references', 'objects');
    // Traits are numbered just before their object: objects each sending inline traits
    // ({a: {b: {}}}, non-canonical) overflow the traits table first.
    const chain = b('0a 0b 01 03 61 0a 0b 01 03 62 0a 0b 01 01 01 01');
    decodeAmf3Value(chain, L);
    const e = expectCode(() => decodeAmf3Value(chain, { maxReferences: 2 }), 'too-many-references');
    assert.match(e.message, /traits/);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const KEYS = ['a', 'b', 'x', 'to', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'é', '中文', '😀', '0', '1', '10', 'length'];
const keyArb = fc.oneof(fc.constantFrom(...KEYS), fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }));
const stringArb = fc.oneof(fc.constantFrom('', 'a', 'xmpp', 'é', '😀', '\uFEFF', '\uFFFD'), fc.string({ unit: 'binary', maxLength: 16 }));
const numberArb = fc.oneof(
  fc.integer({ min: -(2 ** 28) - 2, max: 2 ** 28 + 1 }),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 127, 128, 16383, 16384, 2097151, 2097152, 2 ** 28 - 1, -(2 ** 28), 2 ** 28, 2 ** 31, -(2 ** 53)),
);
const leafArb: fc.Arbitrary<AmfValue> = fc.oneof(
  numberArb,
  stringArb,
  fc.boolean(),
  fc.constantFrom(null, undefined),
  fc.date({ noInvalidDate: true }),
  stringArb.map((s) => new AmfXml(s)),
  stringArb.map((s) => new AmfXmlDocument(s)),
  fc.uint8Array({ maxLength: 12 }).map((u) => new AmfByteArray(u)),
  fc.tuple(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 4 }), fc.boolean()).map(([i, f]) => new AmfVector('int', i, f)),
  fc.tuple(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 4 }), fc.boolean()).map(([i, f]) => new AmfVector('uint', i, f)),
  fc.tuple(fc.array(fc.double(), { maxLength: 4 }), fc.boolean()).map(([i, f]) => new AmfVector('double', i, f)),
);

function objFrom(entries: [string, AmfValue][]): AmfObject {
  const o = obj();
  for (const [k, v] of entries) o[k] = v;
  return o;
}

/** AMF3 values in their canonical model form (what decoding gives back). */
const amf3Arb: fc.Arbitrary<AmfValue> = fc.letrec<{ v: AmfValue }>((tie) => {
  const entries = (min: number) => fc.array(fc.tuple(keyArb, tie('v')), { minLength: min, maxLength: 4 });
  return {
    v: fc.oneof(
      { depthSize: 'small', maxDepth: 5 },
      leafArb,
      fc.array(tie('v'), { maxLength: 5 }),
      entries(0).map(objFrom),
      fc
        .tuple(fc.constantFrom('Foo', 'com.example.Bar', 'é.Ü'), entries(0), fc.option(entries(0)))
        .map(([c, m, d]) => new AmfTypedObject(c, objFrom(m), d === null ? null : objFrom(d))),
      entries(1).map((e) => new AmfEcmaArray(e)),
      fc.tuple(fc.array(tie('v'), { minLength: 1, maxLength: 3 }), entries(1)).map(([d, a]) => new AmfMixedArray(d, a)),
      fc
        .tuple(fc.array(tie('v'), { maxLength: 4 }), fc.boolean(), fc.constantFrom('', '*', 'String', 'Object', 'com.example.Bar'))
        .map(([i, f, t]) => new AmfVector('object', i, f, t)),
      fc.tuple(fc.array(fc.tuple(tie('v'), tie('v')), { maxLength: 3 }), fc.boolean()).map(([e, w]) => new AmfDictionary(e, w)),
    ),
  };
}).v;

describe('AMF3 properties', () => {
  test('round trip: decode(encode(v)) deep-equals v; re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(amf3Arb, (v) => {
        const bytes = encodeAmf3Value(v);
        const back = decodeAmf3Value(bytes);
        assert.deepEqual(back, v);
        assertNoPrototypes(back);
        assert.equal(hexOf(encodeAmf3Value(back)), hexOf(bytes));
      }),
      { numRuns: 1500 },
    );
  });

  test('round trip with shared values: identity is kept through references', () => {
    fc.assert(
      fc.property(fc.array(amf3Arb, { minLength: 1, maxLength: 4 }), (vs) => {
        const v = [...vs, ...vs];
        const back = decodeAmf3Value(encodeAmf3Value(v)) as AmfValue[];
        assert.deepEqual(back, v);
        vs.forEach((x, i) => {
          if (typeof x === 'object' && x !== null) assert.equal(back[i + vs.length], back[i]);
        });
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes: only AmfError, in bounded time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (input) => {
        const t0 = performance.now();
        assertOnlyAmfError(() => decodeAmf3Value(input));
        assert.ok(performance.now() - t0 < 1000, "a small input decodes in bounded time (generous: the test machine may be loaded)");
      }),
      { numRuns: 5000 },
    );
  });

  test('random bytes behind a valid marker and U29 prefix: only AmfError', () => {
    const prefix = fc.constantFrom(...['06', '07', '08', '09', '0a', '0b', '0c', '0d', '0e', '0f', '10', '11'].map((h) => b(h)));
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 64 }), (p, rest) => {
        assertOnlyAmfError(() => decodeAmf3Value(b(p, rest)));
        assertOnlyAmfError(() => decodeAmf3Value(b(p, rest), { maxDepth: 2, maxItems: 3, maxStringBytes: 4, maxReferences: 2 }));
      }),
      { numRuns: 5000 },
    );
  });

  test('mutated valid encodings: only AmfError', () => {
    fc.assert(
      fc.property(amf3Arb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (v, edits) => {
        const bytes = Buffer.from(encodeAmf3Value(v));
        for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
        assertOnlyAmfError(() => decodeAmf3Value(bytes));
        assertOnlyAmfError(() => decodeAmf3Value(bytes.subarray(0, edits[0]![0] % (bytes.length + 1))));
      }),
      { numRuns: 2000 },
    );
  });

  test('lying lengths and counts allocate nothing (bounded memory and time)', () => {
    const liars = [
      b('06 ff ff ff ff', '00'.repeat(8)),
      b('0c ff ff ff ff', '00'.repeat(8)),
      b('09 ff ff ff ff', '01'.repeat(8)),
      b('0d ff ff ff ff 00', '00'.repeat(8)),
      b('0f ff ff ff ff 00', '00'.repeat(8)),
      b('10 ff ff ff ff 00 01', '01'.repeat(8)),
      b('11 ff ff ff ff 00', '01'.repeat(8)),
      b('0a ff ff ff f3 01', '01'.repeat(8)),
    ];
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) for (const l of liars) expectCode(() => decodeAmf3Value(l), 'truncated');
    assert.ok(performance.now() - t0 < 2000);
    assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024);
  });
});
