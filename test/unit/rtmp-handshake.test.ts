import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import * as fc from 'fast-check';
import {
  CLIENT_HANDSHAKE_BYTES,
  DEFAULT_SERVER_VERSION,
  HANDSHAKE_SIZE,
  ServerHandshake,
  digestOffset,
  makeClientC1,
  makeClientC2,
  verifyServerHandshake,
  type HandshakeStep,
  type ServerHandshakeOptions,
} from '../../src/codec/rtmp/handshake.js';
import { ChunkDecoder } from '../../src/codec/rtmp/chunk-decoder.js';
import { RtmpError } from '../../src/codec/rtmp/errors.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** A deterministic byte source (xorshift32), so that replies can be compared across runs. */
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

const KEY_TAIL = 'f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae';
/** The keys, spelt out again here so that the test checks the code's constants. */
const FP_KEY_30 = Buffer.from('Genuine Adobe Flash Player 001', 'latin1');
const FMS_KEY_36 = Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1');
const FP_KEY_62 = Buffer.concat([FP_KEY_30, Buffer.from(KEY_TAIL, 'hex')]);
const FMS_KEY_68 = Buffer.concat([FMS_KEY_36, Buffer.from(KEY_TAIL, 'hex')]);

const sha = (key: Uint8Array, ...data: Uint8Array[]): Buffer => {
  const h = createHmac('sha256', key);
  for (const d of data) h.update(d);
  return h.digest();
};

/** The digest at the scheme's offset is HMAC(key, the 1504 bytes around it). */
function signedAt(sig: Buffer, scheme: 0 | 1, key: Buffer): boolean {
  const off = digestOffset(sig, scheme);
  return sha(key, sig.subarray(0, off), sig.subarray(off + 32)).equals(sig.subarray(off, off + 32));
}

interface Outcome {
  reply: Buffer;
  done: boolean;
  rest: Buffer;
  form: string | undefined;
}

/**
 * Feeds the pieces as a session would: to the handshake until done, then to `rest` (the chunk
 * decoder's). Collects reply and rest; `error:<code>` on an RtmpError.
 */
function run(pieces: readonly Uint8Array[], options: ServerHandshakeOptions = {}): Outcome | string {
  const hs = new ServerHandshake(options);
  const replies: Buffer[] = [];
  const rests: Buffer[] = [];
  let done = false;
  try {
    for (const p of pieces) {
      if (done) {
        rests.push(Buffer.from(p));
        continue;
      }
      const step: HandshakeStep = hs.push(p);
      if (step.reply) replies.push(step.reply);
      if (step.rest) {
        assert.ok(step.done, 'rest only once done');
        rests.push(step.rest);
      }
      done = step.done;
    }
  } catch (e) {
    if (!(e instanceof RtmpError)) throw e;
    return `error:${e.code}`;
  }
  assert.ok(replies.length <= 1, 'one reply');
  return { reply: Buffer.concat(replies), done, rest: Buffer.concat(rests), form: hs.form };
}

/** C0 + C1 + C2 + extra. */
function clientBytes(c1: Buffer, extra: Buffer = Buffer.alloc(0), c2: Buffer = seeded(99)(HANDSHAKE_SIZE)): Buffer {
  return Buffer.concat([Buffer.from([3]), c1, c2, extra]);
}

/** Split positions: every 7th byte plus the edges of C0, C1 and C2. */
function splitPositions(length: number): number[] {
  const edges = [0, 1, 2, 1536, 1537, 1538, 3072, 3073, 3074, length - 1, length];
  const every7 = Array.from({ length: Math.floor(length / 7) + 1 }, (_, i) => i * 7);
  return [...new Set([...edges, ...every7])].filter((i) => i >= 0 && i <= length).sort((a, b) => a - b);
}

function parts(reply: Buffer): { s0: number; s1: Buffer; s2: Buffer } {
  assert.equal(reply.length, 1 + 2 * HANDSHAKE_SIZE);
  return { s0: reply[0]!, s1: reply.subarray(1, 1537), s2: reply.subarray(1537) };
}

const EXTRA = Buffer.from('030000000000c614000000000200', 'hex'); // the start of librtmp's connect

