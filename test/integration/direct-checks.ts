/**
 * The checks of the test harness straight against a real XMPP server (no gateway) that hold for
 * Prosody and ejabberd alike, written once: harness.test.ts runs them against Prosody,
 * ejabberd-harness.test.ts against ejabberd. What only one server does stays in its file and
 * comes in as `facts`: each is checked inside the shared test it belongs to, and its `what`
 * ends that test's name.
 */
import * as assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { connectNative, connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import {
  LoginError,
  NS_SASL,
  NS_STREAM,
  NS_TLS,
  offeredMechanisms,
  openStream,
  scramLogin,
  sparkwebHeader,
  sparkwebLogin,
  xiffHeader,
  type RawFlashClient,
  type XmlElement,
} from '../support/raw-client.js';
import type { XmppServerInstance, XmppServerKind } from '../support/xmpp-server.js';

const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

/** The users both instances must be started with. */
export const DIRECT_USERS: [string, string][] = [
  ['alice', 'alice-pw'],
  ['bob', 'bob-pw'],
];

/** A server-specific fact, checked inside a shared test; `what` is added to the test's name. */
export interface Fact<A extends unknown[]> {
  readonly what: string;
  check(...args: A): void | Promise<void>;
}

/** What one server does beyond the shared checks, per shared test. */
export interface ServerFacts<S extends XmppServerInstance> {
  instances?: Fact<[plain: S, secure: S, t: TestContext]>;
  /** `plain`: the features of the instance without TLS; `secure`: with STARTTLS offered. */
  features?: Fact<[plain: XmlElement, secure: XmlElement]>;
  /** After the SCRAM login (bind and session done), before the close. */
  scramLogin?: Fact<[client: RawFlashClient]>;
  /** After the stream close that answers SparkWeb's self-closed header. */
  selfClosedHeader?: Fact<[client: RawFlashClient]>;
  /** After a native client logged in over STARTTLS. */
  nativeTls?: Fact<[client: NativeClient]>;
  /** After alice joined `room` (status 110). */
  muc?: Fact<[room: string, alice: NativeClient]>;
  /** After carol was added and logged in. */
  register?: Fact<[t: TestContext, addMs: number]>;
}

export interface DirectTarget<S extends XmppServerInstance> {
  readonly kind: XmppServerKind;
  /** How the tests name the server. */
  readonly label: string;
  /** The instance without TLS and the one offering STARTTLS (both started by the caller's before()). */
  plain(): S | undefined;
  secure(): S | undefined;
  /** A log line the plain instance wrote once ready. */
  readonly readyLog: RegExp;
  /** A raw client to `server`, destroyed by the caller's after(). */
  raw(server: S): Promise<RawFlashClient>;
  /** The violations of `client` the server must not cause (those it is known to cause left out). */
  violations(client: RawFlashClient): string[];
  /** Native clients, stopped by the caller's after(). */
  readonly natives: NativeClient[];
  readonly facts?: ServerFacts<S>;
}

const named = (name: string, fact: { what: string } | undefined): string => (fact ? `${name}; ${fact.what}` : name);

/** Registers the shared direct checks in the current describe(). */
export function directServerChecks<S extends XmppServerInstance>(target: DirectTarget<S>): void {
  const facts: ServerFacts<S> = target.facts ?? {};
  const plain = (): S => target.plain()!;
  const secure = (): S => target.secure()!;

  test(named('two instances run at once, on distinct ports and dirs', facts.instances), async (t) => {
    const p = target.plain();
    const s = target.secure();
    assert.ok(p && s);
    assert.equal(p.kind, target.kind.name);
    assert.notEqual(p.c2sPort, s.c2sPort);
    assert.notEqual(p.dir, s.dir);
    assert.equal(p.mucDomain, 'conference.localhost');
    assert.equal(p.caCert, undefined);
    assert.ok(s.caCert && s.pki);
    assert.match(p.logTail(), target.readyLog);
    await facts.instances?.check(p, s, t);
  });

  test(named('features: PLAIN + SCRAM-SHA-1 on plaintext, no STARTTLS without tls; STARTTLS (not required) with tls', facts.features), async () => {
    const a = await target.raw(plain());
    const fa = await openStream(a, xiffHeader('localhost'));
    assert.equal(fa.getChild('starttls', NS_TLS), undefined);
    assert.deepEqual(offeredMechanisms(fa).sort(), ['PLAIN', 'SCRAM-SHA-1']);
    await a.close();
    const b = await target.raw(secure());
    const fb = await openStream(b, xiffHeader('localhost'));
    const st = fb.getChild('starttls', NS_TLS);
    assert.ok(st, fb.toString());
    assert.equal(st.getChild('required'), undefined);
    await facts.features?.check(fa, fb);
    await b.close();
    assert.deepEqual([...target.violations(a), ...target.violations(b)], []);
  });

  test(named('ScramClient logs in over plain TCP (SCRAM-SHA-1, server signature verified); bind and session', facts.scramLogin), async () => {
    const c = await target.raw(plain());
    const jid = await scramLogin(c, { domain: 'localhost', user: 'alice', pass: 'alice-pw', resource: 'scram' });
    assert.equal(jid, 'alice@localhost/scram');
    assert.equal(c.streamHeaders.length, 2);
    await facts.scramLogin?.check(c);
    await c.close();
    assert.deepEqual(target.violations(c), []);
  });

  test('a wrong password gets <failure><not-authorized/>', async () => {
    const c = await target.raw(plain());
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

  test("SparkWeb's PLAIN flow (with an open header) logs in directly over plaintext", async () => {
    const c = await target.raw(plain());
    const jid = await sparkwebLogin(c, { domain: 'localhost', user: 'bob', pass: 'bob-pw', resource: 'spark', selfClosedHeader: false });
    assert.equal(jid, 'bob@localhost/spark');
    await c.close();
    assert.deepEqual(target.violations(c), []);
  });

  const selfClosed = `fact: ${target.label} answers SparkWeb's self-closed header with header + features + </stream:stream>`;
  test(named(selfClosed, facts.selfClosedHeader), async () => {
    const c = await target.raw(plain());
    c.send(sparkwebHeader('localhost'));
    const f = await c.nextElement((e) => e.is('features', NS_STREAM));
    assert.ok(f);
    await c.waitStreamClosed(3000);
    assert.equal(c.peerClosedStream, true);
    await facts.selfClosedHeader?.check(c);
    c.destroy();
  });

  test(named('native clients log in (plain and STARTTLS) and exchange a message', facts.nativeTls), async () => {
    const a = await connectNativeTo(plain(), 'alice', 'alice-pw', { resource: 'n1' });
    target.natives.push(a);
    const b = await connectNativeTo(plain(), 'bob', 'bob-pw', { resource: 'n2' });
    target.natives.push(b);
    assert.equal(a.jid, 'alice@localhost/n1');
    assert.equal(a.secure, false);
    await a.send(xml('message', { to: 'bob@localhost/n2', type: 'chat', id: 'hello1' }, xml('body', {}, 'hi bob ✓')));
    const m = await b.waitFor((e) => e.is('message') && e.attrs['id'] === 'hello1');
    assert.equal(m.attrs['from'], 'alice@localhost/n1');
    assert.equal(m.getChildText('body'), 'hi bob ✓');

    const t = await connectNativeTo(secure(), 'alice', 'alice-pw', { resource: 'secure' });
    target.natives.push(t);
    assert.equal(t.secure, true);
    assert.equal(t.jid, 'alice@localhost/secure');
    await facts.nativeTls?.check(t);
  });

  test(`native client: the TLS ${target.label} is rejected with the wrong CA`, async () => {
    await assert.rejects(
      connectNative({
        service: `xmpp://127.0.0.1:${secure().c2sPort}`,
        domain: 'localhost',
        username: 'alice',
        password: 'alice-pw',
        ca: secure().pki!.wrongCaCert,
        timeoutMs: 4000,
      }),
      /certificate/,
    );
  });

  test(named('MUC: a join gets status 110', facts.muc), async () => {
    const room = `room1@${plain().mucDomain}`;
    const a = await connectNativeTo(plain(), 'alice', 'alice-pw', { resource: 'muc' });
    target.natives.push(a);
    await a.send(xml('presence', { to: `${room}/alice` }, xml('x', { xmlns: NS_MUC })));
    const self = await a.waitFor((e) => e.is('presence') && e.attrs['from'] === `${room}/alice` && e.attrs['type'] === undefined);
    const codes = self
      .getChild('x', NS_MUC_USER)
      ?.getChildren('status')
      .map((s) => s.attrs['code']);
    assert.ok(codes?.includes('110'), self.toString());
    await facts.muc?.check(room, a);
  });

  test(named('register() adds a user while running', facts.register), async (t) => {
    const t0 = Date.now();
    await plain().register('carol', 'carol-pw');
    const addMs = Date.now() - t0;
    const c = await target.raw(plain());
    assert.equal(await scramLogin(c, { domain: 'localhost', user: 'carol', pass: 'carol-pw', resource: 'r' }), 'carol@localhost/r');
    await c.close();
    await facts.register?.check(t, addMs);
  });
}
