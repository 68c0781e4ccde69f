/**
 * The XMPP call API over RTMPT (RTMP tunnelled through HTTP POSTs, shared/spec/rtmp.md "Other
 * transports") against a real Prosody, driven by a real RTMPT client (Debian's python3-librtmp,
 * test/support/rtmp-client.ts), on the HTTP listener and on the main Flash port (a sniffed POST);
 * plus the tunnel's edges seen from raw HTTP: the exact /open answer, unknown sessions, and a
 * tunnel its client abandoned.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import { freePort } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { RtmpTestClient, type AmfJson } from '../support/rtmp-client.js';

const USERS: [string, string][] = [
  ['tunnel0', 'zero-secret'],
  ['tunnel3', 'three-secret'],
  ['tunnelgone', 'gone-secret'],
  ['tpeer', 'peer-secret'],
];

type Obj = Record<string, AmfJson>;

/** One raw HTTP exchange on a fresh connection: the answer's bytes, read until the peer's Content-Length is met. */
function rawHttp(port: number, request: string | Buffer): Promise<{ head: string; body: Buffer; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within 5 s: ${JSON.stringify(buf.toString('latin1'))}`));
    }, 5000);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const length = Number(/\r\nContent-Length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ head, body: buf.subarray(end + 4, end + 4 + length), raw: buf.subarray(0, end + 4 + length) });
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const post = (path: string, body = '\0'): string =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\nUser-Agent: Shockwave Flash\r\nConnection: Keep-Alive\r\nCache-Control: no-cache\r\nContent-type: application/x-fcs\r\nContent-length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;

/** CPU seconds (user + system) the process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('RTMPT call API against Prosody', () => {
  let prosody: ProsodyInstance;
  let gateway: GatewayProcess;
  let httpPort: number;
  let native: NativeClient;
  const clients: RtmpTestClient[] = [];

  const open = async (port: number, objectEncoding: 0 | 3, extra: { pollIntervalMs?: number } = {}): Promise<RtmpTestClient> => {
    const client = await RtmpTestClient.connect(`rtmpt://127.0.0.1:${port}/xmpp`, { objectEncoding, ...extra });
    clients.push(client);
    return client;
  };

  before(async () => {
    prosody = await startProsody({ tls: false, users: USERS });
    httpPort = await freePort();
    gateway = await startGateway(
      [
        '--listen', `127.0.0.1:${await freePort()}`,
        '--policy-port', '0',
        '--http-port', String(httpPort),
        '--http-host', '127.0.0.1',
        '--rtmp-port', '0',
        '--upstream', `${prosody.host}:${prosody.c2sPort}`,
        '--domain', prosody.domain,
        '--upstream-tls', 'off',
        '--rtmpt-session-timeout', '2',
      ],
      { listeners: 2 },
    );
    native = await connectNativeTo(prosody, 'tpeer', 'peer-secret', { resource: 'native' });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await native?.stop();
    await gateway?.stop();
    await prosody?.stop();
  });

  const CASES = [
    { user: 'tunnel0', pass: 'zero-secret', objectEncoding: 0, port: 'http' },
    { user: 'tunnel3', pass: 'three-secret', objectEncoding: 3, port: 'main' },
  ] as const;

  for (const c of CASES) {
    test(`rtmpt:// on the ${c.port} port, AMF${c.objectEncoding}: login, messages both ways, an iq, disconnect`, async () => {
      const rtmp = await open(c.port === 'http' ? httpPort : gateway.port, c.objectEncoding);
      assert.equal(rtmp.connectReply.protocol, 'rtmpt');
      const login = await rtmp.call('xmpp_connect', [{ username: c.user, domain: prosody.domain, password: c.pass, resource: 'tunnel' }]);
      assert.equal(login?.name, '_result');
      assert.deepEqual(login?.values, [1]);
      const jid = `${c.user}@${prosody.domain}/tunnel`;

      await native.send(xml('message', { to: jid, type: 'chat', id: `n-${c.user}` }, xml('body', {}, `through the tunnel <${c.user}> ✓`)));
      const inbound = await rtmp.nextInvoke('xmpp_message');
      assert.equal((inbound.args[0] as Obj)['from'], native.jid);
      assert.equal(inbound.args[1], `<body>through the tunnel &lt;${c.user}&gt; ✓</body>`);

      const sent = await rtmp.call('xmpp', ['message', { to: native.jid, type: 'chat' }, `<body>out of the tunnel ${c.user}</body>`]);
      assert.equal(sent?.name, '_result');
      const got = await native.waitFor((s) => s.is('message') && s.getChildText('body') === `out of the tunnel ${c.user}`);
      assert.equal(got.attrs['from'], jid);

      const disco = await rtmp.call('xmpp', ['iq', { type: 'get', to: prosody.domain }, '<query xmlns="http://jabber.org/protocol/disco#info"/>']);
      assert.equal(disco?.name, '_result');
      const [answerAttrs, answerXml] = (disco?.values[0] ?? []) as [Obj, string];
      assert.equal(answerAttrs['type'], 'result');
      assert.match(answerXml, /^<query xmlns="http:\/\/jabber.org\/protocol\/disco#info">.*<identity /);

      const bye = await rtmp.call('xmpp_disconnect', []);
      assert.deepEqual(bye?.values, ['disconnected']);
      await rtmp.close();
      await gateway.waitForLog((r) => r['msg'] === 'RTMPT tunnel closed' && String(r['reason']).includes('/close'));
    });
  }

  test('a tunnel its client abandoned closes after --rtmpt-session-timeout, and its XMPP session ends', async () => {
    const rtmp = await open(httpPort, 0);
    const login = await rtmp.call('xmpp_connect', [{ username: 'tunnelgone', domain: prosody.domain, password: 'gone-secret', resource: 'lost' }]);
    assert.deepEqual(login?.values, [1]);
    const jid = `tunnelgone@${prosody.domain}/lost`;
    // Directed presence: the server owes the native client an unavailable when the session ends (RFC 6121 §4.6.3).
    await rtmp.call('xmpp', ['presence', { to: native.jid }, ''], { responder: false });
    await native.waitFor((s) => s.is('presence') && s.attrs['from'] === jid && s.attrs['type'] === undefined);
    const killed = Date.now();
    rtmp.kill();
    const closed = await gateway.waitForLog((r) => r['msg'] === 'RTMPT tunnel closed' && String(r['reason']).startsWith('no request for 2 s'), 8000);
    assert.ok(Date.now() - killed >= 1500, 'the tunnel outlived its client for the session timeout');
    assert.equal(typeof closed['conn'], 'number');
    const gone = await native.waitFor((s) => s.is('presence') && s.attrs['from'] === jid && s.attrs['type'] === 'unavailable', 8000);
    assert.ok(gone);
  });

  test('the /open answer, byte for byte (raw HTTP on both ports); /fcs/ident2 gets 404', async () => {
    for (const port of [httpPort, gateway.port]) {
      const ident = await rawHttp(port, post('/fcs/ident2'));
      assert.match(ident.head, /^HTTP\/1\.1 404 /);
      const answer = await rawHttp(port, post('/open/1'));
      const text = answer.raw.toString('latin1');
      assert.ok(text.startsWith('HTTP/1.1 200 '), text);
      assert.match(answer.head, /\r\nContent-Type: application\/x-fcs(\r\n|$)/);
      assert.match(answer.head, /\r\nContent-Length: 33(\r\n|$)/);
      assert.doesNotMatch(answer.head, /Transfer-Encoding/i);
      const body = answer.body.toString('latin1');
      assert.match(body, /^[0-9a-f]{32}\n$/);
      const id = body.slice(0, -1);
      // The first poll: the delay byte and nothing else (the client has sent no handshake yet).
      const idle = await rawHttp(port, post(`/idle/${id}/1`));
      assert.match(idle.head, /^HTTP\/1\.1 200 /);
      assert.deepEqual([...idle.body], [1]);
      const close = await rawHttp(port, post(`/close/${id}/2`));
      assert.match(close.head, /^HTTP\/1\.1 200 /);
      assert.match((await rawHttp(port, post(`/idle/${id}/3`))).head, /^HTTP\/1\.1 404 /);
    }
  });

  test('an unknown session gets 404; a non-numeric sequence 400; GET 405', async () => {
    assert.match((await rawHttp(httpPort, post(`/idle/${'ab'.repeat(16)}/1`))).head, /^HTTP\/1\.1 404 /);
    assert.match((await rawHttp(gateway.port, post(`/send/${'cd'.repeat(16)}/1`, 'x'))).head, /^HTTP\/1\.1 404 /);
    assert.match((await rawHttp(httpPort, post(`/idle/${'ab'.repeat(16)}/one`))).head, /^HTTP\/1\.1 400 /);
    assert.match((await rawHttp(httpPort, 'GET /open/1 HTTP/1.1\r\nHost: x\r\n\r\n')).head, /^HTTP\/1\.1 405 /);
  });

  test('back-to-back polling by librtmp costs the gateway little CPU', async (t) => {
    const rtmp = await open(httpPort, 3, { pollIntervalMs: 0 });
    await rtmp.call('xmpp_connect', [{ username: 'tunnel3', domain: prosody.domain, password: 'three-secret', resource: 'poller' }]);
    // Let the delay byte reach its maximum, then measure a quiet tunnel polled without pause.
    await new Promise((r) => setTimeout(r, 500));
    const before = cpuSeconds(gateway.pid);
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const percent = ((cpuSeconds(gateway.pid) - before) / ((Date.now() - started) / 1000)) * 100;
    // The session still works after all that polling.
    const sent = await rtmp.call('xmpp', ['message', { to: native.jid, type: 'chat' }, '<body>still polling</body>']);
    assert.equal(sent?.name, '_result');
    await native.waitFor((s) => s.is('message') && s.getChildText('body') === 'still polling');
    t.diagnostic(`gateway CPU while librtmp polls back to back: ${percent.toFixed(1)}%`);
    assert.ok(percent < 30, `gateway CPU ${percent.toFixed(1)}%`);
  });
});
