/**
 * XMLSocket clients (NUL mode) through the gateway to a real server, upstream in plaintext and
 * with verified STARTTLS: XIFF 3 betas (`flash:stream`, legacy iq:auth), XIFF 2 (self-closed
 * header, `to` = the gateway's IP, iq:auth without waiting), and a NUL-mode SASL client
 * (shared/spec/flash-clients.md, "The client generations", "NUL mode").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGatewayFor, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, type NativeClient } from '../support/native-client.js';
import { NulFlashClient, nulSaslLogin, xiff2Login, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { LoginError } from '../support/raw-client.js';
import { SERVER_KINDS } from '../support/servers.js';
import type { XmppServerInstance } from '../support/xmpp-server.js';
import { fullScenario } from './scenarios.js';

const USERS: [string, string][] = [
  ['xiffbeta', 'beta-secret'],
  ['xiff2', 'two-secret'],
  ['nulsasl', 'sasl-secret'],
  ['peer', 'peer-secret'],
];

for (const kind of SERVER_KINDS) {
  for (const tls of [false, true]) {
    describe(`NUL mode through the gateway to ${kind.name}, upstream ${tls ? 'STARTTLS (verified)' : 'plaintext'}`, () => {
      let server: XmppServerInstance;
      let gateway: GatewayProcess;
      let native: NativeClient;
      const tag = (what: string): string => `${what}-${kind.name}-${tls ? 'tls' : 'plain'}`;

      before(async () => {
        server = await kind.start({ tls, users: USERS });
        gateway = await startGatewayFor(server, { upstreamTls: tls ? 'required' : 'off', extraArgs: ['--log-level', 'debug'] });
        native = await connectNativeTo(server, 'peer', 'peer-secret', { resource: 'native' });
      });
      after(async () => {
        await native?.stop();
        await gateway?.stop();
        await server?.stop();
      });

      test('XIFF 3 beta, flash:stream: Openfire’s header back, iq:auth login, chat, presence, iq, MUC, close', async () => {
        const flash = await NulFlashClient.connect('127.0.0.1', gateway.port, { name: 'xiff3beta', domain: server.domain });
        const jid = await xiff3BetaFlashLogin(flash, { host: '127.0.0.1', user: 'xiffbeta', pass: 'beta-secret', resource: 'xiff' });
        assert.equal(jid, `xiffbeta@${server.domain}/xiff`);
        assert.equal(flash.headerForm, 'open');
        await fullScenario({ flash, flashJid: jid, native, mucDomain: server.mucDomain, tag: tag('beta') });
      });

      test('XIFF 2: self-closed header to the gateway’s IP, iq:auth without waiting; then the whole scenario', async () => {
        const flash = await NulFlashClient.connect('127.0.0.1', gateway.port, { name: 'xiff2', domain: server.domain });
        const jid = await xiff2Login(flash, { host: '127.0.0.1', user: 'xiff2', pass: 'two-secret', resource: 'as2' });
        assert.equal(jid, `xiff2@${server.domain}/as2`);
        // The header mirrors the client's own self-closed form, so each packet parses alone.
        assert.equal(flash.headerForm, 'self-closed');
        // XIFF pings the host it dialled; the gateway answers for it.
        flash.send(`<iq type="get" id="ping-host" to="127.0.0.1"><ping xmlns="urn:xmpp:ping"/></iq>`);
        const pong = await flash.nextElement((e) => e.is('iq') && e.attrs['id'] === 'ping-host');
        assert.equal(pong.attrs['type'], 'result');
        await fullScenario({ flash, flashJid: jid, native, mucDomain: server.mucDomain, tag: tag('xiff2') });
      });

      for (const mechanism of ['PLAIN', 'SCRAM-SHA-1'] as const) {
        test(`a NUL-mode client doing SASL ${mechanism}: restart, bind, session, then the whole scenario`, async () => {
          const flash = await NulFlashClient.connect('127.0.0.1', gateway.port, { name: `nul-${mechanism}`, domain: server.domain });
          const jid = await nulSaslLogin(flash, { domain: server.domain, user: 'nulsasl', pass: 'sasl-secret', resource: mechanism, mechanism });
          assert.equal(jid, `nulsasl@${server.domain}/${mechanism}`);
          await fullScenario({ flash, flashJid: jid, native, mucDomain: server.mucDomain, tag: tag(mechanism.toLowerCase()) });
        });
      }

      test('a wrong password over iq:auth gets not-authorized (401), and the client may try again', async () => {
        const flash = await NulFlashClient.connect('127.0.0.1', gateway.port, { name: 'wrong', domain: server.domain });
        await assert.rejects(xiff3BetaFlashLogin(flash, { host: '127.0.0.1', user: 'xiffbeta', pass: 'wrong', resource: 'w' }), (error: unknown) => {
          assert.ok(error instanceof LoginError);
          const refusal = error.element?.getChild('error');
          assert.equal(refusal?.attrs['code'], '401');
          assert.ok(refusal?.getChild('not-authorized'), error.message);
          return true;
        });
        flash.send(`<iq type="set" id="retry"><query xmlns="jabber:iq:auth"><username>xiffbeta</username><password>beta-secret</password><resource>retry</resource></query></iq>`);
        const retried = await flash.nextElement((e) => e.is('iq') && e.attrs['id'] === 'retry', 10_000);
        assert.equal(retried.attrs['type'], 'result', retried.toString());
        await flash.close();
        flash.assertNoViolations();
      });

      test('no password reaches the gateway’s log', () => {
        const logs = gateway.logs();
        assert.ok(logs.includes('client authenticated'));
        for (const [, pass] of USERS) assert.ok(!logs.includes(pass));
      });
    });
  }
}
