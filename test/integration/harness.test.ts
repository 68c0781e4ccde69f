/**
 * Proves the test harness itself works, directly against Prosody and fake peers (no gateway).
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { ScramClient, plainMessage } from '../support/scram.js';
import { freePort } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import {
  RawFlashClient,
  LoginError,
  NS_STREAM,
  NS_SASL,
  NS_TLS,
  offeredMechanisms,
  openStream,
  scramLogin,
  sparkwebHeader,
  sparkwebLogin,
  xiffHeader,
} from '../support/raw-client.js';
import { connectNative, connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import { startGateway } from '../support/gateway.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ScramClient (RFC test vectors)', () => {
  test('SCRAM-SHA-1, RFC 5802 section 5', () => {
    const c = new ScramClient('SCRAM-SHA-1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL');
    assert.equal(c.clientFirst(), 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
    assert.equal(
      c.clientFinal('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096'),
      'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    );
    c.verifyServerFinal('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
    assert.throws(() => c.verifyServerFinal('v=AAAAAAAAAAAAAAAAAAAAAAAAAAA='), /wrong server signature/);
    assert.throws(() => c.verifyServerFinal('e=invalid-proof'), /server error/);
  });

  test('SCRAM-SHA-256, RFC 7677 section 3', () => {
    const c = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    assert.equal(c.clientFirst(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    assert.equal(
      c.clientFinal('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'),
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    );
    c.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  test('rejects a server nonce that does not extend the client nonce; PLAIN message', () => {
    const c = new ScramClient('sha1', 'user', 'pencil', 'abc');
    c.clientFirst();
    assert.throws(() => c.clientFinal('r=xyz123,s=QSXCR+Q6sek8bf92,i=4096'), /nonce/);
    assert.equal(plainMessage('u@d', 'u', 'p'), 'u@d\0u\0p');
  });
});

/** A scripted fake server: each string is written separately, with a pause so it is one read. */
async function fakeServer(script: (sock: net.Socket, received: () => string) => Promise<void>): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    let got = '';
    sock.on('data', (b) => (got += b.toString('utf8')));
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    script(sock, () => got).catch(() => sock.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const HDR = `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' from='localhost' id='s1' version='1.0'>`;
const FEATURES = `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`;

async function untilReceived(received: () => string, needle: string, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!received().includes(needle)) {
    if (Date.now() > end) throw new Error(`fake server never got ${needle}`);
    await sleep(5);
  }
}

describe('RawFlashClient detects what breaks XIFF 3 (fake server)', () => {
  test('a conforming server: no violation, elements parsed, close handshake', async () => {
    const srv = await fakeServer(async (sock, got) => {
      await untilReceived(got, '<stream:stream');
      sock.write(HDR + FEATURES);
      await sleep(30);
      sock.write(`<message from='a@localhost/r'><body>x &amp; y</body></message> `);
      await sleep(30);
      sock.write(' '); // whitespace keepalive alone in a read is fine
      await untilReceived(got, '</stream:stream>');
      sock.end('</stream:stream>');
    });
    const c = await RawFlashClient.connect('127.0.0.1', srv.port);
    try {
      const f = await openStream(c, xiffHeader('localhost'), 2000);
      assert.deepEqual(offeredMechanisms(f), ['PLAIN']);
      assert.equal(c.streamId, 's1');
      const m = await c.nextElement((e) => e.is('message', 'jabber:client'), 2000);
      assert.equal(m.getChildText('body'), 'x & y');
      await sleep(50);
      await c.close(2000);
      assert.equal(c.peerClosedStream, true);
      assert.deepEqual(c.violations, []);
    } finally {
      c.destroy();
      await srv.close();
    }
  });

  const cases: { name: string; writes: string[]; expect: RegExp }[] = [
    { name: 'a NUL byte', writes: [HDR + FEATURES + '\0'], expect: /NUL byte/ },
    { name: 'header and features in separate reads', writes: [HDR, FEATURES], expect: /without <stream:features>/ },
    { name: 'an element split across reads', writes: [HDR + FEATURES, '<message><bo', 'dy>x</body></message>'], expect: /not well-formed on its own/ },
    { name: 'an undeclared prefix', writes: [HDR + FEATURES, '<flash:x/>'], expect: /not well-formed on its own.*(unbound|prefix)/ },
    { name: 'a self-closed stream header', writes: [HDR.replace(/>$/, '/>') + FEATURES], expect: /not well-formed/ },
    { name: 'a multi-byte character split across reads', writes: [HDR + FEATURES, '<message><body>\xC3', '\xA9</body></message>'], expect: /not valid UTF-8/ },
  ];
  for (const k of cases) {
    test(`records and fails on ${k.name}`, async () => {
      const srv = await fakeServer(async (sock, got) => {
        await untilReceived(got, '<stream:stream');
        for (const w of k.writes) {
          sock.write(Buffer.from(w, w.includes('\xC3') || w.startsWith('\xA9') ? 'latin1' : 'utf8'));
          await sleep(40);
        }
      });
      const c = await RawFlashClient.connect('127.0.0.1', srv.port);
      try {
        c.send(xiffHeader('localhost'));
        await assert.rejects(c.nextElement((e) => e.is('message'), 1500), k.expect);
        assert.ok(c.violations.some((v) => k.expect.test(v)), c.violations.join('\n'));
      } finally {
        c.destroy();
        await srv.close();
      }
    });
  }

  test('allowSplitReads buffers an element split across reads (XIFF 3.0 incompleteRawXML)', async () => {
    const srv = await fakeServer(async (sock, got) => {
      await untilReceived(got, '<stream:stream');
      for (const w of [HDR + FEATURES, '<message><bo', 'dy>x</body></message>']) {
        sock.write(w);
        await sleep(40);
      }
    });
    const c = await RawFlashClient.connect('127.0.0.1', srv.port, { allowSplitReads: true });
    try {
      c.send(xiffHeader('localhost'));
      const m = await c.nextElement((e) => e.is('message'), 2000);
      assert.equal(m.getChildText('body'), 'x');
      assert.equal(c.splitReads, 1);
      assert.deepEqual(c.violations, []);
    } finally {
      c.destroy();
      await srv.close();
    }
  });
});

