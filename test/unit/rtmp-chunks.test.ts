import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import * as fc from 'fast-check';
import { ChunkDecoder, DEFAULT_CHUNK_DECODER_LIMITS, type ChunkDecoderLimits, type RtmpMessage } from '../../src/codec/rtmp/chunk-decoder.js';
import { ChunkEncoder, type OutgoingMessage } from '../../src/codec/rtmp/chunk-encoder.js';
import {
  AckTracker,
  MessageType,
  controlMessage,
  decodeControlMessage,
  encodeControlPayload,
  pingResponseFor,
  type ControlMessage,
} from '../../src/codec/rtmp/control.js';
import { RtmpError } from '../../src/codec/rtmp/errors.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Hex with spaces and line breaks allowed. */
function hex(...parts: string[]): Buffer {
  const s = parts.join('').replace(/\s+/g, '');
  assert.ok(/^([0-9a-f]{2})*$/i.test(s), `bad hex: ${s}`);
  return Buffer.from(s, 'hex');
}

/** `n` payload bytes (start + i) & 0xff, as hex, or bytes [from, to) of that sequence. */
function seq(n: number, start = 0): string {
  return Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff)).toString('hex');
}
function seqPart(from: number, to: number, start = 0): string {
  return Buffer.from(Array.from({ length: to - from }, (_, i) => (start + from + i) & 0xff)).toString('hex');
}

/** One decoded message as a line: `csid t=ts ty=type s=stream payloadhex`. */
function m(csid: number, ts: number, typeId: number, streamId: number, payloadHex: string): string {
  return `${csid} t=${ts} ty=${typeId} s=${streamId} ${payloadHex}`;
}
function show(msg: RtmpMessage): string {
  return m(msg.csid, msg.timestamp, msg.typeId, msg.streamId, msg.payload.toString('hex'));
}

interface RunOptions {
  limits?: Partial<ChunkDecoderLimits>;
  chunkSize?: number;
}

/** Decodes the chunks; lines of messages, ending with `error:<code>` on an RtmpError. */
function run(chunks: readonly Uint8Array[], opts: RunOptions = {}): string[] {
  const decoder = new ChunkDecoder(opts.limits);
  if (opts.chunkSize !== undefined) decoder.setChunkSize(opts.chunkSize);
  const out: string[] = [];
  try {
    for (const c of chunks) decoder.write(c, (msg) => out.push(show(msg)));
  } catch (e) {
    if (!(e instanceof RtmpError)) throw e;
    out.push(`error:${e.code}`);
  }
  return out;
}

function splitAt(b: Uint8Array, i: number): Uint8Array[] {
  return [b.subarray(0, i), b.subarray(i)];
}

function bytewise(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}

function cutAt(input: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(input.subarray(last, p));
    last = p;
  }
  chunks.push(input.subarray(last));
  return chunks;
}

/** Same lines for the whole input, every two-piece split and byte-by-byte delivery. */
function assertSplitInvariant(input: Uint8Array, opts: RunOptions = {}): string[] {
  const whole = run([input], opts);
  for (let i = 0; i <= input.length; i++) assert.deepEqual(run(splitAt(input, i), opts), whole, `split at byte ${i}`);
  assert.deepEqual(run(bytewise(input), opts), whole, 'byte by byte');
  return whole;
}

// ---------------------------------------------------------------------------------------------
// Decoder fixtures: hand-computed bytes (Adobe RTMP spec §5.3)

interface Fixture {
  name: string;
  input: Buffer;
  expect: string[];
  opts?: RunOptions;
}

const SET_CHUNK_10 = '02 000000 000004 01 00000000 0000000a';
/** The first chunk (128 of 200 bytes) of a message on csid 3. */
const PARTIAL_200 = `03 000000 0000c8 14 00000000 ${seqPart(0, 128)}`;

/**
 * Bytes librtmp (rtmpdump 2.4, Debian) sent after a plain handshake, captured from a throwaway
 * server built on these codecs: connect (198 bytes: fmt 0 + one fmt 3 continuation at 128),
 * Window Ack Size, Set Buffer Length (fmt 1 on csid 2), createStream (fmt 1 on csid 3), play
 * (fmt 0 on csid 8, stream 1) and Set Buffer Length again as a fmt 3 header starting a message.
 */
const LIBRTMP_CAPTURE = hex(`
030000000000c61400000000020007636f6e6e656374003ff0000000000000030003617070020004786d70700008666c6173
6856657202000e4c4e582031302c302c33322c31380005746355726c02001b72746d703a2f2f3132372e302e302e313a3139
3335332f786d70700004667061640100000c6361706162696c697469657300402e00000000000000c30b617564696f436f64
6563730040a8ee0000000000000b766964656f436f6465637300406f800000000000000d766964656f46756e6374696f6e00
3ff0000000000000000009020000000000040500000000002625a04200000000000a040003000000000000012c4300000000
00191402000c63726561746553747265616d00400000000000000005080000000000211401000000020004706c6179004008
0000000000000502000474657374000000000000000000c200030000000102255100`);
const CONNECT_PAYLOAD = Buffer.concat([LIBRTMP_CAPTURE.subarray(12, 140), LIBRTMP_CAPTURE.subarray(141, 211)]).toString('hex');

