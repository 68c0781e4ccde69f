/**
 * The XIFF (dialect B) and Redfire (dialect C) call APIs over RTMP, with Redfire's re-attach,
 * against a real Prosody, driven by a real RTMP client (python3-librtmp): shared/spec/rtmp.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import { freePort } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { parseXmlDocument } from '../support/raw-client.js';
import { RtmpTestClient } from '../support/rtmp-client.js';

const USERS: [string, string][] = [
  ['xiff', 'xiff-secret'],
  ['redfire', 'red-secret'],
  ['back', 'back-secret'],
  ['late', 'late-secret'],
  ['dpeer', 'peer-secret'],
];

describe('XIFF and Redfire RTMP dialects against Prosody', () => {
  let prosody: ProsodyInstance;
  let gateway: GatewayProcess;
  let rtmpPort: number;
  let native: NativeClient;
  const clients: RtmpTestClient[] = [];
  const open = async (objectEncoding: 0 | 3 = 0): Promise<RtmpTestClient> => {
    const client = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding });
    clients.push(client);
    return client;
  };

  before(async () => {
    prosody = await startProsody({ tls: false, users: USERS });
    rtmpPort = await freePort();
    gateway = await startGateway(
      [
        '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0',
        '--rtmp-port', String(rtmpPort), '--rtmp-host', '127.0.0.1',
        '--upstream', `${prosody.host}:${prosody.c2sPort}`, '--domain', prosody.domain, '--upstream-tls', 'off',
        '--rtmp-reattach-grace', '3',
      ],
      { listeners: 2 },
    );
    native = await connectNativeTo(prosody, 'dpeer', 'peer-secret', { resource: 'native' });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await native?.stop();
    await gateway?.stop();
    await prosody?.stop();
  });

  test('XIFF: xmppConnect with a responder → true; xmppSend(xml); xmppRecieve(rawXML) well-formed alone', async () => {
    const rtmp = await open(0);
    const login = await rtmp.call('xmppConnect', ['xiff', 'xiff-secret', 'xiff-rtmp']);
    assert.deepEqual(login?.values, [true]);
    const jid = `xiff@${prosody.domain}/xiff-rtmp`;

    await rtmp.send('xmppSend', [`<message to="${native.jid}" type="chat" from="spoof@evil.example"><body>from XIFF over RTMP</body></message>`]);
    const got = await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'from XIFF over RTMP');
    assert.equal(got.attrs['from'], jid);

    await native.send(xml('message', { to: jid, type: 'chat' }, xml('body', {}, 'to XIFF <&>')));
    const received = await rtmp.nextInvoke('xmppRecieve');
    assert.equal(received.args.length, 1);
    const stanza = parseXmlDocument(String(received.args[0]));
    assert.equal(stanza.local, 'message');
    assert.equal(stanza.attrs['from'], native.jid);
    assert.equal(stanza.getChildText('body'), 'to XIFF <&>');

    // Bad XML with a responder: a clear _error; the session stays up.
    const refused = await rtmp.call('xmppSend', ['<message><body>broken</message>']);
    assert.equal(refused?.name, '_error');
    assert.match(String((refused?.values[0] as Record<string, unknown>)['description']), /not well-formed/);
    const notStanza = await rtmp.call('xmppSend', ['<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN"/>']);
    assert.equal(notStanza?.name, '_error');
    await rtmp.send('xmppSend', [`<message to="${native.jid}"><body>still there</body></message>`]);
    await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'still there');
  });

  test('XIFF: a wrong password → false', async () => {
    const rtmp = await open(0);
    assert.deepEqual((await rtmp.call('xmppConnect', ['xiff', 'wrong', 'x']))?.values, [false]);
  });

  test('Redfire: xmppConnect without a responder → xmppConnect(digest, resource); xmppSend(digest, xml); xmppRecieve(xml, resource); xmppDisconnect(digest)', async () => {
    const rtmp = await open(3);
    await rtmp.send('xmppConnect', ['redfire', 'red-secret', 'red5']);
    const callback = await rtmp.nextInvoke('xmppConnect', () => true, 10_000);
    const [digest, resource] = callback.args as [string, string];
    assert.match(digest, /^[0-9a-f]{32}$/);
    assert.equal(resource, 'red5');
    const jid = `redfire@${prosody.domain}/red5`;

    await rtmp.send('xmppSend', [digest, `<message to="${native.jid}" type="chat"><body>from Redfire</body></message>`]);
    const got = await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'from Redfire');
    assert.equal(got.attrs['from'], jid);

    await native.send(xml('message', { to: jid, type: 'chat' }, xml('body', {}, 'to Redfire')));
    const received = await rtmp.nextInvoke('xmppRecieve');
    assert.equal(received.args[1], 'red5');
    assert.equal(parseXmlDocument(String(received.args[0])).getChildText('body'), 'to Redfire');

    const wrongDigest = await rtmp.call('xmppSend', ['0'.repeat(32), '<presence/>']);
    assert.equal(wrongDigest?.name, '_error');
    assert.match(String((wrongDigest?.values[0] as Record<string, unknown>)['description']), /digest/);
    await rtmp.send('xmppDisconnect', [digest]);
  });

  test('Redfire: a wrong password → xmppConnect(null, resource)', async () => {
    const rtmp = await open(0);
    await rtmp.send('xmppConnect', ['redfire', 'wrong', 'nope']);
    const callback = await rtmp.nextInvoke('xmppConnect', () => true, 10_000);
    assert.deepEqual(callback.args, [null, 'nope']);
  });

  test('Redfire: a client that drops and comes back within the grace period keeps its session and gets what it missed', async () => {
    const first = await open(0);
    await first.send('xmppConnect', ['back', 'back-secret', 'phone']);
    const [digest] = (await first.nextInvoke('xmppConnect', () => true, 10_000)).args as [string];
    const jid = `back@${prosody.domain}/phone`;
    first.kill(); // the TCP connection drops, no goodbye
    await gateway.waitForLog((r) => r['msg'] === 'Redfire session parked for re-attach');

    await native.send(xml('message', { to: jid, type: 'chat' }, xml('body', {}, 'while you were away 1')));
    await native.send(xml('message', { to: jid, type: 'chat' }, xml('body', {}, 'while you were away 2')));
    await new Promise((r) => setTimeout(r, 300));

    const again = await open(0);
    await again.send('xmppConnect', ['back', 'back-secret', 'phone']);
    const callback = await again.nextInvoke('xmppConnect', () => true, 10_000);
    assert.deepEqual(callback.args, [digest, 'phone'], 'the same session, found again');
    const missed1 = await again.nextInvoke('xmppRecieve', (i) => String(i.args[0]).includes('away 1'));
    const missed2 = await again.nextInvoke('xmppRecieve', (i) => String(i.args[0]).includes('away 2'));
    assert.ok(missed1 && missed2);
    // And it is live: a message goes out on it with the same JID.
    await again.send('xmppSend', [digest, `<message to="${native.jid}"><body>I am back</body></message>`]);
    const back = await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'I am back');
    assert.equal(back.attrs['from'], jid);
  });

  test('Redfire: wrong credentials do not re-attach; after the grace period the session is closed', async () => {
    const first = await open(0);
    await first.send('xmppConnect', ['late', 'late-secret', 'tablet']);
    const [digest] = (await first.nextInvoke('xmppConnect', () => true, 10_000)).args as [string];
    first.kill();
    await gateway.waitForLog((r) => r['msg'] === 'Redfire session parked for re-attach' && r['key'] === `late@${prosody.domain}/tablet`);

    const intruder = await open(0);
    await intruder.send('xmppConnect', ['late', 'guess', 'tablet']);
    assert.deepEqual((await intruder.nextInvoke('xmppConnect', () => true, 10_000)).args, [null, 'tablet']);

    await gateway.waitForLog((r) => r['msg'] === 'Redfire session not re-attached within the grace period; closed', 10_000);
    const later = await open(0);
    await later.send('xmppConnect', ['late', 'late-secret', 'tablet']);
    const fresh = (await later.nextInvoke('xmppConnect', () => true, 10_000)).args as [string, string];
    assert.notEqual(fresh[0], digest, 'a new session, not the closed one');
  });
});
