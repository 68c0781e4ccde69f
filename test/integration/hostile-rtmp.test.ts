/**
 * Hostile input on the RTMP transports (the RTMP port, RTMP on the main Flash port, RTMPT on the
 * HTTP port), written byte by byte: handshake garbage, absurd chunk sizes, huge chunk stream ids
 * and counts, message lengths over the limit, AMF0/AMF3 with lying lengths, references to
 * nothing, reference loops and deep nesting in call arguments, XML injection through the call
 * API, RTMPT with unknown sessions, bad paths and oversized bodies, idle connections and a flood
 * from one address. Each case checks (a)–(d) of test/support/hostile.ts, plus an RTMP login.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { encodeAmf0Values } from '../../src/codec/amf/amf0.js';
import { connectNativeTo, type NativeClient } from '../support/native-client.js';
import {
  FLOOD_ADDRESS,
  FLOOD_ADDRESS_2,
  LIMITS,
  OTHER_ADDRESS,
  RawConn,
  RawRtmp,
  RTMP_HANDSHAKE_SIZE,
  hostileTest,
  httpRequest,
  rtmpChunk,
  rtmpProtocolError,
  setChunkSizeMessage,
  sleep,
  startHostileEnv,
  type HostileContext,
  type HostileEnv,
  assertTimedOut,
} from '../support/hostile.js';

const USERS: [string, string][] = [
  ['erin', 'erin-secret'],
  ['frank', 'frank-secret'],
];

let env: HostileEnv;
/** frank, straight to Prosody: must never receive what a refused call carried. */
let frank: NativeClient;
let rtmpLogins = 0;

/** The RTMP half of (d): a fresh RTMP client connects and logs in through the call API. */
async function assertRtmpHealthy(): Promise<void> {
  const rtmp = await RawRtmp.open(env.rtmpPort);
  try {
    await rtmp.connectApp();
    await rtmp.login('erin', 'erin-secret', env.domain, `rtmp-health-${++rtmpLogins}`);
  } finally {
    rtmp.conn.destroy();
  }
}

const hostile = (name: string, body: (ctx: HostileContext) => Promise<void>): void =>
  hostileTest(() => env, name, async (ctx) => {
    await body(ctx);
    await assertRtmpHealthy();
  });

// ---- AMF bytes by hand ----
const b = (...parts: (number[] | Buffer | string)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.isBuffer(p) ? p : Buffer.from(p))));
const key = (k: string): Buffer => b([k.length >> 8, k.length & 0xff], k);
const str0 = (s: string): Buffer => b([0x02, Buffer.byteLength(s) >> 8, Buffer.byteLength(s) & 0xff], s);
/** An AMF0 command body: name, transaction id, null command object, then the raw argument bytes. */
const cmd0 = (name: string, txid: number, ...args: Buffer[]): Buffer => b(encodeAmf0Values([name, txid, null]), ...args);
/** A type-17 (AMF3 command) body: the format byte 0, then AMF0 with the arguments switched to AMF3 (0x11). */
const cmd3 = (name: string, txid: number, ...amf3Args: Buffer[]): Buffer => b([0x00], encodeAmf0Values([name, txid, null]), ...amf3Args.map((a) => b([0x11], a)));

/** Connected (NetConnection connect done) and logged in as erin, unless `login` is false. */
async function connected(opts: { login?: boolean; port?: number } = {}): Promise<RawRtmp> {
  const rtmp = await RawRtmp.open(opts.port ?? env.rtmpPort);
  await rtmp.connectApp();
  if (opts.login ?? true) await rtmp.login('erin', 'erin-secret', env.domain, `hostile-${rtmpLogins++}`);
  return rtmp;
}

/** (b): frank got nothing marked with `marker`. */
async function frankGotNothing(marker: string): Promise<void> {
  await sleep(100);
  assert.deepEqual(frank.received.filter((s) => s.toString().includes(marker)).map(String), [], 'nothing reached frank');
}

before(async () => {
  env = await startHostileEnv(USERS, ['--rtmpt-session-timeout', '1']);
  frank = await connectNativeTo(env.prosody, 'frank', 'frank-secret', { resource: 'native' });
});
after(async () => {
  await frank?.stop();
  await env?.stop();
});

