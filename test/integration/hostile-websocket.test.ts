/**
 * Hostile input on the WebSocket transport (Ruffle's socketProxy, /xmlsocket on the HTTP port
 * and on the main Flash port): frames written by hand on raw TCP sockets — unmasked, reserved
 * opcodes and bits, lying 64-bit lengths, frames over maxPayload, text instead of binary,
 * fragmented control frames, bad close frames — bad upgrade requests, hostile XMPP inside
 * well-formed frames, slow-drip and idle WebSockets, and a flood from one address. Each case
 * checks (a)–(d) of test/support/hostile.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  FLOOD_ADDRESS,
  LIMITS,
  OTHER_ADDRESS,
  RawConn,
  RawWebSocket,
  expectWsStreamError,
  flashHeader,
  hostileTest,
  rawSaslLogin,
  startHostileEnv,
  streamErrorIn,
  wsBinary,
  wsFrame,
  wsStream,
  xiffHeader,
  type HostileContext,
  type HostileEnv,
  assertTimedOut,
} from '../support/hostile.js';

const USERS: [string, string][] = [
  ['carol', 'carol-secret'],
  ['dan', 'dan-secret'],
];

let env: HostileEnv;
const hostile = (name: string, body: (ctx: HostileContext) => Promise<void>): void => hostileTest(() => env, name, body);

/** ws's maxPayload on this gateway: one stanza plus 64 KiB (src/main.ts). */
const MAX_PAYLOAD = LIMITS.maxStanzaBytes + 65536;
/** A stanza carrying the case's marker: had the frame been taken, it would reach the server. */
const stanza = (marker: string): string => `<message id="${marker}" to="dan@localhost"><body>frame</body></message>`;

interface FrameCase {
  readonly name: string;
  /** Which port the WebSocket is opened on. */
  readonly port: 'http' | 'flash';
  /** The offending frames (after a valid header in a binary frame and its features). */
  readonly frames: (marker: string) => Buffer[];
  readonly closeCode: number;
}