// ---------------------------------------------------------------------------------------------

describe('ServerHandshake: plain form (Adobe RTMP spec §5.2)', () => {
  test('C1 without a digest: S0 = 3, S1 = time + zero version + random, S2 echoes C1', () => {
    const c1 = makeClientC1({ digest: false, randomBytes: seeded(1), time: 1234 });
    const out = run([clientBytes(c1, EXTRA)], { randomBytes: seeded(2), time: 77 });
    assert.ok(typeof out !== 'string');
    const { s0, s1, s2 } = parts(out.reply);
    assert.equal(s0, 3);
    assert.equal(s1.readUInt32BE(0), 77);
    assert.equal(s1.readUInt32BE(4), 0);
    assert.ok(s2.equals(c1));
    assert.equal(out.form, 'plain');
    assert.ok(out.done);
    assert.ok(out.rest.equals(EXTRA));
    assert.deepEqual(verifyServerHandshake(c1, s1, s2), { ok: true, form: 'plain' });
  });

  test('a C1 whose digest is wrong by one byte is answered plainly', () => {
    const c1 = makeClientC1({ digest: true, scheme: 0, randomBytes: seeded(3) });
    const off = digestOffset(c1, 0);
    c1[off + 5] = c1[off + 5]! ^ 1;
    const out = run([clientBytes(c1)]);
    assert.ok(typeof out !== 'string');
    assert.equal(out.form, 'plain');
    assert.ok(parts(out.reply).s2.equals(c1));
  });

  test('any 1536 bytes as C1 get a plain answer a client accepts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: HANDSHAKE_SIZE, maxLength: HANDSHAKE_SIZE }), (bytes) => {
        const c1 = Buffer.from(bytes);
        const out = run([clientBytes(c1)]);
        assert.ok(typeof out !== 'string');
        const { s1, s2 } = parts(out.reply);
        assert.equal(out.form, 'plain');
        assert.deepEqual(verifyServerHandshake(c1, s1, s2), { ok: true, form: 'plain' });
      }),
      { numRuns: 50 },
    );
  });
});

