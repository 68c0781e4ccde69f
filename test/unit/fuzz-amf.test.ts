/**
 * Fuzzing the AMF0 and AMF3 codecs (docs/fuzzing.md): for any bytes the decoders return values
 * or throw AmfError, never anything else; what they return is bounded by what they read; valid
 * call bodies mutated at random still give only AmfError; encode → decode round trips for
 * arbitrary values, shared and cyclic ones included; the encoders throw only AmfError for any
 * value of the model.
 *
 * amf0.test.ts and amf3.test.ts hold the hand-computed fixtures and the spec rules; this file
 * runs wide generators, scaled by FUZZ_RUNS.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Buffer } from 'node:buffer';
import * as fc from 'fast-check';
import { decodeAmf0Values, encodeAmf0Values, encodeAmf0WithAmf3Values } from '../../src/codec/amf/amf0.js';
import { DEFAULT_AMF_LIMITS, decodeAmf3Value, encodeAmf3Value, type AmfLimits } from '../../src/codec/amf/amf3.js';
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
  amfObject,
  type AmfObject,
  type AmfValue,
} from '../../src/codec/amf/values.js';
import { fuzz, mutate, mutationsArb } from '../support/fuzz.js';

// ---------------------------------------------------------------------------------------------
// Checks

const CODES: ReadonlySet<AmfErrorCode> = new Set<AmfErrorCode>([
  'truncated',
  'bad-marker',
  'too-deep',
  'too-long',
  'too-many-items',
  'too-many-references',
  'bad-reference',
  'unsupported',
  'invalid-utf8',
  'invalid-value',
  'trailing-bytes',
]);

/** `e` is an AmfError with a known code and an offset inside (or at the end of) the input. */
function assertAmfError(e: unknown, inputLength: number): asserts e is AmfError {
  if (!(e instanceof AmfError)) throw new Error(`expected only AmfError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
  assert.ok(CODES.has(e.code), `unknown code ${e.code}`);
  assert.ok(Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= inputLength, `offset ${e.offset} outside 0..${inputLength}`);
}

interface Size {
  /** Distinct objects (by identity). */
  objects: number;
  /** Slots holding a value: array items, members, entries (keys and values of dictionaries). */
  slots: number;
  /** UTF-8 bytes of the distinct strings (keys, class names, XML included) + ByteArray bytes. */
  bytes: number;
}

/**
 * Walks a decoded value graph once per object (iteratively: shared, cyclic and very deep values
 * are fine), checking on the way that no decoded object has a prototype.
 */
function sizeOf(values: readonly AmfValue[]): Size {
  const seen = new Set<object>();
  const strings = new Set<string>();
  const size: Size = { objects: 0, slots: 0, bytes: 0 };
  const stack: AmfValue[] = [...values];
  const str = (s: string): void => {
    if (!strings.has(s)) {
      strings.add(s);
      size.bytes += Buffer.byteLength(s, 'utf8');
    }
  };
  const members = (o: AmfObject): void => {
    // Decoded anonymous objects and member tables never reach Object.prototype.
    assert.equal(Object.getPrototypeOf(o), null, 'a decoded object with a prototype');
    for (const k of Object.keys(o)) {
      str(k);
      size.slots++;
      stack.push(o[k]);
    }
  };
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      str(v);
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    size.objects++;
    if (Array.isArray(v)) {
      size.slots += v.length;
      stack.push(...v);
    } else if (v instanceof AmfTypedObject) {
      str(v.className);
      members(v.members);
      if (v.dynamicMembers !== null) members(v.dynamicMembers);
    } else if (v instanceof AmfEcmaArray) {
      for (const [k, x] of v.entries) {
        str(k);
        size.slots++;
        stack.push(x);
      }
    } else if (v instanceof AmfMixedArray) {
      size.slots += v.dense.length;
      stack.push(...v.dense);
      for (const [k, x] of v.associative) {
        str(k);
        size.slots++;
        stack.push(x);
      }
    } else if (v instanceof AmfVector) {
      str(v.typeName);
      size.slots += v.items.length;
      stack.push(...v.items);
    } else if (v instanceof AmfDictionary) {
      for (const [k, x] of v.entries) {
        size.slots += 2;
        stack.push(k, x);
      }
    } else if (v instanceof AmfXml || v instanceof AmfXmlDocument) {
      str(v.xml);
    } else if (v instanceof AmfByteArray) {
      size.bytes += v.bytes.length;
    } else if (!(v instanceof Date)) {
      members(v);
    }
  }
  return size;
}

/**
 * What a decoder returns is bounded by its input: every object and every slot costs at least one
 * input byte (a marker), every string and ByteArray byte was read once (references share).
 */
function assertBoundedBy(values: readonly AmfValue[], inputLength: number): void {
  const s = sizeOf(values);
  assert.ok(s.objects + s.slots <= 2 * inputLength + 1, `${s.objects} objects and ${s.slots} slots from ${inputLength} bytes`);
  assert.ok(s.bytes <= inputLength, `${s.bytes} string/byte-array bytes from ${inputLength} bytes`);
}

type Decoder = 'amf0' | 'amf3';

/** Decodes with the given codec: only AmfError may escape; a result has no prototype and is bounded. */
function decodeChecked(codec: Decoder, input: Uint8Array, limits?: Partial<AmfLimits>): AmfValue[] | AmfError {
  let values: AmfValue[];
  try {
    values = codec === 'amf0' ? decodeAmf0Values(input, limits) : [decodeAmf3Value(input, limits)];
  } catch (e) {
    assertAmfError(e, input.length);
    return e;
  }
  assertBoundedBy(values, input.length);
  return values;
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** Bytes with AMF markers and the boundary values of U29 and length fields over-represented. */
const amfByteArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0x11 }) },
  { weight: 2, arbitrary: fc.constantFrom(0x00, 0x01, 0x03, 0x7f, 0x80, 0x81, 0xfe, 0xff) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const amfBytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.array(amfByteArb, { maxLength: 300 }).map((a) => Uint8Array.from(a)),
  fc.uint8Array({ maxLength: 1024, size: 'max' }),
);

const limitsArb: fc.Arbitrary<Partial<AmfLimits> | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  {
    weight: 2,
    arbitrary: fc.record({
      maxDepth: fc.integer({ min: 1, max: 8 }),
      maxItems: fc.integer({ min: 0, max: 8 }),
      maxStringBytes: fc.integer({ min: 0, max: 16 }),
      maxReferences: fc.integer({ min: 0, max: 8 }),
    }),
  },
);

// Real call bodies. librtmp's connect (captured from rtmpdump 2.4; the payload of the type-20
// message in rtmp-chunks.test.ts) ...
const LIBRTMP_CONNECT = Buffer.from(
  '020007636f6e6e656374003ff0000000000000030003617070020004786d70700008666c61736856657202000e4c4e58' +
    '2031302c302c33322c31380005746355726c02001b72746d703a2f2f3132372e302e302e313a31393335332f786d7070' +
    '0004667061640100000c6361706162696c697469657300402e00000000000000000b617564696f436f64656373004' +
    '0a8ee0000000000000b766964656f436f6465637300406f800000000000000d766964656f46756e6374696f6e003ff0' +
    '000000000000000009',
  'hex',
);

const O = amfObject;
const connectObject = O({
  app: 'xmpp',
  flashVer: 'WIN 32,0,0,465',
  swfUrl: 'http://example.com/chat.swf',
  tcUrl: 'rtmp://example.com/xmpp',
  fpad: false,
  capabilities: 239,
  audioCodecs: 3575,
  videoCodecs: 252,
  videoFunction: 1,
  pageUrl: 'http://example.com/chat.html',
  objectEncoding: 3,
});
const STANZA = '<message to="room@conference.example.com" type="groupchat"><body>hé 😀</body></message>';
const jid = new AmfTypedObject('org.jivesoftware.xiff.core.UnescapedJID', O({ node: 'alice', domain: 'example.com', resource: 'flash' }));
const roster = [jid, jid, new AmfTypedObject('org.jivesoftware.xiff.core.UnescapedJID', O({ node: 'bob', domain: 'example.com', resource: '' }))];

/** AMF0 bodies of calls a client sends or gets (type 20, and type 17 without its 0x00). */
const AMF0_BODIES: readonly Buffer[] = [
  LIBRTMP_CONNECT,
  encodeAmf0Values(['connect', 1, connectObject]),
  encodeAmf0Values(['_result', 1, O({ fmsVer: 'FMS/3,5,1,1', capabilities: 31, mode: 1 }), O({ level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding: 3 })]),
  encodeAmf0Values(['createStream', 2, null]),
  encodeAmf0Values(['xmppSend', 3, null, STANZA]),
  encodeAmf0Values(['onXmpp', 0, null, new AmfXmlDocument(STANZA), new AmfEcmaArray([['0', 'a'], ['length', 1]])]),
  Buffer.concat([encodeAmf0Values(['connect', 1]), encodeAmf0WithAmf3Values([connectObject, roster, new AmfByteArray(Uint8Array.of(1, 2, 3))])]),
  encodeAmf0WithAmf3Values(['roster', 4, null, roster, roster, new AmfVector('object', roster, false, 'org.jivesoftware.xiff.core.UnescapedJID')]),
];

/** AMF3 values with string, object and traits references, vectors and a dictionary. */
const AMF3_VALUES: readonly Buffer[] = [
  encodeAmf3Value(connectObject),
  encodeAmf3Value([roster, roster, 'alice', 'alice', new Date(0), new AmfXml(STANZA)]),
  encodeAmf3Value(new AmfMixedArray([1, 2, 3], [['to', 'room@conference.example.com'], ['type', 'groupchat']])),
  encodeAmf3Value(new AmfDictionary([[jid, 1], ['k', jid]], true)),
  encodeAmf3Value([new AmfVector('int', [-1, 0, 2 ** 31 - 1]), new AmfVector('uint', [0, 2 ** 32 - 1], true), new AmfVector('double', [NaN, -0, 1.5])]),
  encodeAmf3Value(new AmfTypedObject('com.example.Msg', O({ id: 1, body: STANZA }), O({ extra: true }))),
];

// ---------------------------------------------------------------------------------------------
// Values for round trips

const KEYS = ['a', 'b', 'to', 'body', '__proto__', 'constructor', 'prototype', 'toString', 'é', '😀', '0', '1', '10', 'length'];
const keyArb = fc.oneof(fc.constantFrom(...KEYS), fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }));
const stringArb = fc.oneof(
  fc.constantFrom('', 'a', 'xmpp', 'é', '😀', '\uFEFF', '\uFFFD', '\u0000', STANZA),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 300, size: 'max' }),
);
const numberArb = fc.oneof(
  fc.integer({ min: -(2 ** 28) - 2, max: 2 ** 28 + 1 }),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2 ** 28 - 1, -(2 ** 28), 2 ** 28, 2 ** 31, 2 ** 32, 2 ** 53, Number.MIN_VALUE),
);

function objFrom(entries: readonly (readonly [string, AmfValue])[]): AmfObject {
  const o = O();
  for (const [k, v] of entries) o[k] = v;
  return o;
}

/** Leaves both codecs write and read back as they are (AMF3 also has them natively). */
const sharedLeafArb: fc.Arbitrary<AmfValue> = fc.oneof(
  numberArb,
  stringArb,
  fc.boolean(),
  fc.constantFrom(null, undefined),
  fc.date({ noInvalidDate: true }),
);

/** AMF3 values in canonical decoded form, with containers that may get back-edges. */
const amf3TreeArb: fc.Arbitrary<AmfValue> = fc.letrec<{ v: AmfValue }>((tie) => {
  const entries = (min: number) => fc.array(fc.tuple(keyArb, tie('v')), { minLength: min, maxLength: 4 });
  return {
    v: fc.oneof(
      { depthSize: 'small', maxDepth: 5 },
      sharedLeafArb,
      stringArb.map((s) => new AmfXml(s)),
      stringArb.map((s) => new AmfXmlDocument(s)),
      fc.uint8Array({ maxLength: 40 }).map((u) => new AmfByteArray(u)),
      fc.tuple(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 5 }), fc.boolean()).map(([i, f]) => new AmfVector('int', i, f)),
      fc.tuple(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 5 }), fc.boolean()).map(([i, f]) => new AmfVector('uint', i, f)),
      fc.tuple(fc.array(fc.double(), { maxLength: 5 }), fc.boolean()).map(([i, f]) => new AmfVector('double', i, f)),
      fc.array(tie('v'), { maxLength: 5 }),
      entries(0).map(objFrom),
      fc
        .tuple(fc.constantFrom('Foo', 'com.example.Bar', 'é.Ü', 'org.jivesoftware.xiff.core.UnescapedJID'), entries(0), fc.option(entries(0)))
        .map(([c, m, d]) => new AmfTypedObject(c, objFrom(m), d === null ? null : objFrom(d))),
      entries(1).map((e) => new AmfEcmaArray(e)),
      fc.tuple(fc.array(tie('v'), { minLength: 1, maxLength: 3 }), entries(1)).map(([d, a]) => new AmfMixedArray(d, a)),
      fc
        .tuple(fc.array(tie('v'), { maxLength: 4 }), fc.boolean(), fc.constantFrom('', '*', 'String', 'com.example.Bar'))
        .map(([i, f, t]) => new AmfVector('object', i, f, t)),
      fc.tuple(fc.array(fc.tuple(tie('v'), tie('v')), { maxLength: 3 }), fc.boolean()).map(([e, w]) => new AmfDictionary(e, w)),
    ),
  };
}).v;

/** The containers of a value (each once) that can take one more child. */
function containers(root: AmfValue): object[] {
  const out: object[] = [];
  const seen = new Set<object>();
  const stack: AmfValue[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      out.push(v);
      stack.push(...v);
    } else if (v instanceof AmfTypedObject) {
      out.push(v);
      stack.push(...Object.values(v.members), ...Object.values(v.dynamicMembers ?? {}));
    } else if (v instanceof AmfEcmaArray) {
      out.push(v);
      stack.push(...v.entries.values());
    } else if (v instanceof AmfMixedArray) {
      out.push(v);
      stack.push(...v.dense, ...v.associative.values());
    } else if (v instanceof AmfVector) {
      if (v.kind === 'object') out.push(v);
      stack.push(...v.items);
    } else if (v instanceof AmfDictionary) {
      out.push(v);
      for (const [k, x] of v.entries) stack.push(k, x);
    } else if (!(v instanceof Date || v instanceof AmfXml || v instanceof AmfXmlDocument || v instanceof AmfByteArray)) {
      out.push(v);
      stack.push(...Object.values(v as AmfObject));
    }
  }
  return out;
}

/** Adds `target` as one more child of `host`, in the form decoding gives back. */
function link(host: object, target: object, key: string): void {
  const t = target as AmfValue;
  if (Array.isArray(host)) host.push(t);
  else if (host instanceof AmfTypedObject) (host.dynamicMembers ?? host.members)[key] = t;
  else if (host instanceof AmfEcmaArray) host.entries.set(key, t);
  else if (host instanceof AmfMixedArray) host.dense.push(t);
  else if (host instanceof AmfVector) host.items.push(t);
  else if (host instanceof AmfDictionary) host.entries.set(key, t);
  else (host as AmfObject)[key] = t;
}

/** AMF3 values whose objects are shared and may form cycles (AMF3 sends them as references). */
const amf3GraphArb: fc.Arbitrary<AmfValue> = fc
  .tuple(amf3TreeArb, fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('r', 'self', 'zz', '0')), { maxLength: 4 }))
  .map(([root, edges]) => {
    const hosts = containers(root);
    if (hosts.length === 0) return root;
    for (const [h, t, key] of edges) {
      const host = hosts[h % hosts.length]!;
      // An AmfTypedObject's sealed members are its traits: add to dynamic members, or a fresh key.
      link(host, hosts[t % hosts.length]!, key);
    }
    return root;
  });

/** AMF0 values in canonical decoded form (trees: plain AMF0 has no references to write). */
const amf0Arb: fc.Arbitrary<AmfValue> = fc.letrec<{ v: AmfValue }>((tie) => {
  const entries = fc.array(fc.tuple(fc.oneof(keyArb, fc.constant('')), tie('v')), { maxLength: 4 });
  return {
    v: fc.oneof(
      { depthSize: 'small', maxDepth: 5 },
      sharedLeafArb,
      stringArb.map((s) => new AmfXmlDocument(s)),
      fc.array(tie('v'), { maxLength: 5 }),
      entries.map(objFrom),
      fc.tuple(fc.constantFrom('Foo', 'com.example.Bar', 'é'), entries).map(([c, m]) => new AmfTypedObject(c, objFrom(m), null)),
      entries.map((e) => new AmfEcmaArray(e)),
      // AMF3-only types: switched with 0x11.
      fc.uint8Array({ maxLength: 16 }).map((u) => new AmfByteArray(u)),
      fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 3 }).map((i) => new AmfVector('uint', i, true)),
      fc.tuple(fc.array(amf3TreeArb, { maxLength: 3 }), fc.boolean()).map(([i, w]) => new AmfDictionary(i.map((x, k) => [k, x]), w)),
    ),
  };
}).v;

// Long strings (AMF0 long string form past 65 535 UTF-8 bytes) now and then.
const longStringArb = fc.integer({ min: 65530, max: 65540 }).chain((n) => fc.constantFrom('a'.repeat(n), 'é'.repeat(Math.ceil(n / 2))));

// ---------------------------------------------------------------------------------------------
// Properties

fuzz('amf0: any bytes decode to bounded values or throw only AmfError', { runs: 1500 }, fc.record({ input: amfBytesArb, limits: limitsArb }), ({ input, limits }) => {
  decodeChecked('amf0', input, limits);
});

fuzz('amf3: any bytes decode to a bounded value or throw only AmfError', { runs: 1500 }, fc.record({ input: amfBytesArb, limits: limitsArb }), ({ input, limits }) => {
  decodeChecked('amf3', input, limits);
  // Behind 0x11 the same bytes are AMF3 inside AMF0, sharing one context per body.
  decodeChecked('amf0', Buffer.concat([Uint8Array.of(0x11), input, Uint8Array.of(0x11), input]), limits);
});

fuzz(
  'amf0: real call bodies, mutated (flip/insert/delete/truncate/duplicate/lying lengths): only AmfError',
  { runs: 1500 },
  fc.record({ body: fc.constantFrom(...AMF0_BODIES), mutations: mutationsArb(), limits: limitsArb }),
  ({ body, mutations, limits }) => {
    decodeChecked('amf0', mutate(body, mutations), limits);
  },
);

fuzz(
  'amf3: values with references, mutated: only AmfError',
  { runs: 1000 },
  fc.record({ value: fc.constantFrom(...AMF3_VALUES), mutations: mutationsArb(), limits: limitsArb }),
  ({ value, mutations, limits }) => {
    decodeChecked('amf3', mutate(value, mutations), limits);
  },
);

fuzz(
  'amf3: generated values, encoded then mutated: only AmfError',
  { runs: 500 },
  fc.record({ value: amf3GraphArb, mutations: mutationsArb(4) }),
  ({ value, mutations }) => {
    decodeChecked('amf3', mutate(encodeAmf3Value(value), mutations));
  },
);

fuzz('amf3: round trip of shared and cyclic values; re-encoding gives the same bytes', { runs: 400 }, amf3GraphArb, (value) => {
  const bytes = encodeAmf3Value(value);
  const back = decodeChecked('amf3', bytes);
  if (back instanceof AmfError) assert.fail(`decoding what was encoded failed: ${back.message}`);
  assert.deepEqual(back[0], value);
  assert.equal(encodeAmf3Value(back[0]).toString('hex'), bytes.toString('hex'));
});

fuzz(
  'amf0: round trip of value sequences (AMF3-only types switched with 0x11)',
  { runs: 400 },
  fc.record({ values: fc.array(fc.oneof({ weight: 20, arbitrary: amf0Arb }, { weight: 1, arbitrary: longStringArb }), { maxLength: 5 }) }),
  ({ values }) => {
    const bytes = encodeAmf0Values(values);
    const back = decodeChecked('amf0', bytes);
    if (back instanceof AmfError) assert.fail(`decoding what was encoded failed: ${back.message}`);
    assert.deepEqual(back, values);
    assert.equal(encodeAmf0Values(back).toString('hex'), bytes.toString('hex'));
  },
);

fuzz(
  'amf0 with AMF3 values (type-17 bodies): round trip in one reference context',
  { runs: 300 },
  fc.array(amf3GraphArb, { maxLength: 4 }),
  (values) => {
    const bytes = encodeAmf0WithAmf3Values(values);
    const back = decodeChecked('amf0', bytes);
    if (back instanceof AmfError) assert.fail(`decoding what was encoded failed: ${back.message}`);
    assert.deepEqual(back, values);
  },
);

fuzz(
  'amf: a value that decodes under the defaults decodes the same or fails with AmfError under smaller limits',
  { runs: 300 },
  fc.record({ value: amf3GraphArb, limits: limitsArb }),
  ({ value, limits }) => {
    const bytes = encodeAmf3Value(value);
    const back = decodeChecked('amf3', bytes, limits);
    if (!(back instanceof AmfError)) assert.deepEqual(back[0], value);
    else if (limits === undefined) assert.fail(`failed under the default limits: ${back.message}`);
  },
);

/** Model values a caller could build that are not writable as they are. */
const awkwardArb: fc.Arbitrary<AmfValue> = fc.oneof(
  fc.array(fc.oneof(fc.double(), fc.integer(), fc.constant(2 ** 40)), { maxLength: 3 }).map((i) => new AmfVector('int', i)),
  fc.array(fc.oneof(fc.double(), fc.integer({ min: -5, max: 5 })), { maxLength: 3 }).map((i) => new AmfVector('uint', i)),
  fc.array(fc.oneof(fc.double(), fc.string() as fc.Arbitrary<AmfValue>), { maxLength: 3 }).map((i) => new AmfVector('double', i)),
  fc.constant(new AmfVector('bogus' as 'int', [1])),
  fc.constant(new AmfEcmaArray([['', 1]])),
  fc.constant(new AmfMixedArray([1], [['', 2]])),
  fc.constant(new AmfTypedObject('Foo', O(), O({ '': 1 }))),
  fc.constant(O({ '': 1 })),
  fc.constant(new AmfTypedObject(42 as unknown as string, O())),
  fc.constant((() => {
    const a: AmfValue[] = [];
    a.push(a);
    return a;
  })()),
  fc.constant((() => {
    let deep: AmfValue = null;
    for (let i = 0; i < 1500; i++) deep = [deep];
    return deep;
  })()),
  fc.constant({ notAmf: new Map() } as unknown as AmfValue),
  fc.constant((() => 1) as unknown as AmfValue),
  fc.constant(10n as unknown as AmfValue),
  fc.constant(Symbol('x') as unknown as AmfValue),
  fc.constant(new Uint8Array(2) as unknown as AmfValue),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => s + '\uD800'), // a lone surrogate
);

fuzz(
  'amf encoders: any value, writable or not, encodes or throws only AmfError',
  { runs: 500 },
  fc.array(fc.oneof(amf3GraphArb, amf0Arb, awkwardArb), { maxLength: 4 }),
  (values) => {
    const encoders: [Decoder, () => Buffer][] = [
      ['amf0', () => encodeAmf0Values(values)],
      ['amf0', () => encodeAmf0WithAmf3Values(values)],
      ['amf3', () => encodeAmf3Value(values)],
    ];
    for (const [codec, encode] of encoders) {
      let bytes: Buffer;
      try {
        bytes = encode();
      } catch (e) {
        if (!(e instanceof AmfError)) throw new Error(`an encoder threw ${String(e)}`, { cause: e });
        assert.ok(CODES.has(e.code), `unknown code ${e.code}`);
        continue;
      }
      // Whatever was written decodes (not always to an equal value: a lone surrogate is U+FFFD).
      const back = decodeChecked(codec, bytes);
      if (back instanceof AmfError) assert.fail(`decoding what was encoded failed: ${back.message}`);
    }
  },
);

/** AMF3 U29 (0 … 2^29−1). */
function u29(v: number): Buffer {
  if (v < 0x80) return Buffer.of(v);
  if (v < 0x4000) return Buffer.of((v >>> 7) | 0x80, v & 0x7f);
  if (v < 0x200000) return Buffer.of((v >>> 14) | 0x80, ((v >>> 7) & 0x7f) | 0x80, v & 0x7f);
  return Buffer.of((v >>> 22) | 0x80, ((v >>> 15) & 0x7f) | 0x80, ((v >>> 8) & 0x7f) | 0x80, v & 0xff);
}

fuzz(
  'amf: large inputs (many values, one mutation) decode in bounded time and space',
  { runs: 30, maxRunMs: 5000 },
  fc.record({
    amf3Item: fc.constantFrom(...AMF3_VALUES),
    amf0Body: fc.constantFrom(...AMF0_BODIES),
    count: fc.integer({ min: 100, max: 5000 }),
    mutations: fc.option(mutationsArb(2)),
  }),
  ({ amf3Item, amf0Body, count, mutations }) => {
    // An AMF3 dense array of `count` values (references to earlier strings, objects and traits),
    // an AMF0 body repeated `count` times, and the same AMF3 array behind 0x11.
    const amf3 = Buffer.concat([Buffer.of(0x09), u29((count << 1) | 1), Buffer.of(0x01), ...Array.from({ length: count }, () => amf3Item)]);
    const amf0 = Buffer.concat(Array.from({ length: count }, () => amf0Body));
    const m = (b: Buffer): Buffer => (mutations === null ? b : mutate(b, mutations));
    decodeChecked('amf3', m(amf3));
    decodeChecked('amf0', m(amf0));
    decodeChecked('amf0', m(Buffer.concat([Buffer.of(0x11), amf3])));
  },
);

// ---------------------------------------------------------------------------------------------
// Regressions: counterexamples the fuzzer found, fixed in the codec

test('regression: a typed object whose class name is not a string is AmfError(invalid-value) in every encoder', () => {
  // Found by 'amf encoders: any value…': the AMF0 encoder threw Buffer.byteLength's TypeError.
  const bad = new AmfTypedObject(42 as unknown as string, O({ a: 1 }));
  for (const encode of [() => encodeAmf0Values([bad]), () => encodeAmf0WithAmf3Values([bad]), () => encodeAmf3Value(bad)]) {
    assert.throws(encode, (e: unknown) => e instanceof AmfError && e.code === 'invalid-value');
  }
});
