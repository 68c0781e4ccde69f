/** Several XMPP domains, each with its own server, from the config file's `domains:` map. */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { startProsody } from '../support/prosody.js';
import { NS_STREAM, NS_STREAM_ERRORS, RawFlashClient, sparkwebLogin, xiffHeader } from '../support/raw-client.js';

test('domains: each domain reaches its own server; other domains get host-unknown', async () => {
  const one = await startProsody({ tls: false, domain: 'one.test', users: [['ann', 'ann-secret']] });
  const two = await startProsody({ tls: false, domain: 'two.test', users: [['ben', 'ben-secret']] });
  const dir = await mkdtemp(join(tmpdir(), 'fxg-domains-'));
  const config = join(dir, 'gateway.yaml');
  await writeFile(
    config,
    `domains:\n  one.test:\n    upstream: 127.0.0.1:${one.c2sPort}\n    upstreamTls: off\n  two.test:\n    upstream: 127.0.0.1:${two.c2sPort}\n    upstreamTls: off\n`,
  );
  const gateway = await startGateway(['--config', config, '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0']);
  try {
    const ann = await RawFlashClient.connect('127.0.0.1', gateway.port);
    assert.equal(await sparkwebLogin(ann, { domain: 'one.test', user: 'ann', pass: 'ann-secret', resource: 'a' }), 'ann@one.test/a');
    const ben = await RawFlashClient.connect('127.0.0.1', gateway.port);
    assert.equal(await sparkwebLogin(ben, { domain: 'two.test', user: 'ben', pass: 'ben-secret', resource: 'b' }), 'ben@two.test/b');
    // ann exists only on one.test: the domain picks the server.
    const wrong = await RawFlashClient.connect('127.0.0.1', gateway.port);
    await assert.rejects(sparkwebLogin(wrong, { domain: 'two.test', user: 'ann', pass: 'ann-secret', resource: 'x' }), /not-authorized/);
    const other = await RawFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false });
    other.send(xiffHeader('three.test'));
    const error = await other.nextElement((e) => e.is('error', NS_STREAM));
    assert.ok(error.getChild('host-unknown', NS_STREAM_ERRORS));
    for (const c of [ann, ben, wrong, other]) c.destroy();
  } finally {
    await gateway.stop();
    await one.stop();
    await two.stop();
  }
});
