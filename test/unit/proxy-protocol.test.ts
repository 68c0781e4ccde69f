/**
 * The PROXY protocol parser (src/edge/proxy-protocol.ts) against HAProxy's specification
 * ("The PROXY protocol, versions 1 & 2"): the examples and limits of §2.1 and §2.2 as fixture
 * tables, each header split at every byte, fast-check properties (random bytes throw nothing but
 * ProxyProtocolError; generated headers round-trip), and the gate (src/edge/proxy-gate.ts) on
 * real sockets with the header arriving in two reads at every split point, plain and under TLS.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import * as fc from 'fast-check';
import pino from 'pino';
import { loadCommandLine } from '../../src/config/load.js';
import { RELOADABLE } from '../../src/config/reload.js';
import { ConfigError } from '../../src/errors.js';
import { guardConnections, readProxyHeader, type ProxyPolicy } from '../../src/edge/proxy-gate.js';
import {
  formatAddress,
  parseProxyHeader,
  proxySignature,
  ProxyProtocolError,
  V1_MAX_BYTES,
  V2_MAX_PAYLOAD_BYTES,
  type ProxyErrorCode,
  type ProxyHeader,
  type ProxyVersions,
} from '../../src/edge/proxy-protocol.js';
import { makeTestPki } from '../support/certs.js';
import { proxyV1, proxyV2, tlv, V2_SIG } from '../support/proxy-header.js';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const FF6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
/** §2.1's example: the line, then the HTTP request it precedes. */
const SPEC_EXAMPLE = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
const HTTP_AFTER = 'GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n';
const UNKNOWN_ANYTHING = 'PROXY UNKNOWN whatever\n\r goes\r\n';
const PORT_ZERO = 'PROXY TCP4 0.0.0.0 10.0.0.1 0 5222\r\n';
const TCP6_UPPER = 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 40000 443\r\n';
const TCP6_MAPPED = 'PROXY TCP6 ::ffff:10.0.0.7 ::ffff:10.0.0.1 1234 5222\r\n';

const proxied = (version: 1 | 2, family: 'IPv4' | 'IPv6', src: string, sport: number, dst: string, dport: number, length: number): ProxyHeader => ({
  version,
  command: 'proxy',
  family,
  source: { address: src, port: sport },
  destination: { address: dst, port: dport },
  length,
});