const FIXTURES: Fixture[] = [
  {
    name: '§5.3.1.2.1 fmt 0, one chunk, 1-byte basic header',
    input: hex('03 000102 000004 14 01000000 61626364'),
    expect: [m(3, 258, 20, 1, '61626364')],
  },
  {
    name: '§5.3.1.2.1 the message stream id is little-endian',
    input: hex('04 000000 000001 12 01020304 ff'),
    expect: [m(4, 0, 18, 0x04030201, 'ff')],
  },
  {
    name: '§5.3.1.1 2-byte basic header: csid 64 + b1',
    input: hex('00 00 000000 000001 14 00000000 aa', '00 ff 000000 000001 14 00000000 bb'),
    expect: [m(64, 0, 20, 0, 'aa'), m(319, 0, 20, 0, 'bb')],
  },
  {
    name: '§5.3.1.1 3-byte basic header: csid 64 + b1 + 256·b2',
    input: hex('01 00 01 000000 000001 14 00000000 aa', '01 2c 01 000000 000001 14 00000000 bb', '01 ff ff 000000 000001 14 00000000 cc'),
    expect: [m(320, 0, 20, 0, 'aa'), m(364, 0, 20, 0, 'bb'), m(65599, 0, 20, 0, 'cc')],
  },
  {
    name: '§5.3.1.1 the 2-byte and 3-byte forms of csid 64 name the same chunk stream',
    input: hex('00 00 000000 000001 14 00000000 aa', 'c1 00 00 bb'),
    expect: [m(64, 0, 20, 0, 'aa'), m(64, 0, 20, 0, 'bb')],
  },
  {
    name: '§5.3.1.2.2 fmt 1 adds a delta and keeps the stream id',
    input: hex('03 0003e8 000002 14 05000000 0102', '43 000014 000003 12 030405'),
    expect: [m(3, 1000, 20, 5, '0102'), m(3, 1020, 18, 5, '030405')],
  },
  {
    name: '§5.3.1.2.3 fmt 2 adds a delta and keeps length, type and stream id',
    input: hex('03 0003e8 000002 14 05000000 0102', '83 00000a 0607'),
    expect: [m(3, 1000, 20, 5, '0102'), m(3, 1010, 20, 5, '0607')],
  },
  {
    name: '§5.3.1.2.4 fmt 3 starting a message repeats the last delta (after fmt 2)',
    input: hex('03 0003e8 000002 14 05000000 0102', '83 00000a 0304', 'c3 0506'),
    expect: [m(3, 1000, 20, 5, '0102'), m(3, 1010, 20, 5, '0304'), m(3, 1020, 20, 5, '0506')],
  },
  {
    name: '§5.3.1.2.4 fmt 3 after fmt 0: the delta is the fmt 0 timestamp',
    input: hex('03 000064 000001 14 00000000 aa', 'c3 bb'),
    expect: [m(3, 100, 20, 0, 'aa'), m(3, 200, 20, 0, 'bb')],
  },
  {
    name: '§5.3.1.2.4 fmt 3 after fmt 1 repeats its delta',
    input: hex('03 000064 000001 14 00000000 aa', '43 000005 000001 14 bb', 'c3 cc'),
    expect: [m(3, 100, 20, 0, 'aa'), m(3, 105, 20, 0, 'bb'), m(3, 110, 20, 0, 'cc')],
  },
  {
    name: '§5.3.2.2 a message over three chunks at the default size 128',
    input: hex('03 000000 00012c 14 00000000', seqPart(0, 128), 'c3', seqPart(128, 256), 'c3', seqPart(256, 300)),
    expect: [m(3, 0, 20, 0, seq(300))],
  },
  {
    name: '§5.3.1 chunk streams interleave at chunk boundaries',
    input: hex(
      PARTIAL_200,
      '04 000000 000082 09 01000000',
      seqPart(0, 128, 0x80),
      'c3',
      seqPart(128, 200),
      'c4',
      seqPart(128, 130, 0x80),
    ),
    expect: [m(3, 0, 20, 0, seq(200)), m(4, 0, 9, 1, seq(130, 0x80))],
  },
  {
    name: '§5.3.1.3 extended timestamp on fmt 0',
    input: hex('03 ffffff 000001 14 00000000 01000000 aa'),
    expect: [m(3, 0x01000000, 20, 0, 'aa')],
  },
  {
    name: '§5.3.1.3 the extended timestamp repeats in fmt 3 continuation chunks',
    input: hex('03 ffffff 000082 14 00000000 12345678', seqPart(0, 128), 'c3 12345678', seqPart(128, 130)),
    expect: [m(3, 0x12345678, 20, 0, seq(130))],
  },
  {
    name: '§5.3.1.3 an extended delta on fmt 1',
    input: hex('03 000010 000001 14 00000000 aa', '43 ffffff 000001 14 01000000 bb'),
    expect: [m(3, 16, 20, 0, 'aa'), m(3, 16 + 0x01000000, 20, 0, 'bb')],
  },
  {
    name: '§5.3.1.3 a fmt 3 header starting a message after an extended header reads the extended delta',
    input: hex('03 000000 000001 14 00000000 aa', '83 ffffff 01000000 bb', 'c3 01000000 cc'),
    expect: [m(3, 0, 20, 0, 'aa'), m(3, 0x01000000, 20, 0, 'bb'), m(3, 0x02000000, 20, 0, 'cc')],
  },
  {
    name: '§5.3.1.2 timestamps wrap mod 2^32',
    input: hex('03 ffffff 000001 14 00000000 fffffffe aa', '83 000005 bb'),
    expect: [m(3, 0xfffffffe, 20, 0, 'aa'), m(3, 3, 20, 0, 'bb')],
  },
  {
    name: 'a zero-length message, and a fmt 3 one after it',
    input: hex('03 000007 000000 14 00000000', 'c3'),
    expect: [m(3, 7, 20, 0, ''), m(3, 14, 20, 0, '')],
  },
  {
    name: '§5.4.1 Set Chunk Size applies to the very next chunk',
    input: hex(SET_CHUNK_10, '03 000000 000019 14 00000000', seqPart(0, 10), 'c3', seqPart(10, 20), 'c3', seqPart(20, 25)),
    expect: [m(2, 0, 1, 0, '0000000a'), m(3, 0, 20, 0, seq(25))],
  },
  {
    name: '§5.4.1 Set Chunk Size: the high bit is masked',
    input: hex('02 000000 000004 01 00000000 8000000a', '03 000000 000019 14 00000000', seqPart(0, 10), 'c3', seqPart(10, 20), 'c3', seqPart(20, 25)),
    expect: [m(2, 0, 1, 0, '8000000a'), m(3, 0, 20, 0, seq(25))],
  },
  {
    name: '§5.4.1 Set Chunk Size mid-message: the rest of an incomplete message uses the new size',
    input: hex(PARTIAL_200, '02 000000 000004 01 00000000 00000032', 'c3', seqPart(128, 178), 'c3', seqPart(178, 200)),
    expect: [m(2, 0, 1, 0, '00000032'), m(3, 0, 20, 0, seq(200))],
  },
  {
    name: '§5.4.1 Set Chunk Size larger than a message: one chunk',
    input: hex('02 000000 000004 01 00000000 00001000', '03 000000 00012c 14 00000000', seq(300)),
    expect: [m(2, 0, 1, 0, '00001000'), m(3, 0, 20, 0, seq(300))],
  },
  {
    name: '§5.4.1 Set Chunk Size 0 is refused',
    input: hex('02 000000 000004 01 00000000 00000000'),
    expect: ['error:chunk-size'],
  },
  {
    name: '§5.4.1 Set Chunk Size 0x80000000 is 0 once masked: refused',
    input: hex('02 000000 000004 01 00000000 80000000'),
    expect: ['error:chunk-size'],
  },
  {
    name: 'Set Chunk Size above maxChunkSize is refused',
    input: hex('02 000000 000004 01 00000000 000003e8', '02 000000 000004 01 00000000 000003e9'),
    expect: [m(2, 0, 1, 0, '000003e8'), 'error:chunk-size'],
    opts: { limits: { maxChunkSize: 1000 } },
  },
  {
    name: '§5.4 Set Chunk Size shorter than 4 bytes is a bad message',
    input: hex('02 000000 000002 01 00000000 0000'),
    expect: ['error:bad-message'],
  },
  {
    name: '§5.4.2 Abort discards the partial message of its chunk stream',
    input: hex(PARTIAL_200, '02 000000 000004 02 00000000 00000003', '03 000000 000002 14 00000000 abcd'),
    expect: [m(2, 0, 2, 0, '00000003'), m(3, 0, 20, 0, 'abcd')],
  },
  {
    name: '§5.4.2 after Abort a fmt 3 header starts a new message with the old header',
    input: hex(PARTIAL_200, '02 000000 000004 02 00000000 00000003', 'c3', seqPart(0, 128, 7), 'c3', seqPart(128, 200, 7)),
    expect: [m(2, 0, 2, 0, '00000003'), m(3, 0, 20, 0, seq(200, 7))],
  },
  {
    name: '§5.4.2 Abort of an idle or unknown chunk stream is harmless',
    input: hex('02 000000 000004 02 00000000 00000009', '42 000000 000004 02 ffffffff', '03 000000 000001 14 00000000 aa'),
    expect: [m(2, 0, 2, 0, '00000009'), m(2, 0, 2, 0, 'ffffffff'), m(3, 0, 20, 0, 'aa')],
  },
  {
    name: 'fmt 1 on a new chunk stream is accepted (librtmp sends control messages so): delta from 0, stream 0',
    input: hex('42 000000 000004 05 002625a0', '44 00000a 000001 14 aa'),
    expect: [m(2, 0, 5, 0, '002625a0'), m(4, 10, 20, 0, 'aa')],
  },
  {
    name: '§5.3.1.2 fmt 2 on an unknown chunk stream is refused',
    input: hex('03 000000 000001 14 00000000 aa', '84 000000'),
    expect: [m(3, 0, 20, 0, 'aa'), 'error:unknown-chunk-stream'],
  },
  {
    name: '§5.3.1.2 fmt 3 on an unknown chunk stream is refused',
    input: hex('c3'),
    expect: ['error:unknown-chunk-stream'],
  },
  {
    name: '§5.3.1.2 fmt 3 on an unknown 2-byte chunk stream id is refused',
    input: hex('c0 05'),
    expect: ['error:unknown-chunk-stream'],
  },
  {
    name: '§5.3.1.2.4 a fmt 0 header while a message is incomplete is refused',
    input: hex(PARTIAL_200, '03 000000 000001 14 00000000 aa'),
    expect: ['error:interrupted-message'],
  },
  {
    name: '§5.3.1.2.4 a fmt 2 header while a message is incomplete is refused',
    input: hex(PARTIAL_200, '83 000000'),
    expect: ['error:interrupted-message'],
  },
  {
    name: 'maxMessageLength (default 1 MiB): the header alone is refused, before any payload',
    input: hex('03 000000 100001 14 00000000'),
    expect: ['error:message-too-large'],
  },
  {
    name: 'maxMessageLength: fmt 1 headers count too',
    input: hex('03 000000 000004 14 00000000 01020304', '43 000000 000005 14'),
    expect: [m(3, 0, 20, 0, '01020304'), 'error:message-too-large'],
    opts: { limits: { maxMessageLength: 4 } },
  },
  {
    name: 'maxChunkStreams',
    input: hex('03 000000 000001 14 00000000 aa', '04 000000 000001 14 00000000 bb', 'c3 cc', '05 000000 000001 14 00000000 dd'),
    expect: [m(3, 0, 20, 0, 'aa'), m(4, 0, 20, 0, 'bb'), m(3, 0, 20, 0, 'cc'), 'error:too-many-chunk-streams'],
    opts: { limits: { maxChunkStreams: 2 } },
  },
  {
    name: 'maxBufferedBytes bounds incomplete messages across chunk streams',
    input: hex(PARTIAL_200, '04 000000 000032 14 00000000', seq(50)),
    expect: ['error:buffer-limit'],
    opts: { limits: { maxBufferedBytes: 150 } },
  },
  {
    name: 'maxBufferedBytes: complete messages release their bytes',
    input: hex('03 000000 000064 14 00000000', seq(100), '04 000000 000064 14 00000000', seq(100)),
    expect: [m(3, 0, 20, 0, seq(100)), m(4, 0, 20, 0, seq(100))],
    opts: { limits: { maxBufferedBytes: 100 } },
  },
  {
    name: 'an incoming chunk size set by the caller',
    input: hex('03 000000 000005 14 00000000 0102', 'c3 0304', 'c3 05'),
    expect: [m(3, 0, 20, 0, '0102030405')],
    opts: { chunkSize: 2 },
  },
  {
    name: 'librtmp (rtmpdump 2.4) after the handshake: connect, control messages, createStream, play',
    input: LIBRTMP_CAPTURE,
    expect: [
      m(3, 0, 20, 0, CONNECT_PAYLOAD),
      m(2, 0, 5, 0, '002625a0'),
      m(2, 0, 4, 0, '0003000000000000012c'),
      m(3, 0, 20, 0, LIBRTMP_CAPTURE.subarray(253, 278).toString('hex')),
      m(8, 0, 20, 1, LIBRTMP_CAPTURE.subarray(290, 323).toString('hex')),
      m(2, 0, 4, 0, '00030000000102255100'),
    ],
  },
];