const FRAME_CASES: readonly FrameCase[] = [
  { name: 'an unmasked client frame (RFC 6455 §5.1)', port: 'http', frames: (m) => [wsFrame({ opcode: 0x2, payload: stanza(m), mask: false })], closeCode: 1002 },
  { name: 'a reserved data opcode (0x3)', port: 'http', frames: (m) => [wsFrame({ opcode: 0x3, payload: stanza(m) })], closeCode: 1002 },
  { name: 'a reserved control opcode (0xB)', port: 'http', frames: (m) => [wsFrame({ opcode: 0xb, payload: m })], closeCode: 1002 },
  { name: 'RSV1 set with no extension negotiated', port: 'http', frames: (m) => [wsFrame({ opcode: 0x2, payload: stanza(m), rsv: 0b100 })], closeCode: 1002 },
  { name: 'RSV2 and RSV3 set', port: 'http', frames: (m) => [wsFrame({ opcode: 0x2, payload: stanza(m), rsv: 0b011 })], closeCode: 1002 },
  { name: 'a 64-bit length of 2^62', port: 'http', frames: () => [wsFrame({ opcode: 0x2, length: 1n << 62n })], closeCode: 1009 },
  { name: 'a 64-bit length with the top bit set (2^63)', port: 'http', frames: () => [wsFrame({ opcode: 0x2, length: 1n << 63n })], closeCode: 1009 },
  { name: 'a 64-bit length just over maxPayload, with no payload behind it', port: 'http', frames: () => [wsFrame({ opcode: 0x2, length: BigInt(MAX_PAYLOAD + 1), long: true })], closeCode: 1009 },
  { name: 'a binary frame over maxPayload', port: 'http', frames: (m) => [wsFrame({ opcode: 0x2, payload: `<message id="${m}"><body>${'x'.repeat(MAX_PAYLOAD)}</body></message>` })], closeCode: 1009 },
  {
    name: 'a fragmented message growing past maxPayload',
    port: 'http',
    frames: (m) => [
      wsFrame({ opcode: 0x2, fin: false, payload: `<message id="${m}"><body>` }),
      ...Array.from({ length: 20 }, () => wsFrame({ opcode: 0x0, fin: false, payload: 'y'.repeat(4000) })),
    ],
    closeCode: 1009,
  },
  { name: 'a text frame instead of binary', port: 'http', frames: (m) => [wsFrame({ opcode: 0x1, payload: stanza(m) })], closeCode: 1003 },
  { name: 'a fragmented control frame (ping without FIN)', port: 'http', frames: (m) => [wsFrame({ opcode: 0x9, fin: false, payload: m })], closeCode: 1002 },
  { name: 'a control frame with a payload over 125 bytes', port: 'http', frames: (m) => [wsFrame({ opcode: 0x9, payload: m.padEnd(200, '.') })], closeCode: 1002 },
  { name: 'a continuation frame with no message to continue', port: 'http', frames: (m) => [wsFrame({ opcode: 0x0, payload: stanza(m) })], closeCode: 1002 },
  {
    name: 'a new data frame in the middle of a fragmented message',
    port: 'http',
    frames: (m) => [wsFrame({ opcode: 0x2, fin: false, payload: `<message id="${m}">` }), wsFrame({ opcode: 0x2, payload: '</message>' })],
    closeCode: 1002,
  },
  { name: 'a close frame with a reserved code (1005)', port: 'http', frames: () => [wsFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xed]) })], closeCode: 1002 },
  { name: 'a close frame with a one-byte payload', port: 'http', frames: () => [wsFrame({ opcode: 0x8, payload: Buffer.from([0x03]) })], closeCode: 1002 },
  { name: 'a close frame whose reason is not UTF-8', port: 'http', frames: () => [wsFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8, 0xc0, 0xaf]) })], closeCode: 1007 },
  { name: 'main port (sniffed GET): an unmasked client frame', port: 'flash', frames: (m) => [wsFrame({ opcode: 0x2, payload: stanza(m), mask: false })], closeCode: 1002 },
  { name: 'main port (sniffed GET): a 64-bit length of 2^62', port: 'flash', frames: () => [wsFrame({ opcode: 0x2, length: 1n << 62n })], closeCode: 1009 },
  { name: 'main port (sniffed GET): a reserved opcode', port: 'flash', frames: (m) => [wsFrame({ opcode: 0x7, payload: stanza(m) })], closeCode: 1002 },
];

interface StreamCase {
  readonly name: string;
  /** What goes in binary frames after the upgrade, each string one frame. */
  readonly frames: (marker: string, domain: string) => (string | Buffer)[];
  readonly condition: string;
  readonly text?: RegExp;
}

const STREAM_CASES: readonly StreamCase[] = [
  { name: 'binary frames: malformed XML', frames: (m, d) => [xiffHeader(d), `<message id="${m}"><body>x</message>`], condition: 'not-well-formed' },
  {
    name: 'binary frames: billion laughs before the header',
    frames: (_m, d) => [`<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>${xiffHeader(d).replace(/^<\?xml[^>]*\?>/, '')}`],
    condition: 'restricted-xml',
    text: /DTD/,
  },
  {
    name: 'binary frames: a stanza over --max-stanza-bytes spread over many small frames',
    frames: (m, d) => [xiffHeader(d), `<message id="${m}"><body>`, ...Array.from({ length: 6 }, () => 'z'.repeat(1000))],
    condition: 'policy-violation',
    text: /4096/,
  },
  {
    name: 'binary frames: a UTF-8 sequence made invalid across two frames',
    frames: (m, d) => [xiffHeader(d), Buffer.concat([Buffer.from(`<message id="${m}"><body>`), Buffer.from([0xe2, 0x82])]), Buffer.from([0x41, ...Buffer.from('</body></message>')])],
    condition: 'not-well-formed',
    text: /UTF-8/,
  },
  { name: 'binary frames (NUL mode): a NUL inside an element', frames: (m, d) => [flashHeader(d), `<message id="${m}"><bo\0dy/></message>\0`], condition: 'not-well-formed', text: /NUL byte inside an element/ },
  { name: 'binary frames: an unbound prefix', frames: (m, d) => [xiffHeader(d), `<message id="${m}"><evil:x/></message>`], condition: 'bad-namespace-prefix' },
  { name: 'binary frames: more attributes than --max-attributes', frames: (m, d) => [xiffHeader(d), `<message id="${m}" ${Array.from({ length: 20 }, (_, i) => `a${i}="1"`).join(' ')}/>`], condition: 'policy-violation', text: /maxAttributes/ },
];

