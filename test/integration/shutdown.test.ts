/**
 * SIGTERM with live clients of every transport: the gateway stops accepting, tells each client
 * (a `system-shutdown` stream error in its own framing, `xmpp_disconnected` on RTMP), closes the
 * XMPP streams, and exits by itself within the shutdown timeout.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../support/gateway.js';
import { connectNativeTo, xml } from '../support/native-client.js';
import { NulFlashClient, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { freePort } from '../support/ports.js';
import { startProsody } from '../support/prosody.js';
import { NS_STREAM, RawFlashClient, sparkwebLogin } from '../support/raw-client.js';
import { RtmpTestClient, type AmfJson } from '../support/rtmp-client.js';
import { startWsBridge } from '../support/ws-bridge.js';

const MUC = 'http://jabber.org/protocol/muc';

test('SIGTERM: every client is told, the XMPP sessions end, the process exits 0 within the timeout', async () => {
  const prosody = await startProsody({
    tls: false,
    users: [['raw', 'raw-secret'], ['nul', 'nul-secret'], ['ws', 'ws-secret'], ['rtmp', 'rtmp-secret'], ['watcher', 'watch-secret']],
  });
  const httpPort = await freePort();
  const rtmpPort = await freePort();
  const gateway = await startGateway(
    [
      '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0',
      '--http-port', String(httpPort), '--http-host', '127.0.0.1',
      '--rtmp-port', String(rtmpPort), '--rtmp-host', '127.0.0.1',
      '--upstream', `${prosody.host}:${prosody.c2sPort}`, '--domain', prosody.domain, '--upstream-tls', 'off',
      '--shutdown-timeout', '5',
    ],
    { listeners: 3 },
  );
  const bridge = await startWsBridge(`ws://127.0.0.1:${httpPort}/xmlsocket`);
  const watcher = await connectNativeTo(prosody, 'watcher', 'watch-secret', { resource: 'w' });
  const room = `shutdown@${prosody.mucDomain}`;
  try {
    await watcher.send(xml('presence', { to: `${room}/watcher` }, xml('x', { xmlns: MUC })));
    await watcher.waitFor((s) => s.is('presence') && s.attrs['from'] === `${room}/watcher`);

    const raw = await RawFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false });
    await sparkwebLogin(raw, { domain: prosody.domain, user: 'raw', pass: 'raw-secret', resource: 'r' });
    const nul = await NulFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false, domain: prosody.domain });
    await xiff3BetaFlashLogin(nul, { host: '127.0.0.1', user: 'nul', pass: 'nul-secret', resource: 'n' });
    const ws = await NulFlashClient.connect('127.0.0.1', bridge.port, { failOnStreamError: false, domain: prosody.domain });
    await xiff3BetaFlashLogin(ws, { host: 'localhost', user: 'ws', pass: 'ws-secret', resource: 'w' });
    const rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0 });
    assert.deepEqual((await rtmp.call('xmpp_connect', [{ username: 'rtmp', domain: prosody.domain, password: 'rtmp-secret', resource: 'a' }]))?.values, [1]);

    // Everyone joins the room, so the watcher sees each XMPP session end.
    raw.send(`<presence to="${room}/raw"><x xmlns="${MUC}"/></presence>`);
    nul.send(`<presence to="${room}/nul"><x xmlns="${MUC}"/></presence>`);
    ws.send(`<presence to="${room}/ws"><x xmlns="${MUC}"/></presence>`);
    await rtmp.call('xmpp', ['presence', { to: `${room}/rtmp` }, `<x xmlns="${MUC}"/>`]);
    for (const nick of ['raw', 'nul', 'ws', 'rtmp']) await watcher.waitFor((s) => s.is('presence') && s.attrs['from'] === `${room}/${nick}`);

    const started = Date.now();
    gateway.proc.kill('SIGTERM');

    for (const client of [raw, nul, ws]) {
      const error = await client.nextElement((e) => e.is('error', NS_STREAM), 10_000);
      assert.ok(error.getChild('system-shutdown'), error.toString());
      await client.waitClosed(10_000);
      client.assertNoViolations();
    }
    assert.deepEqual(bridge.violations, []);
    const disconnected = await rtmp.nextInvoke('xmpp_disconnected', () => true, 10_000);
    assert.deepEqual(disconnected.args, ['system-shutdown']);
    const status = await rtmp.nextInvoke('onStatus', () => true, 10_000);
    assert.equal((status.args[0] as Record<string, AmfJson>)['code'], 'NetConnection.Connect.Closed');

    for (const nick of ['raw', 'nul', 'ws', 'rtmp']) {
      await watcher.waitFor((s) => s.is('presence') && s.attrs['from'] === `${room}/${nick}` && s.attrs['type'] === 'unavailable', 10_000);
    }
    await new Promise<void>((resolve) => (gateway.exited ? resolve() : gateway.proc.once('exit', () => resolve())));
    assert.equal(gateway.exitCode, 0, gateway.logs().slice(-2000));
    assert.ok(Date.now() - started < 10_000, 'exited well within the timeout (+ margin)');
    // Nothing listens any more.
    await assert.rejects(new Promise((resolve, reject) => net.connect(gateway.port, '127.0.0.1').on('connect', resolve).on('error', reject)));
    await rtmp.close();
  } finally {
    await watcher.stop();
    await bridge.close();
    await gateway.stop();
    await prosody.stop();
  }
});
