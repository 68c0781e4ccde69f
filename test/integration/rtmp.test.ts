/**
 * The XMPP call API over RTMP (dialect A, shared/spec/rtmp.md) against a real Prosody, driven by
 * a real RTMP client (Debian's python3-librtmp, with an independent AMF codec of the test's
 * own): AMF0 and AMF3, simple and digest handshakes, on the RTMP port and on the main port.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startRtmpGatewayFor, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import { NulFlashClient, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { RtmpTestClient, type AmfJson, type RtmpInvoke } from '../support/rtmp-client.js';

const USERS: [string, string][] = [
  ['rtmp0', 'zero-secret'],
  ['rtmp3', 'three-secret'],
  ['rtmpm', 'main-secret'],
  ['rtmpd', 'digest-secret'],
  ['nulpal', 'pal-secret'],
  ['rpeer', 'peer-secret'],
];

type Obj = Record<string, AmfJson>;

const CASES = [
  { user: 'rtmp0', pass: 'zero-secret', objectEncoding: 0, handshake: 'simple', port: 'rtmp' },
  { user: 'rtmp3', pass: 'three-secret', objectEncoding: 3, handshake: 'simple', port: 'rtmp' },
  { user: 'rtmpd', pass: 'digest-secret', objectEncoding: 3, handshake: 'digest', port: 'rtmp' },
  { user: 'rtmpm', pass: 'main-secret', objectEncoding: 0, handshake: 'digest', port: 'main' },
] as const;

describe('RTMP call API against Prosody', () => {
  let prosody: ProsodyInstance;
  let gateway: GatewayProcess;
  let rtmpPort: number;
  let native: NativeClient;
  const clients: RtmpTestClient[] = [];

  const open = async (opts: { objectEncoding: 0 | 3; handshake: 'simple' | 'digest'; port: 'rtmp' | 'main' }): Promise<RtmpTestClient> => {
    const port = opts.port === 'rtmp' ? rtmpPort : gateway.port;
    const client = await RtmpTestClient.connect(`rtmp://127.0.0.1:${port}/xmpp`, { objectEncoding: opts.objectEncoding, handshake: opts.handshake });
    clients.push(client);
    return client;
  };

  before(async () => {
    prosody = await startProsody({ tls: false, users: USERS });
    ({ gateway, rtmpPort } = await startRtmpGatewayFor(prosody, ['--rtmp-unanswered-iq-timeout', '2']));
    native = await connectNativeTo(prosody, 'rpeer', 'peer-secret', { resource: 'native' });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await native?.stop();
    await gateway?.stop();
    await prosody?.stop();
  });

  for (const c of CASES) {
    test(`AMF${c.objectEncoding}, ${c.handshake} handshake, ${c.port} port: login, messages both ways, iq both ways, disconnect`, async () => {
      const rtmp = await open(c);
      assert.equal(rtmp.handshake, c.handshake);
      const login = await rtmp.call('xmpp_connect', [{ username: c.user, domain: prosody.domain, password: c.pass, resource: 'as3' }]);
      assert.equal(login?.name, '_result');
      assert.deepEqual(login?.values, [1]);
      const jid = `${c.user}@${prosody.domain}/as3`;

      // Native → RTMP app: xmpp_message(attrib, rawbody).
      await native.send(xml('message', { to: jid, type: 'chat', id: `n-${c.user}` }, xml('body', {}, `to the app <${c.user}> ✓`)));
      const inbound = await rtmp.nextInvoke('xmpp_message');
      const attrib = inbound.args[0] as Obj;
      assert.equal(attrib['from'], native.jid);
      assert.equal(attrib['type'], 'chat');
      assert.equal(inbound.args[1], `<body>to the app &lt;${c.user}&gt; ✓</body>`);

      // RTMP app → native: from is the app's JID whatever it claims.
      const sent = await rtmp.call('xmpp', ['message', { to: native.jid, type: 'chat', from: 'spoof@evil.example' }, `<body>from the app ${c.user}</body>`]);
      assert.equal(sent?.name, '_result');
      const got = await native.waitFor((s) => s.is('message') && s.getChildText('body') === `from the app ${c.user}`);
      assert.equal(got.attrs['from'], jid);

      // An iq with a responder: the answer comes back as [attrs, innerXml].
      const disco = await rtmp.call('xmpp', ['iq', { type: 'get', to: prosody.domain }, '<query xmlns="http://jabber.org/protocol/disco#info"/>']);
      assert.equal(disco?.name, '_result');
      const [answerAttrs, answerXml] = (disco?.values[0] ?? []) as [Obj, string];
      assert.equal(answerAttrs['type'], 'result');
      assert.match(answerXml, /^<query xmlns="http:\/\/jabber.org\/protocol\/disco#info">.*<identity /);

      // An inbound iq: xmpp_iq, answered by the app.
      const asked = native.iq(xml('iq', { type: 'get', to: jid, id: `v-${c.user}` }, xml('query', { xmlns: 'jabber:iq:version' })));
      const iq = await rtmp.nextInvoke('xmpp_iq');
      const iqAttrs = iq.args[0] as Obj;
      assert.equal(iqAttrs['type'], 'get');
      await rtmp.call('xmpp', ['iq', { type: 'result', to: iqAttrs['from'] as string, id: iqAttrs['id'] as string }, '<query xmlns="jabber:iq:version"><name>AS3 app</name></query>'], { responder: false });
      const version = await asked;
      assert.equal(version.getChild('query', 'jabber:iq:version')?.getChildText('name'), 'AS3 app');

      const bye = await rtmp.call('xmpp_disconnect', []);
      assert.deepEqual(bye?.values, ['disconnected']);
    });
  }

  test('inner XML that is not a well-formed fragment gets _error; the session stays up', async () => {
    const rtmp = await open({ objectEncoding: 3, handshake: 'simple', port: 'rtmp' });
    await rtmp.call('xmpp_connect', [{ username: 'rtmp3', domain: prosody.domain, password: 'three-secret', resource: 'bad-xml' }]);
    for (const inner of ['<body>unclosed', '</body><body>', '<body/><!-- comment -->', '<x:y/>', '<body>&bogus;</body>']) {
      const refused = await rtmp.call('xmpp', ['message', { to: native.jid }, inner]);
      assert.equal(refused?.name, '_error', inner);
      const status = refused?.values[0] as Obj;
      assert.equal(status['code'], 'NetConnection.Call.Failed');
      assert.match(String(status['description']), /not a well-formed fragment/);
    }
    const wrongType = await rtmp.call('xmpp', ['mesage', {}, '']);
    assert.equal(wrongType?.name, '_error');
    // Still logged in: a message goes through.
    await rtmp.call('xmpp', ['message', { to: native.jid, type: 'chat' }, '<body>still here</body>']);
    await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'still here');
  });

  test('an inbound iq the app leaves unanswered is answered by the gateway (service-unavailable)', async () => {
    const rtmp = await open({ objectEncoding: 0, handshake: 'simple', port: 'rtmp' });
    await rtmp.call('xmpp_connect', [{ username: 'rtmp0', domain: prosody.domain, password: 'zero-secret', resource: 'silent' }]);
    const started = Date.now();
    await assert.rejects(
      native.iq(xml('iq', { type: 'get', to: `rtmp0@${prosody.domain}/silent`, id: 'unanswered' }, xml('query', { xmlns: 'jabber:iq:version' })), 8000),
      /service-unavailable/,
    );
    await rtmp.nextInvoke('xmpp_iq');
    assert.ok(Date.now() - started >= 1500, 'the app had its --rtmp-unanswered-iq-timeout first');
  });

  test('a wrong password: the responder gets 0, then xmpp_disconnected("not-authorized")', async () => {
    const rtmp = await open({ objectEncoding: 3, handshake: 'simple', port: 'rtmp' });
    const login = await rtmp.call('xmpp_connect', [{ username: 'rtmp3', domain: prosody.domain, password: 'wrong', resource: 'x' }]);
    assert.deepEqual(login?.values, [0]);
    const why: RtmpInvoke = await rtmp.nextInvoke('xmpp_disconnected');
    assert.deepEqual(why.args, ['not-authorized']);
  });

  test('only configured domains: another domain gets 0 and host-unknown', async () => {
    const rtmp = await open({ objectEncoding: 0, handshake: 'simple', port: 'rtmp' });
    const login = await rtmp.call('xmpp_connect', [{ username: 'x', domain: 'elsewhere.example', password: 'y', resource: 'z' }]);
    assert.deepEqual(login?.values, [0]);
    assert.deepEqual((await rtmp.nextInvoke('xmpp_disconnected')).args, ['host-unknown']);
  });

  test('an unknown method gets NetConnection.Call.Failed; another application is rejected', async () => {
    const rtmp = await open({ objectEncoding: 0, handshake: 'simple', port: 'rtmp' });
    const unknown = await rtmp.call('xmpp_frobnicate', []);
    assert.equal(unknown?.name, '_error');
    assert.equal((unknown?.values[0] as Obj)['code'], 'NetConnection.Call.Failed');
    const other = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/live`, { objectEncoding: 0, allowRejection: true });
    clients.push(other);
    assert.equal(other.connectReply.name, '_error');
    assert.equal((other.connectReply.values[0] as Obj)['code'], 'NetConnection.Connect.Rejected');
  });

  test('an RTMP app and an XMLSocket app exchange a message and an iq through the same gateway', async () => {
    const rtmp = await open({ objectEncoding: 3, handshake: 'simple', port: 'rtmp' });
    await rtmp.call('xmpp_connect', [{ username: 'rtmp3', domain: prosody.domain, password: 'three-secret', resource: 'mixed' }]);
    const rtmpJid = `rtmp3@${prosody.domain}/mixed`;
    const flash = await NulFlashClient.connect('127.0.0.1', gateway.port, { domain: prosody.domain });
    const flashJid = await xiff3BetaFlashLogin(flash, { host: '127.0.0.1', user: 'nulpal', pass: 'pal-secret', resource: 'xmlsocket' });

    flash.send(`<message to="${rtmpJid}" type="chat"><body>hello RTMP</body></message>`);
    const message = await rtmp.nextInvoke('xmpp_message', (i) => String(i.args[1]).includes('hello RTMP'));
    assert.equal((message.args[0] as Obj)['from'], flashJid);

    const pending = rtmp.call('xmpp', ['iq', { type: 'get', to: flashJid, id: 'cross' }, '<query xmlns="jabber:iq:version"/>']);
    const asked = await flash.nextElement((e) => e.is('iq') && e.attrs['id'] === 'cross');
    flash.send(`<iq type="result" id="cross" to="${asked.attrs['from']}"><query xmlns="jabber:iq:version"><name>XIFF</name></query></iq>`);
    const answer = await pending;
    const [attrs, inner] = answer?.values[0] as [Obj, string];
    assert.equal(attrs['type'], 'result');
    assert.match(inner, /<name>XIFF<\/name>/);
    await flash.close();
    flash.assertNoViolations();
  });

  test('rtmpdump connects (smoke test)', async () => {
    const run = promisify(execFile);
    // rtmpdump connects, then fails to play a stream the gateway does not have: only the connect matters.
    const result = await run('rtmpdump', ['-r', `rtmp://127.0.0.1:${rtmpPort}/xmpp/none`, '-o', '/dev/null', '-m', '5', '-V'], { timeout: 20_000 }).catch((e: { stdout: string; stderr: string }) => e);
    assert.match(`${result.stdout}${result.stderr}`, /NetConnection\.Connect\.Success|Connected\.\.\./);
  });
});

describe('RTMP: the XMPP connection lost', () => {
  test('xmpp_disconnected(reason) reaches the app when the server connection drops', async () => {
    const prosody = await startProsody({ tls: false, users: [['lost', 'lost-secret']] });
    // A byte relay between the gateway and Prosody, cut mid-session.
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((inbound) => {
      const out = net.connect(prosody.c2sPort, prosody.host);
      sockets.add(inbound).add(out);
      inbound.pipe(out).pipe(inbound);
      inbound.on('error', () => out.destroy());
      out.on('error', () => inbound.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const relayPort = (relay.address() as net.AddressInfo).port;
    const { gateway, rtmpPort } = await startRtmpGatewayFor({ ...prosody, c2sPort: relayPort } as ProsodyInstance);
    const rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0 });
    try {
      const login = await rtmp.call('xmpp_connect', [{ username: 'lost', domain: prosody.domain, password: 'lost-secret', resource: 'r' }]);
      assert.deepEqual(login?.values, [1]);
      for (const s of sockets) s.destroy();
      const why = await rtmp.nextInvoke('xmpp_disconnected', () => true, 10_000);
      assert.equal(why.args[0], 'remote-connection-failed');
    } finally {
      await rtmp.close();
      await gateway.stop();
      relay.close();
      await prosody.stop();
    }
  });
});
