/**
 * Fuzzing the RTMP codecs (docs/fuzzing.md): the server handshake, the chunk decoder and
 * encoder, the protocol control messages, and the whole incoming path a session runs (handshake
 * → chunk stream → control messages and AMF command bodies). For any bytes, split anywhere:
 * only RtmpError (or AmfError from a command body), the same outcome however the input is split,
 * buffers within their limits and no more payload out than bytes in. Real sessions (librtmp's
 * connect, an AS3 client's type-17 calls) are mutated at random; encoder → decoder round trips
 * run at random chunk sizes and split points.
 *
 * rtmp-handshake.test.ts and rtmp-chunks.test.ts hold the hand-computed fixtures and the spec
 * rules; this file runs wide generators, scaled by FUZZ_RUNS.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import * as fc from 'fast-check';
import { decodeAmf0Values, encodeAmf0Values, encodeAmf0WithAmf3Values } from '../../src/codec/amf/amf0.js';
import { AmfError } from '../../src/codec/amf/errors.js';
import { AmfTypedObject, amfObject as O } from '../../src/codec/amf/values.js';
import { ChunkDecoder, DEFAULT_CHUNK_DECODER_LIMITS, MAX_CSID, MIN_CSID, type ChunkDecoderLimits, type RtmpMessage } from '../../src/codec/rtmp/chunk-decoder.js';
import { ChunkEncoder, type OutgoingMessage } from '../../src/codec/rtmp/chunk-encoder.js';
import {
  MessageType,
  controlMessage,
  decodeControlMessage,
  decodeUserControl,
  encodeControlPayload,
  type ControlMessage,
  type UserControlEvent,
} from '../../src/codec/rtmp/control.js';
import { RtmpError, type RtmpErrorCode } from '../../src/codec/rtmp/errors.js';
import { CLIENT_HANDSHAKE_BYTES, HANDSHAKE_SIZE, ServerHandshake, makeClientC1, verifyServerHandshake } from '../../src/codec/rtmp/handshake.js';
import { cutsArb, fuzz, mutate, mutationsArb, splitAt } from '../support/fuzz.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const CODES: ReadonlySet<RtmpErrorCode> = new Set<RtmpErrorCode>([
  'bad-version',
  'unknown-chunk-stream',
  'interrupted-message',
  'chunk-size',
  'message-too-large',
  'too-many-chunk-streams',
  'buffer-limit',
  'bad-message',
]);

/** Only RtmpError (with a known code) or AmfError may come out of the incoming path. */
function typedCode(e: unknown): string {
  if (e instanceof RtmpError) {
    assert.ok(CODES.has(e.code), `unknown RtmpError code ${e.code}`);
    return `rtmp:${e.code}`;
  }
  if (e instanceof AmfError) return `amf:${e.code}`;
  throw new Error(`expected only RtmpError or AmfError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
}

/** A deterministic byte source (xorshift32), so that replies compare across runs. */
function seeded(seed: number): (size: number) => Buffer {
  let x = seed >>> 0 || 1;
  return (size) => {
    const b = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b[i] = x & 0xff;
    }
    return b;
  };
}

const digestOf = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

function show(m: RtmpMessage): string {
  return `${m.csid} t=${m.timestamp} ty=${m.typeId} s=${m.streamId} ${m.payload.length <= 32 ? m.payload.toString('hex') : `#${digestOf(m.payload)}/${m.payload.length}`}`;
}

const SMALL_LIMITS: ChunkDecoderLimits = { maxChunkSize: 4096, maxMessageLength: 1000, maxChunkStreams: 6, maxBufferedBytes: 2000 };

interface SessionOutcome {
  lines: string[];
  /** Payload bytes of all messages. */
  payloadBytes: number;
}

/**
 * What a session makes of the client's bytes, chunk by chunk: the handshake reply, then each
 * message with its decoded control message or AMF command, then the error that ends it. Checks
 * the decoder's bounds after every chunk.
 */
function session(chunks: readonly Uint8Array[], limits?: Partial<ChunkDecoderLimits>): SessionOutcome {
  const hs = new ServerHandshake({ randomBytes: seeded(7), time: 1 });
  const decoder = new ChunkDecoder(limits);
  const max = { ...DEFAULT_CHUNK_DECODER_LIMITS, ...limits };
  const lines: string[] = [];
  let payloadBytes = 0;
  let bytesIn = 0;
  const onMessage = (m: RtmpMessage): void => {
    payloadBytes += m.payload.length;
    let line = show(m);
    const control = decodeControlMessage(m.typeId, m.payload);
    if (control !== undefined) line += ` ${JSON.stringify(control)}`;
    else if (m.typeId === MessageType.CommandAmf0) line += ` amf0:${decodeAmf0Values(m.payload).length}`;
    else if (m.typeId === MessageType.CommandAmf3) {
      if (m.payload[0] !== 0) throw new RtmpError('bad-message', 'an AMF3 command must start with a 0 byte');
      line += ` amf3:${decodeAmf0Values(m.payload.subarray(1)).length}`;
    }
    lines.push(line);
  };
  try {
    for (const c of chunks) {
      bytesIn += c.length;
      if (!hs.done) {
        const step = hs.push(c);
        if (step.reply) {
          assert.equal(step.reply.length, 1 + 2 * HANDSHAKE_SIZE);
          lines.push(`reply ${hs.form} ${digestOf(step.reply)}`);
        }
        if (!step.done) continue;
        lines.push('handshake done');
        if (step.rest) decoder.write(step.rest, onMessage);
      } else {
        decoder.write(c, onMessage);
      }
      assert.ok(decoder.bufferedBytes <= max.maxBufferedBytes, `${decoder.bufferedBytes} bytes buffered`);
      assert.ok(decoder.chunkStreamCount <= max.maxChunkStreams, `${decoder.chunkStreamCount} chunk streams`);
      assert.ok(payloadBytes + decoder.bufferedBytes <= bytesIn, `${payloadBytes} payload bytes out of ${bytesIn} in`);
    }
  } catch (e) {
    lines.push(`error ${typedCode(e)}`);
  }
  return { lines, payloadBytes };
}

/** Chunk decoder alone: message lines then the error; checks bounds after every chunk. */
function decode(chunks: readonly Uint8Array[], limits: ChunkDecoderLimits, chunkSize?: number): string[] {
  const d = new ChunkDecoder(limits);
  if (chunkSize !== undefined) d.setChunkSize(chunkSize);
  const out: string[] = [];
  let bytesIn = 0;
  let payload = 0;
  try {
    for (const c of chunks) {
      bytesIn += c.length;
      d.write(c, (m) => {
        payload += m.payload.length;
        out.push(show(m));
      });
      assert.ok(d.bufferedBytes <= limits.maxBufferedBytes);
      assert.ok(d.chunkStreamCount <= limits.maxChunkStreams);
      assert.ok(payload + d.bufferedBytes <= bytesIn, `${payload} payload bytes out of ${bytesIn} in`);
      assert.equal(d.bytesReceived, bytesIn);
    }
  } catch (e) {
    out.push(`error ${typedCode(e)}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: real sessions

/**
 * Bytes librtmp (rtmpdump 2.4) sent after a plain handshake (see rtmp-chunks.test.ts): connect,
 * Window Ack Size, Set Buffer Length, createStream, play, Set Buffer Length.
 */
const LIBRTMP_CHUNKS = Buffer.from(
  `030000000000c61400000000020007636f6e6e656374003ff0000000000000030003617070020004786d70700008666c6173
6856657202000e4c4e582031302c302c33322c31380005746355726c02001b72746d703a2f2f3132372e302e302e313a3139
3335332f786d70700004667061640100000c6361706162696c697469657300402e00000000000000c30b617564696f436f64
6563730040a8ee0000000000000b766964656f436f6465637300406f800000000000000d766964656f46756e6374696f6e00
3ff0000000000000000009020000000000040500000000002625a04200000000000a040003000000000000012c4300000000
00191402000c63726561746553747265616d00400000000000000005080000000000211401000000020004706c6179004008
0000000000000502000474657374000000000000000000c200030000000102255100`.replace(/\s/g, ''),
  'hex',
);

/** C0 + C1 (plain or signed like Flash Player / librtmp FP9) + C2. */
function clientHandshake(digest: boolean, scheme: 0 | 1, seed: number): Buffer {
  const c1 = makeClientC1({ digest, scheme, randomBytes: seeded(seed), time: 1000, version: digest ? 0x0a002d02 : 0 });
  return Buffer.concat([Buffer.of(3), c1, seeded(seed + 1)(HANDSHAKE_SIZE)]);
}

const jid = new AmfTypedObject('org.jivesoftware.xiff.core.UnescapedJID', O({ node: 'alice', domain: 'example.com', resource: 'flash' }));

/** The messages an AS3 client (objectEncoding 3) sends: type-17 calls with AMF3 arguments, controls. */
function as3Messages(): OutgoingMessage[] {
  const t17 = (values: Parameters<typeof encodeAmf0Values>[0], amf3: Parameters<typeof encodeAmf0WithAmf3Values>[0]): Buffer =>
    Buffer.concat([Buffer.of(0), encodeAmf0Values(values), encodeAmf0WithAmf3Values(amf3)]);
  const connect = O({ app: 'xmpp', flashVer: 'WIN 32,0,0,465', tcUrl: 'rtmp://example.com/xmpp', objectEncoding: 3, capabilities: 239 });
  return [
    { csid: 3, timestamp: 0, typeId: MessageType.CommandAmf3, streamId: 0, payload: t17(['connect', 1], [connect]) },
    controlMessage({ type: 'window-ack-size', size: 2500000 }, 10),
    { csid: 3, timestamp: 20, typeId: MessageType.CommandAmf3, streamId: 0, payload: t17(['xmppLogin', 2, null], [O({ jid, password: 'secret' }), [jid, jid]]) },
    controlMessage({ type: 'user-control', event: { kind: 'ping-response', timestamp: 123 } }, 30),
    { csid: 3, timestamp: 40, typeId: MessageType.CommandAmf3, streamId: 0, payload: t17(['xmppSend', 3, null], ['<message to="b@example.com"><body>' + 'x'.repeat(5000) + '</body></message>']) },
    controlMessage({ type: 'acknowledgement', sequence: 9000 }, 50),
    { csid: 8, timestamp: 0xffffff + 5, typeId: MessageType.CommandAmf0, streamId: 1, payload: encodeAmf0Values(['closeStream', 0, null]) },
    { csid: 3, timestamp: 60, typeId: MessageType.CommandAmf3, streamId: 0, payload: t17(['xmppDisconnect', 4, null], []) },
  ];
}

/** The AS3 session's chunk stream: a Set Chunk Size (the encoder follows it), then the calls. */
function as3Chunks(chunkSize: number, compress: boolean): Buffer {
  const encoder = new ChunkEncoder({ compressHeaders: compress });
  const out = [encoder.encode(controlMessage({ type: 'set-chunk-size', chunkSize }))];
  for (const m of as3Messages()) out.push(encoder.encode(m));
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// Properties

fuzz(
  'handshake: any client bytes, split anywhere: one reply with C1, done after exactly C0+C1+C2, only bad-version',
  { runs: 500 },
  fc.record({
    c0: fc.oneof({ weight: 6, arbitrary: fc.constant(3) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    digest: fc.boolean(),
    scheme: fc.constantFrom<0 | 1>(0, 1),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
    mutations: fc.option(mutationsArb(3)),
    rest: fc.uint8Array({ maxLength: 40 }),
    cuts: cutsArb,
  }),
  ({ c0, digest, scheme, seed, mutations, rest, cuts }) => {
    let client = clientHandshake(digest, scheme, seed);
    client[0] = c0;
    // Mutations inside C1/C2 only (C0 is chosen above): the length stays 3073.
    if (mutations !== null) client = Buffer.concat([client.subarray(0, 1), mutate(client.subarray(1), mutations)]).subarray(0, CLIENT_HANDSHAKE_BYTES);
    const input = Buffer.concat([client, rest]);
    const run = (chunks: readonly Uint8Array[]): string[] => {
      const hs = new ServerHandshake({ randomBytes: seeded(seed), time: 5 });
      const out: string[] = [];
      let fed = 0;
      let after: Buffer[] | null = null;
      try {
        for (const c of chunks) {
          if (after !== null) {
            after.push(Buffer.from(c)); // what the chunk decoder gets next
            continue;
          }
          const step = hs.push(c);
          fed += c.length;
          if (step.reply) {
            assert.equal(step.reply.length, 3073);
            assert.equal(step.reply[0], 3);
            assert.ok(fed >= 1 + HANDSHAKE_SIZE, 'the reply comes once C1 is complete');
            const c1 = input.subarray(1, 1 + HANDSHAKE_SIZE); // what the server read as C1
            const check = verifyServerHandshake(c1, step.reply.subarray(1, 1 + HANDSHAKE_SIZE), step.reply.subarray(1 + HANDSHAKE_SIZE));
            assert.ok(check.ok, `a client would refuse the reply: ${check.ok ? '' : check.reason}`);
            out.push(`reply ${hs.form} ${digestOf(step.reply)}`);
          }
          if (step.done) {
            assert.equal(fed - (step.rest?.length ?? 0), CLIENT_HANDSHAKE_BYTES, 'done after exactly C0+C1+C2');
            after = step.rest ? [Buffer.from(step.rest)] : [];
          } else {
            assert.equal(step.rest, undefined);
          }
        }
      } catch (e) {
        out.push(`error ${typedCode(e)}`);
      }
      if (after !== null) out.push(`done rest=${Buffer.concat(after).toString('hex')}`);
      return out;
    };
    const whole = run([input]);
    assert.deepEqual(run(splitAt(input, cuts)), whole);
    if (c0 !== 3) assert.deepEqual(whole, ['error rtmp:bad-version']);
    else if (input.length >= CLIENT_HANDSHAKE_BYTES) assert.equal(whole.filter((l) => l.startsWith('reply ')).length, 1);
  },
);

/** Plausible chunk headers (any fmt, small ids, lengths around the limits, control types), and noise. */
const fragmentArb = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        fmt: fc.integer({ min: 0, max: 3 }),
        csid: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constantFrom(63, 0, 1)),
        csidExtra: fc.uint8Array({ minLength: 2, maxLength: 2 }),
        ts: fc.constantFrom(0, 1, 1000, 0xfffffe, 0xffffff),
        len: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(999, 1000, 1001, 2000, 0xffffff)),
        type: fc.constantFrom(1, 2, 3, 4, 5, 6, 8, 17, 18, 20, 0xff),
        ext: fc.uint8Array({ minLength: 4, maxLength: 4 }),
        payload: fc.uint8Array({ maxLength: 200 }),
      })
      .map(({ fmt, csid, csidExtra, ts, len, type, ext, payload }) => {
        const basic = csid === 0 ? Buffer.of(fmt << 6, csidExtra[0]!) : csid === 1 ? Buffer.of((fmt << 6) | 1, ...csidExtra) : Buffer.of((fmt << 6) | csid);
        const h = Buffer.alloc(11);
        h.writeUIntBE(ts, 0, 3);
        h.writeUIntBE(len, 3, 3);
        h[6] = type;
        return Buffer.concat([basic, h.subarray(0, [11, 7, 3, 0][fmt]!), ts === 0xffffff ? ext : Buffer.alloc(0), payload]);
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.from('02000000000004010000000000000001', 'hex'), // Set Chunk Size 1
      Buffer.from('0200000000000401000000007fffffff', 'hex'), // Set Chunk Size 2^31−1
      Buffer.from('02000000000004020000000000000003', 'hex'), // Abort csid 3
      Buffer.from('020000000000020100000000ffff', 'hex'), // a short Set Chunk Size
      Buffer.from('c3', 'hex'),
      Buffer.from('ffffffff', 'hex'),
    ),
  },
);