interface ChunkCase {
  readonly name: string;
  /** After the handshake (and the NetConnection connect when `connect`). */
  readonly bytes: () => Buffer;
  readonly code: string;
  readonly connect?: boolean;
  readonly port?: 'rtmp' | 'flash';
}

const CHUNK_CASES: readonly ChunkCase[] = [
  { name: 'Set Chunk Size 0', bytes: () => setChunkSizeMessage(0), code: 'chunk-size' },
  { name: 'Set Chunk Size 2^31 (only the high bit: masked to 0, §5.4.1)', bytes: () => setChunkSizeMessage(0x80000000), code: 'chunk-size' },
  { name: 'Set Chunk Size 0x7FFFFFFF (over the 16 MiB bound)', bytes: () => setChunkSizeMessage(0x7fffffff), code: 'chunk-size' },
  { name: 'Set Chunk Size 0 on the main Flash port', bytes: () => setChunkSizeMessage(0), code: 'chunk-size', port: 'flash' },
  { name: 'a truncated Set Chunk Size (2 bytes)', bytes: () => rtmpChunk({ csid: 2, typeId: 1, payload: Buffer.from([0, 1]) }), code: 'bad-message' },
  { name: 'a fmt 2 chunk on a chunk stream never seen', bytes: () => rtmpChunk({ fmt: 2, csid: 5, payload: Buffer.alloc(10) }), code: 'unknown-chunk-stream' },
  { name: 'a fmt 3 chunk on the largest chunk stream id (65599), never seen', bytes: () => rtmpChunk({ fmt: 3, csid: 65599, payload: Buffer.alloc(10) }), code: 'unknown-chunk-stream' },
  {
    name: 'more chunk streams than the limit (65 distinct ids, up to 65599)',
    bytes: () => Buffer.concat(Array.from({ length: 65 }, (_, i) => rtmpChunk({ csid: i < 60 ? 3 + i : 65599 - i, typeId: 8, payload: Buffer.from([0]) }))),
    code: 'too-many-chunk-streams',
  },
  { name: 'a message length of 0xFFFFFF (over the limit)', bytes: () => rtmpChunk({ csid: 3, length: 0xffffff, typeId: 20, payload: Buffer.alloc(128) }), code: 'message-too-large' },
  { name: 'a message length just over the limit, after connect', bytes: () => rtmpChunk({ csid: 3, length: LIMITS.maxStanzaBytes + 65536 + 1, typeId: 20, payload: Buffer.alloc(128) }), code: 'message-too-large', connect: true },
  {
    name: 'a new message header in the middle of a message',
    bytes: () => Buffer.concat([rtmpChunk({ csid: 3, length: 300, typeId: 20, payload: Buffer.alloc(128) }), rtmpChunk({ csid: 3, length: 10, typeId: 20, payload: Buffer.alloc(10) })]),
    code: 'interrupted-message',
  },
  {
    name: 'incomplete messages on 61 chunk streams holding more than 4 MiB',
    bytes: () => {
      const max = LIMITS.maxStanzaBytes + 65536;
      return Buffer.concat([setChunkSizeMessage(max - 1), ...Array.from({ length: 61 }, (_, i) => rtmpChunk({ csid: 3 + i, length: max, typeId: 8, payload: Buffer.alloc(max - 1) }))]);
    },
    code: 'buffer-limit',
  },
  { name: 'garbage instead of chunks (0xFF: fmt 3 on chunk stream 63)', bytes: () => Buffer.alloc(64, 0xff), code: 'unknown-chunk-stream' },
  { name: 'a command whose name is not a string', bytes: () => rtmpChunk({ csid: 3, typeId: 20, payload: encodeAmf0Values([42, 1, null]) }), code: 'bad-message' },
  { name: 'a type-17 command that does not start with the 0 format byte', bytes: () => rtmpChunk({ csid: 3, typeId: 17, payload: b([0x05], encodeAmf0Values(['connect', 1, null])) }), code: 'bad-message' },
];