/** A complete header (possibly with bytes after it) → the header. */
const VALID: ReadonlyArray<readonly [string, Buffer, ProxyHeader]> = [
  ['§2.1 example before an HTTP request', latin1(SPEC_EXAMPLE + HTTP_AFTER), proxied(1, 'IPv4', '192.168.0.1', 56324, '192.168.0.11', 443, SPEC_EXAMPLE.length)],
  ['§2.1 longest TCP4 line (56 bytes)', latin1('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'), proxied(1, 'IPv4', '255.255.255.255', 65535, '255.255.255.255', 65535, 56)],
  ['§2.1 longest TCP6 line (104 bytes)', latin1(`PROXY TCP6 ${FF6} ${FF6} 65535 65535\r\n`), proxied(1, 'IPv6', FF6, 65535, FF6, 65535, 104)],
  ['§2.1 UNKNOWN, short form (15 bytes)', latin1('PROXY UNKNOWN\r\n'), { version: 1, command: 'unknown', length: 15 }],
  ['§2.1 UNKNOWN, worst case (107 bytes)', latin1(`PROXY UNKNOWN ${FF6} ${FF6} 65535 65535\r\n`), { version: 1, command: 'unknown', length: 107 }],
  ['v1 UNKNOWN with anything before the CRLF', latin1(`${UNKNOWN_ANYTHING}rest`), { version: 1, command: 'unknown', length: UNKNOWN_ANYTHING.length }],
  ['v1 port 0, address 0.0.0.0', latin1(PORT_ZERO), proxied(1, 'IPv4', '0.0.0.0', 0, '10.0.0.1', 5222, PORT_ZERO.length)],
  ['v1 TCP6, upper case and uncompressed, normalised', latin1(TCP6_UPPER), proxied(1, 'IPv6', '2001:db8::1', 40000, '::1', 443, TCP6_UPPER.length)],
  ['v1 TCP6, IPv4-mapped as inet_ntop writes it', latin1(TCP6_MAPPED), proxied(1, 'IPv6', '::ffff:10.0.0.7', 1234, '::ffff:10.0.0.1', 5222, TCP6_MAPPED.length)],
  ['v2 TCP over IPv4 (\\x21\\x11, 12 address bytes)', proxyV2({ address: '203.0.113.7', port: 51000 }, { address: '198.51.100.1', port: 5222 }), proxied(2, 'IPv4', '203.0.113.7', 51000, '198.51.100.1', 5222, 28)],
  ['v2 TCP over IPv6 (\\x21\\x21, 36 address bytes)', proxyV2({ address: '2001:db8::42', port: 443 }, { address: '2001:db8::1', port: 1935 }), proxied(2, 'IPv6', '2001:db8::42', 443, '2001:db8::1', 1935, 52)],
  ['v2 then the next protocol', Buffer.concat([proxyV2({ address: '10.0.0.2', port: 1 }, { address: '10.0.0.1', port: 2 }), Buffer.from([0x03, 0, 0])]), proxied(2, 'IPv4', '10.0.0.2', 1, '10.0.0.1', 2, 28)],
  ['v2 LOCAL, no addresses (a health check)', proxyV2(), { version: 2, command: 'local', length: 16 }],
  [
    'v2 LOCAL with an address block: skipped by its length, family ignored',
    proxyV2(undefined, undefined, { command: 0, familyByte: 0xff, addressBlock: Buffer.alloc(12, 7) }),
    { version: 2, command: 'local', length: 28 },
  ],
  [
    'v2 with TLVs (ALPN, authority, unique id, NOOP): skipped',
    proxyV2({ address: '192.0.2.9', port: 6000 }, { address: '192.0.2.1', port: 8080 }, {
      tlvs: Buffer.concat([tlv(0x01, latin1('http/1.1')), tlv(0x02, latin1('chat.example.org')), tlv(0x05, Buffer.alloc(128, 1)), tlv(0x04, Buffer.alloc(0))]),
    }),
    proxied(2, 'IPv4', '192.0.2.9', 6000, '192.0.2.1', 8080, 28 + 11 + 19 + 131 + 3),
  ],
  ['v2 PROXY with AF_UNSPEC: the real endpoints', proxyV2(undefined, undefined, { command: 1, familyByte: 0x00 }), { version: 2, command: 'unknown', length: 16 }],
  ['v2 PROXY, UDP over IPv4: the real endpoints', proxyV2(undefined, undefined, { command: 1, familyByte: 0x12, addressBlock: Buffer.alloc(12) }), { version: 2, command: 'unknown', length: 28 }],
  ['v2 PROXY, AF_INET with transport UNSPEC: the real endpoints', proxyV2(undefined, undefined, { command: 1, familyByte: 0x10, addressBlock: Buffer.alloc(12) }), { version: 2, command: 'unknown', length: 28 }],
  ['v2 PROXY, UNIX stream (216 address bytes): the real endpoints', proxyV2(undefined, undefined, { command: 1, familyByte: 0x31, addressBlock: Buffer.alloc(216) }), { version: 2, command: 'unknown', length: 232 }],
  [
    'v2 at the largest length taken',
    proxyV2({ address: '10.0.0.2', port: 1 }, { address: '10.0.0.1', port: 2 }, { tlvs: tlv(0x04, Buffer.alloc(V2_MAX_PAYLOAD_BYTES - 12 - 3)) }),
    proxied(2, 'IPv4', '10.0.0.2', 1, '10.0.0.1', 2, 16 + V2_MAX_PAYLOAD_BYTES),
  ],
];

const v2Fixed = (versionCommand: number, family: number, length: number): Buffer => {
  const fixed = Buffer.from([versionCommand, family, length >> 8, length & 0xff]);
  return Buffer.concat([V2_SIG, fixed]);
};