fuzz(
  'chunk decoder: any bytes, split anywhere: only RtmpError, split-invariant, buffers within limits, payload out ≤ bytes in',
  { runs: 1500 },
  fc.record({
    parts: fc.array(fragmentArb, { maxLength: 30 }),
    small: fc.boolean(),
    chunkSize: fc.option(fc.integer({ min: 1, max: 300 })),
    cuts: cutsArb,
  }),
  ({ parts, small, chunkSize, cuts }) => {
    const input = Buffer.concat(parts);
    const limits = small ? SMALL_LIMITS : { maxChunkSize: 16 * 1024 * 1024, maxMessageLength: 1024 * 1024, maxChunkStreams: 64, maxBufferedBytes: 4 * 1024 * 1024 };
    const whole = decode([input], limits, chunkSize ?? undefined);
    assert.deepEqual(decode(splitAt(input, cuts), limits, chunkSize ?? undefined), whole);
  },
);

const timestampArb = fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.constantFrom(0xfffffe, 0xffffff, 0x1000000, 0xffffffff), fc.nat());
const messageArb: fc.Arbitrary<OutgoingMessage> = fc.record({
  csid: fc.oneof(fc.integer({ min: MIN_CSID, max: 10 }), fc.constantFrom(63, 64, 65, 319, 320, MAX_CSID), fc.integer({ min: MIN_CSID, max: MAX_CSID })),
  timestamp: timestampArb,
  typeId: fc.oneof(fc.constantFrom(8, 9, 15, 17, 18, 20, 22), fc.integer({ min: 7, max: 255 })),
  streamId: fc.oneof(fc.constantFrom(0, 1, 0xffffffff), fc.nat()),
  payload: fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 3000, size: 'max' })),
});
/** A message, a Set Chunk Size both sides follow, or another control message. */
const opArb: fc.Arbitrary<OutgoingMessage> = fc.oneof(
  { weight: 8, arbitrary: messageArb },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.integer({ min: 1, max: 400 }), fc.constantFrom(1, 128, 4096, 65536, 0x7fffffff))
      .map((n) => controlMessage({ type: 'set-chunk-size', chunkSize: n }) as OutgoingMessage),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<ControlMessage>(
        { type: 'window-ack-size', size: 2500000 },
        { type: 'acknowledgement', sequence: 0xffffffff },
        { type: 'set-peer-bandwidth', size: 1, limitType: 2 },
        { type: 'user-control', event: { kind: 'ping-request', timestamp: 7 } },
      )
      .map((c) => controlMessage(c) as OutgoingMessage),
  },
);

