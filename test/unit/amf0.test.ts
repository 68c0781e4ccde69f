import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import * as fc from 'fast-check';
import {
  DEFAULT_AMF_LIMITS,
  MAX_ENCODE_DEPTH,
  decodeAmf0Values,
  encodeAmf0Values,
  encodeAmf0WithAmf3Values,
  type AmfLimits,
} from '../../src/codec/amf/amf0.js';
import { encodeAmf3Value } from '../../src/codec/amf/amf3.js';
import { AmfError, type AmfErrorCode } from '../../src/codec/amf/errors.js';
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

/** An AMF0 UTF-8 string body: 16-bit byte length, then the bytes. */
const u16s = (s: string): Buffer => {
  const t = txt(s);
  const h = Buffer.alloc(2);
  h.writeUInt16BE(t.length);
  return b(h, t);
};

const ONE = '3ff0000000000000';
const TWO = '4000000000000000';
const END = '000009';



/**
 * Every non-empty strict prefix of a body is either 'truncated' or (cut at a value boundary) the
 * corresponding leading values — never another error. For a one-value body every prefix is
 * 'truncated'.
 */
function assertTruncations(bytes: Uint8Array, values: AmfValue[]): void {
  for (let i = 1; i < bytes.length; i++) {
    try {
      const got = decodeAmf0Values(bytes.subarray(0, i));
      assert.ok(got.length < values.length, `prefix of ${i} bytes decoded everything`);
      assert.deepEqual(got, values.slice(0, got.length), `prefix of ${i} bytes`);
    } catch (e) {
      if (!(e instanceof AmfError)) throw e;
      assert.equal(e.code, 'truncated', `prefix of ${i}/${bytes.length} bytes: ${e.message}`);
    }
  }
}


// ---------------------------------------------------------------------------------------------
// Fixtures: hand-computed bytes (AMF 0 Specification, December 2007; section numbers cited)

interface Fixture {
  name: string;
  bytes: Uint8Array;
  /** What decoding gives (one value). */
  value: AmfValue;
  /** encodeAmf0Values([value]) gives exactly `bytes` (default true). */
  canonical?: boolean;
  /** Another value that encodes to exactly `bytes`. */
  encodeFrom?: AmfValue;
  check?: (v: AmfValue) => void;
}

const A65535 = 'a'.repeat(65535);
const A65536 = 'a'.repeat(65536);
const HAN = '中'.repeat(21846); // 21 846 UTF-16 units, 65 538 UTF-8 bytes

const selfObject = (): AmfObject => {
  const o = obj();
  o.self = o;
  return o;
};

