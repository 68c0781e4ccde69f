/**
 * The RTMP test client's own AMF0/AMF3 codec (test/support/rtmp_client.py) against byte strings
 * worked out by hand from Adobe's AMF0 and AMF3 specifications, so that a test failing against
 * the gateway points at the gateway, not at the tool. Needs only /usr/bin/python3 (the codec does
 * not load librtmp).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AmfCodec, plainAmf, type AmfJson } from '../support/rtmp-client.js';

let codec: AmfCodec;
before(() => {
  codec = AmfCodec.start();
});
after(() => codec.close());

const hex = (s: string): string => s.replace(/\s+/g, '').toLowerCase();
const ONE = '3ff0000000000000';

/** [value, AMF bytes]: encoding the value gives the bytes, decoding the bytes gives the value. */
const AMF0_BOTH: [AmfJson, string][] = [
  [1, `00 ${ONE}`],
  [1.5, '00 3ff8000000000000'],
  [{ $number: '-0' }, '00 8000000000000000'],
  [{ $number: 'NaN' }, '00 7ff8000000000000'],
  [{ $number: '-Infinity' }, '00 fff0000000000000'],
  [true, '01 01'],
  [false, '01 00'],
  ['hello', '02 0005 68656c6c6f'],
  ['', '02 0000'],
  // lengths are UTF-8 byte counts, not UTF-16 code units
  ['é', '02 0002 c3a9'],
  ['€', '02 0003 e282ac'],
  ['𝄞', '02 0004 f09d849e'],
  [null, '05'],
  [{ $undefined: true }, '06'],
  [{ a: 1 }, `03 0001 61 00 ${ONE} 000009`],
  [{}, '03 000009'],
  [[1, 'a'], `0a 00000002 00 ${ONE} 02 0001 61`],
  [{ $ecma: { a: 1 } }, `08 00000001 0001 61 00 ${ONE} 000009`],
  [{ $date: 0 }, '0b 0000000000000000 0000'],
  [{ $date: 1_000_000_000_000 }, '0b 426d1a94a2000000 0000'],
  [{ $xmldoc: '<a/>' }, '0f 00000004 3c612f3e'],
  [{ $class: 'Foo', members: { x: 1 } }, `10 0003 466f6f 0001 78 00 ${ONE} 000009`],
  [{ $object: { $x: 1 } }, `03 0002 2478 00 ${ONE} 000009`],
  [{ $unsupported: true }, '0d'],
];

/** Decoded only (several encodings map to one value, or the encoder never produces them). */
const AMF0_DECODE: [string, string, AmfJson][] = [
  ['reference to an object (numbered when it opens)', `0a 00000002 03 0001 61 05 000009 07 0001`, [{ a: null }, { a: null }]],
  ['reference to the enclosing object (a cycle)', '03 0001 61 07 0000 000009', { a: { $cycle: true } }],
  ['ECMA array whose count hint is wrong', `08 00000000 0001 61 00 ${ONE} 0001 62 05 000009`, { $ecma: { a: 1, b: null } }],
  ['date timezone (to be ignored) is reported', '0b 0000000000000000 01e0', { $date: 0, tz: 480 }],
  ['long string', '0c 00000002 6869', 'hi'],
  ['AMF3 switch', '11 04 05', 5],
  ['invalid UTF-8 kept as bytes', '02 0002 c328', { $strbytes: 'c328' }],
];