describe('ChunkDecoder fixtures (whole, split at every byte, byte by byte)', () => {
  for (const f of FIXTURES) {
    test(f.name, () => {
      assert.deepEqual(assertSplitInvariant(f.input, f.opts), f.expect);
    });
  }

  test('the librtmp capture is 334 bytes: six messages, nothing left over', () => {
    assert.equal(LIBRTMP_CAPTURE.length, 334);
    const d = new ChunkDecoder();
    assert.equal(d.push(LIBRTMP_CAPTURE).length, 6);
    assert.equal(d.bufferedBytes, 0);
  });

  test('bytesReceived counts every byte pushed', () => {
    const d = new ChunkDecoder();
    d.push(LIBRTMP_CAPTURE.subarray(0, 100));
    assert.equal(d.bytesReceived, 100);
    d.push(LIBRTMP_CAPTURE.subarray(100));
    assert.equal(d.bytesReceived, LIBRTMP_CAPTURE.length);
  });

  test('push returns the messages; an error is raised again on later pushes', () => {
    const d = new ChunkDecoder();
    assert.deepEqual(d.push(hex('03 000000 000001 14 00000000 aa')).map(show), [m(3, 0, 20, 0, 'aa')]);
    assert.throws(() => d.push(hex('c5')), (e: unknown) => e instanceof RtmpError && e.code === 'unknown-chunk-stream');
    assert.throws(() => d.push(hex('c3')), (e: unknown) => e instanceof RtmpError && e.code === 'unknown-chunk-stream');
  });

  test('payloads are copies: reusing the input buffer changes nothing', () => {
    const input = hex('03 000000 000004 14 00000000 01020304');
    const [msg] = new ChunkDecoder().push(input);
    input.fill(0);
    assert.equal(msg!.payload.toString('hex'), '01020304');
  });

  test('Abort releases the aborted bytes from the buffered count', () => {
    const d = new ChunkDecoder();
    d.push(hex(PARTIAL_200));
    assert.equal(d.bufferedBytes, 128);
    d.push(hex('02 000000 000004 02 00000000 00000003'));
    assert.equal(d.bufferedBytes, 0);
  });

  test('setChunkSize outside 1..maxChunkSize is an RtmpError', () => {
    const d = new ChunkDecoder({ maxChunkSize: 4096 });
    d.setChunkSize(1);
    d.setChunkSize(4096);
    for (const bad of [0, 4097, -1, 1.5]) {
      assert.throws(() => d.setChunkSize(bad), (e: unknown) => e instanceof RtmpError && e.code === 'chunk-size');
    }
  });

  test('limits are checked when the decoder is built', () => {
    assert.throws(() => new ChunkDecoder({ maxChunkSize: 0x80000000 }), RangeError);
    assert.throws(() => new ChunkDecoder({ maxMessageLength: 0x1000000 }), RangeError);
    assert.throws(() => new ChunkDecoder({ maxChunkStreams: 0 }), RangeError);
    assert.deepEqual(DEFAULT_CHUNK_DECODER_LIMITS, {
      maxChunkSize: 16 * 1024 * 1024,
      maxMessageLength: 1024 * 1024,
      maxChunkStreams: 64,
      maxBufferedBytes: 4 * 1024 * 1024,
    });
  });

  test('nothing is allocated from a declared length: 60 streams announcing 16 MiB each, 1 byte sent', () => {
    const limits = { maxMessageLength: 0xffffff, maxBufferedBytes: 0x7fffffff };
    const d = new ChunkDecoder(limits);
    d.setChunkSize(1); // so that one byte completes each chunk
    const parts: Buffer[] = [];
    for (let csid = 3; csid < 63; csid++) parts.push(hex(`${csid.toString(16).padStart(2, '0')} 000000 ffffff 14 00000000 aa`));
    const input = Buffer.concat(parts);
    const before = process.memoryUsage().arrayBuffers;
    d.push(input);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(d.bufferedBytes, 60);
    assert.equal(d.chunkStreamCount, 60);
    assert.ok(grown < 8 * 1024 * 1024, `arrayBuffers grew by ${grown} bytes`);
  });
});