describe('ServerHandshake: digest form (Flash Player 9+, librtmp FP9 mode)', () => {
  test('digestOffset: scheme 0 sums bytes 8..11 (mod 728, + 12); scheme 1 sums 772..775 (mod 728, + 776)', () => {
    const sig = Buffer.alloc(HANDSHAKE_SIZE);
    sig.fill(0xff, 8, 12); // 1020 % 728 = 292
    sig.set([1, 2, 3, 4], 772); // 10
    assert.equal(digestOffset(sig, 0), 304);
    assert.equal(digestOffset(sig, 1), 786);
    sig.fill(0xff, 772, 776);
    assert.equal(digestOffset(sig, 1), 1068);
    sig.fill(0, 8, 12);
    assert.equal(digestOffset(sig, 0), 12);
  });

  for (const scheme of [0, 1] as const) {
    test(`scheme ${scheme}: S1 signed with the FMS key, S2 signed for C1's digest; a client verifies both`, () => {
      const c1 = makeClientC1({ digest: true, scheme, randomBytes: seeded(10 + scheme), time: 5 });
      assert.ok(signedAt(c1, scheme, FP_KEY_30), 'makeClientC1 signs with the Flash Player key (30 bytes)');
      const hs = new ServerHandshake({ randomBytes: seeded(20) });
      const step = hs.push(clientBytes(c1, EXTRA));
      assert.equal(hs.form, 'digest');
      assert.equal(hs.digestScheme, scheme);
      assert.equal(hs.clientVersion, 0x09007c02);
      assert.equal(hs.clientTime, 5);
      const { s0, s1, s2 } = parts(step.reply!);
      assert.equal(s0, 3);
      assert.equal(s1.readUInt32BE(0), 0);
      assert.equal(s1.readUInt32BE(4), DEFAULT_SERVER_VERSION);
      // Re-derived here from the keys, independently of the code under test:
      assert.ok(signedAt(s1, scheme, FMS_KEY_36), 'S1 digest, same scheme, FMS key (36 bytes)');
      const off = digestOffset(c1, scheme);
      const key = sha(FMS_KEY_68, c1.subarray(off, off + 32));
      assert.ok(sha(key, s2.subarray(0, 1504)).equals(s2.subarray(1504)), 'S2 = random + HMAC(HMAC(FMS key 68, C1 digest), S2[0..1504])');
      assert.deepEqual(verifyServerHandshake(c1, s1, s2), { ok: true, form: 'digest' });
      assert.ok(step.done);
      assert.ok(step.rest!.equals(EXTRA));
    });
  }

  test('verifyServerHandshake refuses a tampered S1 or S2, or a plain answer that does not echo', () => {
    const c1 = makeClientC1({ digest: true, scheme: 1, randomBytes: seeded(30) });
    const { s1, s2 } = parts(new ServerHandshake().push(clientBytes(c1)).reply!);
    const badS2 = Buffer.from(s2);
    badS2[100] = badS2[100]! ^ 1;
    assert.equal(verifyServerHandshake(c1, s1, badS2).ok, false);
    const badS1 = Buffer.from(s1);
    badS1[digestOffset(s1, 1)] = badS1[digestOffset(s1, 1)]! ^ 1;
    assert.equal(verifyServerHandshake(c1, badS1, s2).ok, false);
    const plain = makeClientC1({ digest: false, randomBytes: seeded(31) });
    assert.equal(verifyServerHandshake(plain, s1, s2).ok, false);
    assert.equal(verifyServerHandshake(c1, s1, s2.subarray(1)).ok, false);
  });

  test('digest: false answers a signed C1 plainly (S1 version 0: librtmp falls back), and a client accepts', () => {
    const c1 = makeClientC1({ digest: true, scheme: 0, randomBytes: seeded(40) });
    const out = run([clientBytes(c1)], { digest: false });
    assert.ok(typeof out !== 'string');
    const { s1, s2 } = parts(out.reply);
    assert.equal(out.form, 'plain');
    assert.equal(s1.readUInt32BE(4), 0);
    assert.deepEqual(verifyServerHandshake(c1, s1, s2), { ok: true, form: 'plain' });
  });

  test('makeClientC2: signed with HMAC(Flash Player key 62, S1 digest) in the digest form, an echo of S1 otherwise', () => {
    const c1 = makeClientC1({ digest: true, scheme: 1, randomBytes: seeded(50) });
    const { s1 } = parts(new ServerHandshake({ randomBytes: seeded(51) }).push(clientBytes(c1)).reply!);
    const c2 = makeClientC2(c1, s1, seeded(52));
    const off = digestOffset(s1, 1);
    assert.ok(sha(sha(FP_KEY_62, s1.subarray(off, off + 32)), c2.subarray(0, 1504)).equals(c2.subarray(1504)));
    const plainC1 = makeClientC1({ digest: false });
    const { s1: plainS1 } = parts(new ServerHandshake().push(clientBytes(plainC1)).reply!);
    assert.ok(makeClientC2(plainC1, plainS1).equals(plainS1));
    // And the server takes either C2 (it does not check C2).
    for (const [a, b] of [
      [c1, c2],
      [plainC1, makeClientC2(plainC1, plainS1)],
    ] as const) {
      const out = run([clientBytes(a, EXTRA, b)]);
      assert.ok(typeof out !== 'string' && out.done && out.rest.equals(EXTRA));
    }
  });
});

