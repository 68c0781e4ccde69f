/**
 * Scale-out (docs/scale-out.md): two gateways behind Debian's HAProxy in front of one real
 * Prosody, HAProxy sending PROXY protocol v2 headers (`send-proxy-v2`) from its own address
 * 127.0.0.9, the only one the gateways trust (`--proxy-protocol-from`). Clients of every
 * transport log in through HAProxy (round robin, so both gateways serve each), and each gateway
 * logs the client's own address and port — HAProxy's access log says which client port went to
 * which gateway, and that is the `remote` the gateway logged, never HAProxy's side. The
 * per-address limit counts clients behind HAProxy by their own address; a third gateway serves
 * RTMPS, whose header comes before the TLS handshake. Direct connections show the trust rules:
 * a header from elsewhere is refused, and so is a trusted peer without one.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestPki } from '../support/certs.js';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { NulFlashClient, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { canConnect, freePort, freePorts } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { proxyV1, proxyV2 } from '../support/proxy-header.js';
import { RawFlashClient, sparkwebHeader, sparkwebLogin } from '../support/raw-client.js';
import { RtmpTestClient } from '../support/rtmp-client.js';
import { startWsBridge } from '../support/ws-bridge.js';

/** HAProxy's frontends listen here, and it connects to the gateways from HAPROXY_SOURCE. */
const FRONT = '127.0.0.5';
const HAPROXY_SOURCE = '127.0.0.9';
const USERS = ['raw0', 'raw1', 'nul0', 'nul1', 'ws0', 'ws1', 'rtmp0', 'rtmp1', 'rtmpt0', 'rtmpt1', 'rtmps0', 'direct', 'later'];
const pass = (user: string): string => `${user}-secret`;

interface GatewayPorts {
  flash: number;
  http: number;
  rtmp: number;
  policy: number;
}

/** One line of HAProxy's log (our log-format): who came in, where it went, from which HAProxy port. */
interface HaproxyLine {
  client: string;
  frontend: string;
  server: string;
  haproxySide: string;
}

