/**
 * flash.net.Socket clients (raw mode) through the gateway to real Prosody and ejabberd, with
 * the upstream in plaintext and with verified STARTTLS (shared/spec/flash-clients.md, "Raw mode").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGatewayFor, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, type NativeClient } from '../support/native-client.js';
import { NS_STREAM, RawFlashClient, scramLogin, sparkwebLogin, xiffHeader } from '../support/raw-client.js';
import { b64, plainMessage } from '../support/scram.js';
import { SERVER_KINDS } from '../support/servers.js';
import type { XmppServerInstance } from '../support/xmpp-server.js';
import { fullScenario } from './scenarios.js';

const USERS: [string, string][] = [
  ['alice', 'alice-secret'],
  ['carol', 'carol-secret'],
  ['bob', 'bob-secret'],
];

for (const kind of SERVER_KINDS) {
  for (const tls of [false, true]) {
    describe(`raw mode through the gateway to ${kind.name}, upstream ${tls ? 'STARTTLS (verified)' : 'plaintext'}`, () => {
      let prosody: XmppServerInstance;
      let gateway: GatewayProcess;
      let native: NativeClient;

      before(async () => {
        prosody = await kind.start({ tls, users: USERS });
        // debug level: the redaction test below then covers the most verbose logs.
        gateway = await startGatewayFor(prosody, { upstreamTls: tls ? 'required' : 'off', extraArgs: ['--log-level', 'debug'] });
        native = await connectNativeTo(prosody, 'bob', 'bob-secret', { resource: 'native' });
      });

      after(async () => {
        await native?.stop();
        await gateway?.stop();
        await prosody?.stop();
      });

      test('SparkWeb: self-closed header, SASL PLAIN with authzid, restart, bind, session; then chat, presence, iq, MUC, close', async () => {
        const flash = await RawFlashClient.connect('127.0.0.1', gateway.port, { name: 'sparkweb' });
        const jid = await sparkwebLogin(flash, { domain: prosody.domain, user: 'alice', pass: 'alice-secret', resource: 'sparkweb' });
        assert.equal(jid, `alice@${prosody.domain}/sparkweb`);
        // Two stream headers, one per stream (initial and after SASL), each with its features in one read.
        assert.equal(flash.streamHeaders.length, 2);
        assert.equal(flash.streamHeaders[0]?.['from'], prosody.domain);
        // The upstream hop really is TLS when the server offers it (and plaintext when off).
        const ready = await gateway.waitForLog((r) => r['msg'] === 'upstream stream ready');
        assert.equal(ready['tls'], tls);
        await fullScenario({ flash, flashJid: jid, native, mucDomain: prosody.mucDomain, tag: `sw-${kind.name}-${tls ? 'tls' : 'plain'}` });
      });

      test('a standard client with SCRAM-SHA-1: login, then chat, presence, iq, MUC, close', async () => {
        const flash = await RawFlashClient.connect('127.0.0.1', gateway.port, { name: 'scram' });
        const jid = await scramLogin(flash, { domain: prosody.domain, user: 'carol', pass: 'carol-secret', resource: 'xiff', mechanism: 'SCRAM-SHA-1' });
        assert.equal(jid, `carol@${prosody.domain}/xiff`);
        await fullScenario({ flash, flashJid: jid, native, mucDomain: prosody.mucDomain, tag: `sc-${kind.name}-${tls ? 'tls' : 'plain'}` });
      });

      test('the features the client sees hide STARTTLS, -PLUS mechanisms, compression and stream management', async () => {
        const flash = await RawFlashClient.connect('127.0.0.1', gateway.port, { name: 'features' });
        flash.send(xiffHeader(prosody.domain));
        const features = await flash.nextElement((e) => e.is('features', NS_STREAM));
        const names = features.elements().map((e) => `${e.uri} ${e.local}`);
        assert.ok(!names.some((n) => n.includes('xmpp-tls')), `no starttls: ${names.join(', ')}`);
        assert.ok(!names.some((n) => n.includes('urn:xmpp:sm')), 'no stream management');
        assert.ok(!names.some((n) => n.includes('compress')), 'no compression');
        const mechanisms = features.getChild('mechanisms')?.elements().map((m) => m.text()) ?? [];
        assert.ok(mechanisms.includes('PLAIN'), `mechanisms: ${mechanisms.join(' ')}`);
        assert.ok(!mechanisms.some((m) => m.endsWith('-PLUS')), `no channel binding: ${mechanisms.join(' ')}`);
        flash.assertNoViolations();
        await flash.close();
      });

      test('a wrong password gets the server’s SASL failure, and the stream stays usable', async () => {
        const flash = await RawFlashClient.connect('127.0.0.1', gateway.port, { name: 'wrong-password' });
        await assert.rejects(
          sparkwebLogin(flash, { domain: prosody.domain, user: 'alice', pass: 'nope', resource: 'x' }),
          /not-authorized/,
        );
        flash.assertNoViolations();
        await flash.close();
        assert.ok(flash.peerClosedStream);
      });

      test('a multi-byte character split across TCP segments arrives intact', async () => {
        const flash = await RawFlashClient.connect('127.0.0.1', gateway.port, { name: 'split-utf8' });
        const jid = await sparkwebLogin(flash, { domain: prosody.domain, user: 'alice', pass: 'alice-secret', resource: 'split' });
        const stanza = Buffer.from(`<message to="${native.jid}" type="chat"><body>split ✓ 𝄞 ${tls}</body></message>`);
        const cut = stanza.indexOf(Buffer.from('𝄞')) + 2; // inside the 4-byte sequence
        flash.sendBuffer(stanza.subarray(0, cut));
        await new Promise((r) => setTimeout(r, 50));
        flash.sendBuffer(stanza.subarray(cut));
        const got = await native.waitFor((m) => m.is('message') && m.attrs['from'] === jid);
        assert.equal(got.getChildText('body'), `split ✓ 𝄞 ${tls}`);
        await flash.close();
      });

      test('no password or SASL payload reaches the gateway’s log (debug level)', () => {
        const logs = gateway.logs();
        assert.ok(logs.includes('client authenticated'), 'the log covers the logins');
        for (const [user, pass] of USERS) {
          assert.ok(!logs.includes(pass), `password of ${user} not logged`);
          assert.ok(!logs.includes(b64(plainMessage(`${user}@${prosody.domain}`, user, pass))), `PLAIN payload of ${user} not logged`);
        }
      });
    });
  }
}
