/**
 * Proves the NUL-mode (XMLSocket) client emulation: its exact bytes, its packet reassembly and
 * that it records (and fails on) every server behaviour a real XMLSocket client cannot take.
 * The peer is a scripted fake server on a loopback socket: a test of the test tool.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as net from 'node:net';
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { LoginError, NS_SASL, NS_STANZA_ERRORS, NS_STREAM } from '../support/raw-client.js';
import {
  NS_FLASH,
  NulFlashClient,
  iqAuthGet,
  iqAuthSet,
  nulSaslLogin,
  xiff2Header,
  xiff2Login,
  xiff3BetaFlashHeader,
  xiff3BetaFlashLogin,
} from '../support/nul-client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One accepted connection of the fake server. */
interface FakeConn {
  readonly sock: net.Socket;
  /** Every byte received so far. */
  raw(): Buffer;
  /** The next NUL-terminated packet the client sent (without its NUL). */
  nextPacket(timeoutMs?: number): Promise<string>;
  /** Writes, then pauses so the next write is a separate read on the client. */
  write(data: string | Buffer, pauseMs?: number): Promise<void>;
}

interface FakeServer {
  readonly port: number;
  /** Settles when the script finished: undefined, or the error it threw. */
  readonly result: Promise<Error | undefined>;
  close(): Promise<void>;
}