describe('RTMP handshake and chunk stream garbage', () => {
  hostile('handshake: version byte 6 (RTMPE) is closed without an answer', async () => {
    const conn = await RawConn.open(env.rtmpPort);
    conn.write(b([6], Buffer.alloc(RTMP_HANDSHAKE_SIZE)));
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('handshake: version byte 0xFF is closed without an answer', async () => {
    const conn = await RawConn.open(env.rtmpPort);
    conn.write(b([0xff], Buffer.alloc(RTMP_HANDSHAKE_SIZE)));
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('handshake: version 3 on the main port, then RTMPE-style garbage instead of C1, then the client leaves', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(b([3], Buffer.alloc(100, 0x06)));
    conn.end();
    assert.equal((await conn.waitClosed(3000)).length, 0, 'no S0/S1/S2 for a short C1');
  });

  hostile('handshake: a garbage C2 is ignored (rtmp.md: no client checks it), and connect still works', async () => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.handshake({ c2: () => Buffer.alloc(RTMP_HANDSHAKE_SIZE, 0xa5) });
    rtmp.sendCommand('connect', 1, { app: 'xmpp', objectEncoding: 0 });
    assert.equal((await rtmp.reply(1)).name, '_result');
    rtmp.conn.destroy();
  });

  hostile('handshake: a garbage C2 followed by garbage chunks closes the connection', async ({ recordMark }) => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.handshake({ c2: () => Buffer.alloc(RTMP_HANDSHAKE_SIZE, 0x5a) });
    rtmp.send(Buffer.alloc(32, 0xc7));
    await rtmp.expectClosed();
    await rtmpProtocolError(env, recordMark, 'unknown-chunk-stream');
  });

  for (const c of CHUNK_CASES) {
    hostile(`chunks: ${c.name}`, async ({ recordMark }) => {
      const rtmp = await RawRtmp.open(c.port === 'flash' ? env.flashPort : env.rtmpPort);
      if (c.connect) await rtmp.connectApp();
      else await rtmp.handshake();
      rtmp.send(c.bytes());
      await rtmp.expectClosed(c.connect ? { reason: new RegExp(c.code) } : {});
      await rtmpProtocolError(env, recordMark, c.code);
    });
  }
});

interface AmfCase {
  readonly name: string;
  /** The message body and its type (20: AMF0 command, 17: AMF3 command). */
  readonly body: () => Buffer;
  readonly type?: 17 | 20;
  readonly code: string;
}

const AMF_CASES: readonly AmfCase[] = [
  { name: 'AMF0: a string whose length runs past the body', body: () => cmd0('xmpp', 5, str0('message'), b([0x03, 0x00, 0x02], 'to', [0x02, 0x03, 0xe8], 'abc')), code: 'truncated' },
  { name: 'AMF0: a long string (0x0C) of 0xFFFFFFFF bytes', body: () => cmd0('xmpp', 5, b([0x0c, 0xff, 0xff, 0xff, 0xff], 'abc')), code: 'truncated|too-long' },
  { name: 'AMF0: a string over the 4096-byte string limit', body: () => cmd0('xmpp', 5, str0('message'), b([0x05]), b([0x0c, 0, 0, 0x13, 0x88], 'x'.repeat(5000))), code: 'too-long' },
  { name: 'AMF0: a reference to an object never sent', body: () => cmd0('xmpp_connect', 5, b([0x07, 0x00, 0x05])), code: 'bad-reference' },
  { name: 'AMF0: an unknown type marker (0x42)', body: () => cmd0('xmpp', 5, b([0x42])), code: 'bad-marker' },
  { name: 'AMF0: objects nested 200 deep (over the depth limit)', body: () => cmd0('xmpp', 5, b(...Array.from({ length: 200 }, () => b([0x03], key('a'))), [0x05], ...Array.from({ length: 200 }, () => b([0, 0, 9])))), code: 'too-deep' },
  { name: 'AMF0: a strict array claiming 2^32-1 items', body: () => cmd0('xmpp', 5, b([0x0a, 0xff, 0xff, 0xff, 0xff])), code: 'truncated|too-many-items' },
  { name: 'AMF0: an ECMA array with a key length past the body', body: () => cmd0('xmpp', 5, b([0x08, 0, 0, 0, 1, 0xff, 0xff], 'k')), code: 'truncated' },
  { name: 'AMF3: a string reference to an index never defined', type: 17, body: () => cmd3('xmpp', 5, b([0x06, 0x0a])), code: 'bad-reference' },
  { name: 'AMF3: an object reference to an index never defined', type: 17, body: () => cmd3('xmpp', 5, b([0x0a, 0x06])), code: 'bad-reference' },
  { name: 'AMF3: a traits reference to an index never defined', type: 17, body: () => cmd3('xmpp', 5, b([0x0a, 0x0d])), code: 'bad-reference' },
  { name: 'AMF3: a string length (U29) past the body', type: 17, body: () => cmd3('xmpp', 5, b([0x06, 0x8f, 0x51], 'abc')), code: 'truncated' },
  { name: 'AMF3: an array claiming 2^28-1 dense items', type: 17, body: () => cmd3('xmpp', 5, b([0x09, 0xff, 0xff, 0xff, 0xff, 0x01])), code: 'truncated|too-many-items' },
  { name: 'AMF3: arrays nested 200 deep', type: 17, body: () => cmd3('xmpp', 5, b(...Array.from({ length: 200 }, () => b([0x09, 0x03, 0x01])), [0x00])), code: 'too-deep' },
  { name: 'AMF3: an externalizable object', type: 17, body: () => cmd3('xmpp', 5, b([0x0a, 0x07, 0x07], 'Foo')), code: 'unsupported' },
  { name: 'AMF3: a string that is not UTF-8', type: 17, body: () => cmd3('xmpp', 5, b([0x06, 0x05, 0xc0, 0xaf])), code: 'invalid-utf8' },
  { name: 'AMF3: a U29 length whose fourth byte makes it 2^29-1', type: 17, body: () => cmd3('xmpp', 5, b([0x0c, 0xff, 0xff, 0xff, 0xff])), code: 'truncated|too-long' },
];

describe('AMF with lying lengths, references to nothing, deep nesting (after login)', () => {
  for (const c of AMF_CASES) {
    hostile(c.name, async ({ marker, recordMark }) => {
      const rtmp = await connected();
      rtmp.sendMessage(c.type ?? 20, c.body());
      await rtmp.expectClosed({ reason: new RegExp(c.code) });
      await rtmpProtocolError(env, recordMark, new RegExp(`^(${c.code})$`));
      await frankGotNothing(marker);
    });
  }

  hostile('AMF0: an object that refers to itself as the xmpp_connect argument: refused with 0, no hang', async () => {
    const rtmp = await connected({ login: false });
    // The object is reference 0; its username and domain members point back at it.
    const self = b([0x03], key('username'), [0x07, 0x00, 0x00], key('domain'), [0x07, 0x00, 0x00], key('password'), str0('x'), [0x00, 0x00, 0x09]);
    rtmp.sendMessage(20, cmd0('xmpp_connect', 7, self));
    const reply = await rtmp.reply(7);
    assert.deepEqual([reply.name, reply.args], ['_result', [0]]);
    const disconnected = await rtmp.waitCommand((c) => c.name === 'xmpp_disconnected');
    assert.match(String(disconnected.args[0]), /^(not-authorized|malformed-request)$/, 'the server refused the empty user name');
    rtmp.conn.destroy();
  });

  hostile('AMF0: a self-referencing attributes object in an xmpp call gets _error, nothing is sent', async ({ marker }) => {
    const rtmp = await connected();
    // attrs = {id: MARKER, to: <attrs itself>}
    const attrs = b([0x03], key('id'), str0(marker), key('to'), [0x07, 0x00, 0x00], [0x00, 0x00, 0x09]);
    rtmp.sendMessage(20, cmd0('xmpp', 8, str0('message'), attrs, str0('<body>loop</body>')));
    const reply = await rtmp.reply(8);
    assert.equal(reply.name, '_error');
    const info = reply.args[0] as Record<string, unknown>;
    assert.equal(info['code'], 'NetConnection.Call.Failed');
    assert.match(String(info['description']), /attribute to/);
    await frankGotNothing(marker);
    // The session goes on.
    assert.equal((await rtmp.call('xmpp', 9, ['presence', { type: 'unavailable' }, ''])).name, '_result');
    rtmp.conn.destroy();
  });

  hostile('AMF3: an array that contains itself as the attributes of an xmpp call gets _error', async ({ marker }) => {
    const rtmp = await connected();
    rtmp.sendMessage(17, cmd3('xmpp', 8, b([0x06, 0x0f], 'message'), b([0x09, 0x03, 0x01, 0x09, 0x00]), b([0x06, (marker.length << 1) | 1], marker)));
    const reply = await rtmp.reply(8);
    assert.equal(reply.name, '_error');
    await frankGotNothing(marker);
    rtmp.conn.destroy();
  });

  hostile('XML injection through the inner XML of an xmpp call: _error, nothing reaches the server', async ({ marker }) => {
    const rtmp = await connected();
    const inject = `<body>hi</body></message><message to="frank@${env.domain}" id="${marker}"><body>injected</body>`;
    const reply = await rtmp.call('xmpp', 10, ['message', { to: `frank@${env.domain}`, id: `${marker}-outer` }, inject]);
    assert.equal(reply.name, '_error');
    assert.match(String((reply.args[0] as Record<string, unknown>)['description']), /not a well-formed fragment/);
    await frankGotNothing(marker);
    rtmp.conn.destroy();
  });

  hostile('a DTD in the inner XML of an xmpp call: _error, nothing reaches the server', async ({ marker }) => {
    const rtmp = await connected();
    const reply = await rtmp.call('xmpp', 11, ['message', { to: `frank@${env.domain}`, id: marker }, '<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><body>&a;</body>']);
    assert.equal(reply.name, '_error');
    assert.match(String((reply.args[0] as Record<string, unknown>)['description']), /DTD/);
    await frankGotNothing(marker);
    rtmp.conn.destroy();
  });

  hostile('XIFF xmppSend with a good stanza then a malformed one: _error, neither is sent', async ({ marker }) => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.connectApp();
    const login = await rtmp.call('xmppConnect', 2, ['erin', 'erin-secret', 'xiff']);
    assert.deepEqual(login.args, [true]);
    const reply = await rtmp.call('xmppSend', 3, [`<message to="frank@${env.domain}" id="${marker}"><body>first</body></message><message><body>bad</message>`]);
    assert.equal(reply.name, '_error');
    await frankGotNothing(marker);
    rtmp.conn.destroy();
  });

  hostile('calls before connect: _error, then the connection is closed', async ({ marker }) => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.handshake();
    rtmp.sendCommand('xmpp_connect', 2, null, [{ username: 'erin', password: 'erin-secret', domain: env.domain, resource: marker }]);
    const reply = await rtmp.reply(2);
    assert.equal(reply.name, '_error');
    assert.match(String((reply.args[0] as Record<string, unknown>)['description']), /before connect/);
    await rtmp.expectClosed();
  });

  hostile('connect to another application: _error NetConnection.Connect.Rejected, then closed', async () => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.handshake();
    rtmp.sendCommand('connect', 1, { app: '../../etc/passwd', objectEncoding: 0 });
    const reply = await rtmp.reply(1);
    assert.equal(reply.name, '_error');
    assert.equal((reply.args[0] as Record<string, unknown>)['code'], 'NetConnection.Connect.Rejected');
    await rtmp.expectClosed();
  });
});

