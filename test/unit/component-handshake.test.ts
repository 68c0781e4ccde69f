/**
 * XEP-0114 component connection (src/xmpp/component.ts): the handshake digest, the reconnect
 * schedule, and the wire protocol against a scripted fake server on loopback.
 */
import { test, describe } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { backoffDelay, ComponentConnection, DEFAULT_RECONNECT, handshakeDigest, type ComponentStateChange } from '../../src/xmpp/component.js';
import { createLogger } from '../../src/log/logger.js';
import { attr, child, el, NS } from '../../src/codec/xml/element.js';
import { captureInProcessLog, recordSecret } from '../support/secrets.js';

describe('handshake digest', () => {
  test('XEP-0114 example: stream id 3BF96D32 + secret "test"', () => {
    assert.equal(handshakeDigest('3BF96D32', 'test'), 'aaee83c26aeeafcbabeabfcbcd50df997e0a2a1e');
  });

  test('lowercase hex SHA-1 of id + secret, UTF-8', () => {
    const id = 'AbC-123';
    const secret = 's3cr\u00e9t-\u{1F600}';
    const digest = handshakeDigest(id, secret);
    assert.match(digest, /^[0-9a-f]{40}$/);
    assert.equal(digest, createHash('sha1').update(Buffer.from(id + secret, 'utf8')).digest('hex'));
    // The id is used as given (Prosody ids are UUIDs, ejabberd's long decimals): case matters.
    assert.notEqual(handshakeDigest('abc-123', secret), digest);
  });
});

describe('backoff schedule', () => {
  const opts = { initialDelayMs: 1000, maxDelayMs: 30_000 };

  test('without jitter (random() = 0): 1, 2, 4, 8, 16 s, then capped at 30 s', () => {
    const delays = Array.from({ length: 8 }, (_, i) => backoffDelay(i, opts, () => 0));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  test('with maximal jitter (random() -> 1): at most 20% less, still strictly growing until the cap', () => {
    const delays = Array.from({ length: 7 }, (_, i) => backoffDelay(i, opts, () => 0.999999));
    assert.deepEqual(delays, [800, 1600, 3200, 6400, 12_800, 24_000, 24_000]);
  });

  test('any jitter: every delay within [80%, 100%] of the exponential value; later delays never shorter before the cap', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let run = 0; run < 200; run++) {
      let previous = 0;
      for (let i = 0; i < 10; i++) {
        const d = backoffDelay(i, opts, random);
        const base = Math.min(30_000, 1000 * 2 ** i);
        assert.ok(d >= base * 0.8 - 1 && d <= base, `attempt ${i}: ${d} not in [${base * 0.8}, ${base}]`);
        if (base < 30_000) assert.ok(d > previous, `attempt ${i}: ${d} <= ${previous}`);
        previous = d;
      }
    }
  });

  test('defaults, options and odd inputs', () => {
    assert.equal(DEFAULT_RECONNECT.initialDelayMs, 1000);
    assert.equal(DEFAULT_RECONNECT.maxDelayMs, 30_000);
    assert.equal(backoffDelay(3, { ...opts, factor: 3, jitter: 0 }), 27_000);
    assert.equal(backoffDelay(2, { ...opts, jitter: 0.5 }, () => 0.5), 3000);
    assert.equal(backoffDelay(-1, opts, () => 0), 1000);
    assert.equal(backoffDelay(10_000, opts, () => 0), 30_000);
    assert.equal(backoffDelay(0, { initialDelayMs: 100, maxDelayMs: 50 }, () => 0), 50);
  });
});

// -------------------------------------------------------------------------------------------
// Against a scripted fake component port.