const fixtures: Fixture[] = [
  // §2.2 Number
  { name: 'number 0', bytes: b('00 0000000000000000'), value: 0 },
  { name: 'number 1', bytes: b('00', ONE), value: 1 },
  { name: 'number 1.5', bytes: b('00 3ff8000000000000'), value: 1.5 },
  { name: 'number −0', bytes: b('00 8000000000000000'), value: -0 },
  { name: 'number NaN', bytes: b('00 7ff8000000000000'), value: NaN },
  { name: 'number +Infinity', bytes: b('00 7ff0000000000000'), value: Infinity },
  { name: 'number −Infinity', bytes: b('00 fff0000000000000'), value: -Infinity },
  { name: 'number 2^53', bytes: b('00 4340000000000000'), value: 2 ** 53 },
  { name: 'number 2^28 (no integer type in AMF0)', bytes: b('00 41b0000000000000'), value: 268435456 },

  // §2.3 Boolean
  { name: 'false', bytes: b('01 00'), value: false },
  { name: 'true', bytes: b('01 01'), value: true },
  { name: 'any non-zero byte is true', bytes: b('01 02'), value: true, canonical: false },

  // §2.4 String, §2.14 Long String: lengths are UTF-8 byte counts
  { name: 'empty string', bytes: b('02 0000'), value: '' },
  { name: 'hello', bytes: b('02 0005', txt('hello')), value: 'hello' },
  { name: 'multi-byte string: length 9 bytes, not 4 UTF-16 units', bytes: b('02 0009 c3a9 e4b8ad f09f9880'), value: 'é中😀' },
  { name: 'BOM and U+FFFD are ordinary characters', bytes: b('02 0007 efbbbf efbfbd 41'), value: '\uFEFF\uFFFDA' },
  { name: '65 535 bytes: still a string', bytes: b('02 ffff', txt(A65535)), value: A65535 },
  { name: '65 536 bytes: a long string', bytes: b('0c 00010000', txt(A65536)), value: A65536 },
  { name: '21 846 CJK characters = 65 538 bytes: a long string', bytes: b('0c 00010002', txt(HAN)), value: HAN },
  { name: 'a short long string', bytes: b('0c 00000002 6869'), value: 'hi', canonical: false },

  // §2.5 Object, §2.11 Object End
  { name: 'empty object', bytes: b('03', END), value: obj() },
  { name: 'object', bytes: b('03 0001 61 00', ONE, '0001 62 02 0001 78', END), value: obj({ a: 1, b: 'x' }) },
  { name: 'nested objects', bytes: b('03 0001 61 03 0001 62 05', END, END), value: obj({ a: obj({ b: null }) }) },
  {
    name: 'multi-byte key',
    bytes: b('03 0002 c3a9 01 01', END),
    value: obj({ é: true }),
  },
  {
    name: '__proto__ key is plain data',
    bytes: b('03', u16s('__proto__'), '03 0001 78 00', ONE, END, END),
    value: obj({ ['__proto__']: obj({ x: 1 }) }),
    check: (v) => {
      assert.equal(Object.getPrototypeOf(v), null);
      assert.ok(Object.hasOwn(v as object, '__proto__'));
      assert.deepEqual(Object.keys(v as object), ['__proto__']);
      assert.equal((v as AmfObject & { x?: unknown }).x, undefined);
      assert.equal(({} as Record<string, unknown>).x, undefined);
    },
  },
  {
    name: 'constructor and hasOwnProperty keys are plain data',
    bytes: b('03', u16s('constructor'), '02 0001 78', u16s('hasOwnProperty'), '05', END),
    value: obj({ constructor: 'x', hasOwnProperty: null }),
    check: (v) => assert.equal(Object.getPrototypeOf(v), null),
  },
  { name: 'a member named "" (not followed by 0x09)', bytes: b('03 0000 05', END), value: obj({ '': null }) },

  // §2.7, §2.8, §2.15
  { name: 'null', bytes: b('05'), value: null },
  { name: 'undefined', bytes: b('06'), value: undefined },
  { name: 'unsupported marker reads as undefined', bytes: b('0d'), value: undefined, canonical: false },

  // §2.10 ECMA Array
  { name: 'ECMA array', bytes: b('08 00000001 0001 61 00', ONE, END), value: new AmfEcmaArray([['a', 1]]) },
  { name: 'empty ECMA array', bytes: b('08 00000000', END), value: new AmfEcmaArray() },
  {
    name: 'ECMA array count is only a hint (too big)',
    bytes: b('08 00000005 0001 61 00', ONE, END),
    value: new AmfEcmaArray([['a', 1]]),
    canonical: false,
  },
  {
    name: 'ECMA array count is only a hint (0, two entries), integer-like keys in wire order',
    bytes: b('08 00000000 0001 31 02 0001 62 0001 30 02 0001 61', END),
    value: new AmfEcmaArray([
      ['1', 'b'],
      ['0', 'a'],
    ]),
    canonical: false,
    check: (v) => assert.deepEqual([...(v as AmfEcmaArray).entries.keys()], ['1', '0']),
  },
  {
    name: 'ECMA array count 0xffffffff with no entries',
    bytes: b('08 ffffffff', END),
    value: new AmfEcmaArray(),
    canonical: false,
  },
  {
    name: 'ECMA array with a __proto__ key',
    bytes: b('08 00000001', u16s('__proto__'), '00', ONE, END),
    value: new AmfEcmaArray([['__proto__', 1]]),
  },
  {
    name: 'mixed array → ECMA array with "0".."n−1" then the named keys',
    bytes: b('08 00000002 0001 30 01 01 0001 6b 05', END),
    value: new AmfEcmaArray([
      ['0', true],
      ['k', null],
    ]),
    canonical: false,
    encodeFrom: new AmfMixedArray([true], [['k', null]]),
  },

  // §2.12 Strict Array
  { name: 'strict array', bytes: b('0a 00000003 00', ONE, '02 0001 61 05'), value: [1, 'a', null] },
  { name: 'empty strict array', bytes: b('0a 00000000'), value: [] },
  { name: 'nested strict arrays', bytes: b('0a 00000002 0a 00000000 0a 00000001 06'), value: [[], [undefined]] },

  // §2.13 Date: timezone ignored, written as 0
  { name: 'date 0', bytes: b('0b 0000000000000000 0000'), value: new Date(0) },
  { name: 'date 2009-02-13T23:31:30Z', bytes: b('0b 4271f71fb0450000 0000'), value: new Date(1234567890000) },
  { name: 'date timezone −60 is ignored', bytes: b('0b 4271f71fb0450000 ffc4'), value: new Date(1234567890000), canonical: false },
  { name: 'date timezone +120 is ignored', bytes: b('0b 0000000000000000 0078'), value: new Date(0), canonical: false },

  // §2.17 XML Document
  { name: 'XML document', bytes: b('0f 00000004', txt('<a/>')), value: new AmfXmlDocument('<a/>') },
  {
    name: 'an E4X XML value is written as an XML document',
    bytes: b('0f 0000000a', txt('<é>x</é>')),
    value: new AmfXmlDocument('<é>x</é>'),
    encodeFrom: new AmfXml('<é>x</é>'),
  },

  // §2.18 Typed Object
  { name: 'typed object', bytes: b('10 0003', txt('Foo'), '0001 78 00', ONE, END), value: new AmfTypedObject('Foo', obj({ x: 1 }), null) },
  {
    name: 'typed object with dynamic members: written after the others',
    bytes: b('10 0003', txt('Foo'), '0001 78 00', ONE, '0001 79 00', TWO, END),
    value: new AmfTypedObject('Foo', obj({ x: 1, y: 2 }), null),
    encodeFrom: new AmfTypedObject('Foo', obj({ x: 1 }), obj({ y: 2 })),
  },
  { name: 'typed object with an empty class name is anonymous', bytes: b('10 0000 0001 61 05', END), value: obj({ a: null }), canonical: false },
  {
    name: 'AmfTypedObject with an empty class name is written as an object',
    bytes: b('03 0001 61 05', END),
    value: obj({ a: null }),
    encodeFrom: new AmfTypedObject('', obj({ a: null })),
  },

  // §2.9 Reference: numbered when an object, typed object or array opens
  {
    name: 'reference to an earlier object',
    bytes: b('0a 00000002 03 0001 61 00', ONE, END, '07 0001'),
    value: [obj({ a: 1 }), obj({ a: 1 })],
    canonical: false,
    check: (v) => assert.equal((v as AmfValue[])[1], (v as AmfValue[])[0]),
  },
  {
    name: 'self-reference: an object containing itself',
    bytes: b('03 0004', txt('self'), '07 0000', END),
    value: selfObject(),
    canonical: false,
    check: (v) => assert.equal((v as AmfObject).self, v),
  },
  {
    name: 'references are numbered when a value opens, before its members',
    // {a: {b: <ref 1>}, c: <ref 1>}: the outer object is 0, the inner one 1.
    bytes: b('03 0001 61 03 0001 62 07 0001', END, '0001 63 07 0001', END),
    value: (() => {
      const inner = obj();
      inner.b = inner;
      return obj({ a: inner, c: inner });
    })(),
    canonical: false,
    check: (v) => {
      const o = v as AmfObject;
      assert.equal((o.a as AmfObject).b, o.a);
      assert.equal(o.c, o.a);
    },
  },
  {
    name: 'strict arrays, ECMA arrays and typed objects are numbered too',
    bytes: b('0a 00000005 08 00000000', END, '10 0001 54', END, '07 0000 07 0001 07 0002'),
    value: (() => {
      const ecma = new AmfEcmaArray();
      const typed = new AmfTypedObject('T', obj(), null);
      const a: AmfValue[] = [ecma, typed];
      a.push(a, ecma, typed);
      return a;
    })(),
    canonical: false,
    check: (v) => {
      const a = v as AmfValue[];
      assert.equal(a[2], a);
      assert.equal(a[3], a[0]);
      assert.equal(a[4], a[1]);
    },
  },
  {
    name: 'dates are not numbered',
    bytes: b('0a 00000003 0b 0000000000000000 0000 03', END, '07 0001'),
    value: (() => {
      const o = obj();
      return [new Date(0), o, o];
    })(),
    canonical: false,
  },

  // §3.1 AVM+ type marker: one AMF3 value
  { name: 'AMF3 integer', bytes: b('11 04 05'), value: 5, canonical: false },
  { name: 'AMF3 string', bytes: b('11 06 05 6869'), value: 'hi', canonical: false },
  { name: 'AMF3 object', bytes: b('11 0a 0b 01 03 61 04 01 01'), value: obj({ a: 1 }), canonical: false },
  { name: 'AMF3 value as an object member', bytes: b('03 0001 61 11 04 01', END), value: obj({ a: 1 }), canonical: false },
  { name: 'ByteArray is switched to AMF3', bytes: b('11 0c 07 010203'), value: new AmfByteArray(Uint8Array.of(1, 2, 3)) },
  { name: 'Vector is switched to AMF3', bytes: b('11 0d 03 00 00000007'), value: new AmfVector('int', [7]) },
  { name: 'Dictionary is switched to AMF3', bytes: b('11 11 03 00 06 03 6b 03'), value: new AmfDictionary([['k', true]]) },
  {
    name: 'a ByteArray inside a plain AMF0 object',
    bytes: b('03 0001 62 11 0c 03 ff', END),
    value: obj({ b: new AmfByteArray(Uint8Array.of(0xff)) }),
  },
];