describe('idle and flooding RTMP clients', () => {
  hostile('an RTMP flood from one address: over --max-connections-per-ip closed before the handshake, the others unaffected', async ({ recordMark }) => {
    const flood = await Promise.all(Array.from({ length: 6 }, () => RawRtmp.open(env.rtmpPort, { localAddress: FLOOD_ADDRESS })));
    try {
      const results = await Promise.allSettled(flood.map((r) => r.handshake()));
      const admitted = flood.filter((_, i) => results[i]?.status === 'fulfilled');
      assert.equal(admitted.length, LIMITS.maxConnectionsPerIp, 'exactly the limit gets a handshake');
      for (const r of flood.filter((x) => !admitted.includes(x))) {
        await r.conn.waitClosed(3000);
        assert.equal(r.conn.bytes.length, 0, 'RTMP has no way to say why before the handshake: a close');
      }
      await env.waitForGatewayLog(recordMark, (r) => /connection refused: too many connections/.test(String(r['msg'])) && r['protocol'] === 'rtmp');
      // The admitted ones connect and log in; so do clients from other addresses.
      for (const [i, r] of admitted.entries()) {
        r.sendCommand('connect', 1, { app: 'xmpp', objectEncoding: 0 });
        assert.equal((await r.reply(1)).name, '_result');
        await r.login('erin', 'erin-secret', env.domain, `flood-${i}`);
      }
      const other = await RawRtmp.open(env.rtmpPort, { localAddress: OTHER_ADDRESS });
      await other.connectApp();
      await other.login('frank', 'frank-secret', env.domain, 'other');
      other.conn.destroy();
    } finally {
      for (const r of flood) r.conn.destroy();
    }
  });
});

