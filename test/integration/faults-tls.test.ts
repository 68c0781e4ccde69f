/**
 * Fault: the TLS hop to the XMPP server fails, with `upstreamTls: required`, per domain (the
 * config file's `domains:` map) — a certificate from a CA the gateway does not trust (no
 * upstreamCa), a certificate for another name (right CA), a server that answers `<proceed/>`
 * and then speaks no TLS, one that hangs up in the handshake, and one that never finishes it.
 *
 * What must hold: each client (raw socket, XMLSocket, WebSocket; `xmpp_disconnected` on RTMP)
 * is told within seconds with `remote-connection-failed` and a text naming the TLS problem — a
 * certificate that was not accepted is not a handshake that failed, and neither is a timeout —
 * the gateway keeps running, leaves no socket behind after dozens of failures, a client logged
 * in to the correctly configured domain before them keeps working, and new ones log in there.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../support/gateway.js';
import { LightClient, type LightClientOptions, type LightTransport } from '../support/light-client.js';
import { freePort } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { RtmpTestClient } from '../support/rtmp-client.js';
import { fdCount, settle, spread } from './faults-common.js';

const TRANSPORTS: LightTransport[] = ['raw', 'nul', 'ws'];
const CONNECT_TIMEOUT_S = 3;

/**
 * A server that offers STARTTLS (required) and answers `<proceed/>`, then meets the gateway's
 * ClientHello by the domain the stream was opened for: `nottls.test` with plain text,
 * `hangup.test` by closing, `silent.test` with nothing at all.
 */