/** A scripted fake server for one connection. */
async function fakeServer(script: (c: FakeConn) => Promise<void>): Promise<FakeServer> {
  const sockets = new Set<net.Socket>();
  let settle: (e: Error | undefined) => void = () => {};
  const result = new Promise<Error | undefined>((r) => (settle = r));
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    const chunks: Buffer[] = [];
    let text = '';
    const packets: string[] = [];
    let wake: (() => void) | undefined;
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      text += b.toString('utf8');
      let i: number;
      while ((i = text.indexOf('\0')) >= 0) {
        packets.push(text.slice(0, i));
        text = text.slice(i + 1);
      }
      wake?.();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      sockets.delete(sock);
      wake?.();
    });
    const conn: FakeConn = {
      sock,
      raw: () => Buffer.concat(chunks),
      async nextPacket(timeoutMs = 2000) {
        const end = Date.now() + timeoutMs;
        while (packets.length === 0) {
          if (Date.now() > end || sock.destroyed) throw new Error(`fake server: no packet from the client (got ${JSON.stringify(text)})`);
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 20);
          });
        }
        return packets.shift()!;
      },
      async write(data, pauseMs = 30) {
        sock.write(data);
        await sleep(pauseMs);
      },
    };
    script(conn).then(
      () => settle(undefined),
      (e: unknown) => {
        settle(e instanceof Error ? e : new Error(String(e)));
        sock.destroy();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    result,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const OPENFIRE_FLASH_HDR =
  `<?xml version='1.0' encoding='UTF-8'?><flash:stream xmlns:flash="${NS_FLASH}" xmlns:stream="${NS_STREAM}" ` +
  `xmlns="jabber:client" from="localhost" id="abc123" xml:lang="en" version="1.0">`;
const STREAM_HDR_OPEN = `<?xml version='1.0'?><stream:stream xmlns:stream='${NS_STREAM}' xmlns='jabber:client' from='localhost' id='s1' xml:lang='en' version='1.0'>`;
const STREAM_HDR_SELF = STREAM_HDR_OPEN.replace(/>$/, '/>');
const FEATURES =
  `<stream:features xmlns:stream="${NS_STREAM}"><mechanisms xmlns="${NS_SASL}"><mechanism>PLAIN</mechanism>` +
  `<mechanism>SCRAM-SHA-1</mechanism></mechanisms><auth xmlns="http://jabber.org/features/iq-auth"/></stream:features>`;
const FEATURES_BIND = `<stream:features xmlns:stream="${NS_STREAM}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></stream:features>`;
const AUTH_FIELDS = `<iq type="result" id="auth_1"><query xmlns="jabber:iq:auth"><username>alice</username><password/><resource/></query></iq>`;
const MSG = `<message from="bob@localhost/x" to="alice@localhost/flash"><body>hi</body></message>`;

describe('NulFlashClient: exact bytes and a conforming server', () => {
  test('XIFF 3-beta flash:stream + iq:auth; packets split across reads and several per read', async () => {
    const split = Buffer.from(`<message from="bob@localhost/x"><body>café ☃</body></message>\0`, 'utf8');
    const cut = split.indexOf(0xc3) + 1; // inside the two bytes of "é"
    const srv = await fakeServer(async (c) => {
      assert.equal(await c.nextPacket(), xiff3BetaFlashHeader('127.0.0.1'));
      await c.write(OPENFIRE_FLASH_HDR + '\0');
      // the auth get must come without waiting for the features: they are sent after it
      assert.equal(await c.nextPacket(), iqAuthGet('alice'));
      await c.write(FEATURES.slice(0, 40));
      await c.write(FEATURES.slice(40) + '\0');
      await c.write(AUTH_FIELDS + '\0');
      assert.equal(await c.nextPacket(), iqAuthSet('alice', 'secret', 'flash'));
      await c.write(`<iq type="result" id="auth_2"/>\0`);
      // several packets in one write
      await c.write(`${MSG}\0<presence from="bob@localhost/x"/>\0`);
      // one packet in three writes, a multi-byte character split between two of them
      await c.write(split.subarray(0, 10));
      await c.write(split.subarray(10, cut));
      await c.write(split.subarray(cut));
      assert.equal(await c.nextPacket(), '</flash:stream>');
      c.sock.end('</flash:stream>\0');
    });
    const c = await NulFlashClient.connect('127.0.0.1', srv.port, { domain: 'localhost' });
    try {
      const jid = await xiff3BetaFlashLogin(c, { host: '127.0.0.1', user: 'alice', pass: 'secret', resource: 'flash' });
      assert.equal(jid, 'alice@localhost/flash');
      assert.equal(c.openedWith, 'flash');
      assert.equal(c.streamId, 'abc123');
      assert.equal(c.headerForm, 'open');
      assert.equal(c.streamHeaders[0]?.['xmlns:flash'], NS_FLASH);
      const m = await c.nextElement((e) => e.is('message', 'jabber:client'), 2000);
      assert.equal(m.getChildText('body'), 'hi');
      const p = await c.nextElement((e) => e.is('presence'), 2000);
      assert.equal(p.attrs['from'], 'bob@localhost/x');
      const m2 = await c.nextElement((e) => e.is('message'), 2000);
      assert.equal(m2.getChildText('body'), 'café ☃');
      const f = await c.nextElement((e) => e.is('features', NS_STREAM), 2000);
      assert.ok(f.getChild('mechanisms', NS_SASL));
      await c.close(2000);
      assert.equal(c.peerClosedStream, true);
      assert.equal(await srv.result, undefined);
      assert.deepEqual(c.violations, []);
      c.assertNoViolations();
      assert.deepEqual(c.packets, [
        OPENFIRE_FLASH_HDR,
        FEATURES,
        AUTH_FIELDS,
        `<iq type="result" id="auth_2"/>`,
        MSG,
        `<presence from="bob@localhost/x"/>`,
        split.subarray(0, split.length - 1).toString('utf8'),
        '</flash:stream>',
      ]);
      // the reads really were split and combined as scripted
      assert.ok(c.reads.some((r) => r === FEATURES.slice(0, 40)), c.reads.join('\n'));
      assert.ok(c.reads.some((r) => r === `${MSG}\\0<presence from="bob@localhost/x"/>\\0`), c.reads.join('\n'));
      assert.ok(c.reads.length >= 10, c.reads.join('\n'));
      assert.equal(c.received.length, 6);
    } finally {
      c.destroy();
      await srv.close();
    }
  });

  for (const [form, hdr] of [
    ['open', STREAM_HDR_OPEN],
    ['self-closed', STREAM_HDR_SELF],
  ] as const) {
    test(`XIFF 2: header and auth get in the same tick; ${form} stream:stream header recorded`, async () => {
      const srv = await fakeServer(async (c) => {
        // nothing is written before both packets came: the client does not wait for anything
        assert.equal(await c.nextPacket(), xiff2Header('127.0.0.1'));
        assert.equal(await c.nextPacket(), iqAuthGet('alice'));
        await c.write(hdr + '\0');
        await c.write(AUTH_FIELDS + '\0');
        assert.equal(await c.nextPacket(), iqAuthSet('alice', 'secret', 'x2'));
        await c.write(`<iq type="result" id="auth_2"/>\0`);
        assert.equal(await c.nextPacket(), '</stream:stream>');
        c.sock.end('</stream:stream>\0');
      });
      const c = await NulFlashClient.connect('127.0.0.1', srv.port);
      try {
        const jid = await xiff2Login(c, { host: '127.0.0.1', user: 'alice', pass: 'secret', resource: 'x2' });
        assert.equal(jid, 'alice@localhost/x2');
        assert.equal(c.headerForm, form);
        assert.deepEqual(c.headerForms, [form]);
        await c.close(2000);
        assert.equal(c.peerClosedStream, true);
        assert.equal(await srv.result, undefined);
        assert.deepEqual(c.violations, []);
      } finally {
        c.destroy();
        await srv.close();
      }
    });
  }

  test('iq:auth with a wrong password: LoginError carrying the not-authorized iq', async () => {
    const srv = await fakeServer(async (c) => {
      await c.nextPacket();
      await c.nextPacket();
      await c.write(STREAM_HDR_OPEN + '\0');
      await c.write(AUTH_FIELDS + '\0');
      await c.nextPacket();
      await c.write(`<iq type="error" id="auth_2"><error code="401" type="auth"><not-authorized xmlns="${NS_STANZA_ERRORS}"/></error></iq>\0`);
    });
    const c = await NulFlashClient.connect('127.0.0.1', srv.port);
    try {
      const err = await xiff2Login(c, { host: 'gw.example', user: 'alice', pass: 'wrong', resource: 'r' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof LoginError, String(err));
      assert.equal(err.element?.attrs['type'], 'error');
      assert.ok(err.element?.getChild('error')?.getChild('not-authorized', NS_STANZA_ERRORS), err.message);
      assert.deepEqual(c.violations, []);
    } finally {
      c.destroy();
      await srv.close();
    }
  });

  /** Scripted SASL server side: PLAIN or SCRAM-SHA-1 (proof checked), restart, bind, session. */
  async function saslServer(c: FakeConn, mechanism: 'PLAIN' | 'SCRAM-SHA-1', user: string, pass: string): Promise<void> {
    const header = xiff2Header('localhost');
    assert.equal(await c.nextPacket(), header);
    await c.write(STREAM_HDR_SELF + '\0');
    await c.write(FEATURES + '\0');
    const auth = await c.nextPacket();
    const m = /^<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="([^"]+)">([^<]*)<\/auth>$/.exec(auth);
    assert.ok(m, auth);
    assert.equal(m[1], mechanism);
    const initial = Buffer.from(m[2]!, 'base64').toString('utf8');
    if (mechanism === 'PLAIN') {
      assert.equal(initial, `\0${user}\0${pass}`); // empty authzid
      await c.write(`<success xmlns="${NS_SASL}"/>\0`);
    } else {
      const cm = /^n,,(n=([^,]*),r=(.+))$/.exec(initial);
      assert.ok(cm, initial);
      assert.equal(cm[2], user);
      const salt = randomBytes(12);
      const serverFirst = `r=${cm[3]}srvnonce,s=${salt.toString('base64')},i=4096`;
      await c.write(`<challenge xmlns="${NS_SASL}">${Buffer.from(serverFirst).toString('base64')}</challenge>\0`);
      const resp = /^<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">([^<]*)<\/response>$/.exec(await c.nextPacket());
      assert.ok(resp);
      const clientFinal = Buffer.from(resp[1]!, 'base64').toString('utf8');
      const withoutProof = clientFinal.slice(0, clientFinal.indexOf(',p='));
      const proof = Buffer.from(clientFinal.slice(clientFinal.indexOf(',p=') + 3), 'base64');
      const authMessage = `${cm[1]},${serverFirst},${withoutProof}`;
      const salted = pbkdf2Sync(pass, salt, 4096, 20, 'sha1');
      const hmac = (k: Buffer, d: string): Buffer => createHmac('sha1', k).update(d).digest();
      const clientKey = hmac(salted, 'Client Key');
      const clientSig = hmac(createHash('sha1').update(clientKey).digest(), authMessage);
      const expected = Buffer.from(clientKey.map((b, i) => b ^ clientSig[i]!));
      assert.ok(timingSafeEqual(proof, expected), 'SCRAM proof');
      const v = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
      await c.write(`<success xmlns="${NS_SASL}">${Buffer.from(`v=${v}`).toString('base64')}</success>\0`);
    }
    assert.equal(await c.nextPacket(), header);
    // header and features: two packets in one write is fine in NUL mode
    await c.write(`${STREAM_HDR_SELF}\0${FEATURES_BIND}\0`);
    const bind = await c.nextPacket();
    const bid = /^<iq type="set" id="([^"]+)"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>res<\/resource><\/bind><\/iq>$/.exec(bind);
    assert.ok(bid, bind);
    await c.write(`<iq type="result" id="${bid[1]}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>${user}@localhost/res</jid></bind></iq>\0`);
    const sess = /^<iq type="set" id="([^"]+)"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"\/><\/iq>$/.exec(await c.nextPacket());
    assert.ok(sess);
    await c.write(`<iq type="result" id="${sess[1]}"/>\0`);
  }

  for (const mechanism of ['PLAIN', 'SCRAM-SHA-1'] as const) {
    test(`nulSaslLogin with ${mechanism}: self-closed header twice, bind, session`, async () => {
      const srv = await fakeServer((c) => saslServer(c, mechanism, 'alice', 'pencil'));
      const c = await NulFlashClient.connect('127.0.0.1', srv.port, { domain: 'localhost' });
      try {
        const jid = await nulSaslLogin(c, { domain: 'localhost', user: 'alice', pass: 'pencil', resource: 'res', mechanism });
        assert.equal(jid, 'alice@localhost/res');
        assert.equal(await srv.result, undefined);
        assert.deepEqual(c.headerForms, ['self-closed', 'self-closed']);
        assert.deepEqual(c.violations, []);
      } finally {
        c.destroy();
        await srv.close();
      }
    });
  }

  test('send appends exactly one NUL; sendRaw writes exactly the bytes given', async () => {
    let raw: Buffer | undefined;
    const srv = await fakeServer(async (c) => {
      await c.nextPacket();
      await c.nextPacket();
      await c.nextPacket();
      raw = c.raw();
    });
    const c = await NulFlashClient.connect('127.0.0.1', srv.port);
    try {
      c.send('<presence/>');
      c.sendRaw('\0<iq type="get" id="a"/>\0<iq type="get" id="b"/>');
      c.sendRaw(Buffer.from([0]));
      assert.equal(await srv.result, undefined);
      assert.equal(raw?.toString('utf8'), '<presence/>\0\0<iq type="get" id="a"/>\0<iq type="get" id="b"/>\0');
      assert.match(c.transcript.join('\n'), /C: <presence\/>\\0/);
    } finally {
      c.destroy();
      await srv.close();
    }
  });
});