/** Input → the error code, once all of it has arrived. */
const INVALID: ReadonlyArray<readonly [string, Buffer, ProxyErrorCode]> = [
  ['an HTTP request', latin1(HTTP_AFTER), 'missing'],
  ['an XMPP stream header', latin1('<stream:stream to="example.org">'), 'missing'],
  ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]), 'missing'],
  ['RTMP C0', Buffer.from([0x03, 0x00]), 'missing'],
  ['"PROXY" in lower case', latin1('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'missing'],
  ['v1 unknown protocol', latin1('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), 'malformed'],
  ['v1 two spaces after PROXY', latin1('PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'malformed'],
  ['v1 nothing but PROXY and CRLF', latin1('PROXY \r\n'), 'malformed'],
  ['v1 leading zero in an IPv4 part', latin1('PROXY TCP4 192.168.0.01 1.2.3.4 1 2\r\n'), 'malformed'],
  ['v1 IPv4 part over 255', latin1('PROXY TCP4 256.1.1.1 1.2.3.4 1 2\r\n'), 'malformed'],
  ['v1 IPv4 with three parts', latin1('PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n'), 'malformed'],
  ['v1 port over 65535', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'malformed'],
  ['v1 port with a leading zero', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'), 'malformed'],
  ['v1 TCP4 with IPv6 addresses', latin1('PROXY TCP4 ::1 ::1 1 2\r\n'), 'malformed'],
  ['v1 TCP6 with IPv4 addresses', latin1('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n'), 'malformed'],
  ['v1 IPv6 with nine groups', latin1('PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'), 'malformed'],
  ['v1 IPv6 with two ::', latin1('PROXY TCP6 1::2::3 ::1 1 2\r\n'), 'malformed'],
  ['v1 IPv6 group of five digits', latin1('PROXY TCP6 12345:: ::1 1 2\r\n'), 'malformed'],
  ['v1 IPv6 with a zone', latin1('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), 'malformed'],
  ['v1 a lone LF ends nothing', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 'malformed'],
  ['v1 a lone CR ends nothing', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), 'malformed'],
  ['v1 a trailing space', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'), 'malformed'],
  ['v1 three fields', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'malformed'],
  ['v1 a letter in a TCP4 line', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1x'), 'malformed'],
  ['v1 UNKNOWN glued to more', latin1('PROXY UNKNOWNX\r\n'), 'malformed'],
  ['v1 UNKNOWN without CRLF in 107 bytes', latin1(`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`), 'too-long'],
  ['v1 TCP6 without CRLF in 107 bytes', latin1(`PROXY TCP6 ${'1111:'.repeat(30)}`), 'too-long'],
  ['v1 a 108-byte line', latin1(`PROXY UNKNOWN ${FF6} ${FF6} 65535 655350\r\n`), 'too-long'],
  ['v2 version 1 in the version nibble', v2Fixed(0x11, 0x11, 12), 'malformed'],
  ['v2 version 3', v2Fixed(0x31, 0x11, 12), 'malformed'],
  ['v2 unassigned command 2', v2Fixed(0x22, 0x11, 12), 'malformed'],
  ['v2 unspecified family 4', v2Fixed(0x21, 0x41, 12), 'malformed'],
  ['v2 unspecified transport 3', v2Fixed(0x21, 0x13, 12), 'malformed'],
  ['v2 AF_INET with 11 address bytes', Buffer.concat([v2Fixed(0x21, 0x11, 11), Buffer.alloc(11)]), 'malformed'],
  ['v2 AF_INET6 with 12 address bytes', Buffer.concat([v2Fixed(0x21, 0x21, 12), Buffer.alloc(12)]), 'malformed'],
  ['v2 AF_UNIX with 36 address bytes', Buffer.concat([v2Fixed(0x21, 0x31, 36), Buffer.alloc(36)]), 'malformed'],
  ['v2 length 65535', v2Fixed(0x21, 0x11, 0xffff), 'too-long'],
  ['v2 one byte over the largest length', v2Fixed(0x21, 0x11, V2_MAX_PAYLOAD_BYTES + 1), 'too-long'],
  ['v2 signature with a wrong byte', Buffer.concat([V2_SIG.subarray(0, 11), Buffer.from([0x0b, 0x21, 0x11, 0, 12])]), 'missing'],
];

function codeOf(run: () => unknown): ProxyErrorCode | 'none' {
  try {
    run();
    return 'none';
  } catch (error) {
    if (!(error instanceof ProxyProtocolError)) throw error;
    return error.code;
  }
}

for (const [name, input, expected] of VALID) {
  test(`PROXY header: ${name}`, () => {
    assert.deepEqual(parseProxyHeader(input), { kind: 'header', header: expected });
    // The version it is in is always accepted on its own.
    assert.deepEqual(parseProxyHeader(input, expected.version === 1 ? 'v1' : 'v2'), { kind: 'header', header: expected });
    assert.equal(codeOf(() => parseProxyHeader(input, expected.version === 1 ? 'v2' : 'v1')), 'wrong-version');
  });

  test(`PROXY header: ${name}, every prefix waits for more and the bytes after it are left alone`, () => {
    for (let cut = 0; cut < expected.length; cut++) {
      assert.deepEqual(parseProxyHeader(input.subarray(0, cut)), { kind: 'need-more' }, `prefix of ${cut} bytes`);
    }
    // Whatever follows (here: one byte at a time up to 64 more) does not change the header.
    const more = Buffer.concat([input.subarray(0, expected.length), Buffer.from('<stream:stream>\0\x03PROXY \r\n')]);
    for (let cut = expected.length; cut <= more.length; cut++) {
      assert.deepEqual(parseProxyHeader(more.subarray(0, cut)), { kind: 'header', header: expected }, `with ${cut - expected.length} bytes after`);
    }
  });
}

for (const [name, input, code] of INVALID) {
  test(`PROXY header refused: ${name} → ${code}`, () => {
    assert.equal(codeOf(() => parseProxyHeader(input)), code);
  });

  test(`PROXY header refused: ${name}, no prefix ever gives a header`, () => {
    for (let cut = 0; cut < input.length; cut++) {
      const got = codeOf(() => {
        const result = parseProxyHeader(input.subarray(0, cut));
        assert.equal(result.kind, 'need-more', `prefix of ${cut} bytes`);
      });
      assert.ok(got === 'none' || got === code, `prefix of ${cut} bytes: ${got}, the whole input: ${code}`);
    }
  });
}

test('PROXY header: strict limits are decided early (v1 at 107 bytes, v2 from its length field)', () => {
  assert.equal(codeOf(() => parseProxyHeader(latin1(`PROXY UNKNOWN ${'y'.repeat(V1_MAX_BYTES - 14)}`))), 'too-long');
  assert.deepEqual(parseProxyHeader(latin1(`PROXY UNKNOWN ${'y'.repeat(V1_MAX_BYTES - 15)}`)), { kind: 'need-more' });
  // 16 bytes are enough to refuse a v2 header that claims too much: nothing more is buffered.
  assert.equal(codeOf(() => parseProxyHeader(v2Fixed(0x21, 0x11, 0x1000))), 'too-long');
});

test('PROXY header: versions — v1 only, v2 only, either', () => {
  const v1 = latin1(SPEC_EXAMPLE);
  const v2 = proxyV2({ address: '10.0.0.2', port: 1 }, { address: '10.0.0.1', port: 2 });
  const modes: [ProxyVersions, boolean, boolean][] = [['v1', true, false], ['v2', false, true], ['any', true, true]];
  for (const [mode, takesV1, takesV2] of modes) {
    assert.equal(codeOf(() => parseProxyHeader(v1, mode)), takesV1 ? 'none' : 'wrong-version', mode);
    assert.equal(codeOf(() => parseProxyHeader(v2, mode)), takesV2 ? 'none' : 'wrong-version', mode);
  }
  // Refused as soon as the signature shows, not after the whole header.
  assert.equal(codeOf(() => parseProxyHeader(latin1('PROXY '), 'v2')), 'wrong-version');
  assert.equal(codeOf(() => parseProxyHeader(V2_SIG, 'v1')), 'wrong-version');
});

test('PROXY signature (for peers that may not send one): yes, no, or maybe while too short', () => {
  const cases: [Buffer, 'yes' | 'no' | 'maybe'][] = [
    [latin1('PROXY '), 'yes'],
    [latin1('PROXY TCP4'), 'yes'],
    [V2_SIG, 'yes'],
    [latin1('PROX'), 'maybe'],
    [V2_SIG.subarray(0, 5), 'maybe'],
    [Buffer.alloc(0), 'maybe'],
    [latin1('POST /open/1'), 'no'],
    [latin1('PUT'), 'no'],
    [latin1('GET '), 'no'],
    [latin1('<stream'), 'no'],
    [latin1('\r\n<stream'), 'no'],
    [Buffer.from([0x16, 0x03]), 'no'],
    [Buffer.from([0x03]), 'no'],
  ];
  for (const [input, expected] of cases) assert.equal(proxySignature(input), expected, JSON.stringify(input.toString('latin1')));
});

test('settings: off by default; a version needs the balancers’ addresses; both reload', () => {
  const base = ['--upstream', '127.0.0.1:5222', '--domain', 'example.org'];
  const plain = loadCommandLine(base).settings;
  assert.equal(plain.proxyProtocol, 'off');
  assert.deepEqual(plain.proxyProtocolFrom, []);
  const on = loadCommandLine([...base, '--proxy-protocol', 'v2', '--proxy-protocol-from', '10.0.0.5', '--proxy-protocol-from', 'fd00::/8']).settings;
  assert.equal(on.proxyProtocol, 'v2');
  assert.deepEqual(on.proxyProtocolFrom, ['10.0.0.5', 'fd00::/8']);
  const refused: [string[], RegExp][] = [
    [['--proxy-protocol', 'v2'], /--proxy-protocol needs --proxy-protocol-from/],
    [['--proxy-protocol', 'yes', '--proxy-protocol-from', '10.0.0.5'], /--proxy-protocol \(proxyProtocol\): expected one of off, v1, v2, any/],
    [['--proxy-protocol', 'any', '--proxy-protocol-from', 'balancer.example'], /--proxy-protocol-from: "balancer.example" is not an address or a CIDR range/],
  ];
  for (const [args, message] of refused) {
    assert.throws(() => loadCommandLine([...base, ...args]), (e: unknown) => e instanceof ConfigError && message.test(e.message), args.join(' '));
  }
  assert.ok(RELOADABLE.has('proxyProtocol') && RELOADABLE.has('proxyProtocolFrom'));
});

// ---- properties ----

const versionsArb = fc.constantFrom<ProxyVersions>('v1', 'v2', 'any');

function onlyTypedErrors(data: Uint8Array, versions: ProxyVersions): void {
  try {
    const result = parseProxyHeader(data, versions);
    if (result.kind === 'header') {
      assert.ok(result.header.length > 0 && result.header.length <= data.length);
      assert.ok(result.header.length <= Math.max(V1_MAX_BYTES, 16 + V2_MAX_PAYLOAD_BYTES));
    }
  } catch (error) {
    if (!(error instanceof ProxyProtocolError)) throw error;
    assert.ok(['missing', 'wrong-version', 'malformed', 'too-long'].includes(error.code));
  }
}

test('property: random bytes throw nothing but ProxyProtocolError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), versionsArb, (data, versions) => onlyTypedErrors(data, versions)), { numRuns: 3000 });
});

test('property: random bytes after either signature throw nothing but ProxyProtocolError', () => {
  const v1Tail = fc.array(fc.constantFrom(...'PROXY TCP46UNKNOWN0123456789abcdefABCDEF.: \r\n\0x'.split('')), { maxLength: 130 }).map((cs) => cs.join(''));
  fc.assert(
    fc.property(fc.oneof(v1Tail.map((t) => latin1(`PROXY ${t}`)), fc.uint8Array({ maxLength: 300 }).map((t) => Buffer.concat([V2_SIG, t]))), versionsArb, (data, versions) =>
      onlyTypedErrors(data, versions),
    ),
    { numRuns: 5000 },
  );
});

/** Node's own notation for an address, as socket.remoteAddress has it. */
const nodeForm = (address: string): string => new net.SocketAddress({ address, family: net.isIPv6(address) ? 'ipv6' : 'ipv4' }).address;

const portArb = fc.integer({ min: 0, max: 65535 });

test('property: v1 headers round-trip (any IPv4 or IPv6 text form, normalised as Node writes it)', () => {
  const pair = fc.oneof(fc.tuple(fc.ipV4(), fc.ipV4()), fc.tuple(fc.ipV6(), fc.ipV6()));
  fc.assert(
    fc.property(pair, portArb, portArb, fc.uint8Array({ maxLength: 20 }), ([src, dst], sport, dport, after) => {
      const header = proxyV1({ address: src, port: sport }, { address: dst, port: dport });
      const input = Buffer.concat([header, after]);
      if (header.length > V1_MAX_BYTES) {
        // Long IPv6 spellings (a dotted tail) can pass the 107 bytes the receiver must take.
        assert.equal(codeOf(() => parseProxyHeader(input)), 'too-long');
        return;
      }
      assert.deepEqual(parseProxyHeader(input, 'v1'), {
        kind: 'header',
        header: proxied(1, net.isIPv6(src) ? 'IPv6' : 'IPv4', nodeForm(src), sport, nodeForm(dst), dport, header.length),
      });
      for (let cut = 0; cut < header.length; cut++) assert.deepEqual(parseProxyHeader(input.subarray(0, cut)), { kind: 'need-more' });
    }),
    { numRuns: 1000 },
  );
});

const tlvsArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 5 }).map((list) => Buffer.concat(list.map(([type, value]) => tlv(type, Buffer.from(value)))));

test('property: v2 headers round-trip, TLVs skipped', () => {
  const pair = fc.oneof(fc.tuple(fc.ipV4(), fc.ipV4()), fc.tuple(fc.ipV6(), fc.ipV6()));
  fc.assert(
    fc.property(pair, portArb, portArb, tlvsArb, fc.uint8Array({ maxLength: 20 }), ([src, dst], sport, dport, tlvs, after) => {
      const header = proxyV2({ address: src, port: sport }, { address: dst, port: dport }, { tlvs });
      const input = Buffer.concat([header, after]);
      assert.deepEqual(parseProxyHeader(input, 'v2'), {
        kind: 'header',
        header: proxied(2, net.isIPv6(src) ? 'IPv6' : 'IPv4', nodeForm(src), sport, nodeForm(dst), dport, header.length),
      });
      for (let cut = 0; cut < header.length; cut++) assert.deepEqual(parseProxyHeader(input.subarray(0, cut)), { kind: 'need-more' });
    }),
    { numRuns: 1000 },
  );
});

test('property: addresses are written as Node writes them (libuv inet_ntop), zero runs and IPv4 tails included', () => {
  // Words biased to zero, so compressions, ties and the ::ffff: and :: IPv4 forms all come up.
  const word = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(
    fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (words) => {
      const bytes = Buffer.alloc(16);
      words.forEach((w, i) => bytes.writeUInt16BE(w, 2 * i));
      const full = words.map((w) => w.toString(16)).join(':');
      assert.equal(formatAddress(bytes), new net.SocketAddress({ address: full, family: 'ipv6' }).address);
    }),
    { numRuns: 3000 },
  );
  fc.assert(fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => assert.equal(formatAddress(bytes), [...bytes].join('.'))));
});

// ---- the gate on real sockets ----

const quiet = pino({ level: 'silent' });
const TRUST_ALL: ProxyPolicy = { versions: 'any', trusted: () => true, timeoutMs: 2000 };

interface Arrival {
  remote: string;
  local: string;
  bytes: Buffer;
}

/** A plain server behind the gate; each arrival reports the addresses it sees and the bytes it reads. */
async function gatedServer(policy: ProxyPolicy | undefined): Promise<{ port: number; next: () => Promise<Arrival>; close: () => Promise<void> }> {
  const waiting: ((a: Arrival) => void)[] = [];
  const server = net.createServer((socket) => {
    // What a client behind the gate reads first: proof it got through.
    socket.write('OK');
    let bytes = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => (bytes = Buffer.concat([bytes, d])));
    socket.on('end', () => {
      waiting.shift()?.({ remote: `${socket.remoteAddress}:${socket.remotePort}`, local: `${socket.localAddress}:${socket.localPort}`, bytes });
      socket.end();
    });
  });
  guardConnections(server, () => policy, quiet);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    // A connection the gate wrongly refused must fail the test, not hang it.
    next: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no connection got through the gate within 3 s')), 3000);
        waiting.push((arrival) => {
          clearTimeout(timer);
          resolve(arrival);
        });
      }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Writes `parts` as separate TCP segments (a pause between them), then half-closes; resolves with what it read once closed. */
function sendInParts(port: number, parts: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', async () => {
      socket.setNoDelay(true);
      for (const part of parts) {
        if (socket.destroyed) break;
        if (part.length > 0) socket.write(part);
        await new Promise((r) => setTimeout(r, 4));
      }
      if (!socket.destroyed) socket.end();
    });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.setTimeout(5000, () => reject(new Error('no close')));
  });
}

