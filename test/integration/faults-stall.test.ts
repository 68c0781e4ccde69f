/**
 * Fault: the XMPP server stops reading (its process SIGSTOPped: the kernel still accepts the
 * connection's bytes until its buffers are full, then the window closes) while clients keep
 * sending big messages, over a raw socket, a WebSocket and RTMP.
 *
 * What must hold: backpressure keeps the gateway's memory bounded — each client is paused once
 * its upstream has a backlog, so what it sends piles up in its own TCP window, not in the
 * gateway (the RTMP client included, whose calls wait while its XMPP stream is backlogged);
 * and after `--upstream-write-timeout` seconds with nothing leaving the backlog, each session is
 * ended with `remote-connection-failed` saying the server stopped reading (`xmpp_disconnected`
 * on RTMP) and its upstream socket is destroyed, so the gateway's descriptors come back while the
 * server is still stopped. After SIGCONT a new client logs in.
 *
 * Then the write timeout alone, in process against a server of our own: it cuts a server that
 * reads nothing, and never one that reads slowly but steadily.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { DEFAULT_XML_LIMITS } from '../../src/codec/xml/parser.js';
import type { StreamError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { UpstreamStream } from '../../src/xmpp/upstream.js';
import { startGateway } from '../support/gateway.js';
import { LightClient, type LightClientOptions, type LightTransport } from '../support/light-client.js';
import { freePort } from '../support/ports.js';
import { startProsody } from '../support/prosody.js';
import { RtmpTestClient } from '../support/rtmp-client.js';
import { fdCount, forceGc, INSPECTABLE_ENV, mib, MiB, rssBytes, scrapeMetrics, settle, sleep, until } from './faults-common.js';

const WRITE_TIMEOUT_S = 5;
/** Each message body: close to the default 256 KiB stanza limit. */
const BODY = 'x'.repeat(200 * 1024);
/** What each client tries to send in all: far more than every buffer on the way can hold. */
const OFFER_BYTES = 150 * MiB;
/**
 * While clients push and the server reads nothing, the gateway's resident memory may grow this
 * much over its baseline (garbage of what went through before the pause included; without
 * backpressure it grew by hundreds of MiB), and its live heap (after a full GC) this much.
 */
const RSS_GROWTH_BOUND = 48 * MiB;
const LIVE_HEAP_GROWTH_BOUND = 16 * MiB;