describe('against Prosody directly', () => {
  let plain: ProsodyInstance | undefined;
  let tls: ProsodyInstance | undefined;
  const natives: NativeClient[] = [];
  const raws: RawFlashClient[] = [];

  before(async () => {
    // Two instances started in parallel: distinct temp dirs and ports.
    const users: [string, string][] = [
      ['alice', 'alice-pw'],
      ['bob', 'bob-pw'],
    ];
    const [a, b] = await Promise.allSettled([startProsody({ tls: false, users }), startProsody({ tls: true, users })]);
    if (a.status === 'fulfilled') plain = a.value;
    if (b.status === 'fulfilled') tls = b.value;
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
  });

  after(async () => {
    await Promise.all(natives.map((n) => n.stop()));
    for (const r of raws) r.destroy();
    await Promise.all([plain?.stop(), tls?.stop()]);
  });

  async function raw(p: ProsodyInstance): Promise<RawFlashClient> {
    const c = await RawFlashClient.connect(p.host, p.c2sPort);
    raws.push(c);
    return c;
  }

  test('both instances run on distinct ports and dirs', () => {
    assert.ok(plain && tls);
    assert.notEqual(plain.c2sPort, tls.c2sPort);
    assert.notEqual(plain.dir, tls.dir);
    assert.equal(plain.mucDomain, 'conference.localhost');
    assert.equal(plain.caCert, undefined);
    assert.ok(tls.caCert);
    assert.match(plain.logTail(), /Activated service 'c2s'/);
  });

  test('features: no STARTTLS without tls, STARTTLS (not required) with tls', async () => {
    const a = await raw(plain!);
    const fa = await openStream(a, xiffHeader('localhost'));
    assert.equal(fa.getChild('starttls', NS_TLS), undefined);
    assert.deepEqual(offeredMechanisms(fa).sort(), ['PLAIN', 'SCRAM-SHA-1']);
    await a.close();
    const b = await raw(tls!);
    const fb = await openStream(b, xiffHeader('localhost'));
    const st = fb.getChild('starttls', NS_TLS);
    assert.ok(st, fb.toString());
    assert.equal(st.getChild('required'), undefined);
    await b.close();
    assert.deepEqual([...a.violations, ...b.violations], []);
  });

  test('ScramClient logs in over plain TCP (SCRAM-SHA-1, server signature verified)', async () => {
    const c = await raw(plain!);
    const jid = await scramLogin(c, { domain: 'localhost', user: 'alice', pass: 'alice-pw', resource: 'scram' });
    assert.equal(jid, 'alice@localhost/scram');
    assert.equal(c.streamHeaders.length, 2);
    await c.close();
    assert.deepEqual(c.violations, []);
  });

  test('a wrong password gets <failure><not-authorized/>', async () => {
    const c = await raw(plain!);
    const err = await scramLogin(c, { domain: 'localhost', user: 'alice', pass: 'wrong', resource: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof LoginError, String(err));
    const failure = err.element;
    assert.ok(failure && failure.is('failure', NS_SASL), err.message);
    assert.ok(failure.getChild('not-authorized', NS_SASL), err.message);
    await c.close();
  });

  test("SparkWeb's PLAIN flow (with an open header) logs in directly", async () => {
    const c = await raw(plain!);
    const jid = await sparkwebLogin(c, { domain: 'localhost', user: 'bob', pass: 'bob-pw', resource: 'spark', selfClosedHeader: false });
    assert.equal(jid, 'bob@localhost/spark');
    await c.close();
    assert.deepEqual(c.violations, []);
  });

  test("fact: Prosody answers SparkWeb's self-closed header with header + features + </stream:stream>", async () => {
    const c = await raw(plain!);
    c.send(sparkwebHeader('localhost'));
    const f = await c.nextElement((e) => e.is('features', NS_STREAM));
    assert.ok(f);
    await c.waitStreamClosed(3000);
    assert.equal(c.peerClosedStream, true);
    assert.equal(c.reads.length, 1, 'all in one write');
    c.destroy();
  });

  test('native clients log in (plain and STARTTLS) and exchange a message', async () => {
    const alice = await connectNativeTo(plain!, 'alice', 'alice-pw', { resource: 'n1' });
    natives.push(alice);
    const bob = await connectNativeTo(plain!, 'bob', 'bob-pw', { resource: 'n2' });
    natives.push(bob);
    assert.equal(alice.jid, 'alice@localhost/n1');
    assert.equal(alice.secure, false);
    await alice.send(xml('message', { to: 'bob@localhost/n2', type: 'chat', id: 'hello1' }, xml('body', {}, 'hi bob ✓')));
    const m = await bob.waitFor((e) => e.is('message') && e.attrs['id'] === 'hello1');
    assert.equal(m.attrs['from'], 'alice@localhost/n1');
    assert.equal(m.getChildText('body'), 'hi bob ✓');

    const t = await connectNativeTo(tls!, 'alice', 'alice-pw', { resource: 'secure' });
    natives.push(t);
    assert.equal(t.secure, true);
    assert.equal(t.jid, 'alice@localhost/secure');
  });

  test('native client: the TLS Prosody is rejected with the wrong CA', async () => {
    await assert.rejects(
      connectNative({
        service: `xmpp://127.0.0.1:${tls!.c2sPort}`,
        domain: 'localhost',
        username: 'alice',
        password: 'alice-pw',
        ca: tls!.pki!.wrongCaCert,
        timeoutMs: 4000,
      }),
      /certificate/,
    );
  });

  test('MUC component answers (room joins without locking)', async () => {
    const a = await connectNativeTo(plain!, 'alice', 'alice-pw', { resource: 'muc' });
    natives.push(a);
    await a.send(xml('presence', { to: `room1@${plain!.mucDomain}/alice` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
    const self = await a.waitFor(
      (e) => e.is('presence') && e.attrs['from'] === `room1@${plain!.mucDomain}/alice` && e.attrs['type'] === undefined,
    );
    const codes = self
      .getChild('x', 'http://jabber.org/protocol/muc#user')
      ?.getChildren('status')
      .map((s) => s.attrs['code']);
    assert.ok(codes?.includes('110'), self.toString());
  });

  test('register() adds a user while running', async () => {
    await plain!.register('carol', 'carol-pw');
    const c = await raw(plain!);
    assert.equal(await scramLogin(c, { domain: 'localhost', user: 'carol', pass: 'carol-pw', resource: 'r' }), 'carol@localhost/r');
    await c.close();
  });
});

describe('startGateway (with a stand-in CLI)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fxg-fakecli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('waits for the listening lines, collects logs, stops with SIGTERM', async () => {
    const cli = path.join(dir, 'ok.mjs');
    await writeFile(
      cli,
      `import net from 'node:net';
const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--listen') + 1].split(':')[1]);
const srv = net.createServer((s) => s.end('hello')).listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ level: 30, msg: 'flash listener listening', port }));
  setTimeout(() => console.log(JSON.stringify({ level: 30, msg: 'policy listening', port: 0 })), 50);
});
process.on('SIGTERM', () => { console.log(JSON.stringify({ level: 30, msg: 'bye' })); srv.close(); process.exit(0); });
`,
    );
    const port = await freePort();
    const g = await startGateway(['--listen', `127.0.0.1:${port}`, '--policy-port', '0'], { cli, listeners: 2, timeoutMs: 5000 });
    try {
      assert.equal(g.port, port);
      assert.equal(g.policyPort, undefined);
      assert.equal(g.listening.length, 2);
      const rec = await g.waitForLog((r) => r['msg'] === 'policy listening', 1000);
      assert.equal(rec['port'], 0);
    } finally {
      await g.stop();
    }
    assert.equal(g.exited, true);
    assert.match(g.logs(), /"bye"/);
  });

  test('a CLI that exits during startup fails fast with its output', async () => {
    const cli = path.join(dir, 'bad.mjs');
    await writeFile(cli, `console.error('cannot parse --upstream'); process.exit(2);\n`);
    await assert.rejects(startGateway(['--listen', '127.0.0.1:1'], { cli, timeoutMs: 5000 }), /exited during startup[\s\S]*cannot parse --upstream/);
  });
});