fuzz(
  'chunk codec round trip: random messages, chunk sizes, header compression and split points',
  { runs: 500 },
  fc.record({
    ops: fc.array(opArb, { maxLength: 20 }),
    initialSize: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(128, 4096, 65536)),
    compress: fc.boolean(),
    cuts: cutsArb,
  }),
  ({ ops, initialSize, compress, cuts }) => {
    const encoder = new ChunkEncoder({ chunkSize: initialSize, compressHeaders: compress });
    const bytes = Buffer.concat(ops.map((m) => encoder.encode(m)));
    const want = ops.map((m) => show({ ...m, payload: Buffer.from(m.payload) }));
    const limits = { maxChunkSize: 0x7fffffff, maxMessageLength: 0xffffff, maxChunkStreams: 65598, maxBufferedBytes: 16 * 1024 * 1024 };
    assert.deepEqual(decode([bytes], limits, initialSize), want);
    assert.deepEqual(decode(splitAt(bytes, cuts), limits, initialSize), want);
    // What the encoder writes is the payload plus bounded header bytes per chunk.
    const payload = ops.reduce((n, m) => n + m.payload.length, 0);
    assert.ok(bytes.length <= payload * 8 + ops.length * 18, 'at most 18 header bytes per message and 7 per chunk');
  },
);