describe('NulFlashClient records and fails on what breaks XMLSocket clients', () => {
  const flashHdr = xiff3BetaFlashHeader('127.0.0.1');
  const streamHdr = xiff2Header('127.0.0.1');
  const cases: { name: string; client?: string; writes: (string | Buffer)[]; end?: boolean; expect: RegExp }[] = [
    { name: 'an empty packet', writes: [OPENFIRE_FLASH_HDR + '\0', '\0', MSG + '\0'], expect: /packet #2 is empty/ },
    { name: 'a whitespace-only packet (a forwarded keepalive)', writes: [OPENFIRE_FLASH_HDR + '\0', ' \n\0', MSG + '\0'], expect: /packet #2 is whitespace only/ },
    { name: 'two elements in one packet', writes: [OPENFIRE_FLASH_HDR + '\0', MSG + MSG + '\0'], expect: /2 top-level elements/ },
    { name: 'text beside the element', writes: [OPENFIRE_FLASH_HDR + '\0', MSG + 'junk\0'], expect: /non-whitespace text at the top level/ },
    {
      name: 'an unbound prefix (<stream:features> without xmlns:stream)',
      writes: [OPENFIRE_FLASH_HDR + '\0', FEATURES.replace(` xmlns:stream="${NS_STREAM}"`, '') + '\0'],
      expect: /does not parse on its own.*unbound namespace prefix: "stream"/,
    },
    { name: 'an element split by a NUL', writes: [OPENFIRE_FLASH_HDR + '\0', '<message><bo\0dy>x</body></message>\0'], expect: /does not parse on its own/ },
    {
      name: 'a flash:stream header without xmlns:flash (ejabberd flash_hack)',
      writes: [OPENFIRE_FLASH_HDR.replace(` xmlns:flash="${NS_FLASH}"`, '') + '\0'],
      expect: /does not parse with <\/flash:stream> appended.*unbound namespace prefix: "flash"/,
    },
    {
      name: 'a self-closed flash:stream header',
      writes: [OPENFIRE_FLASH_HDR.replace(/>$/, '/>') + '\0'],
      expect: /does not parse with <\/flash:stream> appended/,
    },
    {
      name: 'a flash:stream header without xmlns:stream',
      writes: [OPENFIRE_FLASH_HDR.replace(` xmlns:stream="${NS_STREAM}"`, '') + '\0'],
      expect: /does not declare xmlns:stream/,
    },
    { name: 'a flash:stream header without an id', writes: [OPENFIRE_FLASH_HDR.replace(' id="abc123"', '') + '\0'], expect: /has no id/ },
    { name: 'a stream:stream header to a flash:stream client', writes: [STREAM_HDR_OPEN + '\0'], expect: /opened with flash:stream but got a stream:stream header/ },
    { name: 'header and features in one packet (raw-mode framing)', writes: [OPENFIRE_FLASH_HDR + FEATURES + '\0'], expect: /holds more than the header/ },
    { name: 'a stanza where the stream header was due', writes: [MSG + '\0'], expect: /expected the stream header/ },
    { name: 'data after the close', writes: [OPENFIRE_FLASH_HDR + '\0', '</flash:stream>\0', MSG + '\0'], expect: /came after the peer's stream close/ },
    { name: 'bytes after the close without a NUL', writes: [OPENFIRE_FLASH_HDR + '\0', '</flash:stream>\0 '], expect: /data after the peer's stream close/ },
    { name: 'the wrong close tag for a flash:stream client', writes: [OPENFIRE_FLASH_HDR + '\0', '</stream:stream>\0'], expect: /its close must be <\/flash:stream>/ },
    { name: 'a close packet with extra whitespace', writes: [OPENFIRE_FLASH_HDR + '\0', '</flash:stream>\n\0'], expect: /must be exactly <\/flash:stream>/ },
    { name: 'a last packet without its NUL', writes: [OPENFIRE_FLASH_HDR + '\0', MSG], end: true, expect: /not terminated by a NUL/ },
    {
      name: 'invalid UTF-8 in a packet',
      writes: [OPENFIRE_FLASH_HDR + '\0', Buffer.concat([Buffer.from('<message><body>'), Buffer.from([0xff]), Buffer.from('</body></message>\0')])],
      expect: /not valid UTF-8/,
    },
    {
      name: 'a stream:stream header that does not parse (no xmlns:stream)',
      client: streamHdr,
      writes: [STREAM_HDR_OPEN.replace(` xmlns:stream='${NS_STREAM}'`, '') + '\0'],
      expect: /stream:stream header does not parse \(open\).*unbound/,
    },
    { name: 'a self-closed header with features in the same packet', client: streamHdr, writes: [STREAM_HDR_SELF + FEATURES + '\0'], expect: /holds more than the header/ },
  ];
  for (const k of cases) {
    test(k.name, async () => {
      const srv = await fakeServer(async (c) => {
        await c.nextPacket();
        for (const w of k.writes) await c.write(w, 40);
        if (k.end) c.sock.end();
      });
      const c = await NulFlashClient.connect('127.0.0.1', srv.port);
      try {
        c.send(k.client ?? flashHdr);
        await assert.rejects(c.nextElement((e) => e.is('message') && e.getChildText('body') === 'never', 1500), k.expect);
        assert.ok(
          c.violations.some((v) => k.expect.test(v)),
          c.violations.join('\n'),
        );
        assert.throws(() => c.assertNoViolations(), k.expect);
        // later waits fail at once too (strict mode)
        await assert.rejects(c.nextElement(() => true, 100), /requirements violated/);
      } finally {
        c.destroy();
        await srv.close();
      }
    });
  }

  test('a violation also fails a wait for the stream header', async () => {
    const srv = await fakeServer(async (c) => {
      await c.nextPacket();
      await c.write('\0');
    });
    const c = await NulFlashClient.connect('127.0.0.1', srv.port);
    try {
      c.send(flashHdr);
      await assert.rejects(c.waitStreamHeader(0, 1500), /expected the stream header/);
    } finally {
      c.destroy();
      await srv.close();
    }
  });

  test('non-strict mode records the violation and still delivers both elements', async () => {
    const srv = await fakeServer(async (c) => {
      await c.nextPacket();
      await c.write(OPENFIRE_FLASH_HDR + '\0');
      await c.write(`<message id="1"/><message id="2"/>\0`);
    });
    const c = await NulFlashClient.connect('127.0.0.1', srv.port, { strict: false });
    try {
      c.send(flashHdr);
      const a = await c.nextElement((e) => e.is('message'), 1500);
      const b = await c.nextElement((e) => e.is('message'), 1500);
      assert.deepEqual([a.attrs['id'], b.attrs['id']], ['1', '2']);
      assert.equal(c.violations.length, 1);
      assert.match(c.violations[0]!, /2 top-level elements/);
    } finally {
      c.destroy();
      await srv.close();
    }
  });

  test('a stream error is delivered (prefix declared) and fails unrelated waits', async () => {
    const srv = await fakeServer(async (c) => {
      await c.nextPacket();
      await c.write(OPENFIRE_FLASH_HDR + '\0');
      await c.write(`<stream:error xmlns:stream="${NS_STREAM}"><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>\0`);
      await c.write('</flash:stream>\0');
      c.sock.end();
    });
    const c = await NulFlashClient.connect('127.0.0.1', srv.port);
    try {
      c.send(flashHdr);
      await assert.rejects(c.nextElement((e) => e.is('message'), 1500), /stream error received.*host-unknown/);
      await c.waitStreamClosed(1500);
      await c.waitClosed(1500);
      assert.equal(c.peerClosedStream, true);
      assert.deepEqual(c.violations, []);
    } finally {
      c.destroy();
      await srv.close();
    }
  });
});