test('a server that stops reading: clients are paused, memory stays bounded, and the sessions are cut after --upstream-write-timeout', { timeout: 120_000 }, async (t) => {
  const prosody = await startProsody({
    tls: false,
    users: [['pumpraw', 'raw-pass'], ['pumpws', 'ws-pass'], ['pumprtmp', 'rtmp-pass'], ['after', 'after-pass']],
    logLevel: 'info',
  });
  const httpPort = await freePort();
  const rtmpPort = await freePort();
  const gateway = await startGateway(
    [
      '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0',
      '--http-port', String(httpPort), '--http-host', '127.0.0.1',
      '--rtmp-port', String(rtmpPort), '--rtmp-host', '127.0.0.1',
      '--upstream', `${prosody.host}:${prosody.c2sPort}`, '--domain', prosody.domain, '--upstream-tls', 'off',
      '--upstream-write-timeout', String(WRITE_TIMEOUT_S),
      // A small burst puts the clients over their stanza rate too: the rate queue draining must
      // not resume a client whose server is backlogged (it did, and memory grew without bound).
      '--rate-burst', '10',
    ],
    { listeners: 3, env: INSPECTABLE_ENV },
  );
  const pid = gateway.pid;
  const options = (transport: LightTransport, user: string, pass: string): LightClientOptions => ({
    transport,
    host: '127.0.0.1',
    port: gateway.port,
    url: `ws://127.0.0.1:${httpPort}/xmlsocket`,
    domain: prosody.domain,
    user,
    pass,
    resource: 'pump',
  });
  let stopped = false;
  const offered = new Map<string, number>();
  let peakRss = 0;
  let rtmp: RtmpTestClient | undefined;
  const lights: LightClient[] = [];
  try {
    const raw = await LightClient.login(options('raw', 'pumpraw', 'raw-pass'));
    const ws = await LightClient.login(options('ws', 'pumpws', 'ws-pass'));
    lights.push(raw, ws);
    rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0, name: 'rtmp pump' });
    assert.deepEqual((await rtmp.call('xmpp_connect', [{ username: 'pumprtmp', domain: prosody.domain, password: 'rtmp-pass', resource: 'pump' }]))?.values, [1]);
    const liveHeap = async (): Promise<number> => {
      await forceGc(gateway);
      return (await scrapeMetrics(httpPort)).get('nodejs_heap_size_used_bytes') ?? NaN;
    };
    const baseline = { heap: await liveHeap(), fds: fdCount(pid), rss: rssBytes(pid) };
    t.diagnostic(`baseline with 3 sessions: ${baseline.fds} fds, RSS ${mib(baseline.rss)}, live heap ${mib(baseline.heap)}`);

    process.kill(prosody.pid, 'SIGSTOP');
    stopped = true;
    const stoppedAt = Date.now();

    // Each client sends as fast as its own transport lets it, until it is cut or has offered enough.
    const message = `<message to="nobody@${prosody.domain}" type="headline"><body>${BODY}</body></message>`;
    const pump = async (client: LightClient): Promise<void> => {
      let sent = 0;
      while (client.closedAt === undefined && client.streamError === undefined && sent < OFFER_BYTES) {
        const room = client.send(message);
        sent += message.length;
        offered.set(client.options.transport, sent);
        if (!room) await client.whenWritable();
      }
    };
    let rtmpCut: number | undefined;
    const rtmpDisconnected = rtmp.nextInvoke('xmpp_disconnected', () => true, 60_000).then((invoke) => {
      rtmpCut = Date.now();
      return invoke;
    });
    // Awaited below; until then a failure elsewhere must not surface as this one.
    rtmpDisconnected.catch(() => undefined);
    const pumpRtmp = async (client: RtmpTestClient): Promise<void> => {
      let sent = 0;
      const inFlight = new Set<Promise<void>>();
      while (rtmpCut === undefined && !client.isClosed && sent < OFFER_BYTES) {
        const call = client
          .send('xmpp', ['message', { to: `nobody@${prosody.domain}`, type: 'headline' }, `<body>${BODY}</body>`], { timeoutMs: 60_000 })
          .catch(() => undefined);
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
        sent += BODY.length;
        offered.set('rtmp', sent);
        if (inFlight.size >= 4) await Promise.race([...inFlight, rtmpDisconnected]);
      }
    };
    peakRss = baseline.rss;
    /** The peak before the first client was cut: what the gateway held while paused. */
    let stalledPeakRss = baseline.rss;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          peakRss = Math.max(peakRss, rssBytes(pid));
          if (raw.errorAt === undefined && ws.errorAt === undefined && rtmpCut === undefined) stalledPeakRss = peakRss;
        } catch {
          break; // the gateway is gone: the assertions below say so
        }
        await sleep(100);
      }
    })();
    const pumps = [pump(raw), pump(ws), pumpRtmp(rtmp)];

    // Mid-stall, well before the cut: what the gateway holds alive is each session's backlog
    // (a quarter of a MiB) and a read or two, not what the clients pushed.
    await sleep((WRITE_TIMEOUT_S * 1000) / 2);
    const stalledHeap = await liveHeap();
    const stalledOffered = [...offered].map(([k, v]) => `${k} ${mib(v)}`).join(', ');

    // Paused, not buffered: the gateway's memory stays bounded while the clients push.
    for (const client of [raw, ws]) {
      await client.waitClosed(WRITE_TIMEOUT_S * 1000 + 15_000);
      assert.ok(client.streamError, `${client.describe()} read a stream error`);
      assert.equal(client.streamError.condition, 'remote-connection-failed');
      assert.match(client.streamError.text, /stopped reading/);
    }
    const disconnected = await rtmpDisconnected;
    assert.deepEqual(disconnected.args, ['remote-connection-failed']);
    sampling = false;
    await sampler;
    const cutAfter = [raw, ws].map((c) => (c.errorAt as number) - stoppedAt).concat([(rtmpCut as number) - stoppedAt]);
    t.diagnostic(
      `mid-stall: offered ${stalledOffered}; live heap ${mib(stalledHeap)} (baseline ${mib(baseline.heap)}); ` +
        `RSS peak before the cut ${mib(stalledPeakRss)} (baseline ${mib(baseline.rss)}, +${mib(stalledPeakRss - baseline.rss)}), ` +
        `overall ${mib(peakRss)}; offered in all ${[...offered].map(([k, v]) => `${k} ${mib(v)}`).join(', ')}; ` +
        `cut after ${cutAfter.join(', ')} ms (raw, ws, rtmp)`,
    );
    assert.ok(stalledHeap - baseline.heap < LIVE_HEAP_GROWTH_BOUND, `live heap bounded while the server does not read: +${mib(stalledHeap - baseline.heap)}`);
    assert.ok(stalledPeakRss - baseline.rss < RSS_GROWTH_BOUND, `resident memory bounded while the server does not read: +${mib(stalledPeakRss - baseline.rss)}`);
    for (const [name, bytes] of offered) assert.ok(bytes < OFFER_BYTES, `${name}: paused before it could offer all ${mib(OFFER_BYTES)}`);
    // Cut by the write timeout: not before it, and within a generous margin after it.
    for (const ms of cutAfter) assert.ok(ms >= WRITE_TIMEOUT_S * 1000 - 500 && ms < WRITE_TIMEOUT_S * 1000 + 15_000, `cut ${ms} ms after the server stopped`);
    assert.ok(
      gateway.records().some((r) => /stopped reading/.test(String(r['msg']))),
      'the gateway logs why',
    );
    await Promise.all(pumps);

    // The upstream sockets are gone although the server never read or closed them.
    await rtmp.close();
    rtmp = undefined;
    const fds = await settle(() => fdCount(pid), (n) => n <= baseline.fds - 6 + 2, 15_000);
    t.diagnostic(`fds once cut: ${fds} (baseline with 3 sessions and their upstreams: ${baseline.fds})`);
    assert.ok(fds <= baseline.fds - 6 + 2, `the 3 client and 3 upstream sockets are closed: ${fds} fds against ${baseline.fds}`);

    process.kill(prosody.pid, 'SIGCONT');
    stopped = false;
    const after = await LightClient.login(options('raw', 'after', 'after-pass'));
    assert.match(after.jid, /^after@/);
    await after.close();
    assert.equal(gateway.exited, false, 'the gateway is still running');
  } finally {
    t.diagnostic(`offered: ${[...offered].map(([k, v]) => `${k} ${mib(v)}`).join(', ')}; gateway RSS peak ${mib(peakRss)}`);
    if (gateway.exited) t.diagnostic(`the gateway exited (${gateway.exitCode ?? gateway.exitSignal}):\n${gateway.logs().slice(-3000)}`);
    if (stopped) process.kill(prosody.pid, 'SIGCONT');
    for (const c of lights) c.destroy();
    await rtmp?.close();
    await gateway.stop();
    await prosody.stop();
  }
});