test('gate: the header arrives in two reads at every split point; the socket reports the client, the protocol gets every byte after', { timeout: 60_000 }, async () => {
  const server = await gatedServer(TRUST_ALL);
  try {
    for (const header of [latin1(SPEC_EXAMPLE), proxyV2({ address: '2001:db8::9', port: 4444 }, { address: '2001:db8::1', port: 5222 }, { tlvs: tlv(0x05, latin1('id-1')) })]) {
      const payload = latin1('<stream:stream to="example.org">\0');
      const wire = Buffer.concat([header, payload]);
      const expectRemote = header[0] === 0x50 ? '192.168.0.1:56324' : '2001:db8::9:4444';
      for (let cut = 1; cut < wire.length; cut++) {
        const arrival = server.next();
        await sendInParts(server.port, [wire.subarray(0, cut), wire.subarray(cut)]);
        const got = await arrival;
        assert.equal(got.remote, expectRemote, `split at ${cut}`);
        assert.equal(got.local, header[0] === 0x50 ? '192.168.0.11:443' : '2001:db8::1:5222');
        assert.deepEqual(got.bytes, payload, `split at ${cut}`);
      }
    }
  } finally {
    await server.close();
  }
});

test('gate: LOCAL and UNKNOWN keep the real peer; a missing, bad or late header closes only that connection', { timeout: 60_000 }, async () => {
  const server = await gatedServer({ ...TRUST_ALL, timeoutMs: 300 });
  try {
    for (const header of [proxyV2(), latin1('PROXY UNKNOWN\r\n')]) {
      const arrival = server.next();
      await sendInParts(server.port, [header, latin1('hello')]);
      const got = await arrival;
      assert.match(got.remote, /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(got.bytes, latin1('hello'));
    }
    const survivor = server.next();
    let survived: Arrival | undefined;
    void survivor.then((a) => (survived = a));
    for (const bad of [latin1('hello'), latin1('PROXY TCP4 1.2.3.4\n'), v2Fixed(0x21, 0x11, 0xffff), latin1('PROXY TCP4 ')]) {
      assert.equal(await sendInParts(server.port, [bad]), '', JSON.stringify(bad.toString('latin1')));
    }
    // A balancer that goes quiet mid-header is cut off after the timeout.
    const started = Date.now();
    const silent = await new Promise<string>((resolve) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.write('PROXY TCP4 '));
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      socket.on('close', () => resolve(answer));
    });
    assert.equal(silent, '');
    assert.ok(Date.now() - started >= 250, `closed after ${Date.now() - started} ms`);
    assert.equal(survived, undefined, 'no refused connection reached the protocol');
    // The server still serves.
    await sendInParts(server.port, [latin1(SPEC_EXAMPLE), latin1('ok')]);
    assert.deepEqual((await survivor).bytes, latin1('ok'));
  } finally {
    await server.close();
  }
});