before(async () => {
  env = await startHostileEnv(USERS);
});
after(async () => env?.stop());

const portOf = (which: 'http' | 'flash'): number => (which === 'http' ? env.httpPort : env.flashPort);

describe('hostile WebSocket frames (raw TCP)', () => {
  for (const c of FRAME_CASES) {
    hostile(c.name, async ({ marker }) => {
      const ws = await RawWebSocket.open(portOf(c.port));
      ws.sendBinary(xiffHeader(env.domain));
      await ws.waitData((d) => d.includes('</stream:features>'), 5000, 'stream features');
      for (const frame of c.frames(marker)) ws.send(frame);
      await ws.expectClose(c.closeCode);
    });
  }
});

describe('hostile XMPP inside well-formed WebSocket frames', () => {
  for (const c of STREAM_CASES) {
    hostile(c.name, async ({ marker }) => {
      const ws = await RawWebSocket.open(env.httpPort);
      const frames = c.frames(marker, env.domain);
      for (const [i, frame] of frames.entries()) {
        ws.sendBinary(frame);
        // The header's features first, so the framing is decided and the rest is stream content.
        if (i === 0 && frames.length > 1) await ws.waitData((d) => d.includes('</stream:features>'), 5000, 'stream features');
      }
      await expectWsStreamError(ws, c.condition, c.text);
    });
  }

  hostile('a ping flood (a thousand in one write) is cut by ws (60 pongs pending at most); a few pings are answered', async () => {
    const flood = await RawWebSocket.open(env.httpPort);
    flood.send(Buffer.concat(Array.from({ length: 1000 }, (_, i) => wsFrame({ opcode: 0x9, payload: `p${i}` }))));
    await flood.conn.waitClosed(5000);
    const pongs = flood.frames().filter((f) => f.opcode === 0xa).length;
    assert.ok(pongs > 0 && pongs <= 60, `cut after at most 60 unsent pongs (${pongs})`);
    // Pings at a normal pace are answered, and the stream goes on.
    const ws = await RawWebSocket.open(env.httpPort);
    for (let i = 0; i < 5; i++) ws.send(wsFrame({ opcode: 0x9, payload: `ok${i}` }));
    await ws.conn.waitFor(() => ws.frames().filter((f) => f.opcode === 0xa).length === 5, 5000, '5 pongs');
    const jid = await rawSaslLogin(wsStream(ws), env.domain, 'carol', 'carol-secret', 'pings');
    assert.equal(jid, `carol@${env.domain}/pings`);
    ws.conn.destroy();
  });
});