/** Records with Object.prototype (fc.record may make null-prototype ones), as the decoder returns. */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}
const u32Arb = fc.oneof(fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff));
const eventArb: fc.Arbitrary<UserControlEvent> = fc.oneof(
  rec({ kind: fc.constantFrom('stream-begin', 'stream-eof', 'stream-dry', 'stream-is-recorded', 'buffer-empty', 'buffer-ready'), streamId: u32Arb }) as fc.Arbitrary<UserControlEvent>,
  rec({ kind: fc.constant('set-buffer-length' as const), streamId: u32Arb, bufferLength: u32Arb }),
  rec({ kind: fc.constantFrom('ping-request' as const, 'ping-response' as const), timestamp: u32Arb }),
  rec({ eventType: fc.integer({ min: 8, max: 0xffff }).filter((t) => t !== 31 && t !== 32), data: fc.uint8Array({ maxLength: 12 }) }).map(({ eventType, data }) => ({ kind: 'other' as const, eventType, data: Buffer.from(data) })),
);
const controlArb: fc.Arbitrary<ControlMessage> = fc.oneof(
  rec({ type: fc.constant('set-chunk-size' as const), chunkSize: fc.integer({ min: 1, max: 0x7fffffff }) }),
  rec({ type: fc.constant('abort' as const), csid: u32Arb }),
  rec({ type: fc.constant('acknowledgement' as const), sequence: u32Arb }),
  rec({ type: fc.constant('user-control' as const), event: eventArb }),
  rec({ type: fc.constant('window-ack-size' as const), size: u32Arb }),
  rec({ type: fc.constant('set-peer-bandwidth' as const), size: u32Arb, limitType: fc.integer({ min: 0, max: 255 }) }),
);

