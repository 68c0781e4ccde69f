/**
 * Proves the ejabberd harness (test/support/ejabberd.ts) directly against ejabberd 23.01, no
 * gateway: raw Flash-style logins, native clients (plain and STARTTLS), MUC, XEP-0114. The
 * checks that hold for Prosody too are in direct-checks.ts; ejabberd's own facts go in as `facts`.
 *
 * Behaviour observed here that differs from Prosody 0.12 (what a gateway must be ready for):
 * - Header and features: ejabberd usually writes the stream header and `<stream:features>` in
 *   SEPARATE writes (on the first stream and after every restart); now and then they coalesce.
 *   Prosody always sends them in one write. So the raw clients below run non-strict and only
 *   tolerate that one kind of violation: a gateway must join them for XIFF 3.
 * - Features before auth, plaintext: `<mechanisms>` PLAIN, SCRAM-SHA-1 (in that order; Prosody
 *   with TLS lists SCRAM-SHA-1 first). PLAIN IS offered on plaintext (starttls_required: false
 *   is enough; no extra option). With TLS configured: `<mechanisms>` first, then `<starttls/>`
 *   without `<required/>` (same order as Prosody).
 * - After STARTTLS: PLAIN, SCRAM-SHA-1-PLUS (channel binding), SCRAM-SHA-1. A TLS-terminating
 *   gateway must not pass `-PLUS` on to its client. Prosody 0.12 (Debian) offers no -PLUS here.
 * - SCRAM: the server-final-message comes in `<success>` (like Prosody); iteration count 4096
 *   (Prosody 10000). Wrong password: `<failure><not-authorized/><text>Invalid username or
 *   password</text></failure>`, stream stays open.
 * - PLAIN `<success/>` is empty.
 * - Features after auth: `<bind/>` (WITHOUT `<required/>`, Prosody has it) and
 *   `<session><optional/></session>`; nothing else (no rosterver, caps, pre-approval; no sm since
 *   mod_stream_mgmt is off). The legacy session IQ is advertised and answered with a result
 *   (`from='localhost'`, `xml:lang`).
 * - Stream ids are long decimal numbers (Prosody: UUIDs); a new id on every restart.
 * - A self-closed (SparkWeb) header: header, features and `</stream:stream>`, then the socket is
 *   closed, like Prosody, but usually in two writes (header; features + close), not one.
 * - MUC: a new room is created at once (status 110 and 201), another user can join right away.
 *   An `access_admin` component may post groupchat to a room it never joined.
 * - XEP-0114: the handshake must be LOWERCASE hex (uppercase gets `not-authorized`); a wrong
 *   secret gets `<stream:error><not-authorized/>`.
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { startEjabberd, ejabberd, type EjabberdInstance } from '../support/ejabberd.js';
import { RawFlashClient, NS_STREAM, NS_TLS, NS_BIND, NS_SESSION, offeredMechanisms, scramLogin } from '../support/raw-client.js';
import { connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import { DIRECT_USERS, directServerChecks } from './direct-checks.js';

const NS_MUC = 'http://jabber.org/protocol/muc';
const COMPONENT = { domain: 'control.localhost', secret: 'c0mp-s3cret' };

/** The only violations tolerated from ejabberd: header and features in separate writes. */
function unexpectedViolations(c: RawFlashClient): string[] {
  return c.violations.filter(
    (v) => !/stream header without <stream:features> in the same read|<stream:features> arrived in a read without the stream header/.test(v),
  );
}

/** Pids of running epmd processes (we must never start one). */
function epmdPids(): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/comm`, 'utf8').trim() === 'epmd') pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** Running (non-zombie) processes of a process group: zombies wait for PID 1 to reap them. */
function groupMembers(pgid: number): string[] {
  const found: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') found.push(`${e} ${stat.slice(0, stat.lastIndexOf(')') + 1)}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

/** A minimal text-level connection for STARTTLS and XEP-0114 checks. */
class TextConn {
  buf = '';
  closed = false;
  private waiters: (() => void)[] = [];
  constructor(public sock: net.Socket | tls.TLSSocket) {
    this.attach(sock);
  }
  attach(sock: net.Socket | tls.TLSSocket): void {
    this.sock = sock;
    sock.on('data', (b: Buffer) => {
      this.buf += b.toString('utf8');
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static connect(port: number): Promise<TextConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new TextConn(s));
      });
    });
  }
  send(s: string): void {
    this.sock.write(s);
  }
  /** Waits until the buffer matches `re`; returns the match and consumes the buffer up to its end. */
  async until(re: RegExp, timeoutMs = 5000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m.index + m[0].length);
        return m;
      }
      if (this.closed) throw new Error(`closed before ${re}: ${JSON.stringify(this.buf)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${re}: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  destroy(): void {
    this.sock.destroy();
  }
}

const c2sHeader = (domain: string): string =>
  `<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='${NS_STREAM}' version='1.0'>`;

async function componentHandshake(
  port: number,
  domain: string,
  secret: string,
  transform: (hex: string) => string = (h) => h,
): Promise<{ conn: TextConn; answer: string }> {
  const conn = await TextConn.connect(port);
  conn.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='${NS_STREAM}' to='${domain}'>`);
  const hdr = await conn.until(/<stream:stream\b[^>]*\bid=['"]([^'"]+)['"][^>]*>/);
  const id = hdr[1]!;
  const hex = createHash('sha1').update(id + secret).digest('hex');
  conn.send(`<handshake>${transform(hex)}</handshake>`);
  const answer = await conn.until(/<handshake\s*\/>|<handshake><\/handshake>|<stream:error>[\s\S]*?<\/stream:error>/);
  return { conn, answer: answer[0] };
}