describe('bad upgrade requests', () => {
  hostile('no Sec-WebSocket-Key: 400, closed, no session', async () => {
    const ws = await RawWebSocket.open(env.httpPort, { omit: ['Sec-WebSocket-Key'], expectUpgrade: false });
    assert.equal(ws.status, 400);
    await ws.conn.waitClosed(3000);
  });

  hostile('an unsupported Sec-WebSocket-Version: refused, closed', async () => {
    // ws serves versions 13 and 8 (hybi-08 frames are the same).
    const ws = await RawWebSocket.open(env.httpPort, { headers: { 'Sec-WebSocket-Version': '12' }, expectUpgrade: false });
    assert.ok(ws.status === 400 || ws.status === 426, `refused (status ${ws.status})`);
    assert.match(ws.response, /Sec-WebSocket-Version: 13/i, 'the answer names the version served');
    await ws.conn.waitClosed(3000);
  });

  hostile('an upgrade on another path: 404 and closed', async () => {
    const ws = await RawWebSocket.open(env.httpPort, { path: '/../xmlsocket', expectUpgrade: false });
    assert.equal(ws.status, 404);
    await ws.conn.waitClosed(3000);
  });

  hostile('garbage instead of an HTTP request on the HTTP port: 400 and closed', async () => {
    const ws = await RawWebSocket.open(env.httpPort, { request: 'GET /xmlsocket HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n', expectUpgrade: false });
    assert.equal(ws.status, 400);
    await ws.conn.waitClosed(3000);
  });

  hostile('slow drip: the upgrade request one byte every 5 ms still upgrades, and the client logs in', async () => {
    const ws = await RawWebSocket.open(env.httpPort, { dripMs: 5 });
    const jid = await rawSaslLogin(wsStream(ws), env.domain, 'carol', 'carol-secret', 'drip');
    assert.equal(jid, `carol@${env.domain}/drip`);
    ws.conn.destroy();
  });

  hostile('a WebSocket flood from one address: over --max-connections-per-ip told policy-violation and closed 1008, the others unaffected', async ({ recordMark }) => {
    const flood = await Promise.all(Array.from({ length: 6 }, () => RawWebSocket.open(env.httpPort, { localAddress: FLOOD_ADDRESS })));
    try {
      for (const ws of flood) ws.sendBinary(xiffHeader(env.domain));
      await Promise.all(flood.map((ws) => ws.waitData((d) => d.includes('</stream:features>') || d.includes('</stream:error>'), 5000, 'features or an error')));
      const refused = flood.filter((ws) => ws.data().includes('</stream:error>'));
      assert.equal(flood.length - refused.length, LIMITS.maxConnectionsPerIp, 'exactly the limit gets through');
      for (const ws of refused) {
        assert.equal(streamErrorIn(ws.data())?.condition, 'policy-violation');
        assert.match(streamErrorIn(ws.data())?.text ?? '', /too many connections/);
        await ws.expectClose(1008);
      }
      const admitted = flood.filter((ws) => !refused.includes(ws));
      await Promise.all(admitted.map((ws, i) => rawSaslLogin(wsStream(ws), env.domain, 'dan', 'dan-secret', `wsflood${i}`, { headerSent: true })));
      const other = await RawWebSocket.open(env.httpPort, { localAddress: OTHER_ADDRESS });
      await rawSaslLogin(wsStream(other), env.domain, 'carol', 'carol-secret', 'wsother');
      other.conn.destroy();
      assert.ok(env.gatewayLogsSince(recordMark).some((r) => /connection refused: too many connections/.test(String(r['msg']))), 'the refusal is logged');
    } finally {
      for (const ws of flood) ws.conn.destroy();
    }
  });
});

describe('idle WebSockets (small timeouts)', { concurrency: true }, () => {
  hostile('an upgraded WebSocket that sends nothing is cut at --auth-timeout with a stream error, then 1000', async () => {
    const ws = await RawWebSocket.open(env.httpPort);
    await expectWsStreamError(ws, 'policy-violation', /not authenticated within 2 s/, { timeoutMs: 5000 });
    const took = ws.conn.closedAt - ws.conn.openedAt;
    assertTimedOut(took, LIMITS.authTimeoutS, 'cut');
  });

  hostile('an idle logged-in WebSocket is cut at --idle-timeout with connection-timeout', async () => {
    const ws = await RawWebSocket.open(env.flashPort);
    await rawSaslLogin(wsStream(ws), env.domain, 'dan', 'dan-secret', 'wsidle');
    await expectWsStreamError(ws, 'connection-timeout', /no traffic for 2 s/, { timeoutMs: 5000 });
  });

  hostile('main port (sniffed GET): a request head that never ends is cut at --sniff-timeout', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write('GET /xmlsocket HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n');
    await conn.waitClosed(5000);
    assertTimedOut(conn.closedAt - conn.openedAt, LIMITS.sniffTimeoutS, 'cut', 400);
  });

  hostile('a WebSocket that dribbles one masked byte at a time is still cut at --auth-timeout', async () => {
    const ws = await RawWebSocket.open(env.httpPort);
    const header = Buffer.from(xiffHeader(env.domain));
    let i = 0;
    const timer = setInterval(() => {
      if (i < header.length && !ws.conn.closed) ws.send(wsBinary(header.subarray(i, ++i)));
    }, 15);
    try {
      await expectWsStreamError(ws, 'policy-violation', /not authenticated within 2 s/, { timeoutMs: 6000 });
    } finally {
      clearInterval(timer);
    }
  });
});
