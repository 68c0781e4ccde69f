/**
 * Hostile input on the TLS transports: RTMPS (RTMP inside TLS on its own port) and HTTPS/wss on
 * the HTTP port (--tls-cert/--tls-key). Before TLS: plain bytes, a ClientHello cut short, silence;
 * inside TLS: the same RTMP and WebSocket garbage as on the plain ports, an open-relay attempt,
 * `from` spoofing and a flood from one address. Each case checks (a)–(d) of
 * test/support/hostile.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { encodeAmf0Values } from '../../src/codec/amf/amf0.js';
import { makeTestPki } from '../support/certs.js';
import { connectNativeTo, type NativeClient } from '../support/native-client.js';
import { freePort } from '../support/ports.js';
import {
  EVIL_DOMAIN,
  FLOOD_ADDRESS,
  LIMITS,
  OTHER_ADDRESS,
  RawConn,
  RawRtmp,
  RawWebSocket,
  RTMP_HANDSHAKE_SIZE,
  expectWsStreamError,
  hostileTest,
  prosodySessions,
  rtmpChunk,
  rtmpProtocolError,
  setChunkSizeMessage,
  sleep,
  startHostileEnv,
  wsFrame,
  xiffHeader,
  type HostileContext,
  type HostileEnv,
  assertTimedOut,
} from '../support/hostile.js';

const USERS: [string, string][] = [
  ['grace', 'grace-secret'],
  ['heidi', 'heidi-secret'],
];

let env: HostileEnv;
let rtmpsPort: number;
let pkiDir: string;
let heidi: NativeClient;

const hostile = (name: string, body: (ctx: HostileContext) => Promise<void>): void => hostileTest(() => env, name, body);
const tlsOpts = (localAddress?: string) => ({ tls: true, ...(localAddress ? { localAddress } : {}) });

/** The first bytes of a TLS 1.2 ClientHello record, cut short. */
const PARTIAL_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]);

before(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), 'fxg-hostile-tls-'));
  const pki = await makeTestPki(pkiDir, ['localhost']);
  rtmpsPort = await freePort();
  // Five listeners: Flash, policy, HTTPS, RTMP and RTMPS.
  env = await startHostileEnv(USERS, ['--rtmps-port', String(rtmpsPort), '--tls-cert', pki.cert, '--tls-key', pki.key], 5);
  heidi = await connectNativeTo(env.prosody, 'heidi', 'heidi-secret', { resource: 'native' });
});
after(async () => {
  await heidi?.stop();
  await env?.stop();
  if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
});

describe('before TLS', () => {
  hostile('RTMPS: plain RTMP (no TLS) is closed without an answer', async () => {
    const conn = await RawConn.open(rtmpsPort);
    conn.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(RTMP_HANDSHAKE_SIZE)]));
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('HTTPS port: a plain HTTP upgrade request gets no WebSocket', async () => {
    const conn = await RawConn.open(env.httpPort);
    conn.write('GET /xmlsocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    const out = await conn.waitClosed(3000);
    assert.ok(!out.toString('latin1').includes('101 Switching'), 'no upgrade without TLS');
  });
});

describe('silent and half-finished TLS handshakes (small timeouts, run side by side)', { concurrency: true }, () => {
  for (const [name, port] of [['RTMPS', () => rtmpsPort], ['HTTPS', () => env.httpPort]] as const) {
    hostile(`${name}: a ClientHello cut short, then silence, is closed at --sniff-timeout`, async () => {
      const conn = await RawConn.open(port());
      conn.write(PARTIAL_HELLO);
      await conn.waitClosed(5000);
      const took = conn.closedAt - conn.openedAt;
      assertTimedOut(took, LIMITS.sniffTimeoutS, 'closed');
    });

    hostile(`${name}: a TCP connection that never starts TLS is closed at --sniff-timeout`, async () => {
      const conn = await RawConn.open(port());
      await conn.waitClosed(5000);
      const took = conn.closedAt - conn.openedAt;
      assertTimedOut(took, LIMITS.sniffTimeoutS, 'closed');
    });
  }

  hostile('RTMPS: TLS done, then nothing: closed at --sniff-timeout', async () => {
    const conn = await RawConn.open(rtmpsPort, tlsOpts());
    assert.equal((await conn.waitClosed(4000)).length, 0);
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.sniffTimeoutS, 'closed');
  });

  hostile('RTMPS: TLS done, a short C1, then silence: closed at --auth-timeout', async () => {
    const conn = await RawConn.open(rtmpsPort, tlsOpts());
    conn.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(200, 9)]));
    assert.equal((await conn.waitClosed(5000)).length, 0);
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.authTimeoutS, 'closed');
  });
});