interface FakeConn {
  sock: net.Socket;
  received: () => string;
  until: (re: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
}

async function fakeServer(onConn: (c: FakeConn) => void | Promise<void>): Promise<{ port: number; connections: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { port: 0, connections: 0, close: async () => {} };
  const server = net.createServer((sock) => {
    state.connections++;
    sockets.add(sock);
    let got = '';
    const waiters: (() => void)[] = [];
    sock.on('data', (b) => {
      got += b.toString('utf8');
      for (const w of waiters.splice(0)) w();
    });
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    const until = (re: RegExp, timeoutMs = 3000): Promise<RegExpMatchArray> =>
      new Promise((resolve, reject) => {
        const end = Date.now() + timeoutMs;
        const check = (): void => {
          const m = got.match(re);
          if (m) return resolve(m);
          if (Date.now() > end) return reject(new Error(`fake server: ${re} not received; got ${JSON.stringify(got)}`));
          waiters.push(check);
          setTimeout(() => {
            const i = waiters.indexOf(check);
            if (i >= 0) {
              waiters.splice(i, 1);
              check();
            }
          }, 50);
        };
        check();
      });
    void Promise.resolve(onConn({ sock, received: () => got, until })).catch(() => sock.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}

const HEADER = (id: string): string =>
  `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='control.test' id='${id}'>`;

/** The gateway's logger writing to memory (and to the whole-run redaction check's capture). */
function memoryLogger(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const write = (s: string): void => {
    lines.push(s);
    captureInProcessLog(s);
  };
  return { log: createLogger('debug', { write }), lines };
}

describe('ComponentConnection on the wire (fake server)', () => {
  test('header, lowercase handshake, online; stanzas mapped to and from jabber:client; iq() by id; clean stop', async (t) => {
    const SECRET = 'Fake-S3cret';
    recordSecret(SECRET, { kind: 'component-secret' });
    const ID = 'Ab12CD34ef';
    let serverSaw = '';
    const srv = await fakeServer(async ({ sock, until, received }) => {
      await until(/<stream:stream[^>]*>/);
      sock.write(HEADER(ID));
      const m = await until(/<handshake>([^<]*)<\/handshake>/);
      assert.equal(m[1], createHash('sha1').update(ID + SECRET).digest('hex'));
      assert.match(m[1]!, /^[0-9a-f]{40}$/);
      sock.write('<handshake/>');
      // An iq from a client, routed to the component.
      sock.write(`<iq type='get' id='c1' from='alice@test/r' to='control.test'><query xmlns='urn:x-test'/></iq>`);
      await until(/<iq[^>]*id="c1"[^>]*>/);
      // The component's own request: answer it.
      const q = await until(/<iq [^>]*type="get"[^>]*>.*?<\/iq>/);
      const id = /id="([^"]+)"/.exec(q[0])![1]!;
      sock.write(`<iq type='result' id='${id}' from='test' to='control.test'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im'/></query></iq>`);
      await until(/<\/stream:stream>/);
      serverSaw = received();
      sock.end('</stream:stream>');
    });
    t.after(() => srv.close());
    const { log, lines } = memoryLogger();
    const comp = new ComponentConnection({ host: '127.0.0.1', port: srv.port, domain: 'control.test', secret: SECRET, log });
    t.after(() => comp.stop());
    const changes: ComponentStateChange[] = [];
    comp.onState((c) => changes.push(c));
    const got: ReturnType<typeof el>[] = [];
    comp.onStanza((stanza) => {
      got.push(stanza);
      if (stanza.local === 'iq' && attr(stanza, 'type') === 'get') {
        // Answer without `from`: the connection fills in the domain.
        comp.send(el('iq', NS.client, { type: 'result', id: attr(stanza, 'id'), to: attr(stanza, 'from') }));
      }
    });
    assert.equal(comp.state, 'offline');
    assert.equal(comp.send(el('message', NS.client, { to: 'x@test' })), false);
    comp.start();
    await comp.waitOnline(3000);
    assert.equal(comp.state, 'online');
    const answer = await comp.iq(el('iq', NS.client, { type: 'get', to: 'test' }, [el('query', 'http://jabber.org/protocol/disco#info')]), 3000);
    assert.equal(attr(answer, 'type'), 'result');
    assert.equal(answer.ns, NS.client);
    assert.equal(child(answer, 'query')?.ns, 'http://jabber.org/protocol/disco#info');
    assert.equal(got.length, 1, 'the answer to iq() is not handed to onStanza');
    assert.equal(got[0]!.ns, NS.client);
    assert.equal(attr(got[0]!, 'from'), 'alice@test/r');
    await comp.stop();
    assert.equal(comp.state, 'stopped');
    assert.deepEqual(
      changes.map((c) => c.state),
      ['connecting', 'online', 'stopped'],
    );
    // On the wire: the stream header, in jabber:component:accept; stanzas in the stream's default
    // namespace (no xmlns="jabber:client"), `from` filled in; our close.
    assert.match(serverSaw, /^<\?xml version='1.0'\?><stream:stream xmlns="jabber:component:accept" xmlns:stream="http:\/\/etherx.jabber.org\/streams" to="control.test">/);
    assert.match(serverSaw, /<iq type="result" id="c1" to="alice@test\/r" from="control.test"\/>/);
    assert.doesNotMatch(serverSaw, /jabber:client/);
    assert.match(serverSaw, /<\/stream:stream>$/);
    assert.ok(!lines.join('').includes(SECRET), 'the secret is not logged');
    assert.equal(srv.connections, 1);
    await srv.close();
  });

  test('not-authorized: reported once at error level, retried with growing delays, iq() rejected while offline', async (t) => {
    const srv = await fakeServer(async ({ sock, until }) => {
      await until(/<stream:stream[^>]*>/);
      sock.write(HEADER(`id${Math.random().toString(36).slice(2)}`));
      await until(/<handshake>/);
      sock.write(
        `<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Given token does not match calculated token</text></stream:error></stream:stream>`,
      );
      sock.end();
    });
    t.after(() => srv.close());
    const { log, lines } = memoryLogger();
    recordSecret('wrong-Secret-xyz', { kind: 'component-secret' });
    const comp = new ComponentConnection({
      host: '127.0.0.1',
      port: srv.port,
      domain: 'control.test',
      secret: 'wrong-Secret-xyz',
      log,
      reconnect: { initialDelayMs: 30, maxDelayMs: 1000 },
      random: () => 0.5,
    });
    t.after(() => comp.stop());
    const offline: { change: ComponentStateChange; at: number }[] = [];
    const connecting: number[] = [];
    comp.onState((c) => {
      if (c.state === 'offline') offline.push({ change: c, at: Date.now() });
      if (c.state === 'connecting') connecting.push(Date.now());
    });
    comp.start();
    while (offline.length < 4) await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(comp.iq(el('iq', NS.client, { type: 'get', to: 'test' })), { name: 'ComponentIqError', reason: 'offline' });
    await comp.stop();
    const delays = offline.map((o) => o.change.retryInMs!);
    assert.deepEqual(delays.slice(0, 4), [27, 54, 108, 216]); // 30·2^n·(1 - 0.2·0.5), rounded
    for (const [i, o] of offline.entries()) {
      assert.equal(o.change.error?.condition, 'not-authorized');
      assert.match(o.change.error!.text, /Given token does not match/);
      assert.equal(o.change.configProblem, true);
      assert.equal(o.change.failures, i + 1);
      const next = connecting[i + 1];
      if (next !== undefined) assert.ok(next - o.at >= delays[i]! - 2, `retry ${i} after ${next - o.at} ms, scheduled ${delays[i]}`);
    }
    const parsed = lines.map((l) => JSON.parse(l) as { level: string; msg: string; condition?: string });
    const errors = parsed.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, `one error line for one distinct reason: ${JSON.stringify(errors)}`);
    assert.equal(errors[0]!.condition, 'not-authorized');
    assert.match(errors[0]!.msg, /refused the handshake of component control\.test \(not-authorized\)/);
    assert.ok(!lines.join('').includes('wrong-Secret-xyz'));
    await srv.close();
  });

  test('Prosody-style host-unknown (header with an empty id, then the error) and a drop while online', async (t) => {
    let n = 0;
    const srv = await fakeServer(async ({ sock, until }) => {
      n++;
      await until(/<stream:stream[^>]*>/);
      if (n === 1) {
        sock.write(`<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id=''>`);
        sock.write(`<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
        sock.end();
        return;
      }
      sock.write(HEADER(`id${n}`));
      await until(/<handshake>/);
      sock.write('<handshake/>');
      if (n === 2) setTimeout(() => sock.destroy(), 50); // a drop while online
    });
    t.after(() => srv.close());
    const { log } = memoryLogger();
    const comp = new ComponentConnection({ host: '127.0.0.1', port: srv.port, domain: 'control.test', secret: 's', log, reconnect: { initialDelayMs: 20 } });
    t.after(() => comp.stop());
    const changes: ComponentStateChange[] = [];
    comp.onState((c) => changes.push(c));
    comp.start();
    await comp.waitOnline(3000);
    // Wait for the drop and the return.
    const end = Date.now() + 3000;
    while (changes.filter((c) => c.state === 'online').length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await comp.stop();
    const offline = changes.filter((c) => c.state === 'offline');
    assert.equal(offline[0]?.error?.condition, 'host-unknown');
    assert.equal(offline[0]?.configProblem, true);
    assert.equal(offline[1]?.error?.condition, 'remote-connection-failed');
    assert.equal(offline[1]?.configProblem, false);
    // Dropped before it was stable (stableMs): the backoff went on growing.
    assert.equal(offline[1]?.failures, 2);
    assert.deepEqual(
      changes.map((c) => c.state),
      ['connecting', 'offline', 'connecting', 'online', 'offline', 'connecting', 'online', 'stopped'],
    );
    await srv.close();
  });

  test('no server: connection refused, retried; stop() while waiting; waitOnline rejects', async (t) => {
    const srv = await fakeServer(() => {});
    const port = srv.port;
    await srv.close(); // nothing listens there now
    const { log, lines } = memoryLogger();
    const comp = new ComponentConnection({ host: '127.0.0.1', port, domain: 'control.test', secret: 's', log, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    t.after(() => comp.stop());
    const waiting = comp.waitOnline(5000);
    comp.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.notEqual(comp.state, 'online');
    assert.equal(comp.error?.condition, 'remote-connection-failed');
    assert.match(comp.error!.text, /cannot reach/);
    await comp.stop();
    await assert.rejects(waiting, /stopped before it came online/);
    const warns = lines.map((l) => JSON.parse(l) as { level: string }).filter((l) => l.level === 'warn' || l.level === 'error');
    assert.equal(warns.length, 1, 'the same failure is logged above debug once');
  });

  test('the server closes the stream while online: the component answers the close and reconnects', async (t) => {
    let n = 0;
    let firstSaw = '';
    const srv = await fakeServer(async ({ sock, until, received }) => {
      n++;
      await until(/<stream:stream[^>]*>/);
      sock.write(HEADER(`id${n}`));
      await until(/<handshake>/);
      sock.write('<handshake/>');
      if (n === 1) {
        sock.write(`<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
        await until(/<\/stream:stream>/);
        firstSaw = received();
        sock.end();
      }
    });
    t.after(() => srv.close());
    const { log } = memoryLogger();
    const comp = new ComponentConnection({ host: '127.0.0.1', port: srv.port, domain: 'control.test', secret: 's', log, reconnect: { initialDelayMs: 20 } });
    t.after(() => comp.stop());
    const changes: ComponentStateChange[] = [];
    comp.onState((c) => changes.push(c));
    comp.start();
    const end = Date.now() + 3000;
    while (changes.filter((c) => c.state === 'online').length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await comp.stop();
    const drop = changes.find((c) => c.state === 'offline');
    assert.equal(drop?.error?.condition, 'system-shutdown');
    assert.equal(drop?.configProblem, false);
    assert.match(firstSaw, /<\/stream:stream>$/);
    assert.equal(n, 2);
    await srv.close();
  });

  test('a handshake that never comes back times out', async (t) => {
    const srv = await fakeServer(async ({ sock, until }) => {
      await until(/<stream:stream[^>]*>/);
      sock.write(HEADER('slow'));
    });
    t.after(() => srv.close());
    const { log } = memoryLogger();
    const comp = new ComponentConnection({ host: '127.0.0.1', port: srv.port, domain: 'control.test', secret: 's', log, handshakeTimeoutMs: 200, reconnect: { initialDelayMs: 5000 } });
    t.after(() => comp.stop());
    const offline = new Promise<ComponentStateChange>((resolve) => comp.onState((c) => c.state === 'offline' && resolve(c)));
    comp.start();
    const change = await offline;
    assert.equal(change.error?.condition, 'connection-timeout');
    assert.match(change.error!.text, /did not complete the component handshake within 200 ms/);
    await comp.stop();
    await srv.close();
  });
});