describe('ServerHandshake: framing', () => {
  for (const form of ['plain', 'digest-0', 'digest-1'] as const) {
    test(`${form}: the same reply, done and rest for C0+C1+C2 split at every 7th byte and at the edges`, () => {
      const c1 = makeClientC1(form === 'plain' ? { digest: false, randomBytes: seeded(60) } : { digest: true, scheme: form === 'digest-0' ? 0 : 1, randomBytes: seeded(60) });
      const input = clientBytes(c1, EXTRA);
      const whole = run([input], { randomBytes: seeded(61) });
      assert.ok(typeof whole !== 'string');
      assert.equal(whole.form, form === 'plain' ? 'plain' : 'digest');
      assert.ok(whole.rest.equals(EXTRA));
      for (const i of splitPositions(input.length)) {
        assert.deepEqual(run([input.subarray(0, i), input.subarray(i)], { randomBytes: seeded(61) }), whole, `split at ${i}`);
      }
      // Three pieces around the C1/C2 boundary too.
      for (const [i, j] of [
        [1, 1537],
        [700, 2000],
        [1537, 3073],
        [3072, 3074],
      ] as const) {
        assert.deepEqual(run([input.subarray(0, i), input.subarray(i, j), input.subarray(j)], { randomBytes: seeded(61) }), whole, `split at ${i}, ${j}`);
      }
    });
  }

  test('byte by byte: the reply comes with the last byte of C1, done with the last byte of C2', () => {
    const c1 = makeClientC1({ digest: true, scheme: 1, randomBytes: seeded(70) });
    const input = clientBytes(c1);
    const hs = new ServerHandshake();
    for (let i = 0; i < input.length; i++) {
      const step = hs.push(input.subarray(i, i + 1));
      assert.equal(step.reply !== undefined, i === 1536, `reply at byte ${i}`);
      assert.equal(step.done, i === CLIENT_HANDSHAKE_BYTES - 1, `done at byte ${i}`);
      assert.equal(step.rest, undefined);
    }
    assert.ok(hs.done);
  });

  test('C0+C1 first: reply, not done; then C2 and the first chunks: done, rest', () => {
    const c1 = makeClientC1({ digest: false });
    const hs = new ServerHandshake();
    const first = hs.push(Buffer.concat([Buffer.from([3]), c1]));
    assert.ok(first.reply && !first.done && !first.rest);
    const second = hs.push(Buffer.concat([Buffer.alloc(HANDSHAKE_SIZE), EXTRA]));
    assert.ok(!second.reply && second.done);
    assert.ok(second.rest!.equals(EXTRA));
  });

  test('pushing after done is a caller error, not a peer error', () => {
    const hs = new ServerHandshake();
    hs.push(clientBytes(makeClientC1({ digest: false })));
    assert.throws(
      () => hs.push(EXTRA),
      (e: unknown) => e instanceof Error && !(e instanceof RtmpError),
    );
  });

  test('the rest goes straight to the chunk decoder: librtmp-style connect after C2', () => {
    const connect = Buffer.from('030000000000051400000000' + '0200016100', 'hex'); // fmt 0, csid 3, type 20, 5 bytes
    const out = run([clientBytes(makeClientC1({ digest: true, scheme: 1 }), connect)]);
    assert.ok(typeof out !== 'string');
    const messages = new ChunkDecoder().push(out.rest);
    assert.deepEqual(
      messages.map((m) => [m.csid, m.typeId, m.streamId, m.payload.toString('hex')]),
      [[3, 20, 0, '0200016100']],
    );
  });
});

describe('ServerHandshake: C0 (§5.2.2)', () => {
  const cases: [number, RegExp][] = [
    [6, /RTMPE/],
    [8, /RTMPE type 8/],
    [9, /RTMPE type 9/],
    [0, /0x00: not RTMP/],
    [0x50, /0x50: not RTMP/], // 'P', an HTTP POST (RTMPT) sent to the RTMP port
    [0x16, /0x16: not RTMP/], // a TLS ClientHello (rtmps:// to the rtmp port)
    [4, /0x04/],
  ];
  for (const [c0, text] of cases) {
    test(`C0 = ${c0} is refused at once with bad-version`, () => {
      const hs = new ServerHandshake();
      assert.throws(
        () => hs.push(Buffer.from([c0])),
        (e: unknown) => e instanceof RtmpError && e.code === 'bad-version' && text.test(e.message),
      );
      // And again on a later push: the handshake stays failed.
      assert.throws(() => hs.push(Buffer.alloc(10)), (e: unknown) => e instanceof RtmpError && e.code === 'bad-version');
      assert.equal(run([clientBytes(makeClientC1({ digest: false })).fill(c0, 0, 1)]), 'error:bad-version');
    });
  }

  test('any C0 byte other than 3 is bad-version', () => {
    for (let c0 = 0; c0 < 256; c0++) {
      if (c0 === 3) continue;
      assert.equal(run([Buffer.from([c0, 1, 2, 3])]), 'error:bad-version', `C0 = ${c0}`);
    }
  });
});
