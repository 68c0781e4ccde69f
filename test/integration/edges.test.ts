/**
 * The gateway's edges through its command line: the policy service (port 843 and inline),
 * no open relay, upstream failures told to the client, TLS refusals, limits, and the CLI itself.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { GATEWAY_CLI, startGateway, startGatewayFor, type GatewayProcess } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { NS_STREAM, NS_STREAM_ERRORS, RawFlashClient, sparkwebLogin, xiffHeader, type XmlElement } from '../support/raw-client.js';

const run = promisify(execFile);
const POLICY_REQUEST = '<policy-file-request/>\0';

/** Sends bytes, reads everything until the peer closes. */
function exchange(port: number, bytes: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error('no close within 5 s'));
    });
    socket.write(bytes);
  });
}

function expectedPolicy(port: number): string {
  return (
    '<?xml version="1.0"?><!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">' +
    '<cross-domain-policy><site-control permitted-cross-domain-policies="master-only"/>' +
    `<allow-access-from domain="*" to-ports="${port}"/></cross-domain-policy>\0`
  );
}

/** The stream error condition and text the client received. */
async function streamError(client: RawFlashClient): Promise<{ condition: string; text: string }> {
  const error: XmlElement = await client.nextElement((e) => e.is('error', NS_STREAM), 10_000);
  const condition = error.elements().find((e) => e.uri === NS_STREAM_ERRORS && e.local !== 'text')?.local ?? '';
  const text = error.getChildText('text', NS_STREAM_ERRORS) ?? '';
  await client.waitClosed(5000);
  return { condition, text };
}

async function connectFailing(port: number): Promise<RawFlashClient> {
  return RawFlashClient.connect('127.0.0.1', port, { failOnStreamError: false });
}