describe('RTMP timeouts (small, run side by side)', { concurrency: true }, () => {
  hostile('an RTMP socket that sends nothing is closed at --sniff-timeout', async () => {
    const conn = await RawConn.open(env.rtmpPort);
    assert.equal((await conn.waitClosed(4000)).length, 0);
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.sniffTimeoutS, 'closed');
  });

  hostile('handshake: a short C1 and then silence is closed at --auth-timeout', async () => {
    const conn = await RawConn.open(env.rtmpPort);
    conn.write(b([3], Buffer.alloc(100, 1)));
    assert.equal((await conn.waitClosed(5000)).length, 0, 'no S0/S1/S2 for a short C1');
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.authTimeoutS, 'closed');
  });

  hostile('handshake done, no NetConnection connect: closed at --auth-timeout', async () => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.handshake();
    await rtmp.expectClosed({ timeoutMs: 5000 });
    const took = rtmp.conn.closedAt - rtmp.conn.openedAt;
    assertTimedOut(took, LIMITS.authTimeoutS, 'closed');
  });

  hostile('a connected RTMP client that goes silent (no pongs) is closed at --idle-timeout', async () => {
    const rtmp = await connected();
    await rtmp.expectClosed({ reason: /no traffic for 2 s/, timeoutMs: 5000 });
    assert.ok(rtmp.messages.some((m) => m.typeId === 4 && m.payload.readUInt16BE(0) === 6), 'pinged before being dropped');
  });

  hostile('a Set Chunk Size of 1 then one byte every 10 ms: cut at --auth-timeout all the same', async () => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.handshake();
    rtmp.send(setChunkSizeMessage(1));
    const connect = encodeAmf0Values(['connect', 1, { app: 'xmpp', pad: 'x'.repeat(300) }]);
    // One payload byte per chunk: a basic header (fmt 3) before each byte after the first.
    const chunks = [rtmpChunk({ csid: 3, length: connect.length, typeId: 20, payload: connect.subarray(0, 1) }), ...Array.from(connect.subarray(1), (x) => Buffer.from([0xc3, x]))];
    void rtmp.conn.drip(Buffer.concat(chunks), 10);
    await rtmp.expectClosed({ timeoutMs: 6000 });
    assert.equal(rtmp.commands.length, 0, 'no connect was completed');
  });

  hostile('RTMPT: an abandoned tunnel is closed after --rtmpt-session-timeout', async () => {
    const open = await httpRequest(env.httpPort, 'POST', '/open/1', Buffer.alloc(1));
    assert.equal(open.status, 200);
    const id = open.body.toString('latin1').trim();
    await sleep(1600);
    const late = await httpRequest(env.httpPort, 'POST', `/idle/${id}/1`, Buffer.alloc(1));
    assert.equal(late.status, 404);
  });
});

