/**
 * The gateway's XEP-0114 component connection (src/xmpp/component.ts) against real Prosody 0.12
 * and ejabberd 23.01: handshake (ejabberd accepts only the lowercase digest, so going online
 * there proves it), stanzas both ways with a native client, iq() to the server, configuration
 * errors (wrong secret, unknown domain, a second connection), reconnection after a server
 * restart, and a clean stop. The secret never appears in the logs.
 *
 * Seen here: Prosody refuses a second connection for the domain (`conflict`, "Component already
 * connected"); ejabberd 23.01 does NOT replace the first one: both stay online and the stanzas
 * for the domain are spread over them at random. An unknown domain: Prosody `host-unknown` right
 * after the header, ejabberd `not-authorized` after the handshake.
 */
import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ComponentConnection, ComponentIqError, type ComponentOptions, type ComponentStateChange } from '../../src/xmpp/component.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import { attr, child, childElements, el, NS, text, type XmlElement } from '../../src/codec/xml/element.js';
import { SERVER_KINDS } from '../support/servers.js';
import { startProsody } from '../support/prosody.js';
import { startEjabberd } from '../support/ejabberd.js';
import type { XmppServerInstance, XmppServerOptions } from '../support/xmpp-server.js';
import { connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import { captureInProcessLog, recordSecret } from '../support/secrets.js';

const DOMAIN = 'control.localhost';
const SECRET = `c0mp-${randomBytes(6).toString('hex')}`;
const WRONG_SECRET = `wr0ng-${randomBytes(6).toString('hex')}`;
recordSecret(WRONG_SECRET, { kind: 'component-secret' }); // SECRET is recorded where the servers register it
const NS_TEST = 'urn:x-fxg:test:component';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const USERS: [string, string][] = [['alice', 'alice-pass']];

type RestartableServer = XmppServerInstance & { restart(): Promise<void> };
const STARTERS: Record<'prosody' | 'ejabberd', (o: XmppServerOptions) => Promise<RestartableServer>> = {
  prosody: startProsody,
  ejabberd: startEjabberd,
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A pino logger (the gateway's own configuration, redaction included) writing to memory, and to the whole-run redaction check's capture. */
function memoryLogger(): { log: Logger; lines: string[]; all: () => string } {
  const lines: string[] = [];
  const write = (s: string): void => {
    lines.push(s);
    captureInProcessLog(s);
  };
  return { log: createLogger('debug', { write }), lines, all: () => lines.join('') };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Answers `<iq type="get"><echo xmlns=NS_TEST>text</echo></iq>` with the text reversed. */
function answerEchoes(comp: ComponentConnection, seen: XmlElement[]): void {
  comp.onStanza((stanza) => {
    seen.push(stanza);
    const echo = child(stanza, 'echo', NS_TEST);
    if (stanza.local !== 'iq' || attr(stanza, 'type') !== 'get' || !echo) return;
    const reply = el('iq', NS.client, { type: 'result', id: attr(stanza, 'id'), to: attr(stanza, 'from'), from: attr(stanza, 'to') }, [
      el('echo', NS_TEST, {}, [[...text(echo)].reverse().join('')]),
    ]);
    comp.send(reply);
  });
}

async function echoFromClient(client: NativeClient, word: string): Promise<string> {
  const res = await client.iq(xml('iq', { type: 'get', to: DOMAIN }, xml('echo', { xmlns: NS_TEST }, word)), 5000);
  return res.getChildText('echo', NS_TEST) ?? '';
}

for (const kind of SERVER_KINDS) {
  describe(`XEP-0114 component on ${kind.name}`, () => {
    let server: RestartableServer;
    const components: ComponentConnection[] = [];
    const clients: NativeClient[] = [];
    const logs: { all: () => string }[] = [];

    const component = (extra: Partial<ComponentOptions> = {}): { comp: ComponentConnection; lines: string[]; states: ComponentStateChange[] } => {
      const mem = memoryLogger();
      logs.push(mem);
      const comp = new ComponentConnection({
        host: server.host,
        port: server.componentPort,
        domain: DOMAIN,
        secret: SECRET,
        log: mem.log,
        keepaliveMs: 5000,
        handshakeTimeoutMs: 5000,
        ...extra,
      });
      const states: ComponentStateChange[] = [];
      comp.onState((c) => states.push(c));
      components.push(comp);
      return { comp, lines: mem.lines, states };
    };

    before(async () => {
      server = await STARTERS[kind.name]({ tls: false, users: USERS, components: [{ domain: DOMAIN, secret: SECRET }] });
    });

    after(async () => {
      await Promise.all(components.map((c) => c.stop()));
      await Promise.all(clients.map((c) => c.stop()));
      // Whatever happened, no log line of any component carried a secret.
      for (const l of logs) {
        assert.ok(!l.all().includes(SECRET), 'the secret is not in the logs');
        assert.ok(!l.all().includes(WRONG_SECRET), 'the wrong secret is not in the logs');
      }
      await server?.stop();
    });

    test('goes online (lowercase handshake); a native client\'s iq reaches it and its answer comes back', async () => {
      const { comp, states } = component();
      const seen: XmlElement[] = [];
      answerEchoes(comp, seen);
      comp.start();
      await comp.waitOnline(5000);
      assert.equal(comp.state, 'online');
      assert.deepEqual(
        states.map((s) => s.state),
        ['connecting', 'online'],
      );
      const alice = await connectNativeTo(server, 'alice', 'alice-pass');
      clients.push(alice);
      assert.equal(await echoFromClient(alice, 'stressed'), 'desserts');
      const request = seen.find((s) => child(s, 'echo', NS_TEST));
      assert.ok(request);
      assert.equal(request.ns, NS.client, 'stanzas are handed over in jabber:client');
      assert.equal(attr(request, 'from'), alice.jid);
      assert.equal(attr(request, 'to'), DOMAIN);

      // A message from the component reaches the client (`from` defaulted to the domain).
      assert.equal(comp.send(el('message', NS.client, { to: alice.jid, type: 'headline' }, [el('ping', NS_TEST, { n: '1' })])), true);
      const msg = await alice.waitFor((m) => m.is('message') && m.getChild('ping', NS_TEST) !== undefined, 5000);
      assert.equal(msg.attrs.from, DOMAIN);
      await comp.stop();
      assert.equal(comp.state, 'stopped');
    });

    test('iq() to the server: disco#info result, an error iq, a timeout', async () => {
      const { comp } = component();
      comp.start();
      await comp.waitOnline(5000);
      const info = await comp.iq(el('iq', NS.client, { type: 'get', to: server.domain }, [el('query', DISCO_INFO)]), 5000);
      assert.equal(attr(info, 'type'), 'result');
      assert.equal(attr(info, 'from'), server.domain);
      assert.match(attr(info, 'id') ?? '', /^fxgc-/);
      const query = child(info, 'query', DISCO_INFO);
      assert.ok(query);
      const identity = childElements(query).find((c) => c.local === 'identity');
      assert.equal(identity && attr(identity, 'category'), 'server');

      // An unknown namespace: the server answers with an error iq, which iq() resolves with.
      const bad = await comp.iq(el('iq', NS.client, { type: 'get', to: server.domain, id: 'own-id-1' }, [el('nothing', 'urn:x-fxg:unknown')]), 5000);
      assert.equal(attr(bad, 'type'), 'error');
      assert.equal(attr(bad, 'id'), 'own-id-1');
      const error = child(bad, 'error');
      assert.ok(error && childElements(error).some((c) => c.ns === NS.stanzas));

      // An iq to ourselves that nobody answers: rejected after the timeout, the stream stays up.
      await assert.rejects(comp.iq(el('iq', NS.client, { type: 'get', to: DOMAIN }, [el('silence', NS_TEST)]), 300), (e: unknown) => {
        assert.ok(e instanceof ComponentIqError);
        assert.equal(e.reason, 'timeout');
        return true;
      });
      assert.equal(comp.state, 'online');
      await comp.stop();
    });

    test('a wrong secret: not-authorized reported, retried with growing delays, no secret in the logs', async () => {
      const { comp, lines, states } = component({ secret: WRONG_SECRET, reconnect: { initialDelayMs: 100, maxDelayMs: 5000 } });
      comp.start();
      const stamps: { state: string; at: number; change: ComponentStateChange }[] = [];
      comp.onState((change) => stamps.push({ state: change.state, at: Date.now(), change }));
      await until(() => states.filter((s) => s.state === 'offline').length >= 4, 10_000, '4 failed attempts');
      await comp.stop();
      const offline = stamps.filter((s) => s.state === 'offline');
      for (const o of offline) {
        assert.equal(o.change.error?.condition, 'not-authorized', `got ${o.change.error?.message}`);
        assert.equal(o.change.configProblem, true);
      }
      const delays = offline.map((o) => o.change.retryInMs!);
      for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! > delays[i - 1]!, `delays grow: ${delays.join(', ')}`);
      // The next attempt starts no earlier than announced.
      for (const [i, o] of offline.entries()) {
        const next = stamps.find((s) => s.state === 'connecting' && s.at >= o.at);
        if (next) assert.ok(next.at - o.at >= delays[i]! - 5, `attempt after ${next.at - o.at} ms, announced ${delays[i]} ms`);
      }
      const parsed = lines.map((l) => JSON.parse(l) as { level: string; msg: string; condition?: string });
      const errors = parsed.filter((l) => l.level === 'error');
      assert.equal(errors.length, 1, 'one error line per distinct reason');
      assert.equal(errors[0]!.condition, 'not-authorized');
      assert.match(errors[0]!.msg, /not-authorized.*secret/);
      const all = lines.join('');
      assert.ok(!all.includes(WRONG_SECRET) && !all.includes(SECRET), 'no secret in the logs');
      assert.equal(comp.state, 'stopped');
    });

    test(`an unknown component domain: ${kind.name === 'prosody' ? 'host-unknown at once' : 'not-authorized after the handshake'}`, async () => {
      const { comp, lines, states } = component({ domain: 'nowhere.localhost', reconnect: { initialDelayMs: 5000 } });
      comp.start();
      await until(() => states.some((s) => s.state === 'offline'), 5000, 'the first failure');
      await comp.stop();
      const first = states.find((s) => s.state === 'offline')!;
      assert.equal(first.error?.condition, kind.name === 'prosody' ? 'host-unknown' : 'not-authorized', first.error?.message);
      assert.equal(first.configProblem, true);
      assert.ok(lines.some((l) => /"level":"error"/.test(l) && l.includes('nowhere.localhost')));
    });

    test(`a second connection for the same domain: ${kind.name === 'prosody' ? 'refused with conflict' : 'both stay up, stanzas are shared'}`, async () => {
      const a = component({ reconnect: { initialDelayMs: 3000, maxDelayMs: 3000 } });
      const b = component({ reconnect: { initialDelayMs: 3000, maxDelayMs: 3000 } });
      const seenA: XmlElement[] = [];
      const seenB: XmlElement[] = [];
      answerEchoes(a.comp, seenA);
      answerEchoes(b.comp, seenB);
      a.comp.start();
      await a.comp.waitOnline(5000);
      b.comp.start();
      const alice = await connectNativeTo(server, 'alice', 'alice-pass');
      clients.push(alice);
      if (kind.name === 'prosody') {
        // Prosody (component_conflict_resolve = kick_new): the newcomer gets <conflict/>.
        await until(() => b.states.some((s) => s.state === 'offline'), 5000, 'the second connection refused');
        const refused = b.states.find((s) => s.state === 'offline')!;
        assert.equal(refused.error?.condition, 'conflict');
        assert.match(refused.error!.text, /already connected/);
        assert.equal(refused.configProblem, true);
        assert.equal(a.comp.state, 'online');
        assert.equal(await echoFromClient(alice, 'ab'), 'ba');
      } else {
        // ejabberd 23.01 keeps both connections and spreads the stanzas for the domain over
        // them at random (ejabberd_router:balancing_route); nobody is told anything.
        await b.comp.waitOnline(5000);
        await sleep(500);
        assert.equal(a.comp.state, 'online');
        assert.ok(!a.states.some((s) => s.state === 'offline'));
        for (let i = 0; i < 8; i++) assert.equal(await echoFromClient(alice, `x${i}`), `${i}x`);
        assert.equal(seenA.length + seenB.length, 8);
        // Once the newer one leaves, the older gets everything.
        await b.comp.stop();
        const before = seenA.length;
        for (let i = 0; i < 3; i++) assert.equal(await echoFromClient(alice, `y${i}`), `${i}y`);
        assert.equal(seenA.length, before + 3);
      }
      await Promise.all([a.comp.stop(), b.comp.stop(), alice.stop()]);
    });

    test('after server.restart() it comes back online by itself and works again', async (t) => {
      const { comp, states } = component({ reconnect: { initialDelayMs: 500, maxDelayMs: 4000 } });
      const seen: XmlElement[] = [];
      answerEchoes(comp, seen);
      comp.start();
      await comp.waitOnline(5000);
      const t0 = Date.now();
      await server.restart();
      const restartMs = Date.now() - t0;
      await until(() => states.some((s) => s.state === 'offline'), 5000, 'the drop to be noticed');
      await comp.waitOnline(15_000);
      const backMs = Date.now() - t0;
      t.diagnostic(`${kind.name}: restart() took ${restartMs} ms; component online again ${backMs} ms after it began; states: ${states.map((s) => s.state).join(' ')}`);
      assert.ok(backMs < 15_000);
      const drop = states.find((s) => s.state === 'offline')!;
      assert.equal(drop.configProblem, false);
      // Users persisted: alice logs in again, and her iq reaches the reconnected component.
      const alice = await connectNativeTo(server, 'alice', 'alice-pass');
      clients.push(alice);
      assert.equal(await echoFromClient(alice, 'drawer'), 'reward');
      const info = await comp.iq(el('iq', NS.client, { type: 'get', to: server.domain }, [el('query', DISCO_INFO)]), 5000);
      assert.equal(attr(info, 'type'), 'result');
      await comp.stop();
    });

    test('stop() closes the stream cleanly: the server lets the domain go at once', async () => {
      const { comp, states } = component();
      comp.start();
      await comp.waitOnline(5000);
      const t0 = Date.now();
      await comp.stop();
      const stopMs = Date.now() - t0;
      // Well under the 2 s bound: the server answered our </stream:stream>.
      assert.ok(stopMs < 1500, `stop took ${stopMs} ms`);
      assert.equal(comp.state, 'stopped');
      assert.deepEqual(
        states.map((s) => s.state),
        ['connecting', 'online', 'stopped'],
      );
      assert.equal(comp.send(el('message', NS.client, { to: server.domain })), false);
      await assert.rejects(comp.iq(el('iq', NS.client, { type: 'get', to: server.domain })), { name: 'ComponentIqError', reason: 'stopped' });
      await assert.rejects(comp.waitOnline(100), /stopped/);
      // No lingering session: a new connection for the domain is accepted right away (Prosody would say conflict).
      const next = component();
      next.comp.start();
      await next.comp.waitOnline(5000);
      assert.equal(next.states.filter((s) => s.state === 'offline').length, 0);
      await next.comp.stop();
    });
  });
}