describe('AMF0 fixtures (bytes ↔ value)', () => {
  for (const f of fixtures) {
    test(f.name, () => {
      const got = decodeAmf0Values(f.bytes);
      assert.deepEqual(got, [f.value]);
      assertNoPrototypes(got);
      f.check?.(got[0]);
      if (f.canonical !== false) assert.equal(hexOf(encodeAmf0Values([f.value])), hexOf(f.bytes), 'encode');
      if (f.encodeFrom !== undefined) assert.equal(hexOf(encodeAmf0Values([f.encodeFrom])), hexOf(f.bytes), 'encode');
      assertTruncations(f.bytes, [f.value]);
    });
  }

  test('the table covers every AMF0 value marker', () => {
    const markers = new Set(fixtures.map((f) => f.bytes[0]));
    for (let m = 0; m <= 0x11; m++) {
      // Movieclip, object end and recordset are errors (below); a reference (0x07) only follows
      // what it refers to, so its fixtures start with a container.
      if (m === 0x04 || m === 0x07 || m === 0x09 || m === 0x0e) continue;
      assert.ok(markers.has(m), `marker 0x${m.toString(16)}`);
    }
  });

  test('an empty body is no values', () => {
    assert.deepEqual(decodeAmf0Values(new Uint8Array(0)), []);
    assert.equal(encodeAmf0Values([]).length, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Message bodies: several values, shared reference contexts

describe('AMF0 message bodies', () => {
  test('a librtmp connect command (type 20)', () => {
    const cmd = obj({
      app: 'xmpp',
      flashVer: 'LNX 9,0,124,2',
      tcUrl: 'rtmp://localhost:1935/xmpp',
      fpad: false,
      capabilities: 15,
      audioCodecs: 4071,
      videoCodecs: 252,
      videoFunction: 1,
      objectEncoding: 0,
    });
    const bytes = encodeAmf0Values(['connect', 1, cmd]);
    const head = b('02 0007', txt('connect'), '00', ONE, '03', u16s('app'), '02', u16s('xmpp'), '0008', txt('flash'));
    assert.equal(hexOf(bytes.subarray(0, head.length)), hexOf(head));
    assert.deepEqual(decodeAmf0Values(bytes), ['connect', 1, cmd]);
    assertTruncations(bytes, ['connect', 1, cmd]);
  });

  test('a _result reply is plain AMF0: no references, no AMF3, shared values written twice', () => {
    const info = obj({ level: 'status', code: 'NetConnection.Connect.Success', objectEncoding: 3 });
    const bytes = encodeAmf0Values(['_result', 1, info, info]);
    const INFO = b(
      '03',
      u16s('level'),
      '02',
      u16s('status'),
      u16s('code'),
      '02',
      u16s('NetConnection.Connect.Success'),
      u16s('objectEncoding'),
      '00 4008000000000000',
      END,
    );
    assert.equal(hexOf(bytes), hexOf(b('02', u16s('_result'), '00', ONE, INFO, INFO)));
    const back = decodeAmf0Values(bytes);
    assert.deepEqual(back, ['_result', 1, info, info]);
    assert.notEqual(back[2], back[3]);
    // Object literals (Object.prototype) are accepted as anonymous objects.
    assert.equal(hexOf(encodeAmf0Values([{ a: 1 } as AmfObject])), hexOf(b('03 0001 61 00', ONE, END)));
  });

  // Type 17 body (after the 0x00 prefix the caller strips): name, txid, null, 0x11 + AMF3 values.
  const SHARED_CTX = b(
    '02 0004',
    txt('xmpp'),
    '00',
    TWO,
    '05',
    // AMF3 {to: 'a@b', type: 'chat'}: object 0; strings to=0 a@b=1 type=2 chat=3
    '11 0a 0b 01 05 746f 06 07 614062 09 74797065 06 09 63686174 01',
    // AMF3 'chat' by string reference 3, in a later value of the same message
    '11 06 06',
    // AMF3 object reference 0: the same object as the fourth value
    '11 0a 00',
    // AMF3 anonymous object by traits reference 0, key 'to' by string reference 0
    '11 0a 01 00 06 02 01',
  );

  test('type-17 body: one AMF3 reference context for all 0x11 values of the message', () => {
    const v = decodeAmf0Values(SHARED_CTX);
    const stanza = obj({ to: 'a@b', type: 'chat' });
    assert.deepEqual(v, ['xmpp', 2, null, stanza, 'chat', stanza, obj({ to: 'a@b' })]);
    assert.equal(v[5], v[3]);
    assertTruncations(SHARED_CTX, v);
  });

  test('type-17 body: a new message starts a new context', () => {
    decodeAmf0Values(SHARED_CTX);
    expectCode(() => decodeAmf0Values(b('11 06 06')), 'bad-reference');
    expectCode(() => decodeAmf0Values(b('11 0a 00')), 'bad-reference');
    expectCode(() => decodeAmf0Values(b('11 0a 01')), 'bad-reference');
  });

  test('one AMF0 reference table for the whole body', () => {
    const bytes = b('02 0001 78 03 0001 61 00', ONE, END, '07 0000');
    const v = decodeAmf0Values(bytes);
    assert.deepEqual(v, ['x', obj({ a: 1 }), obj({ a: 1 })]);
    assert.equal(v[2], v[1]);
  });

  test('AMF0 and AMF3 tables are separate', () => {
    // AMF0 object 0, then AMF3 object reference 0 → nothing in the AMF3 table yet.
    expectCode(() => decodeAmf0Values(b('03', END, '11 0a 00')), 'bad-reference');
    // AMF3 object, then AMF0 reference 0 → nothing in the AMF0 table.
    expectCode(() => decodeAmf0Values(b('11 0a 0b 01 01 07 0000')), 'bad-reference');
  });

  test('encodeAmf0WithAmf3Values: 0x11 before each value, one shared AMF3 context', () => {
    const stanza = obj({ to: 'a@b', type: 'chat' });
    const bytes = encodeAmf0WithAmf3Values(['xmpp', 2, null, stanza, 'chat', stanza]);
    assert.equal(
      hexOf(bytes),
      hexOf(
        b(
          '11 06 09 786d7070', // 'xmpp' = string 0
          '11 04 02',
          '11 01',
          '11 0a 0b 01 05 746f 06 07 614062 09 74797065 06 09 63686174 01', // to=1 a@b=2 type=3 chat=4
          '11 06 08', // string reference 4
          '11 0a 00', // object reference 0
        ),
      ),
    );
    const back = decodeAmf0Values(bytes);
    assert.deepEqual(back, ['xmpp', 2, null, stanza, 'chat', stanza]);
    assert.equal(back[5], back[3]);
  });

  test('encodeAmf0Values switches to AMF3 in one context per body', () => {
    const ba = new AmfByteArray(Uint8Array.of(1));
    const bytes = encodeAmf0Values([ba, ba, new AmfVector('object', [ba])]);
    assert.equal(hexOf(bytes), hexOf(b('11 0c 03 01', '11 0c 00', '11 10 03 00 01 0c 00')));
    const back = decodeAmf0Values(bytes);
    assert.equal(back[1], back[0]);
    assert.equal((back[2] as AmfVector).items[0], back[0]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('AMF0 decoder errors', () => {
  const cases: [string, Uint8Array, AmfErrorCode, Partial<AmfLimits>?][] = [
    ['object end outside an object', b('09'), 'bad-marker'],
    ['object end as a strict array element', b('0a 00000001 09'), 'bad-marker'],
    ['object end after a non-empty key', b('03 0001 61 09'), 'bad-marker'],
    ['unknown marker 0x12', b('12'), 'bad-marker'],
    ['unknown marker 0xff after a good value', b('05 ff'), 'bad-marker'],
    ['movieclip (reserved)', b('04'), 'unsupported'],
    ['recordset (reserved)', b('0e'), 'unsupported'],
    ['AMF3 externalizable inside AMF0', b('11 0a 07 03 58'), 'unsupported'],
    ['reference with an empty table', b('07 0000'), 'bad-reference'],
    ['reference past the table', b('03', END, '07 0001'), 'bad-reference'],
    ['invalid UTF-8 in a string', b('02 0001 ff'), 'invalid-utf8'],
    ['invalid UTF-8 (overlong) in a long string', b('0c 00000002 c0af'), 'invalid-utf8'],
    ['invalid UTF-8 (surrogate) in a key', b('03 0003 eda080 05', END), 'invalid-utf8'],
    ['invalid UTF-8 in a class name', b('10 0001 80', END), 'invalid-utf8'],
    ['invalid UTF-8 in an XML document', b('0f 00000001 fe'), 'invalid-utf8'],
    ['invalid UTF-8 in an ECMA key', b('08 00000001 0002 e4b8 05', END), 'invalid-utf8'],
    // Lying lengths and counts: 'truncated', no allocation
    ['string length 65535 with 1 byte', b('02 ffff 61'), 'truncated'],
    ['long string length 2^32−1', b('0c ffffffff 616263'), 'truncated'],
    ['XML document length 2^32−1', b('0f ffffffff 3c'), 'truncated'],
    ['strict array count 2^32−1', b('0a ffffffff 05 05'), 'truncated'],
    ['object without its end marker', b('03 0001 61 05'), 'truncated'],
    ['ECMA array without its end marker', b('08 00000001 0001 61 05'), 'truncated'],
    ['object end marker cut after the empty key', b('03 0000'), 'truncated'],
    ['date without its timezone', b('0b 0000000000000000'), 'truncated'],
    ['AMF3 switch with nothing after it', b('11'), 'truncated'],
  ];
  for (const [name, bytes, code, limits] of cases) {
    test(`${name} → ${code}`, () => {
      expectCode(() => decodeAmf0Values(bytes, limits), code, name);
    });
  }

  test('errors carry the offset of the value', () => {
    const e = expectCode(() => decodeAmf0Values(b('05 06 12')), 'bad-marker');
    assert.equal(e.offset, 2);
  });
});

describe('AMF0 decoder limits', () => {
  const nestObjects = (n: number): Buffer => b('03 0001 61'.repeat(n), '05', END.repeat(n));
  const nestArrays = (n: number): Buffer => b('0a 00000001'.repeat(n), '05');

  test('maxDepth: objects, arrays, ECMA arrays and typed objects nested to the limit decode, one more is too-deep', () => {
    const d = DEFAULT_AMF_LIMITS.maxDepth;
    decodeAmf0Values(nestObjects(d));
    expectCode(() => decodeAmf0Values(nestObjects(d + 1)), 'too-deep');
    decodeAmf0Values(nestArrays(d));
    expectCode(() => decodeAmf0Values(nestArrays(d + 1)), 'too-deep');
    const ecma = (n: number): Buffer => b('08 00000001 0001 61'.repeat(n), '05', END.repeat(n));
    decodeAmf0Values(ecma(4), { maxDepth: 4 });
    expectCode(() => decodeAmf0Values(ecma(5), { maxDepth: 4 }), 'too-deep');
    const typed = (n: number): Buffer => b('10 0001 54 0001 61'.repeat(n), '05', END.repeat(n));
    decodeAmf0Values(typed(4), { maxDepth: 4 });
    expectCode(() => decodeAmf0Values(typed(5), { maxDepth: 4 }), 'too-deep');
  });

  test('maxDepth counts across the AMF3 switch', () => {
    const mixed = (n: number): Buffer => b('0a 00000001'.repeat(n), '11', '09 03 01'.repeat(n), '01');
    decodeAmf0Values(mixed(2), { maxDepth: 4 });
    expectCode(() => decodeAmf0Values(mixed(3), { maxDepth: 5 }), 'too-deep');
  });

  test('100 000 nested arrays: too-deep quickly; a huge maxDepth still gives too-deep, never a RangeError', () => {
    const t0 = performance.now();
    expectCode(() => decodeAmf0Values(nestArrays(100000)), 'too-deep');
    assert.ok(performance.now() - t0 < 2000, "the depth limit stops it early");
    expectCode(() => decodeAmf0Values(nestArrays(200000), { maxDepth: 1e9 }), 'too-deep');
  });

  test('maxItems: strict array count, object members, ECMA entries, typed object members', () => {
    const L = { maxItems: 2 };
    const cases: [string, Buffer, Buffer][] = [
      ['strict array', b('0a 00000002 05 05'), b('0a 00000003 05 05 05')],
      ['object', b('03 0001 61 05 0001 62 05', END), b('03 0001 61 05 0001 62 05 0001 63 05', END)],
      ['ECMA array', b('08 00000000 0001 61 05 0001 62 05', END), b('08 00000000 0001 61 05 0001 62 05 0001 63 05', END)],
      ['typed object', b('10 0001 54 0001 61 05 0001 62 05', END), b('10 0001 54 0001 61 05 0001 62 05 0001 63 05', END)],
    ];
    for (const [name, ok, tooMany] of cases) {
      decodeAmf0Values(ok, L);
      expectCode(() => decodeAmf0Values(tooMany, L), 'too-many-items', name);
    }
  });

  test('maxStringBytes: strings, long strings, keys, class names, XML documents', () => {
    const L = { maxStringBytes: 3 };
    const cases: [string, Buffer, Buffer][] = [
      ['string', b('02 0003 616263'), b('02 0004 61626364')],
      ['long string', b('0c 00000003 616263'), b('0c 00000004 61626364')],
      ['key', b('03 0003 616263 05', END), b('03 0004 61626364 05', END)],
      ['class name', b('10 0003 616263', END), b('10 0004 61626364', END)],
      ['XML document', b('0f 00000003 616263'), b('0f 00000004 61626364')],
    ];
    for (const [name, ok, tooLong] of cases) {
      decodeAmf0Values(ok, L);
      expectCode(() => decodeAmf0Values(tooLong, L), 'too-long', name);
    }
    const big = 'x'.repeat(DEFAULT_AMF_LIMITS.maxStringBytes + 1);
    expectCode(() => decodeAmf0Values(encodeAmf0Values([big])), 'too-long');
    assert.deepEqual(decodeAmf0Values(encodeAmf0Values([big.slice(1)])), [big.slice(1)]);
  });

  test('maxReferences bounds the AMF0 table and the AMF3 tables behind 0x11', () => {
    const L = { maxReferences: 3 };
    const objects = (n: number): Buffer => b(('03' + END).repeat(n));
    assert.equal(decodeAmf0Values(objects(3), L).length, 3);
    expectCode(() => decodeAmf0Values(objects(4), L), 'too-many-references', 'AMF0 objects');
    const strings = (n: number): Buffer => b(...Array.from({ length: n }, (_, i) => b('11', encodeAmf3Value(`s${i}`))));
    assert.equal(decodeAmf0Values(strings(3), L).length, 3);
    expectCode(() => decodeAmf0Values(strings(4), L), 'too-many-references', 'AMF3 strings across values');
  });
});

// ---------------------------------------------------------------------------------------------

describe('AMF0 encoder', () => {
  test('a cycle is refused with unsupported (plain AMF0 has no references for it)', () => {
    const o = obj();
    o.self = o;
    expectCode(() => encodeAmf0Values([o]), 'unsupported');
    const a: AmfValue[] = [];
    a.push(obj({ back: a }));
    expectCode(() => encodeAmf0Values([a]), 'unsupported');
    const e = new AmfEcmaArray();
    e.entries.set('e', e);
    expectCode(() => encodeAmf0Values([e]), 'unsupported');
    const t = new AmfTypedObject('T');
    t.members.t = t;
    expectCode(() => encodeAmf0Values([t]), 'unsupported');
  });

  test('a shared (acyclic) value is written at each place', () => {
    const leaf = obj({ a: 1 });
    const bytes = encodeAmf0Values([[leaf, leaf, obj({ leaf })]]);
    assert.equal(hexOf(bytes), hexOf(b('0a 00000003', '03 0001 61 00', ONE, END, '03 0001 61 00', ONE, END, '03 0004', txt('leaf'), '03 0001 61 00', ONE, END, END)));
  });

  test('a cycle through an AMF3-switched value is written with AMF3 references', () => {
    const o = obj();
    const v = new AmfVector('object', [o]);
    o.v = v;
    const back = decodeAmf0Values(encodeAmf0Values([o]))[0] as AmfObject;
    const bv = back.v as AmfVector;
    assert.equal(bv.kind, 'object');
    assert.equal((bv.items[0] as AmfObject).v, bv);
  });

  test('keys and class names longer than 65 535 bytes are too-long; long string values are fine', () => {
    expectCode(() => encodeAmf0Values([obj({ [A65536]: 1 })]), 'too-long');
    expectCode(() => encodeAmf0Values([new AmfTypedObject(A65536)]), 'too-long');
    expectCode(() => encodeAmf0Values([new AmfEcmaArray([[A65536, 1]])]), 'too-long');
    assert.equal(encodeAmf0Values([obj({ [A65535]: 1 })]).length, 1 + 2 + 65535 + 9 + 3);
  });

  test('values outside the model are refused with unsupported', () => {
    const bad: unknown[] = [() => 1, Symbol('s'), 10n, new Map(), new Set(), Uint8Array.of(1), new (class X {})(), [() => 1], { f: 10n }];
    for (const v of bad) expectCode(() => encodeAmf0Values([v as AmfValue]), 'unsupported', String(typeof v));
  });

  test(`nesting deeper than MAX_ENCODE_DEPTH (${MAX_ENCODE_DEPTH}) is too-deep, not a stack overflow`, () => {
    let deep: AmfValue = null;
    for (let i = 0; i < MAX_ENCODE_DEPTH; i++) deep = obj({ a: deep });
    encodeAmf0Values([deep]);
    expectCode(() => encodeAmf0Values([[deep]]), 'too-deep');
    let deeper: AmfValue = null;
    for (let i = 0; i < 100000; i++) deeper = [deeper];
    expectCode(() => encodeAmf0Values([deeper]), 'too-deep');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const KEYS = ['', 'a', 'b', 'x', 'to', '__proto__', 'constructor', 'prototype', 'toString', 'é', '中文', '😀', '0', '1', 'length'];
const keyArb = fc.oneof(fc.constantFrom(...KEYS), fc.string({ unit: 'binary', maxLength: 6 }));
const amf3KeyArb = fc.oneof(fc.constantFrom(...KEYS.filter((k) => k !== '')), fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }));
const stringArb = fc.oneof(fc.constantFrom('', 'a', 'xmpp', 'é', '😀', '\uFEFF', '\uFFFD'), fc.string({ unit: 'binary', maxLength: 16 }));
const numberArb = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2 ** 28, 2 ** 53));

function objFrom(entries: [string, AmfValue][]): AmfObject {
  const o = obj();
  for (const [k, v] of entries) o[k] = v;
  return o;
}

/** Values allowed inside AMF3-switched values (in their canonical decoded form). */
const amf3Arb: fc.Arbitrary<AmfValue> = fc.letrec<{ v: AmfValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.oneof(numberArb, stringArb, fc.boolean(), fc.constantFrom(null, undefined), fc.date({ noInvalidDate: true })),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.array(fc.tuple(amf3KeyArb, tie('v')), { maxLength: 3 }).map(objFrom),
    stringArb.map((s) => new AmfXml(s)),
  ),
})).v;

/** AMF3-only types (switched with 0x11 by the AMF0 encoder). */
const switchedArb: fc.Arbitrary<AmfValue> = fc.oneof(
  fc.uint8Array({ maxLength: 8 }).map((u) => new AmfByteArray(u)),
  fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 3 }).map((i) => new AmfVector('int', i)),
  fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 3 }).map((i) => new AmfVector('uint', i, true)),
  fc.array(fc.double(), { maxLength: 3 }).map((i) => new AmfVector('double', i)),
  fc.tuple(fc.array(amf3Arb, { maxLength: 3 }), fc.constantFrom('', 'String')).map(([i, t]) => new AmfVector('object', i, false, t)),
  fc.tuple(fc.array(fc.tuple(amf3Arb, amf3Arb), { maxLength: 3 }), fc.boolean()).map(([e, w]) => new AmfDictionary(e, w)),
);

/** AMF0 values in their canonical decoded form. */
const amf0Arb: fc.Arbitrary<AmfValue> = fc.letrec<{ v: AmfValue }>((tie) => {
  const entries = fc.array(fc.tuple(keyArb, tie('v')), { maxLength: 4 });
  return {
    v: fc.oneof(
      { depthSize: 'small', maxDepth: 5 },
      fc.oneof(
        numberArb,
        stringArb,
        fc.boolean(),
        fc.constantFrom(null, undefined),
        fc.date({ noInvalidDate: true }),
        stringArb.map((s) => new AmfXmlDocument(s)),
      ),
      fc.array(tie('v'), { maxLength: 5 }),
      entries.map(objFrom),
      fc.tuple(fc.constantFrom('Foo', 'com.example.Bar', 'é'), entries).map(([c, m]) => new AmfTypedObject(c, objFrom(m), null)),
      entries.map((e) => new AmfEcmaArray(e)),
      switchedArb,
    ),
  };
}).v;

describe('AMF0 properties', () => {
  test('round trip of value sequences: decode(encode(vs)) deep-equals vs; re-encoding is stable', () => {
    fc.assert(
      fc.property(fc.array(amf0Arb, { maxLength: 5 }), (vs) => {
        const bytes = encodeAmf0Values(vs);
        const back = decodeAmf0Values(bytes);
        assert.deepEqual(back, vs);
        assertNoPrototypes(back);
        assert.equal(hexOf(encodeAmf0Values(back)), hexOf(bytes));
      }),
      { numRuns: 1500 },
    );
  });

  test('round trip through the type-17 style (every value switched to AMF3)', () => {
    fc.assert(
      fc.property(fc.array(amf3Arb, { maxLength: 5 }), (vs) => {
        const v = [...vs, ...vs];
        const back = decodeAmf0Values(encodeAmf0WithAmf3Values(v));
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
        assertOnlyAmfError(() => decodeAmf0Values(input));
        assert.ok(performance.now() - t0 < 1000, "a small input decodes in bounded time (generous: the test machine may be loaded)");
      }),
      { numRuns: 5000 },
    );
  });

  test('random marker soup: only AmfError, also with tiny limits', () => {
    const token = fc.oneof(
      fc.constantFrom(...['00', '01 01', '02 0001 61', '03', '05', '06', '07 0000', '08 00000001', '09', '0000', '000009', '0a 00000002', '0b', '0c 00000001 61', '0f 00000000', '10 0001 54', '11', '11 0a 0b 01', '11 09 03 01', '11 06 00', 'ff'].map((h) => b(h))),
      fc.uint8Array({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), (parts) => {
        const input = b(...parts);
        assertOnlyAmfError(() => decodeAmf0Values(input));
        assertOnlyAmfError(() => decodeAmf0Values(input, { maxDepth: 2, maxItems: 2, maxStringBytes: 2, maxReferences: 2 }));
      }),
      { numRuns: 5000 },
    );
  });

  test('mutated valid encodings: only AmfError', () => {
    fc.assert(
      fc.property(fc.array(amf0Arb, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (vs, edits) => {
        const bytes = Buffer.from(encodeAmf0Values(vs));
        if (bytes.length === 0) return;
        for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
        assertOnlyAmfError(() => decodeAmf0Values(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  test('lying lengths and counts allocate nothing (bounded memory and time)', () => {
    const liars = [b('0a ffffffff', '05'.repeat(8)), b('0c ffffffff', '61'.repeat(8)), b('0f ffffffff', '61'.repeat(8)), b('02 ffff 61'), b('11 09 ff ff ff ff 01 01')];
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) for (const l of liars) expectCode(() => decodeAmf0Values(l), 'truncated');
    assert.ok(performance.now() - t0 < 2000);
    assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024);
  });
});