test('gate: an untrusted peer passes untouched, but not with a PROXY header; off means no gate at all', { timeout: 60_000 }, async () => {
  const server = await gatedServer({ ...TRUST_ALL, trusted: () => false });
  try {
    const arrival = server.next();
    await sendInParts(server.port, [latin1('PR'), latin1('OXIMITY')]);
    const got = await arrival;
    assert.match(got.remote, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(got.bytes, latin1('PROXIMITY'));
    assert.equal(await sendInParts(server.port, [latin1('PROX'), latin1('Y TCP4 1.2.3.4 5.6.7.8 1 2\r\n')]), '');
    assert.equal(await sendInParts(server.port, [V2_SIG]), '');
  } finally {
    await server.close();
  }
  const open = await gatedServer(undefined);
  try {
    const arrival = open.next();
    await sendInParts(open.port, [latin1(SPEC_EXAMPLE)]);
    const got = await arrival;
    assert.match(got.remote, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(got.bytes, latin1(SPEC_EXAMPLE), 'with the protocol off the header is just bytes');
  } finally {
    await open.close();
  }
});

test('gate: readProxyHeader leaves the bytes after the header for the next reader', { timeout: 60_000 }, async () => {
  const server = net.createServer((socket) => {
    readProxyHeader(socket, TRUST_ALL, quiet, () => {
      let bytes = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => (bytes = Buffer.concat([bytes, d])));
      socket.on('end', () => socket.end(`${socket.remoteAddress} ${bytes.toString('latin1')}`));
      socket.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => socket.end(Buffer.concat([proxyV2({ address: '10.9.8.7', port: 1 }, { address: '10.0.0.1', port: 2 }), latin1('after')])));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('close', () => resolve(text));
    });
    assert.equal(answer, '10.9.8.7 after');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('gate on a TLS server: the header before the handshake, split at every byte; the TLS socket reports the client', { timeout: 60_000 }, async () => {
  const pki = await makeTestPki(await mkdtemp(join(tmpdir(), 'fxg-proxy-')), ['localhost']);
  const [cert, key] = await Promise.all([readFile(pki.cert), readFile(pki.key)]);
  const seen: string[] = [];
  const server = tls.createServer({ cert, key }, (secure) => {
    seen.push(`${secure.remoteAddress}:${secure.remotePort}`);
    secure.end('hello over TLS');
  });
  guardConnections(server, () => TRUST_ALL, quiet);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const header = proxyV2({ address: '198.51.100.77', port: 31337 }, { address: '198.51.100.1', port: 443 });
    // Every split of the header, the second part sent together with the ClientHello.
    for (let cut = 0; cut <= header.length; cut++) {
      const text = await new Promise<string>((resolve, reject) => {
        const raw = net.connect(port, '127.0.0.1', async () => {
          raw.setNoDelay(true);
          if (cut > 0) {
            raw.write(header.subarray(0, cut));
            await new Promise((r) => setTimeout(r, 4));
          }
          raw.cork();
          raw.write(header.subarray(cut));
          const secure = tls.connect({ socket: raw, ca: readFileSync(pki.caCert), servername: 'localhost' });
          process.nextTick(() => raw.uncork());
          let got = '';
          secure.on('data', (d: Buffer) => (got += d.toString('latin1')));
          secure.on('end', () => resolve(got));
          secure.on('error', reject);
        });
        raw.on('error', reject);
      });
      assert.equal(text, 'hello over TLS', `split at ${cut}`);
    }
    assert.equal(seen.length, header.length + 1);
    assert.ok(seen.every((s) => s === '198.51.100.77:31337'), seen.join(' '));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