describe('edges, against a plaintext Prosody', () => {
  let prosody: ProsodyInstance;
  let gateway: GatewayProcess;

  before(async () => {
    prosody = await startProsody({ tls: false, users: [['dave', 'dave-secret']] });
    gateway = await startGatewayFor(prosody, {
      policy: true,
      extraArgs: ['--max-stanza-bytes', '4096', '--max-connections-per-ip', '40'],
    });
  });
  after(async () => {
    await gateway?.stop();
    await prosody?.stop();
  });

  test('policy port: the policy file listing only the Flash port, a NUL, then close', async () => {
    const reply = await exchange(gateway.policyPort as number, POLICY_REQUEST);
    assert.equal(reply.toString('utf8'), expectedPolicy(gateway.port));
  });

  test('policy port: GET /crossdomain.xml over HTTP', async () => {
    const reply = (await exchange(gateway.policyPort as number, 'GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\n\r\n')).toString();
    assert.match(reply, /^HTTP\/1\.0 200 OK\r\n/);
    assert.ok(reply.endsWith(expectedPolicy(gateway.port).slice(0, -1)));
  });

  test('policy port: anything else is closed without an answer', async () => {
    assert.equal((await exchange(gateway.policyPort as number, 'hello there\r\n')).length, 0);
  });

  test('main port: inline policy, also after stray NULs and split across writes', async () => {
    assert.equal((await exchange(gateway.port, POLICY_REQUEST)).toString('utf8'), expectedPolicy(gateway.port));
    assert.equal((await exchange(gateway.port, '\0\0' + POLICY_REQUEST)).toString('utf8'), expectedPolicy(gateway.port));
    const split = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: gateway.port });
      let got = '';
      socket.on('data', (c) => (got += c.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      socket.write('<policy-fi');
      setTimeout(() => socket.write('le-request/>\0'), 100);
    });
    assert.equal(split, expectedPolicy(gateway.port));
  });

  test('no open relay: another domain gets host-unknown and no upstream connection is made', async () => {
    // A plain TCP listener stands in for "some server": the test only counts connections to it.
    const port = await freePort();
    let connections = 0;
    const counter = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => counter.listen(port, '127.0.0.1', r));
    const relay = await startGateway(['--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0', '--upstream', `127.0.0.1:${port}`, '--domain', 'example.org', '--upstream-tls', 'off']);
    try {
      const client = await connectFailing(relay.port);
      client.send(xiffHeader('evil.example'));
      const error = await streamError(client);
      assert.equal(error.condition, 'host-unknown');
      assert.match(error.text, /evil\.example/);
      assert.equal(client.streamHeaders.length, 1, 'a header precedes the stream error (RFC 6120 §4.9.1.2)');
      client.assertNoViolations();
      assert.equal(connections, 0);
    } finally {
      await relay.stop();
      counter.close();
    }
  });

  test('stanzas piling up while the server does not answer: over --max-pending-stanzas, policy-violation', async () => {
    // A listener that accepts and never answers stands in for a hung server.
    const silent = net.createServer(() => undefined);
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    const g = await startGateway(['--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0', '--upstream', `127.0.0.1:${port}`, '--domain', 'localhost', '--upstream-tls', 'off', '--max-pending-stanzas', '3']);
    try {
      const client = await connectFailing(g.port);
      client.send(xiffHeader('localhost') + '<presence/>'.repeat(4));
      const error = await streamError(client);
      assert.equal(error.condition, 'policy-violation');
      assert.match(error.text, /more than 3 stanzas/);
    } finally {
      await g.stop();
      silent.close();
    }
  });

  test('an unreachable server reaches the client as remote-connection-failed with the reason', async () => {
    const deadPort = await freePort();
    const g = await startGateway(['--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0', '--upstream', `127.0.0.1:${deadPort}`, '--domain', 'localhost', '--upstream-tls', 'off']);
    try {
      const client = await connectFailing(g.port);
      client.send(xiffHeader('localhost'));
      const error = await streamError(client);
      assert.equal(error.condition, 'remote-connection-failed');
      assert.match(error.text, /cannot reach the XMPP server at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
      client.assertNoViolations();
    } finally {
      await g.stop();
    }
  });

  test('TLS required but the server offers none: refused, and the client is told why', async () => {
    const g = await startGatewayFor(prosody, { upstreamTls: 'required' });
    try {
      const client = await connectFailing(g.port);
      client.send(xiffHeader(prosody.domain));
      const error = await streamError(client);
      assert.equal(error.condition, 'remote-connection-failed');
      assert.match(error.text, /does not offer STARTTLS/);
    } finally {
      await g.stop();
    }
  });

  test('a stanza over --max-stanza-bytes ends only that connection with policy-violation', async () => {
    const big = await RawFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false });
    await sparkwebLogin(big, { domain: prosody.domain, user: 'dave', pass: 'dave-secret', resource: 'big' });
    big.send(`<message to="dave@${prosody.domain}"><body>${'x'.repeat(8000)}</body></message>`);
    const error = await streamError(big);
    assert.equal(error.condition, 'policy-violation');
    assert.match(error.text, /4096/);
    // The gateway is still up: a fresh client logs in right after.
    const fresh = await RawFlashClient.connect('127.0.0.1', gateway.port);
    await sparkwebLogin(fresh, { domain: prosody.domain, user: 'dave', pass: 'dave-secret', resource: 'fresh' });
    await fresh.close();
  });

  test('malformed XML ends the connection with not-well-formed; the gateway stays up', async () => {
    const bad = await connectFailing(gateway.port);
    bad.send(xiffHeader(prosody.domain));
    await bad.nextElement((e) => e.is('features', NS_STREAM));
    bad.send('<message><body>oops</message>');
    assert.equal((await streamError(bad)).condition, 'not-well-formed');

    const dtd = await connectFailing(gateway.port);
    dtd.send('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><stream:stream/>');
    assert.equal((await streamError(dtd)).condition, 'restricted-xml');

    const fresh = await RawFlashClient.connect('127.0.0.1', gateway.port);
    await sparkwebLogin(fresh, { domain: prosody.domain, user: 'dave', pass: 'dave-secret', resource: 'after-bad' });
    await fresh.close();
  });

  test('a client asking for hidden features gets the gateway’s own answer, nothing is forwarded', async () => {
    const tlsAsker = await RawFlashClient.connect('127.0.0.1', gateway.port);
    tlsAsker.send(xiffHeader(prosody.domain));
    await tlsAsker.nextElement((e) => e.is('features', NS_STREAM));
    tlsAsker.send('<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>');
    await tlsAsker.nextElement((e) => e.is('failure', 'urn:ietf:params:xml:ns:xmpp-tls'));
    await tlsAsker.waitStreamClosed();
    tlsAsker.assertNoViolations();

    const smAsker = await RawFlashClient.connect('127.0.0.1', gateway.port);
    await sparkwebLogin(smAsker, { domain: prosody.domain, user: 'dave', pass: 'dave-secret', resource: 'sm' });
    smAsker.send('<enable xmlns="urn:xmpp:sm:3" resume="true"/>');
    const failed = await smAsker.nextElement((e) => e.is('failed', 'urn:xmpp:sm:3'));
    assert.ok(failed.getChild('feature-not-implemented'));
    smAsker.send('<compress xmlns="http://jabber.org/protocol/compress"><method>zlib</method></compress>');
    await smAsker.nextElement((e) => e.is('failure', 'http://jabber.org/protocol/compress'));
    // The stream still works after both refusals.
    smAsker.send(`<iq type="get" id="still-here" to="${prosody.domain}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    const pong = await smAsker.nextElement((e) => e.is('iq') && e.attrs['id'] === 'still-here');
    assert.equal(pong.attrs['type'], 'result');
    await smAsker.close();
    smAsker.assertNoViolations();
  });

  test('connections per address: over the limit, the client gets policy-violation', async () => {
    const g = await startGatewayFor(prosody, { extraArgs: ['--max-connections-per-ip', '2'] });
    const clients: RawFlashClient[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const c = await RawFlashClient.connect('127.0.0.1', g.port);
        c.send(xiffHeader(prosody.domain));
        await c.nextElement((e) => e.is('features', NS_STREAM));
        clients.push(c);
      }
      const third = await connectFailing(g.port);
      third.send(xiffHeader(prosody.domain));
      const error = await streamError(third);
      assert.equal(error.condition, 'policy-violation');
      assert.match(error.text, /too many connections/);
      // A slot frees when a client leaves (as soon as the gateway has seen its socket close).
      await clients.pop()?.close();
      const deadline = Date.now() + 5000;
      for (;;) {
        const again = await connectFailing(g.port);
        again.send(xiffHeader(prosody.domain));
        const first = await again.nextElement((e) => e.is('features', NS_STREAM) || e.is('error', NS_STREAM));
        if (first.is('features', NS_STREAM)) {
          clients.push(again);
          break;
        }
        again.destroy();
        assert.ok(Date.now() < deadline, 'the slot was freed within 5 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      for (const c of clients) c.destroy();
      await g.stop();
    }
  });

  test('silent connections hold their slots too: a flood of idle sockets cannot dodge the limit', async () => {
    const g = await startGatewayFor(prosody, { extraArgs: ['--max-connections-per-ip', '2', '--sniff-timeout', '30'] });
    const silent: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const s = net.connect({ host: '127.0.0.1', port: g.port });
        await new Promise((r) => s.once('connect', r));
        silent.push(s);
      }
      await new Promise((r) => setTimeout(r, 100));
      const refused = await connectFailing(g.port);
      refused.send(xiffHeader(prosody.domain));
      assert.equal((await streamError(refused)).condition, 'policy-violation');
    } finally {
      for (const s of silent) s.destroy();
      await g.stop();
    }
  });

  test('throwaway connections (XIFF 3.4.5 opens one) leave nothing behind: their slots come back', async () => {
    const g = await startGatewayFor(prosody, { extraArgs: ['--max-connections-per-ip', '3'] });
    try {
      for (let i = 0; i < 12; i++) {
        const throwaway = await RawFlashClient.connect('127.0.0.1', g.port);
        // Some close right after the header, some once the upstream stream is up.
        throwaway.send(xiffHeader(prosody.domain));
        if (i % 2 === 1) await throwaway.nextElement((e) => e.is('features', NS_STREAM));
        throwaway.destroy();
      }
      const deadline = Date.now() + 5000;
      for (;;) {
        const fresh = await connectFailing(g.port);
        try {
          await sparkwebLogin(fresh, { domain: prosody.domain, user: 'dave', pass: 'dave-secret', resource: 'after-throwaways' });
          await fresh.close();
          break;
        } catch (error) {
          fresh.destroy();
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      await g.stop();
    }
  });

  test('--connection-limit-exempt: an exempt address is not held to --max-connections-per-ip', async () => {
    const g = await startGatewayFor(prosody, { extraArgs: ['--max-connections-per-ip', '1', '--connection-limit-exempt', '127.0.0.0/8'] });
    const clients: RawFlashClient[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await RawFlashClient.connect('127.0.0.1', g.port);
        c.send(xiffHeader(prosody.domain));
        await c.nextElement((e) => e.is('features', NS_STREAM));
        clients.push(c);
      }
    } finally {
      for (const c of clients) c.destroy();
      await g.stop();
    }
  });

  test('--rate-limit: a flood is slowed to the rate, and nothing is lost', async () => {
    const g = await startGatewayFor(prosody, { extraArgs: ['--rate-limit', '10', '--rate-burst', '5'] });
    try {
      const sender = await RawFlashClient.connect('127.0.0.1', g.port);
      const jid = await sparkwebLogin(sender, { domain: prosody.domain, user: 'dave', pass: 'dave-secret', resource: 'flood' });
      const started = Date.now();
      // 25 iq pings in one write: 5 pass at once, the other 20 at 10 per second (about 2 s).
      sender.send(Array.from({ length: 25 }, (_, i) => `<iq type="get" id="f${i}" to="${prosody.domain}"><ping xmlns="urn:xmpp:ping"/></iq>`).join(''));
      for (let i = 0; i < 25; i++) await sender.nextElement((e) => e.is('iq') && e.attrs['id'] === `f${i}`, 10_000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1500, `slowed to the rate: ${elapsed} ms for 25 stanzas at 10/s with a burst of 5`);
      assert.ok(jid);
      await sender.close();
    } finally {
      await g.stop();
    }
  });

  test('a client that never authenticates is told so after --auth-timeout', async () => {
    const g = await startGatewayFor(prosody, { extraArgs: ['--auth-timeout', '1'] });
    try {
      const slow = await connectFailing(g.port);
      slow.send(xiffHeader(prosody.domain));
      const error = await streamError(slow);
      assert.equal(error.condition, 'policy-violation');
      assert.match(error.text, /not authenticated within 1 s/);
    } finally {
      await g.stop();
    }
  });

  test('a silent client is dropped after --idle-timeout with connection-timeout', async () => {
    const g = await startGatewayFor(prosody, { extraArgs: ['--idle-timeout', '1'] });
    try {
      const idle = await connectFailing(g.port);
      await sparkwebLogin(idle, { domain: prosody.domain, user: 'dave', pass: 'dave-secret', resource: 'idle' });
      const error = await streamError(idle);
      assert.equal(error.condition, 'connection-timeout');
    } finally {
      await g.stop();
    }
  });
});

describe('edges, against a STARTTLS Prosody', () => {
  let prosody: ProsodyInstance;
  before(async () => {
    prosody = await startProsody({ tls: true, users: [['erin', 'erin-secret']] });
  });
  after(async () => prosody?.stop());

  test('a certificate from the wrong CA is refused, and the client is told why', async () => {
    const wrongCa = prosody.pki?.wrongCaCert;
    assert.ok(wrongCa, 'the test PKI has a wrong CA');
    const g = await startGatewayFor({ ...prosody, caCert: wrongCa }, { upstreamTls: 'required' });
    try {
      const client = await connectFailing(g.port);
      client.send(xiffHeader(prosody.domain));
      const error = await streamError(client);
      assert.equal(error.condition, 'remote-connection-failed');
      assert.match(error.text, /TLS certificate of the XMPP server was not accepted/);
    } finally {
      await g.stop();
    }
  });

  test('without --upstream-ca the self-signed CA is not trusted either', async () => {
    const g = await startGateway(['--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0', '--upstream', `${prosody.host}:${prosody.c2sPort}`, '--domain', prosody.domain]);
    try {
      const client = await connectFailing(g.port);
      client.send(xiffHeader(prosody.domain));
      const error = await streamError(client);
      assert.equal(error.condition, 'remote-connection-failed');
      assert.match(error.text, /certificate/);
    } finally {
      await g.stop();
    }
  });
});

describe('the command line', () => {
  test('--help lists the contract flags; --version prints the version', async () => {
    const help = await run(process.execPath, [GATEWAY_CLI, '--help']);
    for (const flag of ['--listen', '--policy-port', '--upstream', '--domain', '--upstream-tls', '--upstream-ca', '--config']) {
      assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
    }
    const version = await run(process.execPath, [GATEWAY_CLI, '--version']);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });

  test('an unknown flag is an error with a clear message and exit code 2', async () => {
    await assert.rejects(run(process.execPath, [GATEWAY_CLI, '--domain', 'x', '--upstream', '127.0.0.1:1', '--rtmp-portz', '1']), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /Unknown option '--rtmp-portz'/);
      return true;
    });
  });

  test('the policy port busy: the gateway says so and carries on', async () => {
    const busy = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => busy.listen(port, '0.0.0.0', r));
    const g = await startGateway(['--listen', `127.0.0.1:${await freePort()}`, '--policy-port', String(port), '--upstream', '127.0.0.1:1', '--domain', 'localhost']);
    try {
      await g.waitForLog((_record, line) => line.includes(`policy port ${port} not available (EADDRINUSE)`), 5000);
      assert.equal((await exchange(g.port, POLICY_REQUEST)).toString('utf8'), expectedPolicy(g.port));
    } finally {
      await g.stop();
      busy.close();
    }
  });
});