// ---------------------------------------------------------------------------------------------
// Encoder fixtures

interface EncodeFixture {
  name: string;
  messages: OutgoingMessage[];
  /** Expected bytes per message. */
  expect: string[];
  chunkSize?: number;
  compressHeaders?: boolean;
}

function msg(csid: number, timestamp: number, typeId: number, streamId: number, payloadHex: string): OutgoingMessage {
  return { csid, timestamp, typeId, streamId, payload: hex(payloadHex) };
}

const ENCODE_FIXTURES: EncodeFixture[] = [
  {
    name: 'fmt 0 for the first message of a chunk stream; stream id little-endian',
    messages: [msg(3, 1000, 20, 1, '61626364')],
    expect: ['03 0003e8 000004 14 01000000 61626364'],
  },
  {
    name: 'fmt 2 when length and type repeat, fmt 1 when they change',
    messages: [msg(3, 1000, 20, 1, '61626364'), msg(3, 1010, 20, 1, '65666768'), msg(3, 1010, 18, 1, '6162')],
    expect: ['03 0003e8 000004 14 01000000 61626364', '83 00000a 65666768', '43 000000 000002 12 6162'],
  },
  {
    name: 'fmt 0 again when the message stream id changes or the timestamp goes backwards',
    messages: [msg(3, 1000, 20, 1, 'aa'), msg(3, 1000, 20, 2, 'bb'), msg(3, 999, 20, 2, 'cc')],
    expect: ['03 0003e8 000001 14 01000000 aa', '03 0003e8 000001 14 02000000 bb', '03 0003e7 000001 14 02000000 cc'],
  },
  {
    name: 'chunk streams keep separate header state',
    messages: [msg(3, 5, 20, 0, 'aa'), msg(4, 5, 20, 0, 'bb'), msg(3, 6, 20, 0, 'cc')],
    expect: ['03 000005 000001 14 00000000 aa', '04 000005 000001 14 00000000 bb', '83 000001 cc'],
  },
  {
    name: '2-byte and 3-byte basic headers',
    messages: [msg(63, 0, 20, 0, 'aa'), msg(64, 0, 20, 0, 'bb'), msg(319, 0, 20, 0, 'cc'), msg(320, 0, 20, 0, 'dd'), msg(65599, 0, 20, 0, 'ee')],
    expect: [
      '3f 000000 000001 14 00000000 aa',
      '00 00 000000 000001 14 00000000 bb',
      '00 ff 000000 000001 14 00000000 cc',
      '01 00 01 000000 000001 14 00000000 dd',
      '01 ff ff 000000 000001 14 00000000 ee',
    ],
  },
  {
    name: 'continuation chunks are fmt 3 with the same basic header form',
    messages: [msg(3, 0, 20, 0, seq(300)), msg(320, 0, 9, 0, seq(130))],
    expect: [
      `03 000000 00012c 14 00000000 ${seqPart(0, 128)} c3 ${seqPart(128, 256)} c3 ${seqPart(256, 300)}`,
      `01 00 01 000000 000082 09 00000000 ${seqPart(0, 128)} c1 00 01 ${seqPart(128, 130)}`,
    ],
  },
  {
    name: 'extended timestamps, repeated after every continuation chunk',
    messages: [msg(3, 0x01000000, 20, 0, seq(130)), msg(3, 0x01000000 + 0xffffff, 20, 0, seq(130))],
    expect: [
      `03 ffffff 000082 14 00000000 01000000 ${seqPart(0, 128)} c3 01000000 ${seqPart(128, 130)}`,
      `83 ffffff 00ffffff ${seqPart(0, 128)} c3 00ffffff ${seqPart(128, 130)}`,
    ],
  },
  {
    name: 'a timestamp of 0xFFFFFE fits the 24-bit field',
    messages: [msg(3, 0xfffffe, 20, 0, 'aa')],
    expect: ['03 fffffe 000001 14 00000000 aa'],
  },
  {
    name: 'encoding Set Chunk Size switches the outgoing chunk size for the next message',
    messages: [controlMessage({ type: 'set-chunk-size', chunkSize: 10 }), msg(3, 0, 20, 0, seq(25))],
    expect: [SET_CHUNK_10, `03 000000 000019 14 00000000 ${seqPart(0, 10)} c3 ${seqPart(10, 20)} c3 ${seqPart(20, 25)}`],
  },
  {
    name: 'compressHeaders: false writes fmt 0 for every message',
    messages: [msg(3, 1000, 20, 1, 'aa'), msg(3, 1010, 20, 1, 'bb')],
    expect: ['03 0003e8 000001 14 01000000 aa', '03 0003f2 000001 14 01000000 bb'],
    compressHeaders: false,
  },
  {
    name: 'an empty payload is one header',
    messages: [msg(3, 0, 20, 0, ''), msg(3, 0, 20, 0, '')],
    expect: ['03 000000 000000 14 00000000', '83 000000'],
  },
  {
    name: 'a chunk size from the constructor',
    messages: [msg(3, 0, 20, 0, '0102030405')],
    expect: ['03 000000 000005 14 00000000 0102 c3 0304 c3 05'],
    chunkSize: 2,
  },
];