describe('ejabberd harness, directly against ejabberd', () => {
  let plain: EjabberdInstance | undefined;
  let secure: EjabberdInstance | undefined;
  let startWallMs = 0;
  let epmdBefore: number[] = [];
  const natives: NativeClient[] = [];
  const raws: RawFlashClient[] = [];
  const conns: TextConn[] = [];

  before(async () => {
    epmdBefore = epmdPids();
    const users = DIRECT_USERS;
    const t0 = Date.now();
    // Two instances at once: distinct dirs, ports, node names, cookies, dist ports.
    const [a, b] = await Promise.allSettled([
      startEjabberd({ tls: false, users, components: [COMPONENT], mucAdmins: [COMPONENT.domain] }),
      ejabberd.start({ tls: true, users }),
    ]);
    startWallMs = Date.now() - t0;
    if (a.status === 'fulfilled') plain = a.value;
    if (b.status === 'fulfilled') secure = b.value as EjabberdInstance;
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
  });

  after(async () => {
    await Promise.all(natives.map((n) => n.stop()));
    for (const r of raws) r.destroy();
    for (const c of conns) c.destroy();
    const instances = [plain, secure].filter((x): x is EjabberdInstance => x !== undefined);
    const t0 = Date.now();
    await Promise.all(instances.map((i) => i.stop()));
    const stopMs = Date.now() - t0;
    // Nothing left behind: no process in the instances' groups, no directory, no new epmd.
    for (const i of instances) {
      assert.deepEqual(groupMembers(i.pgid), [], `process group ${i.pgid} still alive`);
      assert.equal(existsSync(i.dir), false, `${i.dir} not removed`);
      assert.equal(i.exited, true);
    }
    const newEpmd = epmdPids().filter((p) => !epmdBefore.includes(p));
    assert.deepEqual(newEpmd, [], 'an epmd was started');
    assert.ok(stopMs < 6000, `stop took ${stopMs} ms`);
  });

  async function raw(e: EjabberdInstance): Promise<RawFlashClient> {
    // Non-strict: ejabberd splits header and features (see the comment at the top).
    const c = await RawFlashClient.connect(e.host, e.c2sPort, { strict: false });
    raws.push(c);
    return c;
  }

  directServerChecks<EjabberdInstance>({
    kind: ejabberd,
    label: 'ejabberd',
    plain: () => plain,
    secure: () => secure,
    readyLog: /Start accepting TCP connections at 127\.0\.0\.1:\d+ for ejabberd_c2s/,
    raw,
    violations: unexpectedViolations,
    natives,
    facts: {
      instances: {
        what: 'distinct nodes; timings',
        check(p, s, t) {
          assert.equal(ejabberd.name, 'ejabberd');
          assert.notEqual(p.distPort, s.distPort);
          assert.notEqual(p.nodeName, s.nodeName);
          t.diagnostic(
            `parallel start of both (wall, incl. PKI and 2 users each): ${startWallMs} ms; ` +
              `plain: start ${p.timings.startMs} ms + register ${p.timings.registerMs} ms; ` +
              `tls: start ${s.timings.startMs} ms + register ${s.timings.registerMs} ms`,
          );
          assert.ok(startWallMs < 20_000, `startup took ${startWallMs} ms`);
        },
      },
      features: {
        what: 'PLAIN first; with tls <mechanisms> before <starttls/>',
        check(fa, fb) {
          assert.deepEqual(offeredMechanisms(fa), ['PLAIN', 'SCRAM-SHA-1']);
          assert.deepEqual(
            fb.elements().map((e) => e.local),
            ['mechanisms', 'starttls'],
          );
          assert.deepEqual(offeredMechanisms(fb), ['PLAIN', 'SCRAM-SHA-1']);
        },
      },
      scramLogin: {
        what: 'a new stream id on restart, <bind/> without <required/>, optional session',
        check(c) {
          assert.notEqual(c.streamHeaders[0]!['id'], c.streamHeaders[1]!['id']);
          // Post-auth features: bind (no <required/>) and the optional legacy session.
          const post = c.received.filter((e) => e.is('features', NS_STREAM))[1]!;
          assert.ok(post.getChild('bind', NS_BIND), post.toString());
          assert.ok(post.getChild('session', NS_SESSION)?.getChild('optional'), post.toString());
        },
      },
      selfClosedHeader: {
        what: 'then closes',
        check: (c) => c.waitClosed(3000),
      },
      nativeTls: {
        what: 'a message over TLS',
        async check(t) {
          const u = await connectNativeTo(secure!, 'bob', 'bob-pw', { resource: 'secure' });
          natives.push(u);
          await t.send(xml('message', { to: 'bob@localhost/secure', type: 'chat', id: 'hello2' }, xml('body', {}, 'over TLS')));
          const m2 = await u.waitFor((e) => e.is('message') && e.attrs['id'] === 'hello2');
          assert.equal(m2.getChildText('body'), 'over TLS');
        },
      },
      muc: {
        what: 'the room is open at once, an access_admin component posts without joining',
        async check(room) {
          // Not locked: another user gets in right away, without any room configuration.
          const b = await connectNativeTo(plain!, 'bob', 'bob-pw', { resource: 'muc' });
          natives.push(b);
          await b.send(xml('presence', { to: `${room}/bob` }, xml('x', { xmlns: NS_MUC })));
          const bobSelf = await b.waitFor((e) => e.is('presence') && e.attrs['from'] === `${room}/bob`);
          assert.equal(bobSelf.attrs['type'], undefined, bobSelf.toString());

          // mucAdmins → access_admin: the component may post groupchat to the room without joining.
          const { conn, answer } = await componentHandshake(plain!.componentPort, COMPONENT.domain, COMPONENT.secret);
          conns.push(conn);
          assert.match(answer, /^<handshake/);
          conn.send(`<message type='groupchat' from='${COMPONENT.domain}' to='${room}' id='ctl1'><ctl xmlns='urn:x-fxg:test'>payload</ctl></message>`);
          const got = await b.waitFor((e) => e.is('message') && e.attrs['type'] === 'groupchat' && e.getChild('ctl', 'urn:x-fxg:test') !== undefined);
          assert.equal(got.getChildText('ctl', 'urn:x-fxg:test'), 'payload');
          conn.destroy();
        },
      },
      register: {
        what: 'resets the password of an existing one',
        async check(t, addMs) {
          const t1 = Date.now();
          await plain!.register('carol', 'carol-pw2');
          const resetMs = Date.now() - t1;
          t.diagnostic(`register: ${addMs} ms; re-register (unregister + register): ${resetMs} ms`);
          const d = await raw(plain!);
          assert.equal(await scramLogin(d, { domain: 'localhost', user: 'carol', pass: 'carol-pw2', resource: 'r2' }), 'carol@localhost/r2');
          await d.close();
          assert.match(await plain!.ctl(['registered_users', 'localhost']), /^carol$/m);
        },
      },
    },
  });

  test('fact: after STARTTLS ejabberd offers SCRAM-SHA-1-PLUS', async () => {
    const conn = await TextConn.connect(secure!.c2sPort);
    conns.push(conn);
    conn.send(c2sHeader('localhost'));
    await conn.until(/<\/stream:features>/);
    conn.send(`<starttls xmlns='${NS_TLS}'/>`);
    await conn.until(/<proceed\b[^>]*\/>/);
    const tlsSock = tls.connect({ socket: conn.sock as net.Socket, servername: 'localhost', ca: readFileSync(secure!.caCert!) });
    await new Promise<void>((resolve, reject) => {
      tlsSock.once('secureConnect', resolve);
      tlsSock.once('error', reject);
    });
    const sc = new TextConn(tlsSock);
    conns.push(sc);
    sc.send(c2sHeader('localhost'));
    const m = await sc.until(/<stream:features>([\s\S]*?)<\/stream:features>/);
    const mechs = [...m[1]!.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((x) => x[1]);
    // Observed order: PLAIN, SCRAM-SHA-1-PLUS, SCRAM-SHA-1.
    assert.deepEqual([...mechs].sort(), ['PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-1-PLUS']);
    assert.doesNotMatch(m[1]!, /starttls/);
    sc.destroy();
  });

  test('XEP-0114: the right secret is accepted (lowercase hex), a wrong secret or uppercase hex is not', async () => {
    const ok = await componentHandshake(plain!.componentPort, COMPONENT.domain, COMPONENT.secret);
    conns.push(ok.conn);
    assert.match(ok.answer, /^<handshake\s*\/>$|^<handshake><\/handshake>$/);
    ok.conn.destroy();

    const bad = await componentHandshake(plain!.componentPort, COMPONENT.domain, 'wrong-secret');
    conns.push(bad.conn);
    assert.match(bad.answer, /<stream:error><not-authorized/);
    bad.conn.destroy();

    const upper = await componentHandshake(plain!.componentPort, COMPONENT.domain, COMPONENT.secret, (h) => h.toUpperCase());
    conns.push(upper.conn);
    assert.match(upper.answer, /<stream:error><not-authorized/);
    upper.conn.destroy();
  });
});