fuzz(
  'control messages: any type and payload decode or throw bad-message; encode → decode round trip',
  { runs: 1500 },
  fc.record({ typeId: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 16 }), control: controlArb }),
  ({ typeId, payload, control }) => {
    for (const run of [() => decodeControlMessage(typeId, payload), () => decodeUserControl(payload)]) {
      try {
        run();
      } catch (e) {
        assert.equal(typedCode(e), 'rtmp:bad-message');
      }
    }
    const message = controlMessage(control);
    assert.deepEqual(decodeControlMessage(message.typeId, message.payload), control);
  },
);

fuzz(
  'session: real handshakes and chunk streams (librtmp, AS3 type 17) mutated and split: only RtmpError/AmfError, split-invariant, bounded',
  { runs: 800 },
  fc.record({
    which: fc.constantFrom('librtmp', 'as3'),
    digest: fc.boolean(),
    scheme: fc.constantFrom<0 | 1>(0, 1),
    chunkSize: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constantFrom(128, 4096)),
    compress: fc.boolean(),
    mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 6, arbitrary: mutationsArb(5) }),
    handshakeMutations: fc.option(mutationsArb(2), { freq: 8 }),
    small: fc.boolean(),
    cuts: cutsArb,
  }),
  ({ which, digest, scheme, chunkSize, compress, mutations, handshakeMutations, small, cuts }) => {
    const handshake = clientHandshake(digest, scheme, 99);
    const chunks = which === 'librtmp' ? LIBRTMP_CHUNKS : as3Chunks(chunkSize, compress);
    const input = Buffer.concat([handshakeMutations === null ? handshake : mutate(handshake, handshakeMutations), mutate(chunks, mutations)]);
    const limits = small ? SMALL_LIMITS : undefined;
    const whole = session([input], limits);
    assert.deepEqual(session(splitAt(input, cuts), limits).lines, whole.lines);
    if (mutations.length === 0 && handshakeMutations === null) {
      // Unmutated: every message decodes, nothing fails (the small limits aside).
      if (!small) {
        assert.ok(!whole.lines.some((l) => l.startsWith('error')), whole.lines.join('\n'));
        assert.equal(whole.lines.filter((l) => /^\d+ t=/.test(l)).length, which === 'librtmp' ? 6 : 1 + as3Messages().length, whole.lines.join('\n'));
        assert.equal(whole.lines.filter((l) => / amf[03]:\d+$/.test(l)).length, which === 'librtmp' ? 3 : 5, whole.lines.join('\n'));
      }
    }
  },
);

