/**
 * Proves the test harness itself works, directly against Prosody and fake peers (no gateway).
 * The direct checks that hold for ejabberd too are in direct-checks.ts.
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { ScramClient, plainMessage } from '../support/scram.js';
import { freePort } from '../support/ports.js';
import { prosody, startProsody, type ProsodyInstance } from '../support/prosody.js';
import { RawFlashClient, offeredMechanisms, openStream, xiffHeader } from '../support/raw-client.js';
import type { NativeClient } from '../support/native-client.js';
import { startGateway } from '../support/gateway.js';
import { DIRECT_USERS, directServerChecks } from './direct-checks.js';

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
    const users = DIRECT_USERS;
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

  directServerChecks<ProsodyInstance>({
    kind: prosody,
    label: 'Prosody',
    plain: () => plain,
    secure: () => tls,
    readyLog: /Activated service 'c2s'/,
    async raw(p) {
      const c = await RawFlashClient.connect(p.host, p.c2sPort);
      raws.push(c);
      return c;
    },
    violations: (c) => c.violations,
    natives,
    facts: {
      selfClosedHeader: {
        what: 'all in one write',
        check: (c) => assert.equal(c.reads.length, 1, 'all in one write'),
      },
    },
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
