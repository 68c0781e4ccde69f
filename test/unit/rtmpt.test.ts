/**
 * The RTMPT tunnel (src/edge/rtmpt.ts) on a real HTTP server on loopback, with a fake RTMP side
 * (a recording ClientChannel user) and a raw HTTP/1.1 client that can pipeline requests on one
 * keep-alive connection, as librtmp does.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { ConnectionLimiter } from '../../src/edge/connection-limiter.js';
import { createRtmptHandler, type RtmptHandler, type RtmptOptions } from '../../src/edge/rtmpt.js';
import type { ClientChannel } from '../../src/transport/channel.js';

const silent = pino({ level: 'silent' });

interface Response {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: Buffer;
  raw: Buffer;
}

/** A raw HTTP/1.1 client on one keep-alive connection; answers resolve in request order. */
class RawHttp {
  private buf = Buffer.alloc(0);
  private readonly waiters: { resolve(r: Response): void; reject(e: Error): void }[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawHttp(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes the request now; resolves with its answer. */
  request(method: string, path: string, body: Buffer | string = Buffer.from([0]), extra = ''): Promise<Response> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
    this.socket.write(
      Buffer.concat([
        Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-fcs\r\nContent-Length: ${bytes.length}\r\n${extra}\r\n`, 'latin1'),
        bytes,
      ]),
    );
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  post(path: string, body?: Buffer | string): Promise<Response> {
    return this.request('POST', path, body);
  }

  private parse(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (this.buf.length < end + 4 + length) return;
      const raw = this.buf.subarray(0, end + 4 + length);
      const body = this.buf.subarray(end + 4, end + 4 + length);
      this.buf = this.buf.subarray(end + 4 + length);
      const status = Number(head.split(' ')[1]);
      this.waiters.shift()?.resolve({ status, head, headers, body: Buffer.from(body), raw: Buffer.from(raw) });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The RTMP side of a tunnel, as a test sees it. */
interface FakeSession {
  channel: ClientChannel;
  received: Buffer[];
  closed: boolean;
  /** What the data handler answers to each chunk (written synchronously). */
  reply?: (chunk: Buffer) => string | undefined;
}

interface Rig {
  port: number;
  rtmpt: RtmptHandler;
  limiter: ConnectionLimiter;
  sessions: FakeSession[];
  fallback: number;
  client(): Promise<RawHttp>;
  /** Opens a tunnel on a new connection: its id, its client and its RTMP side. */
  open(): Promise<{ id: string; http: RawHttp; session: FakeSession }>;
  stop(): Promise<void>;
}

const rigs: Rig[] = [];
after(async () => {
  for (const r of rigs) await r.stop();
});

async function rig(options: Partial<RtmptOptions> & { maxConnectionsPerIp?: number } = {}): Promise<Rig> {
  const limiter = new ConnectionLimiter({ maxConnectionsPerIp: options.maxConnectionsPerIp ?? 50, maxConnections: 1000 });
  const sessions: FakeSession[] = [];
  const clients: RawHttp[] = [];
  const rtmpt = createRtmptHandler({
    limiter,
    log: silent,
    sessionTimeoutMs: 30_000,
    maxBodyBytes: 4096,
    maxIdleHoldMs: 0,
    onSession: (channel) => {
      const session: FakeSession = { channel, received: [], closed: false };
      sessions.push(session);
      channel.start({
        data: (chunk) => {
          session.received.push(chunk);
          const answer = session.reply?.(chunk);
          if (answer !== undefined) channel.write(answer);
        },
        closed: () => {
          assert.equal(session.closed, false, 'closed fires once');
          session.closed = true;
        },
      });
    },
    ...options,
  });
  const r: Rig = {
    port: 0,
    rtmpt,
    limiter,
    sessions,
    fallback: 0,
    async client() {
      const c = await RawHttp.connect(r.port);
      clients.push(c);
      return c;
    },
    async open() {
      const c = await r.client();
      const answer = await c.post('/open/1');
      assert.equal(answer.status, 200);
      const id = answer.body.toString('latin1').slice(0, -1);
      const session = sessions[sessions.length - 1] as FakeSession;
      return { id, http: c, session };
    },
    async stop() {
      rtmpt.closeAll();
      for (const c of clients) c.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = http.createServer((req, res) => {
    if (!rtmpt.handle(req, res)) {
      r.fallback++;
      res.writeHead(418, { 'Content-Length': 0 });
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as net.AddressInfo).port;
  rigs.push(r);
  return r;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('RTMPT /open: exactly `HTTP/1.1 200 `, Content-Type and Content-Length as librtmp wants, body `ID\\n`; ids are random', async () => {
  const r = await rig();
  const c = await r.client();
  const first = await c.post('/open/1');
  const text = first.raw.toString('latin1');
  assert.ok(text.startsWith('HTTP/1.1 200 '), text);
  assert.match(first.head, /\r\nContent-Type: application\/x-fcs\r\n/);
  assert.match(first.head, /\r\nContent-Length: 33\r\n/);
  assert.doesNotMatch(first.head, /Transfer-Encoding/i);
  assert.match(first.body.toString('latin1'), /^[0-9a-f]{32}\n$/);
  const second = await c.post('/open/1');
  assert.notEqual(second.body.toString(), first.body.toString());
  assert.equal(r.sessions.length, 2);
  assert.equal(r.limiter.connections, 2);
  assert.equal(r.rtmpt.tunnels, 2);
});

test('RTMPT /send: the body reaches the RTMP side; its output comes back after the delay byte 1', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  session.reply = (chunk) => `echo:${chunk.toString()}`;
  const answer = await c.post(`/send/${id}/1`, 'hello');
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['content-type'], 'application/x-fcs');
  assert.equal(answer.body[0], 1);
  assert.equal(answer.body.subarray(1).toString(), 'echo:hello');
  assert.deepEqual(session.received.map(String), ['hello']);
});

test('RTMPT: output written between requests waits for the next poll (send or idle), all of it at once', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  session.channel.write('one,');
  session.channel.write(Buffer.from('two'));
  assert.equal(session.channel.backlogBytes, 7);
  let drained = false;
  session.channel.onDrain(() => (drained = true));
  const idle = await c.post(`/idle/${id}/2`);
  assert.deepEqual([...idle.body], [1, ...Buffer.from('one,two')]);
  assert.equal(session.channel.backlogBytes, 0);
  await until(() => drained);
  session.channel.write('three');
  const send = await c.post(`/send/${id}/3`, 'x');
  assert.equal(send.body.subarray(1).toString(), 'three');
  const empty = await c.post(`/idle/${id}/4`);
  assert.deepEqual([...empty.body], [1]);
});

test('RTMPT: the delay byte grows while nothing flows (1 … 3, 5, 9, 17, 33) and drops to 1 with data', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  const bytes: number[] = [];
  for (let seq = 2; seq < 20; seq++) bytes.push(((await c.post(`/idle/${id}/${seq}`)).body[0]) as number);
  assert.deepEqual(bytes, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 5, 9, 17, 33, 33, 33, 33]);
  session.channel.write('data');
  const withData = await c.post(`/idle/${id}/20`);
  assert.equal(withData.body[0], 1);
  assert.equal((await c.post(`/idle/${id}/21`)).body[0], 1);
  // Data from the client counts as flowing too.
  for (let seq = 22; seq < 40; seq++) await c.post(`/idle/${id}/${seq}`);
  assert.equal((await c.post(`/idle/${id}/40`)).body[0], 33);
  assert.equal((await c.post(`/send/${id}/41`, 'x')).body[0], 1);
});

test('RTMPT: sequence numbers must be numbers, gaps and repeats are fine; unknown ids 404; bad paths 404; other methods 405', async () => {
  const r = await rig();
  const { id, http: c } = await r.open();
  assert.equal((await c.post(`/idle/${id}/7`)).status, 200);
  assert.equal((await c.post(`/idle/${id}/3`)).status, 200);
  assert.equal((await c.post(`/idle/${id}/3`)).status, 200);
  assert.equal((await c.post(`/idle/${id}/x1`)).status, 400);
  assert.equal((await c.post(`/idle/${id}/`)).status, 400);
  assert.equal((await c.post(`/idle/${id}`)).status, 404);
  assert.equal((await c.post(`/idle/${id}/1/extra`)).status, 404);
  assert.equal((await c.post(`/send/${'0'.repeat(32)}/1`, 'x')).status, 404);
  assert.equal((await c.post(`/idle/nosuchsession/1`)).status, 404);
  assert.equal((await c.post('/open/x')).status, 404);
  assert.equal((await c.post('/open')).status, 404);
  const get = await c.request('GET', `/idle/${id}/8`, '');
  assert.equal(get.status, 405);
  assert.equal(get.headers['allow'], 'POST');
  assert.equal((await c.request('GET', '/open/1', '')).status, 405);
  // Flash Player's first request: FMS answers 404.
  assert.equal((await c.post('/fcs/ident2')).status, 404);
  // Not RTMPT: left to the rest of the HTTP app.
  assert.equal((await c.request('GET', '/', '')).status, 418);
  assert.equal((await c.post('/openx/1')).status, 418);
  assert.equal(r.fallback, 2);
  // The absolute form a proxy may forward; a query string is ignored.
  assert.equal((await c.post(`http://127.0.0.1:${r.port}/idle/${id}/10`)).status, 200);
  assert.equal((await c.post(`/idle/${id}/11?x=1`)).status, 200);
  // The tunnel is still fine.
  assert.equal((await c.post(`/idle/${id}/9`)).status, 200);
});

test('RTMPT /close ends the tunnel: the RTMP side hears closed, the limiter slot is free, later requests 404', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  assert.equal(r.limiter.connections, 1);
  const bye = await c.post(`/close/${id}/2`);
  assert.equal(bye.status, 200);
  assert.equal(session.closed, true);
  assert.equal(r.limiter.connections, 0);
  assert.equal(r.rtmpt.tunnels, 0);
  assert.equal((await c.post(`/idle/${id}/3`)).status, 404);
});

test('RTMPT: end() from the RTMP side: the next poll gets the remaining bytes, then the tunnel is gone', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  session.channel.write('last words');
  session.channel.end();
  session.channel.write('dropped: written after end()');
  await sleep(20);
  assert.equal(session.closed, false, 'closed only once the bytes left');
  const last = await c.post(`/idle/${id}/2`);
  assert.equal(last.status, 200);
  assert.equal(last.body.subarray(1).toString(), 'last words');
  assert.equal(session.closed, true);
  assert.equal(r.limiter.connections, 0);
  assert.equal((await c.post(`/idle/${id}/3`)).status, 404);
});

test('RTMPT: end() while the RTMP side handles a /send: that answer carries the last bytes', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  session.reply = () => {
    session.channel.write('rejected');
    session.channel.end();
    return undefined;
  };
  const answer = await c.post(`/send/${id}/2`, 'bad');
  assert.equal(answer.body.subarray(1).toString(), 'rejected');
  assert.equal(session.closed, true);
  assert.equal((await c.post(`/idle/${id}/3`)).status, 404);
});

test('RTMPT: destroy() from the RTMP side: the tunnel is gone at once', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  session.channel.write('never sent');
  session.channel.destroy();
  assert.equal(session.closed, false, 'closed comes later, as a socket close does');
  await until(() => session.closed);
  assert.equal(r.limiter.connections, 0);
  assert.equal((await c.post(`/idle/${id}/2`)).status, 404);
});