describe('inside TLS', () => {
  hostile('RTMPS: version byte 6 (RTMPE) inside TLS is closed without an answer', async () => {
    const conn = await RawConn.open(rtmpsPort, tlsOpts());
    conn.write(Buffer.concat([Buffer.from([6]), Buffer.alloc(RTMP_HANDSHAKE_SIZE)]));
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('RTMPS: Set Chunk Size 0 after connect: onStatus, then closed', async ({ recordMark }) => {
    const rtmp = await RawRtmp.open(rtmpsPort, tlsOpts());
    await rtmp.connectApp();
    rtmp.send(setChunkSizeMessage(0));
    await rtmp.expectClosed({ reason: /chunk-size/ });
    await rtmpProtocolError(env, recordMark, 'chunk-size');
  });

  hostile('RTMPS: an AMF0 string whose length runs past the body: onStatus, then closed', async ({ recordMark }) => {
    const rtmp = await RawRtmp.open(rtmpsPort, tlsOpts());
    await rtmp.connectApp();
    rtmp.send(rtmpChunk({ csid: 3, typeId: 20, payload: Buffer.concat([encodeAmf0Values(['xmpp', 4, null]), Buffer.from([0x02, 0x10, 0x00]), Buffer.from('short')]) }));
    await rtmp.expectClosed({ reason: /truncated/ });
    await rtmpProtocolError(env, recordMark, 'truncated');
  });

  hostile('RTMPS: xmpp_connect to another domain gets 0 and host-unknown; nothing connects', async ({ logMark }) => {
    const rtmp = await RawRtmp.open(rtmpsPort, tlsOpts());
    await rtmp.connectApp();
    const reply = await rtmp.call('xmpp_connect', 2, [{ username: 'grace', password: 'grace-secret', domain: EVIL_DOMAIN, resource: 'relay' }]);
    assert.deepEqual(reply.args, [0]);
    assert.equal((await rtmp.waitCommand((c) => c.name === 'xmpp_disconnected')).args[0], 'host-unknown');
    rtmp.conn.destroy();
    await sleep(150);
    assert.equal(prosodySessions(await env.prosodyLogSince(logMark)), 0, 'no session reached the XMPP server');
  });

  hostile('RTMPS: from=heidi in the attributes of an xmpp call: heidi sees the sender’s own JID', async () => {
    const rtmp = await RawRtmp.open(rtmpsPort, tlsOpts());
    await rtmp.connectApp();
    await rtmp.login('grace', 'grace-secret', env.domain, 'rtmps');
    const id = `rtmps-spoof-${Date.now()}`;
    // grace claims to be heidi, writing to heidi herself: the server must say it is grace.
    assert.equal((await rtmp.call('xmpp', 3, ['message', { from: `heidi@${env.domain}/native`, to: `heidi@${env.domain}/native`, id }, '<body>me</body>'])).name, '_result');
    const got = await heidi.waitFor((s) => s.is('message') && s.attrs['id'] === id);
    assert.equal(got.attrs['from'], `grace@${env.domain}/rtmps`);
    rtmp.conn.destroy();
  });

  hostile('RTMPS: a flood from one address: over --max-connections-per-ip closed, the others unaffected', async () => {
    const flood = await Promise.all(Array.from({ length: 5 }, () => RawRtmp.open(rtmpsPort, tlsOpts(FLOOD_ADDRESS))));
    try {
      const results = await Promise.allSettled(flood.map((r) => r.handshake()));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, LIMITS.maxConnectionsPerIp);
      const other = await RawRtmp.open(rtmpsPort, tlsOpts(OTHER_ADDRESS));
      await other.connectApp();
      await other.login('grace', 'grace-secret', env.domain, 'rtmps-other');
      other.conn.destroy();
    } finally {
      for (const r of flood) r.conn.destroy();
    }
  });

  hostile('wss: an unmasked client frame inside TLS is closed with 1002', async ({ marker }) => {
    const ws = await RawWebSocket.open(env.httpPort, { tls: true });
    ws.sendBinary(xiffHeader(env.domain));
    await ws.waitData((d) => d.includes('</stream:features>'), 5000, 'stream features');
    ws.send(wsFrame({ opcode: 0x2, payload: `<message id="${marker}"/>`, mask: false }));
    await ws.expectClose(1002);
  });

  hostile('wss: a 64-bit length of 2^62 inside TLS is closed with 1009', async () => {
    const ws = await RawWebSocket.open(env.httpPort, { tls: true });
    ws.send(wsFrame({ opcode: 0x2, length: 1n << 62n }));
    await ws.expectClose(1009);
  });

  hostile('wss: a stream to another domain: host-unknown, then 1000', async ({ logMark }) => {
    const ws = await RawWebSocket.open(env.httpPort, { tls: true });
    ws.sendBinary(xiffHeader(EVIL_DOMAIN));
    await expectWsStreamError(ws, 'host-unknown', /evil\.example/);
    await sleep(150);
    assert.equal(prosodySessions(await env.prosodyLogSince(logMark)), 0, 'no session reached the XMPP server');
  });
});