/**
 * A server that opens the stream (no STARTTLS), then reads in bursts: after every `pause` ms it
 * reads for 50 ms, or (`pause` 0) nothing at all any more.
 */
async function startReader(): Promise<{ port: number; readEvery(pauseMs: number): void; close(): Promise<void> }> {
  let pause = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('data', () => {
      socket.write(
        `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='r1' from='stall.test' version='1.0'>` +
          `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`,
      );
      // Flowing for 50 ms after every pause: it takes whatever arrives meanwhile.
      socket.on('data', () => undefined);
      socket.pause();
      let last = Date.now();
      const timer = setInterval(() => {
        if (pause === 0 || Date.now() - last < pause) return;
        last = Date.now();
        socket.resume();
        setTimeout(() => socket.pause(), 50);
      }, 20);
      socket.once('close', () => clearInterval(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    readEvery: (ms) => (pause = ms),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('the upstream write timeout: a server reading nothing is cut, one that pauses shorter than the timeout is not', { timeout: 60_000 }, async (t) => {
  const reader = await startReader();
  const stanza = `<message to="x@stall.test"><body>${'y'.repeat(256 * 1024)}</body></message>`;
  const WRITE_TIMEOUT_MS = 2000;
  const open = async (): Promise<{ stream: UpstreamStream; ended: () => { error: StreamError | undefined; at: number } | undefined }> => {
    const { stream } = await UpstreamStream.connect({
      host: '127.0.0.1',
      port: reader.port,
      domain: 'stall.test',
      tls: 'off',
      connectTimeoutMs: 5000,
      keepaliveMs: 60_000,
      writeTimeoutMs: WRITE_TIMEOUT_MS,
      limits: DEFAULT_XML_LIMITS,
      log: createLogger('fatal'),
    });
    let ended: { error: StreamError | undefined; at: number } | undefined;
    stream.attach({ element: () => undefined, ended: (error) => (ended = { error, at: Date.now() }) });
    return { stream, ended: () => ended };
  };
  try {
    // Reads in bursts with pauses a quarter of the timeout; the writer keeps a backlog queued
    // all along (as a paused client's session does), for three times the timeout.
    reader.readEvery(WRITE_TIMEOUT_MS / 4);
    const slow = await open();
    const slowStart = Date.now();
    let written = 0;
    while (Date.now() - slowStart < 3 * WRITE_TIMEOUT_MS && slow.ended() === undefined) {
      while (slow.stream.backlogBytes < 1024 * 1024 && slow.ended() === undefined) {
        slow.stream.write(stanza);
        written += stanza.length;
      }
      await sleep(50);
    }
    assert.equal(slow.ended(), undefined, `a server that reads with pauses is not cut (${slow.ended()?.error?.text})`);
    t.diagnostic(`server reading every ${WRITE_TIMEOUT_MS / 4} ms: ${mib(written)} written in ${3 * WRITE_TIMEOUT_MS} ms with a ${WRITE_TIMEOUT_MS} ms write timeout, not cut`);

    // Now it reads nothing more: cut after the timeout, not before.
    reader.readEvery(0);
    const stoppedAt = Date.now();
    // The writer keeps a backlog queued: first the kernel buffers fill (they grew while the
    // server read fast), then nothing leaves any more.
    while (slow.ended() === undefined && Date.now() - stoppedAt < 10 * WRITE_TIMEOUT_MS) {
      while (slow.stream.backlogBytes < 1024 * 1024 && slow.ended() === undefined) slow.stream.write(stanza);
      await sleep(50);
    }
    const ended = slow.ended() as { error: StreamError | undefined; at: number };
    assert.equal(ended.error?.condition, 'remote-connection-failed');
    assert.match(ended.error?.text ?? '', /^the XMPP server stopped reading: none of the \d+ bytes queued to it left in \d+ s \(upstreamWriteTimeout\)$/);
    t.diagnostic(`once it stopped reading: cut after ${ended.at - stoppedAt} ms: "${ended.error?.text}"`);
    // Its last read may have been up to a pause before it was told to stop.
    assert.ok(ended.at - stoppedAt >= WRITE_TIMEOUT_MS - WRITE_TIMEOUT_MS / 4 - 100, `not cut before the timeout (${ended.at - stoppedAt} ms)`);
    assert.equal(slow.stream.backlogged, false, 'a destroyed stream holds no client back');
    let called = false;
    slow.stream.onDrain(() => (called = true));
    await until(() => called, 1000, 'onDrain of an ended stream to call back');

    // A stream that only ever had a little queued is never watched into a cut.
    const idle = await open();
    idle.stream.write('<presence/>');
    await sleep(WRITE_TIMEOUT_MS + 500);
    assert.equal(idle.ended(), undefined);
    idle.stream.destroy();
  } finally {
    await reader.close();
  }
});