describe('ChunkEncoder fixtures', () => {
  for (const f of ENCODE_FIXTURES) {
    test(f.name, () => {
      const options: { chunkSize?: number; compressHeaders?: boolean } = {};
      if (f.chunkSize !== undefined) options.chunkSize = f.chunkSize;
      if (f.compressHeaders !== undefined) options.compressHeaders = f.compressHeaders;
      const encoder = new ChunkEncoder(options);
      const encoded = f.messages.map((x) => encoder.encode(x));
      assert.deepEqual(
        encoded.map((b) => b.toString('hex')),
        f.expect.map((e) => hex(e).toString('hex')),
      );
      // And the decoder reads them back, whole or split anywhere.
      const decoded = assertSplitInvariant(Buffer.concat(encoded), f.chunkSize !== undefined ? { chunkSize: f.chunkSize } : {});
      assert.deepEqual(
        decoded,
        f.messages.map((x) => m(x.csid, x.timestamp, x.typeId, x.streamId, Buffer.from(x.payload).toString('hex'))),
      );
    });
  }

  test('fields out of range are RangeErrors', () => {
    const e = new ChunkEncoder();
    const ok = msg(3, 0, 20, 0, 'aa');
    for (const bad of [
      { ...ok, csid: 1 },
      { ...ok, csid: 65600 },
      { ...ok, timestamp: -1 },
      { ...ok, timestamp: 2 ** 32 },
      { ...ok, typeId: 256 },
      { ...ok, streamId: 2 ** 32 },
      { ...ok, payload: Buffer.alloc(0x1000000) },
    ]) {
      assert.throws(() => e.encode(bad), RangeError);
    }
    assert.throws(() => e.setChunkSize(0), RangeError);
    assert.throws(() => e.setChunkSize(0x80000000), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Protocol control messages (§5.4, §7.1.7)

const CONTROL_FIXTURES: { name: string; message: ControlMessage; typeId: number; payload: string }[] = [
  { name: 'Set Chunk Size', message: { type: 'set-chunk-size', chunkSize: 4096 }, typeId: 1, payload: '00001000' },
  { name: 'Abort', message: { type: 'abort', csid: 3 }, typeId: 2, payload: '00000003' },
  { name: 'Acknowledgement', message: { type: 'acknowledgement', sequence: 0x12345678 }, typeId: 3, payload: '12345678' },
  {
    name: 'User Control StreamBegin',
    message: { type: 'user-control', event: { kind: 'stream-begin', streamId: 1 } },
    typeId: 4,
    payload: '0000 00000001',
  },
  {
    name: 'User Control StreamEOF',
    message: { type: 'user-control', event: { kind: 'stream-eof', streamId: 1 } },
    typeId: 4,
    payload: '0001 00000001',
  },
  {
    name: 'User Control SetBufferLength',
    message: { type: 'user-control', event: { kind: 'set-buffer-length', streamId: 1, bufferLength: 3000 } },
    typeId: 4,
    payload: '0003 00000001 00000bb8',
  },
  {
    name: 'User Control PingRequest',
    message: { type: 'user-control', event: { kind: 'ping-request', timestamp: 0x01020304 } },
    typeId: 4,
    payload: '0006 01020304',
  },
  {
    name: 'User Control PingResponse',
    message: { type: 'user-control', event: { kind: 'ping-response', timestamp: 0x01020304 } },
    typeId: 4,
    payload: '0007 01020304',
  },
  {
    name: 'User Control BufferEmpty (Flash)',
    message: { type: 'user-control', event: { kind: 'buffer-empty', streamId: 1 } },
    typeId: 4,
    payload: '001f 00000001',
  },
  {
    name: 'User Control of another type keeps its raw data',
    message: { type: 'user-control', event: { kind: 'other', eventType: 26, data: hex('0102') } },
    typeId: 4,
    payload: '001a 0102',
  },
  { name: 'Window Acknowledgement Size', message: { type: 'window-ack-size', size: 2500000 }, typeId: 5, payload: '002625a0' },
  {
    name: 'Set Peer Bandwidth',
    message: { type: 'set-peer-bandwidth', size: 2500000, limitType: 2 },
    typeId: 6,
    payload: '002625a0 02',
  },
];

describe('protocol control messages', () => {
  for (const f of CONTROL_FIXTURES) {
    test(`${f.name}: encode, decode, wrapped on csid 2 / stream 0`, () => {
      assert.equal(encodeControlPayload(f.message).toString('hex'), hex(f.payload).toString('hex'));
      assert.deepEqual(decodeControlMessage(f.typeId, hex(f.payload)), f.message);
      const wrapped = controlMessage(f.message, 7);
      assert.deepEqual(
        { ...wrapped, payload: wrapped.payload.toString('hex') },
        { csid: 2, timestamp: 7, typeId: f.typeId, streamId: 0, payload: hex(f.payload).toString('hex') },
      );
    });
  }

  test('short payloads are bad-message; other types are not control messages', () => {
    for (const [typeId, payload] of [
      [1, '000010'],
      [2, ''],
      [3, '00'],
      [4, '00'],
      [4, '0000 000001'],
      [4, '0003 00000001 000000'],
      [4, '0006 000000'],
      [5, '000000'],
      [6, '002625a0'],
    ] as const) {
      assert.throws(
        () => decodeControlMessage(typeId, hex(payload)),
        (e: unknown) => e instanceof RtmpError && e.code === 'bad-message',
        `type ${typeId} payload ${payload}`,
      );
    }
    assert.equal(decodeControlMessage(MessageType.CommandAmf0, hex('02')), undefined);
    assert.equal(decodeControlMessage(0, hex('')), undefined);
  });

  test('Set Chunk Size decoding masks the high bit', () => {
    assert.deepEqual(decodeControlMessage(1, hex('80001000')), { type: 'set-chunk-size', chunkSize: 4096 });
  });

  test('a Ping Request is answered by a Ping Response with its timestamp (§7.1.7)', () => {
    assert.deepEqual(pingResponseFor({ kind: 'ping-request', timestamp: 42 }), { kind: 'ping-response', timestamp: 42 });
    assert.equal(pingResponseFor({ kind: 'ping-response', timestamp: 42 }), undefined);
    assert.equal(pingResponseFor({ kind: 'stream-begin', streamId: 0 }), undefined);
  });

  test('AckTracker: one Acknowledgement per window received; sequence = total mod 2^32 (§5.4.3)', () => {
    const t = new AckTracker(100);
    assert.equal(t.received(60), undefined);
    assert.equal(t.received(50), 110);
    assert.equal(t.received(99), undefined);
    assert.equal(t.received(1), 210);
    assert.equal(t.received(1000), 1210, 'several windows at once: one acknowledgement');
    t.setWindowSize(2 ** 32 - 1);
    assert.equal(t.received(2 ** 32 - 1), (1210 + 2 ** 32 - 1) % 2 ** 32);
    assert.equal(t.bytesReceived, 1210 + 2 ** 32 - 1);
    const none = new AckTracker();
    assert.equal(none.received(10 ** 9), undefined, 'no window announced: no acknowledgement');
    assert.throws(() => new AckTracker(-1), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const csidArb = fc.oneof(fc.integer({ min: 2, max: 8 }), fc.constantFrom(63, 64, 319, 320, 65599));
const timestampArb = fc.oneof(
  fc.integer({ min: 0, max: 200 }),
  fc.constantFrom(0xfffffe, 0xffffff, 0x1000000, 0xfffffffe, 0xffffffff),
  fc.nat().map((n) => n * 2),
);
const dataMessageArb: fc.Arbitrary<OutgoingMessage> = fc.record({
  csid: csidArb,
  timestamp: timestampArb,
  typeId: fc.integer({ min: 3, max: 255 }),
  streamId: fc.oneof(fc.constantFrom(0, 1), fc.nat().map((n) => n * 2 + 1)),
  // fast-check's default size keeps arrays at ~10 elements: ask for long payloads explicitly.
  payload: fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 600, size: 'max' })),
});
/** A message, or a Set Chunk Size (type 1) that both sides follow. */
const opArb: fc.Arbitrary<OutgoingMessage> = fc.oneof(
  { weight: 5, arbitrary: dataMessageArb },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 700 })
      .map((n) => controlMessage({ type: 'set-chunk-size', chunkSize: n }) as OutgoingMessage),
  },
);

function expected(x: OutgoingMessage): string {
  return m(x.csid, x.timestamp, x.typeId, x.streamId, Buffer.from(x.payload).toString('hex'));
}

describe('chunk codec properties', () => {
  test('encoder → decoder round trip: random messages, chunk sizes and splits', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 25, size: 'max' }),
        fc.integer({ min: 1, max: 300 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 10, size: 'max' }),
        (ops, initialSize, compressHeaders, cuts) => {
          const encoder = new ChunkEncoder({ chunkSize: initialSize, compressHeaders });
          const bytes = Buffer.concat(ops.map((x) => encoder.encode(x)));
          const opts = { chunkSize: initialSize };
          const want = ops.map(expected);
          assert.deepEqual(run([bytes], opts), want);
          assert.deepEqual(run(cutAt(bytes, cuts), opts), want);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('chunk streams interleaved chunk by chunk decode to the same messages', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(dataMessageArb, { maxLength: 6, selector: (x) => x.csid }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.nat(), { maxLength: 400, size: 'max' }),
        (messages, chunkSize, picks) => {
          // Each message cut into its chunks (fmt 0 first, fmt 3 after), then the chunk queues merged.
          const queues = messages.map((x) => chunksOf(new ChunkEncoder({ chunkSize }).encode(x), x, chunkSize));
          const merged: Buffer[] = [];
          const doneOrder: number[] = [];
          let p = 0;
          for (;;) {
            const live = queues.map((q, i) => (q.length > 0 ? i : -1)).filter((i) => i >= 0);
            if (live.length === 0) break;
            const i = live[(picks[p++] ?? 0) % live.length]!;
            merged.push(queues[i]!.shift()!);
            if (queues[i]!.length === 0) doneOrder.push(i);
          }
          const want = doneOrder.map((i) => expected(messages[i]!));
          assert.deepEqual(run(merged, { chunkSize }), want);
          assert.deepEqual(run([Buffer.concat(merged)], { chunkSize }), want);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('random bytes: only RtmpError, split-invariant, bounded buffers', () => {
    const limits = { maxChunkSize: 4096, maxMessageLength: 1000, maxChunkStreams: 8, maxBufferedBytes: 3000 };
    const fragment = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      // Plausible headers: any fmt, small chunk stream ids, small lengths, control types.
      fc
        .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 1200 }), fc.constantFrom(1, 2, 4, 20, 0xff))
        .map(([fmt, csid, len, type]) => {
          const h = Buffer.alloc(12);
          h[0] = (fmt << 6) | csid;
          h.writeUIntBE(len, 4, 3);
          h[7] = type;
          return h.subarray(0, 1 + [11, 7, 3, 0][fmt]!);
        }),
      fc.constantFrom(hex(SET_CHUNK_10), hex('02 000000 000004 02 00000000 00000003'), hex('c3'), hex('ff ff ff ff')),
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 40, size: 'max' }), fc.array(fc.nat(), { maxLength: 8, size: 'max' }), (parts, cuts) => {
        const input = Buffer.concat(parts);
        const whole = run([input], { limits });
        const chunks = cutAt(input, cuts);
        assert.deepEqual(run(chunks, { limits }), whole);
        const d = new ChunkDecoder(limits);
        try {
          for (const c of chunks) {
            d.push(c);
            assert.ok(d.bufferedBytes <= limits.maxBufferedBytes);
            assert.ok(d.chunkStreamCount <= limits.maxChunkStreams);
          }
        } catch (e) {
          if (!(e instanceof RtmpError)) throw e;
        }
      }),
      { numRuns: 1500 },
    );
  });
});

/** Cuts one encoded message (fmt 0 header, fmt 3 continuations, no compression) into its chunks. */
function chunksOf(encoded: Buffer, x: OutgoingMessage, chunkSize: number): Buffer[] {
  const basic = x.csid < 64 ? 1 : x.csid < 320 ? 2 : 3;
  const ext = x.timestamp >= 0xffffff ? 4 : 0;
  const out: Buffer[] = [];
  let at = 0;
  let left = x.payload.length;
  let headerSize = basic + 11 + ext;
  do {
    const n = Math.min(chunkSize, left);
    out.push(encoded.subarray(at, at + headerSize + n));
    at += headerSize + n;
    left -= n;
    headerSize = basic + ext;
  } while (left > 0);
  assert.equal(at, encoded.length);
  return out;
}
