/**
 * RTMPS: RTMP inside TLS on its own port, TLS 1.2 by default because librtmp (GnuTLS) fails on
 * TLS 1.3 session tickets (shared/spec/rtmp.md), driven by the real librtmp client.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { makeTestPki } from '../support/certs.js';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, type NativeClient } from '../support/native-client.js';
import { freePort } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { RtmpTestClient } from '../support/rtmp-client.js';

describe('RTMPS against Prosody', () => {
  let prosody: ProsodyInstance;
  let gateway: GatewayProcess;
  let native: NativeClient;
  let rtmpsPort: number;

  before(async () => {
    prosody = await startProsody({ tls: false, users: [['secure', 'secure-secret'], ['speer', 'peer-secret']] });
    const pki = await makeTestPki(await mkdtemp(join(tmpdir(), 'fxg-rtmps-')), ['localhost']);
    rtmpsPort = await freePort();
    gateway = await startGateway(
      [
        '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0',
        '--rtmps-port', String(rtmpsPort), '--rtmp-host', '127.0.0.1',
        '--tls-cert', pki.cert, '--tls-key', pki.key,
        '--upstream', `${prosody.host}:${prosody.c2sPort}`, '--domain', prosody.domain, '--upstream-tls', 'off',
      ],
      { listeners: 2 },
    );
    native = await connectNativeTo(prosody, 'speer', 'peer-secret', { resource: 'native' });
  });
  after(async () => {
    await native?.stop();
    await gateway?.stop();
    await prosody?.stop();
  });

  test('the call API over rtmps:// with librtmp: login and a message', async () => {
    const rtmp = await RtmpTestClient.connect(`rtmps://127.0.0.1:${rtmpsPort}/xmpp`, { objectEncoding: 0 });
    try {
      assert.deepEqual((await rtmp.call('xmpp_connect', [{ username: 'secure', domain: prosody.domain, password: 'secure-secret', resource: 'tls' }]))?.values, [1]);
      await rtmp.call('xmpp', ['message', { to: native.jid, type: 'chat' }, '<body>over RTMPS</body>']);
      const got = await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'over RTMPS');
      assert.equal(got.attrs['from'], `secure@${prosody.domain}/tls`);
    } finally {
      await rtmp.close();
    }
  });

  test('TLS 1.2 is what the port speaks by default; a TLS 1.3-only client is refused', async () => {
    const version = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: rtmpsPort, rejectUnauthorized: false }, () => {
        resolve(socket.getProtocol() ?? '');
        socket.destroy();
      });
      socket.on('error', reject);
    });
    assert.equal(version, 'TLSv1.2');
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: rtmpsPort, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => resolve(socket));
        socket.on('error', reject);
      }),
    );
  });
});
