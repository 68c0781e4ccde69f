/**
 * Per-client rate limits on RTMP calls (docs/rtmp-api.md, "Call rate"), end to end: a real
 * Prosody, the gateway's CLI and a real RTMP client (python3-librtmp). Over `--rate-limit`,
 * calls wait their turn in order; more than `--max-pending-stanzas` waiting closes the
 * connection with onStatus NetConnection.Connect.Closed saying why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRtmpGatewayFor, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, type NativeClient } from '../support/native-client.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { RtmpTestClient, type AmfJson } from '../support/rtmp-client.js';

const USERS: [string, string][] = [
  ['rlsend', 'send-secret'],
  ['rlpeer', 'peer-secret'],
  ['rlflood', 'flood-secret'],
];

type Obj = Record<string, AmfJson>;

describe('RTMP call rate limit against Prosody', () => {
  let prosody: ProsodyInstance;
  let native: NativeClient;
  const gateways: GatewayProcess[] = [];

  before(async () => {
    prosody = await startProsody({ tls: false, users: USERS });
    native = await connectNativeTo(prosody, 'rlpeer', 'peer-secret', { resource: 'native' });
  });
  after(async () => {
    await RtmpTestClient.closeAll();
    await native?.stop();
    for (const g of gateways) await g.stop();
    await prosody?.stop();
  });

  test('over --rate-limit, calls are slowed, all delivered in order, and the connection stays up', async () => {
    const { gateway, rtmpPort } = await startRtmpGatewayFor(prosody, ['--rate-limit', '5', '--rate-burst', '5']);
    gateways.push(gateway);
    const rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 3, name: 'paced' });
    const login = await rtmp.call('xmpp_connect', [{ username: 'rlsend', domain: prosody.domain, password: 'send-secret', resource: 'paced' }]);
    assert.deepEqual(login?.values, [1]);

    // 25 calls at once: about 5 pass on the burst, the other 20 at 5 per second (about 4 s).
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 25 }, (_, i) => rtmp.send('xmpp', ['message', { to: native.jid, type: 'chat' }, `<body>paced ${i}</body>`])),
    );
    const arrivals: number[] = [];
    for (let i = 0; i < 25; i++) {
      await native.waitFor((s) => s.is('message') && s.getChildText('body') === `paced ${i}`, 15_000);
      arrivals.push(Date.now() - started);
    }
    const elapsed = arrivals[24] as number;
    assert.ok(elapsed >= 3000, `slowed to the rate: ${elapsed} ms for 25 calls at 5/s with a burst of 5`);
    assert.ok((arrivals[0] as number) < elapsed - 2000, `the burst went at once, the rest over time: ${arrivals.join(', ')} ms`);

    const bodies = native.received.filter((s) => s.is('message') && /^paced \d+$/.test(s.getChildText('body') ?? '')).map((s) => s.getChildText('body'));
    assert.deepEqual(bodies, Array.from({ length: 25 }, (_, i) => `paced ${i}`), 'every call delivered once, in order');

    // Still connected and logged in: a call with a responder is answered.
    const disco = await rtmp.call('xmpp', ['iq', { type: 'get', to: prosody.domain }, '<query xmlns="http://jabber.org/protocol/disco#info"/>'], { timeoutMs: 10_000 });
    assert.equal(disco?.name, '_result');
    assert.equal(((disco?.values[0] as [Obj, string])[0])['type'], 'result');
    assert.equal(rtmp.isClosed, false);
    assert.deepEqual(rtmp.invokes.filter((i) => i.name === 'onStatus'), [], 'no NetConnection.Connect.Closed');
    await rtmp.close();
  });

  test('more calls waiting than --max-pending-stanzas: closed with the reason; a fresh client logs in right after', async () => {
    const { gateway, rtmpPort } = await startRtmpGatewayFor(prosody, ['--rate-limit', '10', '--rate-burst', '1', '--max-pending-stanzas', '3']);
    gateways.push(gateway);
    const flood = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0, name: 'flood' });
    const login = await flood.call('xmpp_connect', [{ username: 'rlflood', domain: prosody.domain, password: 'flood-secret', resource: 'flood' }]);
    assert.deepEqual(login?.values, [1]);

    // Sends after the gateway closed the connection fail in the driver: only the close matters.
    // 120 calls of 1 KiB: more than the socket's read buffer, so while the gateway is paused the
    // rest piles up in the kernel and arrives in one read — a flood the gateway cannot pace away
    // one small read at a time (what Node had already read, it hands over one chunk per resume).
    const padding = 'x'.repeat(1024);
    await Promise.allSettled(Array.from({ length: 120 }, (_, i) => flood.send('xmpp', ['presence', {}, `<status>flood ${i} ${padding}</status>`])));
    const status = await flood.nextInvoke('onStatus', () => true, 20_000);
    const info = status.args[0] as Obj;
    assert.equal(info['code'], 'NetConnection.Connect.Closed');
    assert.match(String(info['description']), /^policy-violation: more than 10 calls per second, and 3 waiting$/);
    const closed = await flood.waitClosed(10_000);
    assert.equal(closed.by, 'server');
    const logged = await gateway.waitForLog((r) => r['level'] === 'info' && /RTMP call rate exceeded/.test(String(r['msg'])), 5000);
    assert.equal(logged['code'], 'policy-violation');

    const fresh = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 3, name: 'fresh' });
    const again = await fresh.call('xmpp_connect', [{ username: 'rlflood', domain: prosody.domain, password: 'flood-secret', resource: 'fresh' }]);
    assert.deepEqual(again?.values, [1]);
    await fresh.send('xmpp', ['message', { to: native.jid, type: 'chat' }, '<body>after the flood</body>']);
    await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'after the flood');
    await fresh.close();
  });
});
