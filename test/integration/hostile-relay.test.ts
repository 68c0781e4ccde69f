/**
 * The gateway as a relay or a spoofing tool, through every transport: streams and logins to a
 * domain it does not serve must be refused (host-unknown) with no connection made anywhere — no
 * session at the XMPP server, no upstream attempt in the metrics — and a client claiming another
 * user's `from` must be seen by everyone as itself: the spoofed user (a native client) receives
 * nothing, the recipient sees the session's own JID. Each case checks (a)–(d) of
 * test/support/hostile.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { connectNativeTo, type Element, type NativeClient } from '../support/native-client.js';
import { NulFlashClient, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { RtmpTestClient } from '../support/rtmp-client.js';
import {
  EVIL_DOMAIN,
  RawConn,
  RawRtmp,
  RawWebSocket,
  expectStreamError,
  expectWsStreamError,
  flashHeader,
  hostileTest,
  metricsText,
  prosodySessions,
  rawSaslLogin,
  sleep,
  startHostileEnv,
  wsStream,
  xiffHeader,
  type HostileContext,
  type HostileEnv,
} from '../support/hostile.js';

const USERS: [string, string][] = [
  ['mallory', 'mallory-secret'],
  ['alice', 'alice-secret'],
  ['bob', 'bob-secret'],
];

let env: HostileEnv;
/** The spoofed user and the recipient, straight to Prosody. */
let alice: NativeClient;
let bob: NativeClient;

const hostile = (name: string, body: (ctx: HostileContext) => Promise<void>): void => hostileTest(() => env, name, body);

before(async () => {
  env = await startHostileEnv(USERS);
  alice = await connectNativeTo(env.prosody, 'alice', 'alice-secret', { resource: 'native' });
  bob = await connectNativeTo(env.prosody, 'bob', 'bob-secret', { resource: 'native' });
});
after(async () => {
  await RtmpTestClient.closeAll();
  await alice?.stop();
  await bob?.stop();
  await env?.stop();
});

/**
 * (b) for a refused relay: Prosody accepted no session since `logMark`, and the gateway never
 * tried to reach another domain (its upstream metrics name only the served one).
 */
async function assertNoRelay(logMark: number): Promise<void> {
  await sleep(150);
  assert.equal(prosodySessions(await env.prosodyLogSince(logMark)), 0, 'no session reached the XMPP server');
  assert.ok(!(await metricsText(env)).includes(EVIL_DOMAIN), `no upstream attempt for ${EVIL_DOMAIN}`);
}

/**
 * (b) for a spoof: bob gets the stanza with id `id` from `jid` (the sender's own session), and
 * alice, whose JID it claimed, gets nothing.
 */
async function assertSeenAs(id: string, jid: string, kind = 'message'): Promise<Element> {
  const got = await bob.waitFor((s) => s.is(kind) && s.attrs['id'] === id);
  assert.equal(got.attrs['from'], jid, 'the server stamped the session’s own JID');
  await sleep(150);
  assert.deepEqual(alice.received.filter((s) => s.attrs['id'] === id).map(String), [], 'the spoofed user received nothing');
  return got;
}

let ids = 0;
/** Ids for stanzas that do reach the server (the case's marker must not). */
const freshId = (tag: string): string => `spoof-${tag}-${++ids}`;

const spoofed = (to: string, id: string, kind = 'message', extra = ''): string =>
  `<${kind} from="alice@localhost/native" to="${to}" id="${id}"${extra}>${kind === 'message' ? '<body>it is me, alice</body>' : ''}</${kind}>`;