interface Haproxy {
  readonly lines: HaproxyLine[];
  output(): string;
  waitForLines(predicate: (lines: HaproxyLine[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function startHaproxy(config: string, readyPort: number): Promise<Haproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'fxg-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let all = '';
  const lines: HaproxyLine[] = [];
  let rest = '';
  child.stdout?.on('data', (b: Buffer) => {
    all += b.toString('utf8');
    rest += b.toString('utf8');
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      const m = /^fxg (\S+) (\S+) ([^/\s]+)\/(\S+) (\S+)$/.exec(line.trim());
      if (m) lines.push({ client: m[1] as string, frontend: m[2] as string, server: m[4] as string, haproxySide: m[5] as string });
    }
  });
  child.stderr?.on('data', (b: Buffer) => (all += b.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  // All frontends are bound before HAProxy accepts on any: one that answers means all do.
  const started = Date.now();
  while (!(await canConnect(FRONT, readyPort, 200))) {
    if (child.exitCode !== null || Date.now() - started > 10_000) {
      await stop();
      throw new Error(`haproxy did not start:\n${all}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    lines,
    output: () => all,
    async waitForLines(predicate, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(lines)) {
        if (Date.now() > until) throw new Error(`haproxy log incomplete after ${timeoutMs} ms:\n${all.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop,
  };
}

/** An XMPP stream header from `localAddress` through HAProxy; resolves once features or a stream error (and close) came. */
function openStreamFrom(localAddress: string, port: number, domain: string): Promise<{ socket: net.Socket; text: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: FRONT, port, localAddress });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no features or stream error from ${localAddress}: ${JSON.stringify(text)}`));
    }, 8000);
    socket.on('connect', () => socket.write(sparkwebHeader(domain)));
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (/<\/stream:features>|<\/stream:stream>/.test(text)) {
        clearTimeout(timer);
        resolve({ socket, text, localPort: socket.localPort ?? 0 });
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A direct connection to a gateway port from `localAddress`: writes `data`, reads until the gateway closes. */
function exchange(port: number, localAddress: string, data: Buffer): Promise<{ answer: Buffer; localPort: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    let localPort = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`port ${port} from ${localAddress}: still open after 5 s (read ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))})`));
    }, 5000);
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      socket.write(data);
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A reset by the gateway is a close like any other; a failed connect is the test's problem.
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (localPort === 0) reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer: Buffer.concat(chunks), localPort });
    });
  });
}

function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch (error) {
            reject(new Error(`${path}: ${res.statusCode} ${body.slice(0, 200)} (${(error as Error).message})`));
          }
        });
      })
      .on('error', reject);
  });
}

describe('two gateways behind HAProxy with the PROXY protocol (v2), one Prosody', { timeout: 120_000 }, () => {
  let prosody: ProsodyInstance;
  const gateways: Record<'a' | 'b' | 'c', GatewayProcess> = {} as Record<'a' | 'b' | 'c', GatewayProcess>;
  const ports: Record<'a' | 'b', GatewayPorts> = {} as Record<'a' | 'b', GatewayPorts>;
  let rtmpsPortC: number;
  let haproxy: Haproxy;
  const front: Record<'ready' | 'flash' | 'rtmp' | 'rtmps' | 'http' | 'policy' | 'limit', number> = {} as never;
  let pkiDir: string;

  /** Records of one gateway matching, with `remote` as logged. */
  const records = (name: 'a' | 'b' | 'c', predicate: (r: Record<string, unknown>) => boolean): Record<string, unknown>[] =>
    gateways[name].records().filter(predicate);
  const proxyArgs = ['--proxy-protocol', 'v2', '--proxy-protocol-from', `${HAPROXY_SOURCE}/32`];

  before(async () => {
    prosody = await startProsody({ tls: false, users: USERS.map((u) => [u, pass(u)] as [string, string]) });
    const upstream = ['--upstream', `${prosody.host}:${prosody.c2sPort}`, '--domain', prosody.domain, '--upstream-tls', 'off'];
    for (const name of ['a', 'b'] as const) {
      const [flash, httpPort, rtmp, policy] = (await freePorts(4)) as [number, number, number, number];
      ports[name] = { flash, http: httpPort, rtmp, policy };
      gateways[name] = await startGateway(
        [
          '--listen', `127.0.0.1:${flash}`,
          '--policy-port', String(policy), '--policy-host', '127.0.0.1',
          '--http-port', String(httpPort), '--http-host', '127.0.0.1',
          '--rtmp-port', String(rtmp), '--rtmp-host', '127.0.0.1',
          ...upstream,
          ...proxyArgs,
          // Every test client but the limit test's comes from 127.0.0.1.
          '--max-connections-per-ip', '2', '--connection-limit-exempt', '127.0.0.1',
          '--log-level', 'debug',
        ],
        { listeners: 4 },
      );
    }
    // RTMPS needs a certificate, which also makes the HTTP port HTTPS: a third gateway for it.
    pkiDir = await mkdtemp(join(tmpdir(), 'fxg-haproxy-pki-'));
    const pki = await makeTestPki(pkiDir, ['localhost']);
    rtmpsPortC = await freePort();
    gateways.c = await startGateway(
      [
        '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0',
        '--rtmps-port', String(rtmpsPortC), '--rtmp-host', '127.0.0.1',
        '--tls-cert', pki.cert, '--tls-key', pki.key,
        ...upstream,
        ...proxyArgs,
        '--log-level', 'debug',
      ],
      { listeners: 2 },
    );

    const [ready, flash, rtmp, rtmps, httpFront, policy, limit] = (await freePorts(7, FRONT)) as number[] as [number, number, number, number, number, number, number];
    Object.assign(front, { ready, flash, rtmp, rtmps, http: httpFront, policy, limit });
    // Round robin, so consecutive clients go to both gateways; health checks as docs/scale-out.md
    // has them: GET /readyz on each gateway's HTTP port, with a PROXY LOCAL header.
    const backend = (name: string, port: (p: GatewayPorts) => number): string =>
      `backend ${name}\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n` +
      (['a', 'b'] as const).map((g) => `  server ${g} 127.0.0.1:${port(ports[g])} check port ${ports[g].http} check-send-proxy inter 1s\n`).join('');
    const frontend = (name: string, port: number, backendName = name): string => `frontend ${name}\n  bind ${FRONT}:${port}\n  default_backend ${backendName}\n`;
    const config = [
      'global\n  log stdout format raw local0 info\n  maxconn 1000\n',
      'defaults\n  mode tcp\n  log global\n  log-format "fxg %ci:%cp %ft %b/%s %bi:%bp"\n' +
        '  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n' +
        `  source ${HAPROXY_SOURCE}\n  default-server send-proxy-v2\n`,
      // Only there to tell when HAProxy listens.
      `frontend ready\n  bind ${FRONT}:${ready}\n  no log\n  tcp-request connection reject\n`,
      frontend('flash', flash) + backend('flash', (p) => p.flash),
      frontend('rtmp', rtmp) + backend('rtmp', (p) => p.rtmp),
      // WebSocket and RTMPT.
      frontend('http', httpFront) + backend('http', (p) => p.http),
      frontend('policy', policy) + backend('policy', (p) => p.policy),
      frontend('rtmps', rtmps) + `backend rtmps\n  server c 127.0.0.1:${rtmpsPortC}\n`,
      // One gateway only, so the limit test's clients all meet the same limiter.
      frontend('limit', limit) + `backend limit\n  server a 127.0.0.1:${ports.a.flash}\n`,
    ].join('\n');
    haproxy = await startHaproxy(config, ready);
  });

  after(async () => {
    await RtmpTestClient.closeAll();
    await haproxy?.stop();
    for (const g of Object.values(gateways)) await g?.stop();
    await prosody?.stop();
    if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
  });

  test('every transport through HAProxy: both gateways serve it, and log the client’s own address and port', async () => {
    const domain = prosody.domain;
    const closers: (() => Promise<void> | void)[] = [];
    try {
      // Flash XMPP over TCP, raw mode (flash.net.Socket) and NUL mode (XMLSocket). The NUL
      // clients name the address they dialled (HAProxy's) in the header: the gateway knows it
      // from the PROXY header's destination, as its own socket is on 127.0.0.1.
      for (const i of [0, 1]) {
        const raw = await RawFlashClient.connect(FRONT, front.flash);
        closers.push(() => raw.close());
        await sparkwebLogin(raw, { domain, user: `raw${i}`, pass: pass(`raw${i}`), resource: 'r' });
        raw.assertNoViolations();
      }
      for (const i of [0, 1]) {
        const nul = await NulFlashClient.connect(FRONT, front.flash, { domain });
        closers.push(() => nul.close());
        await xiff3BetaFlashLogin(nul, { host: FRONT, user: `nul${i}`, pass: pass(`nul${i}`), resource: 'n' });
        nul.assertNoViolations();
      }
      // WebSocket (Ruffle's socketProxy), through HAProxy's TCP frontend of the HTTP ports.
      const bridge = await startWsBridge(`ws://${FRONT}:${front.http}/xmlsocket`);
      closers.push(() => bridge.close());
      for (const i of [0, 1]) {
        const ws = await NulFlashClient.connect('127.0.0.1', bridge.port, { domain });
        closers.push(() => ws.close());
        await xiff3BetaFlashLogin(ws, { host: domain, user: `ws${i}`, pass: pass(`ws${i}`), resource: 'w' });
        ws.assertNoViolations();
      }
      assert.deepEqual(bridge.violations, []);
      // RTMP, RTMPT (on the HTTP frontend) and RTMPS (on the third gateway), driven by librtmp.
      for (const [scheme, port, user] of [
        ['rtmp', front.rtmp, 'rtmp0'],
        ['rtmp', front.rtmp, 'rtmp1'],
        ['rtmpt', front.http, 'rtmpt0'],
        ['rtmpt', front.http, 'rtmpt1'],
        ['rtmps', front.rtmps, 'rtmps0'],
      ] as const) {
        const rtmp = await RtmpTestClient.connect(`${scheme}://${FRONT}:${port}/xmpp`, { objectEncoding: 0 });
        closers.push(() => rtmp.close());
        const login = await rtmp.call('xmpp_connect', [{ username: user, domain, password: pass(user), resource: scheme }]);
        assert.deepEqual(login?.values, [1], `${scheme} login of ${user}`);
      }
      // The policy port: a PROXY header in front of <policy-file-request/> is read and dropped.
      for (const _ of [0, 1]) {
        const policy = await new Promise<string>((resolve, reject) => {
          const socket = net.connect(front.policy, FRONT, () => socket.write('<policy-file-request/>\0'));
          let text = '';
          socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
          socket.on('close', () => resolve(text));
          socket.on('error', reject);
        });
        assert.match(policy, /<cross-domain-policy>.*<\/cross-domain-policy>\0$/);
      }
    } finally {
      for (const close of closers.reverse()) await close();
    }

    // HAProxy logs each connection as it ends.
    const expected = { flash: 4, http: 4, rtmp: 2, rtmps: 1, policy: 2 };
    await haproxy.waitForLines((lines) =>
      Object.entries(expected).every(([name, n]) => lines.filter((l) => l.frontend === name).length >= n),
    );
    const lines = haproxy.lines.filter((l) => l.frontend in expected);
    for (const name of ['flash', 'http', 'rtmp', 'policy']) {
      const servers = new Set(lines.filter((l) => l.frontend === name).map((l) => l.server));
      assert.deepEqual([...servers].sort(), ['a', 'b'], `both gateways served the ${name} frontend: ${JSON.stringify(lines)}`);
    }
    for (const line of lines) {
      assert.match(line.client, /^127\.0\.0\.1:\d+$/);
      assert.ok(line.haproxySide.startsWith(`${HAPROXY_SOURCE}:`), line.haproxySide);
      const gateway = line.server as 'a' | 'b' | 'c';
      // The gateway HAProxy chose logged the client's own address and port …
      const seen = records(gateway, (r) => r['remote'] === line.client);
      assert.ok(seen.length > 0, `gateway ${gateway} never logged remote ${line.client} (${line.frontend})`);
      // … and nobody ever logged HAProxy's side of that connection as a client.
      for (const other of ['a', 'b', 'c'] as const) {
        assert.deepEqual(records(other, (r) => r['remote'] === line.haproxySide), [], `gateway ${other} logged HAProxy's ${line.haproxySide}`);
      }
    }
    // Every login was logged with the address and port of a client HAProxy passed to that gateway.
    const authenticated = (['a', 'b', 'c'] as const).flatMap((g) =>
      records(g, (r) => r['msg'] === 'client authenticated').map((r) => ({ gateway: g, remote: r['remote'], transport: r['transport'] })),
    );
    assert.equal(authenticated.length, 4 + 2 + 2 + 2 + 1, JSON.stringify(authenticated));
    for (const login of authenticated) {
      assert.ok(
        lines.some((l) => l.server === login.gateway && l.client === login.remote),
        `${login.transport} login on ${login.gateway} from ${String(login.remote)} matches no HAProxy connection to it`,
      );
    }
    for (const transport of ['tcp', 'websocket', 'rtmp', 'rtmpt']) {
      const where = new Set(authenticated.filter((l) => l.transport === transport).map((l) => l.gateway));
      assert.deepEqual([...where].sort(), ['a', 'b'], `${transport} logins on both gateways`);
    }
    assert.deepEqual(authenticated.filter((l) => l.transport === 'rtmps').map((l) => l.gateway), ['c']);
    // HAProxy's health checks (a PROXY LOCAL header, then GET /readyz) reach both gateways as
    // HAProxy itself, and passed all along.
    for (const g of ['a', 'b'] as const) {
      await gateways[g].waitForLog(
        (r) => r['msg'] === 'PROXY header without a client address: the balancer itself' && r['listener'] === 'http' && String(r['remote']).startsWith(`${HAPROXY_SOURCE}:`),
      );
    }
    assert.doesNotMatch(haproxy.output(), /is DOWN/);
  });

  test('the per-address limit counts the client behind HAProxy by its own address, not HAProxy’s', async () => {
    const sockets: net.Socket[] = [];
    try {
      // --max-connections-per-ip 2; HAProxy (one address) holds every one of these connections.
      const first = await openStreamFrom('127.0.0.2', front.limit, prosody.domain);
      const second = await openStreamFrom('127.0.0.2', front.limit, prosody.domain);
      sockets.push(first.socket, second.socket);
      for (const ok of [first, second]) assert.match(ok.text, /<stream:features[\s>]/);
      const third = await openStreamFrom('127.0.0.2', front.limit, prosody.domain);
      sockets.push(third.socket);
      assert.match(third.text, /<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
      assert.match(third.text, /too many connections from 127\.0\.0\.2 \(limit 2\)/);
      const refusal = await gateways.a.waitForLog((r) => r['msg'] === 'connection refused: too many connections from 127.0.0.2 (limit 2)');
      assert.equal(refusal['remote'], `127.0.0.2:${third.localPort}`);
      // Another client address through the same HAProxy still gets in.
      const other = await openStreamFrom('127.0.0.3', front.limit, prosody.domain);
      sockets.push(other.socket);
      assert.match(other.text, /<stream:features[\s>]/);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  test('trust: a PROXY header from elsewhere is refused, a trusted peer without one too; nobody else is harmed', async () => {
    const a = ports.a;
    const header = proxyV2({ address: '192.0.2.66', port: 6666 }, { address: FRONT, port: 5222 });
    const payloads: [string, number, Buffer][] = [
      ['flash', a.flash, Buffer.from(sparkwebHeader(prosody.domain))],
      ['rtmp', a.rtmp, Buffer.concat([Buffer.from([0x03]), Buffer.alloc(1536)])],
      ['http', a.http, Buffer.from('GET /readyz HTTP/1.1\r\nHost: gateway\r\n\r\n')],
      ['policy', a.policy, Buffer.from('<policy-file-request/>\0')],
      ['rtmps', rtmpsPortC, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x03])],
    ];
    for (const [name, port, payload] of payloads) {
      const gateway = name === 'rtmps' ? gateways.c : gateways.a;
      // 127.0.0.1 is not in --proxy-protocol-from: its header is refused (not taken as a client address).
      const spoof = await exchange(port, '127.0.0.1', Buffer.concat([header, payload]));
      assert.equal(spoof.answer.length, 0, `${name}: answered a spoofing peer: ${spoof.answer.toString('latin1').slice(0, 80)}`);
      const refused = await gateway.waitForLog(
        (r) => r['remote'] === `127.0.0.1:${spoof.localPort}` && /PROXY protocol header from an address not in --proxy-protocol-from/.test(String(r['msg'])),
      );
      assert.equal(refused['level'], 'warn');
      assert.deepEqual(records(name === 'rtmps' ? 'c' : 'a', (r) => String(r['remote']).startsWith('192.0.2.66')), []);
      // HAProxy's address without a header: refused too, with a log line naming it.
      const bare = await exchange(port, HAPROXY_SOURCE, payload);
      assert.equal(bare.answer.length, 0, `${name}: answered a trusted peer that sent no header`);
      await gateway.waitForLog((r) => String(r['msg']).startsWith(`bad PROXY protocol header from ${HAPROXY_SOURCE}:${bare.localPort} (missing)`));
    }
    // The wrong version (v1 where v2 is configured) is a bad header as well.
    const v1 = await exchange(a.flash, HAPROXY_SOURCE, Buffer.concat([proxyV1({ address: '192.0.2.7', port: 7 }, { address: FRONT, port: 5222 }), payloads[0]![2]]));
    assert.equal(v1.answer.length, 0);
    await gateways.a.waitForLog((r) => String(r['msg']).startsWith(`bad PROXY protocol header from ${HAPROXY_SOURCE}:${v1.localPort} (wrong-version)`));

    // Untrusted peers without a header are served as themselves …
    const direct = await RawFlashClient.connect('127.0.0.1', a.flash);
    try {
      await sparkwebLogin(direct, { domain: prosody.domain, user: 'direct', pass: pass('direct'), resource: 'd' });
      const login = await gateways.a.waitForLog((r) => r['msg'] === 'client authenticated' && r['remote'] === `127.0.0.1:${direct.socket.localPort}`);
      assert.equal(login['transport'], 'tcp');
    } finally {
      await direct.close();
    }
    // … and HAProxy's clients still get through.
    const later = await RawFlashClient.connect(FRONT, front.flash);
    try {
      await sparkwebLogin(later, { domain: prosody.domain, user: 'later', pass: pass('later'), resource: 'l' });
    } finally {
      await later.close();
    }
  });

  test('the status page shows the address of a client whose login failed behind HAProxy', async () => {
    const client = await RawFlashClient.connect(FRONT, front.flash, { failOnStreamError: false });
    const clientPort = client.socket.localPort;
    try {
      await assert.rejects(sparkwebLogin(client, { domain: prosody.domain, user: 'raw0', pass: 'not-the-password', resource: 'x' }));
    } finally {
      await client.close();
    }
    const failed = await Promise.any(
      (['a', 'b'] as const).map((g) => gateways[g].waitForLog((r) => r['msg'] === 'client login failed' && r['remote'] === `127.0.0.1:${clientPort}`).then(() => g)),
    );
    const status = (await getJson(ports[failed].http, '/status.json')) as { recentLoginFailures: { remoteAddress: string; user: string }[] };
    const mine = status.recentLoginFailures.filter((f) => f.user.startsWith('raw0'));
    assert.ok(mine.length > 0, JSON.stringify(status.recentLoginFailures));
    for (const f of mine) assert.equal(f.remoteAddress, '127.0.0.1', 'the client, not HAProxy (127.0.0.9)');
  });
});