const AMF3_BOTH: [AmfJson, string][] = [
  [{ $undefined: true }, '00'],
  [null, '01'],
  [false, '02'],
  [true, '03'],
  // U29: 7 bits per byte for three bytes, 8 bits in the fourth; 29-bit two's complement
  [0, '04 00'],
  [127, '04 7f'],
  [128, '04 8100'],
  [16383, '04 ff7f'],
  [16384, '04 818000'],
  [2097151, '04 ffff7f'],
  [2097152, '04 80c08000'],
  [268435455, '04 bfffffff'],
  [-1, '04 ffffffff'],
  [-268435456, '04 c0808000'],
  [268435456, '05 41b0000000000000'], // 2^28: out of integer range, a double
  [-268435457, '05 c1b0000001000000'],
  [1.5, '05 3ff8000000000000'],
  [{ $number: '-0' }, '05 8000000000000000'],
  ['hello', '06 0b 68656c6c6f'],
  ['', '06 01'],
  ['é', '06 05 c3a9'],
  [{ a: 1 }, '0a 0b 01 03 61 04 01 01'],
  [{}, '0a 0b 01 01'],
  [[1, 2], '09 05 01 04 01 04 02'],
  [[], '09 01 01'],
  [{ $array: [1], assoc: { k: 'v' } }, '09 03 03 6b 06 03 76 01 04 01'],
  [{ $date: 0 }, '08 01 0000000000000000'],
  [{ $xml: '<a/>' }, '0b 09 3c612f3e'],
  [{ $xmldoc: '<a/>' }, '07 09 3c612f3e'],
  [{ $bytes: '010203' }, '0c 07 010203'],
  [{ $class: 'Foo', members: { x: 1 }, sealed: ['x'], dynamic: false }, '0a 13 07 466f6f 03 78 04 01'],
  [{ $class: 'Foo', members: { x: 1, y: 2 }, sealed: ['x'], dynamic: true }, '0a 1b 07 466f6f 03 78 04 01 03 79 04 02 01'],
  [{ $vector: 'int', fixed: false, items: [1, -1] }, '0d 05 00 00000001 ffffffff'],
  [{ $vector: 'uint', fixed: true, items: [4294967295] }, '0e 03 01 ffffffff'],
  [{ $vector: 'double', fixed: false, items: [1] }, `0f 03 00 ${ONE}`],
  [{ $vector: 'object', fixed: false, items: ['a'], class: '' }, '10 03 00 01 06 03 61'],
  [{ $dictionary: [['k', 1]], weak: false }, '11 03 00 06 03 6b 04 01'],
];

/** Several AMF3 values in one stream share one reference context. */
const AMF3_SEQUENCES: [string, AmfJson[], string][] = [
  ['a repeated string is a reference; the empty string never is', ['hello', 'hello', '', ''], '06 0b 68656c6c6f 06 00 06 01 06 01'],
  ['member names share the string table with values', [{ a: 1 }, 'a'], '0a 0b 01 03 61 04 01 01 06 00'],
  // second anonymous object: traits reference 0 ((0 << 2) | 1), member name "a" string reference 0
  ['repeated traits are referenced', [[{ a: 1 }, { a: 2 }]], '09 05 01 0a 0b 01 03 61 04 01 01 0a 01 00 04 02 01'],
];

const AMF3_DECODE: [string, string, AmfJson][] = [
  ['object reference: the array is object 0, its element object 1', '09 05 01 0a 0b 01 03 61 04 01 01 0a 02', [{ a: 1 }, { a: 1 }]],
  ['date reference', '09 05 01 08 01 0000000000000000 08 02', [{ $date: 0 }, { $date: 0 }]],
  ['XML counts in the object table', '09 05 01 0b 09 3c612f3e 0b 02', [{ $xml: '<a/>' }, { $xml: '<a/>' }]],
  ['an array containing itself', '09 03 01 09 00', [{ $cycle: true }]],
  ['anonymous object with a sealed member', '0a 13 01 03 61 04 07', { $class: '', members: { a: 7 }, sealed: ['a'], dynamic: false }],
];

const AMF3_BAD: [string, string, RegExp][] = [
  ['externalizable object', '0a 07 03 41', /externalizable/],
  ['string reference out of range', '06 02', /string reference 1 out of range/],
  ['traits reference out of range', '0a 05', /traits reference 1 out of range/],
  ['truncated string', '06 0b 6865', /truncated/],
  ['unknown marker', '12', /marker 0x12/],
];

test('AMF0: encodes to and decodes from the hand-computed bytes', async () => {
  for (const [value, bytes] of AMF0_BOTH) {
    assert.equal(await codec.encode([value], 0), hex(bytes), `encode ${JSON.stringify(value)}`);
    assert.deepEqual(await codec.decode(hex(bytes), 0), [value], `decode ${bytes}`);
  }
});

test('AMF0: references, count hints, timezone, long and invalid strings', async () => {
  for (const [what, bytes, value] of AMF0_DECODE) {
    assert.deepEqual(await codec.decode(hex(bytes), 0), [value], what);
  }
});

test('AMF0: strings over 65535 UTF-8 bytes go as long strings', async () => {
  const ascii = 'a'.repeat(65535);
  assert.ok((await codec.encode([ascii], 0)).startsWith('02ffff61'));
  const long = 'é'.repeat(32768); // 65536 bytes, 32768 UTF-16 code units
  const bytes = await codec.encode([long], 0);
  assert.equal(bytes.slice(0, 10), '0c00010000');
  assert.equal(bytes.length, 2 * (1 + 4 + 65536));
  assert.deepEqual(await codec.decode(bytes, 0), [long]);
});