describe('hostile RTMPT requests', () => {
  const ROWS: readonly { name: string; method?: string; path: (id: string) => string; status: number }[] = [
    { name: 'an unknown session id', path: () => '/send/0123456789abcdef0123456789abcdef/1', status: 404 },
    { name: 'an unknown session id on the main Flash port', path: () => '/idle/nosuchsession/1', status: 404 },
    { name: '/open without a sequence number', path: () => '/open', status: 404 },
    { name: '/open with a non-numeric sequence', path: () => '/open/abc', status: 404 },
    { name: '/send without a sequence number', path: (id) => `/send/${id}`, status: 404 },
    { name: '/send with a path segment too many', path: (id) => `/send/${id}/1/2`, status: 404 },
    { name: '/send with a non-numeric sequence', path: (id) => `/send/${id}/x1`, status: 400 },
    { name: '/idle with an 11-digit sequence', path: (id) => `/idle/${id}/12345678901`, status: 400 },
    { name: '/idle with a dot-dot session id', path: () => '/idle/../1', status: 404 },
    { name: 'GET instead of POST', method: 'GET', path: (id) => `/idle/${id}/1`, status: 405 },
  ];
  for (const row of ROWS) {
    hostile(`RTMPT: ${row.name} gets ${row.status}; a real tunnel is unaffected`, async () => {
      const open = await httpRequest(env.httpPort, 'POST', '/open/1', Buffer.alloc(1));
      const id = open.body.toString('latin1').trim();
      const port = row.name.includes('main Flash port') ? env.flashPort : env.httpPort;
      const answer = await httpRequest(port, row.method ?? 'POST', row.path(id), row.method === 'GET' ? undefined : Buffer.alloc(1));
      assert.equal(answer.status, row.status, answer.body.toString());
      // The tunnel that was opened still answers, then closes on request.
      assert.equal((await httpRequest(env.httpPort, 'POST', `/idle/${id}/2`, Buffer.alloc(1))).status, 200);
      assert.equal((await httpRequest(env.httpPort, 'POST', `/close/${id}/3`, Buffer.alloc(1))).status, 200);
    });
  }

  hostile('RTMPT: a body over the limit (Content-Length) gets 413 and ends the tunnel', async () => {
    const open = await httpRequest(env.httpPort, 'POST', '/open/1', Buffer.alloc(1));
    const id = open.body.toString('latin1').trim();
    const big = await httpRequest(env.httpPort, 'POST', `/send/${id}/1`, Buffer.alloc(LIMITS.maxStanzaBytes + 65536 + 1, 3));
    assert.equal(big.status, 413);
    assert.equal((await httpRequest(env.httpPort, 'POST', `/idle/${id}/2`, Buffer.alloc(1))).status, 404, 'the tunnel is gone');
  });

  hostile('RTMPT: a chunked body over the limit (no Content-Length) gets 413 and ends the tunnel', async () => {
    const open = await httpRequest(env.httpPort, 'POST', '/open/1', Buffer.alloc(1));
    const id = open.body.toString('latin1').trim();
    const conn = await RawConn.open(env.httpPort);
    const piece = Buffer.alloc(16384, 3);
    conn.write(`POST /send/${id}/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-fcs\r\nTransfer-Encoding: chunked\r\n\r\n`);
    for (let i = 0; i < 6 && !conn.closed; i++) conn.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
    await conn.waitFor((got) => got.includes('\r\n\r\n'), 5000, 'an answer');
    assert.match(conn.text, /^HTTP\/1\.1 413 /);
    conn.destroy();
    assert.equal((await httpRequest(env.httpPort, 'POST', `/idle/${id}/2`, Buffer.alloc(1))).status, 404, 'the tunnel is gone');
  });

  hostile('RTMPT: RTMPE garbage in /send closes the tunnel', async ({ recordMark }) => {
    const open = await httpRequest(env.httpPort, 'POST', '/open/1', Buffer.alloc(1));
    const id = open.body.toString('latin1').trim();
    await httpRequest(env.httpPort, 'POST', `/send/${id}/1`, b([6], Buffer.alloc(RTMP_HANDSHAKE_SIZE, 7)));
    await rtmpProtocolError(env, recordMark, 'bad-version');
    let status = 200;
    for (let seq = 2; seq < 6 && status === 200; seq++) status = (await httpRequest(env.httpPort, 'POST', `/idle/${id}/${seq}`, Buffer.alloc(1))).status;
    assert.equal(status, 404, 'the tunnel is gone after its last answer');
  });

  hostile('RTMPT: a tunnel flood from one address: over the limit gets 503, the others unaffected', async () => {
    const opens = await Promise.all(Array.from({ length: 5 }, () => httpRequest(env.httpPort, 'POST', '/open/1', Buffer.alloc(1), { localAddress: FLOOD_ADDRESS_2 })));
    const ok = opens.filter((o) => o.status === 200);
    assert.equal(ok.length, LIMITS.maxConnectionsPerIp);
    for (const o of opens.filter((x) => x.status !== 200)) {
      assert.equal(o.status, 503);
      assert.match(o.body.toString(), /too many connections/);
    }
    const other = await httpRequest(env.httpPort, 'POST', '/open/1', Buffer.alloc(1), { localAddress: OTHER_ADDRESS });
    assert.equal(other.status, 200);
    for (const o of [...ok, other]) {
      const id = o.body.toString('latin1').trim();
      assert.equal((await httpRequest(env.httpPort, 'POST', `/close/${id}/2`, Buffer.alloc(1))).status, 200);
    }
  });
});