fuzz(
  'chunk decoder: large inputs (many chunks, one mutation) decode in bounded time and space',
  { runs: 20, maxRunMs: 5000 },
  fc.record({ chunkSize: fc.integer({ min: 1, max: 64 }), count: fc.integer({ min: 50, max: 400 }), mutations: fc.option(mutationsArb(2)), cuts: cutsArb }),
  ({ chunkSize, count, mutations, cuts }) => {
    const encoder = new ChunkEncoder({ chunkSize });
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      parts.push(encoder.encode({ csid: 3 + (i % 5), timestamp: i, typeId: 20, streamId: 0, payload: encodeAmf0Values(['call', i, null, 'x'.repeat(i % 700)]) }));
    }
    const bytes = Buffer.concat(parts);
    const input = mutations === null ? bytes : mutate(bytes, mutations);
    const whole = decode([input], { maxChunkSize: 4096, maxMessageLength: 4096, maxChunkStreams: 8, maxBufferedBytes: 8192 }, chunkSize);
    assert.deepEqual(decode(splitAt(input, cuts), { maxChunkSize: 4096, maxMessageLength: 4096, maxChunkStreams: 8, maxBufferedBytes: 8192 }, chunkSize), whole);
    if (mutations === null) assert.equal(whole.length, count);
  },
);