test('RTMPT: a tunnel with no request for the session timeout is closed and its slot freed', async () => {
  const r = await rig({ sessionTimeoutMs: 300 });
  const { id, http: c, session } = await r.open();
  // Requests keep it alive.
  for (let seq = 2; seq < 6; seq++) {
    await sleep(100);
    assert.equal((await c.post(`/idle/${id}/${seq}`)).status, 200);
  }
  assert.equal(session.closed, false);
  await until(() => session.closed, 2000);
  assert.equal(r.limiter.connections, 0);
  assert.equal((await c.post(`/idle/${id}/9`)).status, 404);
});

test('RTMPT: a body over the limit gets 413 and closes the tunnel', async () => {
  const r = await rig({ maxBodyBytes: 100 });
  const { id, session } = await r.open();
  const c = await r.client();
  const big = await c.post(`/send/${id}/2`, Buffer.alloc(101, 0x41));
  assert.equal(big.status, 413);
  assert.equal(session.closed, true);
  assert.equal(session.received.length, 0);
  assert.equal(r.limiter.connections, 0);
  const c2 = await r.client();
  assert.equal((await c2.post(`/idle/${id}/3`)).status, 404);
  // Without a Content-Length the limit still holds (chunked upload).
  const { id: id2, session: s2 } = await r.open();
  const c3 = await r.client();
  const chunked = new Promise<Response>((resolve, reject) => {
    const waiters = (c3 as unknown as { waiters: { resolve(r: Response): void; reject(e: Error): void }[] }).waiters;
    waiters.push({ resolve, reject });
  });
  c3.socket.write(`POST /send/${id2}/2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
  for (let i = 0; i < 3; i++) c3.socket.write(`40\r\n${'B'.repeat(64)}\r\n`);
  assert.equal((await chunked).status, 413);
  assert.equal(s2.closed, true);
});

test('RTMPT: /open refused by the connection limiter gets 503', async () => {
  const r = await rig({ maxConnectionsPerIp: 1 });
  const { id, http: c } = await r.open();
  const refused = await c.post('/open/1');
  assert.equal(refused.status, 503);
  assert.equal(r.sessions.length, 1);
  await c.post(`/close/${id}/2`);
  assert.equal((await c.post('/open/1')).status, 200);
});

test('RTMPT: pause() holds /send bodies until resume()', async () => {
  const r = await rig();
  const { id, http: c, session } = await r.open();
  session.channel.pause();
  await c.post(`/send/${id}/2`, 'a');
  await c.post(`/send/${id}/3`, 'b');
  assert.equal(session.received.length, 0);
  session.channel.resume();
  assert.deepEqual(session.received.map(String), ['a', 'b']);
});

test('RTMPT closeAll(): every tunnel closes; /open is refused from then on', async () => {
  const r = await rig();
  const a = await r.open();
  const b = await r.open();
  r.rtmpt.closeAll();
  await until(() => a.session.closed);
  assert.equal(b.session.closed, true);
  assert.equal(r.limiter.connections, 0);
  assert.equal((await a.http.post(`/idle/${a.id}/2`)).status, 404);
  assert.equal((await a.http.post('/open/1')).status, 503);
});

// ---- the short hold of an empty /idle ----

/**
 * Brings the tunnel's delay byte to its maximum (where the whole hold applies) with empty /send
 * requests, which are answered at once, never held.
 */
async function quiet(c: RawHttp, id: string): Promise<number> {
  let seq = 2;
  let last = 0;
  for (let i = 0; i < 20; i++) last = (await c.post(`/send/${id}/${seq++}`, '')).body[0] as number;
  assert.equal(last, 33);
  return seq;
}

test('RTMPT hold: an empty /idle on a quiet tunnel is held at most maxIdleHoldMs, and answered at once when output comes', async () => {
  const r = await rig({ maxIdleHoldMs: 40 });
  const { id, http: c } = await r.open();
  const seq = await quiet(c, id);
  let started = Date.now();
  const empty = await c.post(`/idle/${id}/${seq}`);
  const held = Date.now() - started;
  assert.deepEqual([...empty.body], [33]);
  assert.ok(held >= 30 && held < 1000, `held ${held} ms`);

  const r2 = await rig({ maxIdleHoldMs: 5000 });
  const t = await r2.open();
  const seq2 = await quiet(t.http, t.id);
  started = Date.now();
  const pending = t.http.post(`/idle/${t.id}/${seq2}`);
  await sleep(30);
  t.session.channel.write('news');
  t.session.channel.write(' and more');
  const answer = await pending;
  assert.equal(answer.body.subarray(1).toString(), 'news and more');
  assert.equal(answer.body[0], 1);
  assert.ok(Date.now() - started < 2500); // held up to 5 s otherwise
});

test('RTMPT hold: a pipelined request on the same connection releases the held /idle at once', async () => {
  const r = await rig({ maxIdleHoldMs: 5000 });
  const { id, http: c, session } = await r.open();
  session.reply = (chunk) => `re:${chunk.toString()}`;
  const seq = await quiet(c, id);
  const started = Date.now();
  // librtmp-style: an idle, then a send, both written before any answer.
  const idle = c.post(`/idle/${id}/${seq}`);
  const send = c.post(`/send/${id}/${seq + 1}`, 'ping');
  const [a, b] = await Promise.all([idle, send]);
  assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`); // held up to 5 s otherwise
  assert.deepEqual([...a.body], [33]);
  assert.equal(b.body.subarray(1).toString(), 're:ping');
  // Even a request for another tunnel (or not RTMPT at all) on that connection releases it.
  const other = await r.open();
  const seq3 = await quiet(c, id);
  const t0 = Date.now();
  const held = c.post(`/idle/${id}/${seq3}`);
  const foreign = c.post(`/idle/${other.id}/2`);
  await Promise.all([held, foreign]);
  const t1 = Date.now();
  const held2 = c.post(`/idle/${id}/${seq3 + 1}`);
  const notRtmpt = c.request('GET', '/index.html', '');
  await Promise.all([held2, notRtmpt]);
  assert.ok(Date.now() - t0 < 3000, `took ${t1 - t0} + ${Date.now() - t1} ms`);
});