describe('no open relay, through every transport', () => {
  const STREAM_ROWS: readonly { name: string; header: (domain: string) => string; nul?: boolean }[] = [
    { name: 'raw TCP: a stream to another domain', header: () => xiffHeader(EVIL_DOMAIN) },
    { name: 'XMLSocket (NUL mode): a flash:stream to another domain', header: () => flashHeader(EVIL_DOMAIN), nul: true },
    { name: 'raw TCP: a stream to a JID at another domain', header: () => xiffHeader(`alice@${EVIL_DOMAIN}`) },
    { name: 'raw TCP: a stream to an address that is not the gateway’s', header: () => xiffHeader('192.0.2.1') },
    { name: 'raw TCP: a stream to the served domain with a port appended', header: (d) => xiffHeader(`${d}:5222`) },
  ];
  for (const row of STREAM_ROWS) {
    hostile(`${row.name}: host-unknown, nothing connects`, async ({ logMark }) => {
      const conn = await RawConn.open(env.flashPort);
      conn.write(row.header(env.domain));
      await expectStreamError(conn, 'host-unknown', /does not serve the domain/, { nul: row.nul ?? false });
      await assertNoRelay(logMark);
    });
  }

  for (const port of ['http', 'flash'] as const) {
    hostile(`WebSocket (${port === 'http' ? 'HTTP port' : 'main port, sniffed GET'}): a stream to another domain: host-unknown, then 1000`, async ({ logMark }) => {
      const ws = await RawWebSocket.open(port === 'http' ? env.httpPort : env.flashPort);
      ws.sendBinary(xiffHeader(EVIL_DOMAIN));
      await expectWsStreamError(ws, 'host-unknown', /evil\.example/);
      await assertNoRelay(logMark);
    });
  }

  hostile('RTMP (dialect A, AMF0): xmpp_connect to another domain gets 0 and xmpp_disconnected("host-unknown")', async ({ logMark }) => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.connectApp();
    const reply = await rtmp.call('xmpp_connect', 2, [{ username: 'mallory', password: 'mallory-secret', domain: EVIL_DOMAIN, resource: 'relay' }]);
    assert.deepEqual([reply.name, reply.args], ['_result', [0]]);
    assert.equal((await rtmp.waitCommand((c) => c.name === 'xmpp_disconnected')).args[0], 'host-unknown');
    rtmp.conn.destroy();
    await assertNoRelay(logMark);
  });

  hostile('RTMP on the main Flash port: xmpp_connect to another domain is refused the same way', async ({ logMark }) => {
    const rtmp = await RawRtmp.open(env.flashPort);
    await rtmp.connectApp();
    const reply = await rtmp.call('xmpp_connect', 2, [{ username: 'mallory', password: 'mallory-secret', domain: EVIL_DOMAIN.toUpperCase(), resource: 'relay' }]);
    assert.deepEqual(reply.args, [0]);
    assert.equal((await rtmp.waitCommand((c) => c.name === 'xmpp_disconnected')).args[0], 'host-unknown');
    rtmp.conn.destroy();
    await assertNoRelay(logMark);
  });

  hostile('RTMP (dialect B, XIFF): xmppConnect("user@other.domain") gets false', async ({ logMark }) => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.connectApp();
    const reply = await rtmp.call('xmppConnect', 2, [`mallory@${EVIL_DOMAIN}`, 'mallory-secret', 'relay']);
    assert.deepEqual([reply.name, reply.args], ['_result', [false]]);
    rtmp.conn.destroy();
    await assertNoRelay(logMark);
  });

  hostile('RTMP (dialect C, Redfire): xmppConnect("user@other.domain") calls back with a null digest', async ({ logMark }) => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.connectApp();
    rtmp.sendCommand('xmppConnect', 0, null, [`mallory@${EVIL_DOMAIN}`, 'mallory-secret', 'relay']);
    const callback = await rtmp.waitCommand((c) => c.name === 'xmppConnect');
    assert.deepEqual(callback.args, [null, 'relay']);
    rtmp.conn.destroy();
    await assertNoRelay(logMark);
  });

  hostile('RTMPT (librtmp, AMF3): xmpp_connect to another domain gets 0 and xmpp_disconnected("host-unknown")', async ({ logMark }) => {
    const rtmpt = await RtmpTestClient.connect(`rtmpt://127.0.0.1:${env.httpPort}/xmpp`, { objectEncoding: 3, name: 'rtmpt relay' });
    try {
      const reply = await rtmpt.call('xmpp_connect', [{ username: 'mallory', password: 'mallory-secret', domain: EVIL_DOMAIN, resource: 'relay' }]);
      assert.deepEqual(reply.values, [0]);
      assert.equal((await rtmpt.nextInvoke('xmpp_disconnected')).args[0], 'host-unknown');
    } finally {
      await rtmpt.close();
    }
    await assertNoRelay(logMark);
  });

  hostile('a stream restart after SASL naming another domain stays on the served domain', async ({ logMark }) => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await conn.waitFor((got) => got.includes('</stream:features>'));
    conn.write(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from('\0mallory\0mallory-secret').toString('base64')}</auth>`);
    await conn.waitFor((got) => got.includes('<success'));
    conn.write(xiffHeader(EVIL_DOMAIN));
    await conn.waitFor((got) => got.toString().split('</stream:features>').length === 3, 5000, 'features after the restart');
    conn.write('<iq type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>restart</resource></bind></iq>');
    await conn.waitFor((got) => got.includes('</jid>'));
    assert.match(conn.text, new RegExp(`<jid>mallory@${env.domain}/restart</jid>`));
    conn.destroy();
    await sleep(150);
    assert.equal(prosodySessions(await env.prosodyLogSince(logMark)), 1, 'one session, at the served domain');
    assert.ok(!(await metricsText(env)).includes(EVIL_DOMAIN), `no upstream attempt for ${EVIL_DOMAIN}`);
  });
});

describe('from spoofing, through every transport', () => {
  const bobJid = (): string => `bob@${env.domain}/native`;

  hostile('raw TCP: a message claiming to be from alice reaches bob from the sender’s own JID', async () => {
    const conn = await RawConn.open(env.flashPort);
    const jid = await rawSaslLogin(conn, env.domain, 'mallory', 'mallory-secret', 'raw');
    const id = freshId('x');
    conn.write(spoofed(bobJid(), id));
    await assertSeenAs(id, jid);
    conn.destroy();
  });

  hostile('raw TCP: a directed presence claiming to be from alice', async () => {
    const conn = await RawConn.open(env.flashPort);
    const jid = await rawSaslLogin(conn, env.domain, 'mallory', 'mallory-secret', 'presence');
    const id = freshId('p');
    conn.write(spoofed(bobJid(), id, 'presence'));
    await assertSeenAs(id, jid, 'presence');
    conn.destroy();
  });

  hostile('raw TCP: an iq claiming to be from alice: bob sees the sender, the answer never goes to alice', async () => {
    const conn = await RawConn.open(env.flashPort);
    const jid = await rawSaslLogin(conn, env.domain, 'mallory', 'mallory-secret', 'iq');
    const id = freshId('iq');
    conn.write(`<iq type="get" from="alice@localhost/native" to="${bobJid()}" id="${id}"><query xmlns="jabber:iq:version"/></iq>`);
    await assertSeenAs(id, jid, 'iq');
    conn.destroy();
  });

  hostile('raw TCP: a stream header from="alice@…" does not make the session alice’s', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain).replace('<stream:stream ', `<stream:stream from="alice@${env.domain}" `));
    const jid = await rawSaslLogin(conn, env.domain, 'mallory', 'mallory-secret', 'hdr', { headerSent: true });
    assert.equal(jid, `mallory@${env.domain}/hdr`);
    const id = freshId('h');
    conn.write(spoofed(bobJid(), id));
    await assertSeenAs(id, jid);
    conn.destroy();
  });

  hostile('raw TCP: SASL PLAIN with authzid alice and mallory’s password: the session is mallory’s, never alice’s', async ({ logMark }) => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await conn.waitFor((got) => got.includes('</stream:features>'));
    conn.write(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from(`alice@${env.domain}\0mallory\0mallory-secret`).toString('base64')}</auth>`);
    await conn.waitFor((got) => got.includes('</failure>') || got.includes('<success'), 5000, 'the SASL answer');
    if (conn.text.includes('<success')) {
      // The server ignored the authorization identity: whatever it did, the session must be mallory's.
      conn.write(xiffHeader(env.domain));
      await conn.waitFor((got) => got.toString().split('</stream:features>').length === 3, 5000, 'features after the restart');
      conn.write('<iq type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>authzid</resource></bind></iq>');
      await conn.waitFor((got) => got.includes('</jid>'));
      assert.match(conn.text, new RegExp(`<jid>mallory@${env.domain}/authzid</jid>`));
      const id = freshId('z');
      conn.write(spoofed(bobJid(), id));
      await assertSeenAs(id, `mallory@${env.domain}/authzid`);
    }
    conn.destroy();
    assert.ok(!/Authenticated as alice@/.test(await env.prosodyLogSince(logMark)), 'no session as alice');
  });

  hostile('raw TCP: a stanza before authentication never reaches bob', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await conn.waitFor((got) => got.includes('</stream:features>'));
    const id = `preauth-${Date.now()}`;
    conn.write(spoofed(bobJid(), id));
    await sleep(300);
    conn.destroy();
    assert.deepEqual(bob.received.filter((s) => s.attrs['id'] === id).map(String), [], 'bob received nothing');
    assert.deepEqual(alice.received.filter((s) => s.attrs['id'] === id).map(String), [], 'alice received nothing');
  });

  hostile('XMLSocket (NUL mode, iq:auth through the gateway): a message claiming to be from alice', async () => {
    const client = await NulFlashClient.connect('127.0.0.1', env.flashPort, { domain: env.domain });
    const jid = await xiff3BetaFlashLogin(client, { host: env.domain, user: 'mallory', pass: 'mallory-secret', resource: 'nul' });
    const id = freshId('n');
    client.send(spoofed(bobJid(), id));
    await assertSeenAs(id, jid);
    client.assertNoViolations();
    await client.close();
  });

  hostile('WebSocket: a message claiming to be from alice', async () => {
    const ws = await RawWebSocket.open(env.httpPort);
    const jid = await rawSaslLogin(wsStream(ws), env.domain, 'mallory', 'mallory-secret', 'ws');
    const id = freshId('w');
    ws.sendBinary(spoofed(bobJid(), id));
    await assertSeenAs(id, jid);
    ws.conn.destroy();
  });

  hostile('RTMP (dialect A): an xmpp call with from=alice in its attributes', async () => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.connectApp();
    await rtmp.login('mallory', 'mallory-secret', env.domain, 'rtmp');
    const id = freshId('r');
    const sent = await rtmp.call('xmpp', 3, ['message', { from: 'alice@localhost/native', to: bobJid(), id }, '<body>it is me, alice</body>']);
    assert.equal(sent.name, '_result');
    await assertSeenAs(id, `mallory@${env.domain}/rtmp`);
    rtmp.conn.destroy();
  });

  hostile('RTMP (dialect A): a from attribute smuggled into the inner XML stays inside the stanza', async () => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.connectApp();
    await rtmp.login('mallory', 'mallory-secret', env.domain, 'rtmp2');
    const id = freshId('i');
    const sent = await rtmp.call('xmpp', 3, ['message', { to: bobJid(), id }, `<body from="alice@${env.domain}">hi</body>`]);
    assert.equal(sent.name, '_result');
    await assertSeenAs(id, `mallory@${env.domain}/rtmp2`);
    rtmp.conn.destroy();
  });

  hostile('RTMP (dialect B, XIFF): xmppSend of a stanza with from=alice', async () => {
    const rtmp = await RawRtmp.open(env.rtmpPort);
    await rtmp.connectApp();
    assert.deepEqual((await rtmp.call('xmppConnect', 2, ['mallory', 'mallory-secret', 'xiff'])).args, [true]);
    const id = freshId('b');
    assert.equal((await rtmp.call('xmppSend', 3, [spoofed(bobJid(), id)])).name, '_result');
    await assertSeenAs(id, `mallory@${env.domain}/xiff`);
    rtmp.conn.destroy();
  });

  hostile('RTMPT (librtmp): an xmpp call with from=alice in its attributes', async () => {
    const rtmpt = await RtmpTestClient.connect(`rtmpt://127.0.0.1:${env.httpPort}/xmpp`, { objectEncoding: 0, name: 'rtmpt spoof' });
    try {
      const login = await rtmpt.call('xmpp_connect', [{ username: 'mallory', password: 'mallory-secret', domain: env.domain, resource: 'rtmpt' }]);
      assert.deepEqual(login.values, [1]);
      const id = freshId('t');
      const sent = await rtmpt.call('xmpp', ['message', { from: 'alice@localhost/native', to: bobJid(), id }, '<body>it is me, alice</body>']);
      assert.equal(sent.name, '_result');
      await assertSeenAs(id, `mallory@${env.domain}/rtmpt`);
    } finally {
      await rtmpt.close();
    }
  });
});