test('AMF0: a __proto__ key is an own property, not a prototype', async () => {
  const [obj] = (await codec.decode(hex(`03 0009 5f5f70726f746f5f5f 00 ${ONE} 000009`), 0)) as [Record<string, unknown>];
  assert.deepEqual(Object.keys(obj), ['__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(obj, '__proto__')?.value, 1);
  assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  const plain = plainAmf(obj as AmfJson) as Record<string, unknown>;
  assert.equal(Object.getOwnPropertyDescriptor(plain, '__proto__')?.value, 1);
  assert.equal(Object.getPrototypeOf(plain), Object.prototype);
});

test('AMF3: encodes to and decodes from the hand-computed bytes', async () => {
  for (const [value, bytes] of AMF3_BOTH) {
    assert.equal(await codec.encode([value], 3), hex(bytes), `encode ${JSON.stringify(value)}`);
    assert.deepEqual(await codec.decode(hex(bytes), 3), [value], `decode ${bytes}`);
  }
});

test('AMF3: one reference context per stream (strings, traits)', async () => {
  for (const [what, values, bytes] of AMF3_SEQUENCES) {
    assert.equal(await codec.encode(values, 3), hex(bytes), what);
    assert.deepEqual(await codec.decode(hex(bytes), 3), values, what);
  }
  assert.equal(await codec.encode(['hello', 'hello'], 3, { refs: false }), hex('06 0b 68656c6c6f 06 0b 68656c6c6f'));
});

test('AMF3: object, date and XML references; cycles; sealed members', async () => {
  for (const [what, bytes, value] of AMF3_DECODE) {
    assert.deepEqual(await codec.decode(hex(bytes), 3), [value], what);
  }
});

test('AMF3: malformed input is an error, not a guess', async () => {
  for (const [what, bytes, re] of AMF3_BAD) {
    await assert.rejects(codec.decode(hex(bytes), 3), re, what);
  }
});

test('command messages: type 20 in AMF0, type 17 with 0x00 and AMF3-switched arguments', async () => {
  const name = '02 000c 786d70705f636f6e6e656374'; // "xmpp_connect"
  const two = '00 4000000000000000';
  assert.equal(
    await codec.encodeMessage(20, ['xmpp_connect', 2, null, { username: 'u' }]),
    hex(`${name} ${two} 05 03 0008 757365726e616d65 02 0001 75 000009`),
  );
  const amf3 = hex(`00 ${name} ${two} 05 11 0a 0b 01 11 757365726e616d65 06 03 75 01`);
  assert.equal(await codec.encodeMessage(17, ['xmpp_connect', 2, null, { username: 'u' }]), amf3);
  assert.deepEqual(await codec.decodeMessage(17, amf3), ['xmpp_connect', 2, null, { username: 'u' }]);
  // one AMF3 context per message: the second "x" refers to the first across arguments
  assert.equal(await codec.encodeMessage(17, ['m', 0, null, 'x', 'x']), hex('00 02 0001 6d 00 0000000000000000 05 11 06 03 78 11 06 00'));
  assert.equal(
    await codec.encodeMessage(17, ['m', 0, null, 'x', 'x'], { amf3Context: 'value' }),
    hex('00 02 0001 6d 00 0000000000000000 05 11 06 03 78 11 06 03 78'),
  );
  assert.deepEqual(await codec.decodeMessage(17, hex('00 02 0001 6d 00 0000000000000000 05 11 06 03 78 11 06 00')), ['m', 0, null, 'x', 'x']);
  await assert.rejects(codec.decodeMessage(17, hex(name)), /does not start with 0x00/);
});

test('plainAmf drops container distinctions only', () => {
  assert.deepEqual(plainAmf({ $ecma: { to: 'a@b', n: [1, { $object: { $k: 2 } }] } }), { to: 'a@b', n: [1, { $k: 2 }] });
  assert.deepEqual(plainAmf({ $class: 'C', members: { x: { $undefined: true } } }), { x: { $undefined: true } });
  assert.deepEqual(plainAmf({ $array: [1, 2], assoc: { k: 1 } }), [1, 2]);
});