test('RTMPT hold: a request for the same tunnel on another connection releases it; end() answers it with the last bytes', async () => {
  const r = await rig({ maxIdleHoldMs: 5000 });
  const { id, http: c, session } = await r.open();
  const seq = await quiet(c, id);
  const started = Date.now();
  const held = c.post(`/idle/${id}/${seq}`);
  await sleep(20);
  const c2 = await r.client();
  // This /idle releases the first, and is held itself in its place.
  const second = c2.post(`/idle/${id}/${seq + 1}`);
  assert.deepEqual([...(await held).body], [33]);
  assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`); // held up to 5 s otherwise
  session.channel.write('for the second');
  assert.equal((await second).body.subarray(1).toString(), 'for the second');
  assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`); // held up to 5 s otherwise

  const seq2 = await quiet(c, id);
  const last = c.post(`/idle/${id}/${seq2}`);
  await sleep(20);
  session.channel.write('goodbye');
  session.channel.end();
  const answer = await last;
  assert.equal(answer.body.subarray(1).toString(), 'goodbye');
  assert.equal(session.closed, true);
  assert.equal((await c.post(`/idle/${id}/${seq2 + 1}`)).status, 404);
});

test('RTMPT hold: a client that hangs up during a hold leaves the tunnel usable', async () => {
  const r = await rig({ maxIdleHoldMs: 5000 });
  const { id, http: c, session } = await r.open();
  const seq = await quiet(c, id);
  void c.post(`/idle/${id}/${seq}`).catch(() => undefined);
  await sleep(20);
  c.close();
  await sleep(20);
  session.channel.write('later');
  const c2 = await r.client();
  const answer = await c2.post(`/idle/${id}/${seq + 1}`);
  assert.equal(answer.body.subarray(1).toString(), 'later');
});

test('RTMPT: output the client never polls for is bounded: past maxBacklogBytes the tunnel closes', async () => {
  const r = await rig({ maxBacklogBytes: 10 });
  const { id, http: c, session } = await r.open();
  session.channel.write('0123456789');
  assert.equal(session.channel.backlogBytes, 10);
  session.channel.write('!');
  await until(() => session.closed);
  assert.equal(r.limiter.connections, 0);
  assert.equal((await c.post(`/idle/${id}/2`)).status, 404);
});