async function startBrokenTlsServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let domain = '';
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const header = /<stream:stream[^>]*\sto=["']([^"']+)["'][^>]*>/.exec(text);
      if (header && domain === '') {
        domain = header[1] as string;
        socket.write(
          `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='broken-1' from='${domain}' version='1.0'>` +
            `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
        );
      }
      if (domain !== '' && text.includes('<starttls')) {
        text = '';
        socket.write(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
        // The gateway's ClientHello comes next: answer it with plain text, or hang up.
        socket.removeAllListeners('data');
        socket.once('data', () => {
          if (domain === 'nottls.test') socket.write('HTTP/1.1 400 Bad Request\r\n\r\nthis is no TLS server\r\n');
          if (domain === 'hangup.test') socket.destroy();
        });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('upstream TLS failures per domain: every client told why, the gateway keeps serving the good domain', { timeout: 120_000 }, async (t) => {
  const servers: ProsodyInstance[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'fxg-faults-tls-'));
  const broken = await startBrokenTlsServer();
  const rtmps: RtmpTestClient[] = [];
  const lights: LightClient[] = [];
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    const [good, untrusted, wrongName] = await Promise.all([
      startProsody({ tls: true, domain: 'good.test', users: [['ann', 'ann-pass'], ['bob', 'bob-pass'], ['rita', 'rita-pass']], logLevel: 'info' }),
      startProsody({ tls: true, domain: 'untrusted.test', users: [['ann', 'ann-pass']], logLevel: 'info' }),
      // The certificate is signed by the CA the gateway is given, but for another name.
      startProsody({ tls: true, domain: 'wrongname.test', certificateNames: ['xmpp.elsewhere.example'], users: [['ann', 'ann-pass']], logLevel: 'info' }),
    ]);
    servers.push(good, untrusted, wrongName);
    const config = join(dir, 'gateway.yaml');
    await writeFile(
      config,
      [
        'upstreamTls: required',
        'domains:',
        `  good.test: { upstream: "127.0.0.1:${good.c2sPort}", upstreamTls: required, upstreamCa: "${good.caCert}" }`,
        // No upstreamCa: only Node's public roots, which do not know the test CA.
        `  untrusted.test: { upstream: "127.0.0.1:${untrusted.c2sPort}", upstreamTls: required }`,
        `  wrongname.test: { upstream: "127.0.0.1:${wrongName.c2sPort}", upstreamTls: required, upstreamCa: "${wrongName.caCert}" }`,
        `  nottls.test: { upstream: "127.0.0.1:${broken.port}", upstreamTls: required }`,
        `  hangup.test: { upstream: "127.0.0.1:${broken.port}", upstreamTls: required }`,
        `  silent.test: { upstream: "127.0.0.1:${broken.port}", upstreamTls: required }`,
        '',
      ].join('\n'),
    );
    const httpPort = await freePort();
    const rtmpPort = await freePort();
    gateway = await startGateway(
      [
        '--config', config,
        '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0',
        '--http-port', String(httpPort), '--http-host', '127.0.0.1',
        '--rtmp-port', String(rtmpPort), '--rtmp-host', '127.0.0.1',
        '--upstream-connect-timeout', String(CONNECT_TIMEOUT_S),
        '--max-connections-per-ip', '500',
      ],
      { listeners: 3 },
    );
    const g = gateway;
    const options = (transport: LightTransport, domain: string, user: string, resource: string): LightClientOptions => ({
      transport,
      host: '127.0.0.1',
      port: g.port,
      url: `ws://127.0.0.1:${httpPort}/xmlsocket`,
      domain,
      user,
      pass: `${user}-pass`,
      resource,
    });

    // A client of the good domain, logged in before the failures: it must not notice them.
    const early = await LightClient.login(options('raw', 'good.test', 'bob', 'early'));
    lights.push(early);
    const baselineFds = fdCount(g.pid);

    const expected: Record<string, RegExp> = {
      'untrusted.test': /^the TLS certificate of the XMPP server was not accepted for untrusted\.test \((self[- ]signed certificate|unable to (get|verify))/i,
      'wrongname.test': /^the TLS certificate of the XMPP server was not accepted for wrongname\.test \(.*(altnames|Hostname)/i,
      'nottls.test': /^the TLS handshake with the XMPP server at 127\.0\.0\.1:\d+ failed \(wrong version number\)$/,
      'hangup.test': /^the TLS handshake with the XMPP server at 127\.0\.0\.1:\d+ failed \(.*(disconnected|ECONNRESET|socket hang up)/i,
      'silent.test': new RegExp(`^the TLS handshake with the XMPP server at 127\\.0\\.0\\.1:\\d+ did not finish within ${CONNECT_TIMEOUT_S} s$`),
    };
    // Several clients of every transport for every broken domain, all at once.
    const attempts: { domain: string; transport: LightTransport; started: number; outcome: Promise<{ error?: Error; at: number }> }[] = [];
    for (const domain of Object.keys(expected)) {
      for (let i = 0; i < 6; i++) {
        const transport = TRANSPORTS[i % 3] as LightTransport;
        const outcome = LightClient.login(options(transport, domain, 'ann', `try${i}`)).then(
          (client) => {
            lights.push(client);
            return { at: Date.now() };
          },
          (error: unknown) => ({ error: error as Error, at: Date.now() }),
        );
        attempts.push({ domain, transport, started: Date.now(), outcome });
      }
    }
    // And an RTMP app for two of them: the call answers 0, then xmpp_disconnected says why.
    for (const domain of ['untrusted.test', 'nottls.test']) {
      const rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0, name: `rtmp ${domain}` });
      rtmps.push(rtmp);
      const reply = await rtmp.call('xmpp_connect', [{ username: 'ann', domain, password: 'ann-pass', resource: 'r' }], { timeoutMs: 10_000 });
      assert.deepEqual(reply?.values, [0], `${domain}: xmpp_connect answers 0`);
      assert.deepEqual((await rtmp.nextInvoke('xmpp_disconnected', () => true, 10_000)).args, ['remote-connection-failed']);
    }
    const times: Record<string, number[]> = {};
    const texts = new Map<string, string>();
    for (const attempt of attempts) {
      const { error, at } = await attempt.outcome;
      const who = `${attempt.transport} client of ${attempt.domain}`;
      assert.ok(error, `${who} logged in through a failed TLS hop`);
      const told = /stream error remote-connection-failed: (.*)$/.exec(error.message);
      assert.ok(told, `${who}: ${error.message}`);
      assert.match(told[1] as string, expected[attempt.domain] as RegExp, who);
      texts.set(attempt.domain, told[1] as string);
      (times[attempt.domain] ??= []).push(at - attempt.started);
    }
    for (const [domain, ms] of Object.entries(times)) {
      const { max } = spread(ms);
      assert.ok(max < 10_000, `${domain}: told within 10 s (${max} ms)`);
    }
    t.diagnostic(`told (max ms per domain, all transports): ${Object.entries(times).map(([d, ms]) => `${d} ${spread(ms).max}`).join(', ')}`);
    t.diagnostic(`what clients read: ${[...texts].map(([d, text]) => `${d}: "${text}"`).join('; ')}`);

    // Still up, nothing left open, the early client still served, and new logins work.
    assert.equal(g.exited, false, 'the gateway is still running');
    await Promise.all(rtmps.splice(0).map((c) => c.close()));
    const fds = await settle(() => fdCount(g.pid), (n) => n <= baselineFds + 2, 15_000);
    t.diagnostic(`fds: ${baselineFds} before ${attempts.length + 2} failed TLS hops, ${fds} after`);
    assert.ok(fds <= baselineFds + 2, `no socket left behind: ${fds} fds against ${baselineFds}`);
    early.send(`<iq type="get" id="ping1" to="good.test"><ping xmlns="urn:xmpp:ping"/></iq>`);
    await early.waitFor(/<iq[^>]*id=["']ping1["'][^>]*>|<iq[^>]*id=["']ping1["'][^>]*\/>/, 10_000);
    for (const [i, transport] of TRANSPORTS.entries()) {
      const fresh = await LightClient.login(options(transport, 'good.test', 'ann', `fresh${i}`));
      assert.match(fresh.jid, /^ann@good\.test\//);
      await fresh.close();
    }
    const rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0, name: 'rtmp good.test' });
    rtmps.push(rtmp);
    assert.deepEqual(
      (await rtmp.call('xmpp_connect', [{ username: 'rita', domain: 'good.test', password: 'rita-pass', resource: 'r' }], { timeoutMs: 10_000 }))?.values,
      [1],
    );
    assert.equal(g.exited, false, 'the gateway is still running');
  } finally {
    for (const c of lights) c.destroy();
    await Promise.all(rtmps.map((c) => c.close()));
    await gateway?.stop();
    await broken.close();
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  }
});
