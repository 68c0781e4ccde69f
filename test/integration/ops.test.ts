/**
 * Metrics, health and the status page against a real Prosody: the counters move with real
 * logins (good and bad) over raw, XMLSocket and RTMP clients, /readyz follows the server, and
 * /metrics and /status answer only opsAllowFrom.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGatewayFor } from '../support/gateway.js';
import { NulFlashClient, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { freePort } from '../support/ports.js';
import { startProsody } from '../support/prosody.js';
import { RawFlashClient, sparkwebLogin } from '../support/raw-client.js';
import { RtmpTestClient } from '../support/rtmp-client.js';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Prometheus text exposition → samples (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of one series (0 when absent, as Prometheus would read an unborn counter). */
function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((sum, s) => sum + s.value, 0);
}

async function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

const G = 'flash_xmpp_gateway_';

test('metrics, /status and /readyz move with real logins, failures, stanzas and errors', async () => {
  const passwords = { opsraw: 'ops-raw-secret-9f2', opsnul: 'ops-nul-secret-4k7', opsrtmp: 'ops-rtmp-secret-7q1' };
  const prosody = await startProsody({ tls: false, users: Object.entries(passwords) });
  const httpPort = await freePort();
  const rtmpPort = await freePort();
  const gateway = await startGatewayFor(prosody, {
    extraArgs: ['--http-port', String(httpPort), '--http-host', '127.0.0.1', '--rtmp-port', String(rtmpPort), '--rtmp-host', '127.0.0.1'],
    listeners: 3,
  });
  const clients: { close(): Promise<void> }[] = [];
  try {
    assert.equal((await get(httpPort, '/healthz')).status, 200);
    const ready = await get(httpPort, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    assert.match(ready.body, new RegExp(`^ready\\nlisteners: bound\\nupstream ${prosody.domain} \\(127\\.0\\.0\\.1:${prosody.c2sPort}\\): up`));

    const before = parseExposition((await get(httpPort, '/metrics')).body);
    assert.equal(value(before, `${G}logins_succeeded_total`), 0);
    assert.ok(value(before, 'process_resident_memory_bytes') > 0, 'process metrics are there');

    // Good and bad logins on each transport.
    const raw = await RawFlashClient.connect('127.0.0.1', gateway.port);
    clients.push(raw);
    await sparkwebLogin(raw, { domain: prosody.domain, user: 'opsraw', pass: passwords.opsraw, resource: 'r' });
    const badRaw = await RawFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false });
    clients.push(badRaw);
    await assert.rejects(sparkwebLogin(badRaw, { domain: prosody.domain, user: 'opsraw', pass: 'wrong-password-1', resource: 'x' }));

    const nul = await NulFlashClient.connect('127.0.0.1', gateway.port, { domain: prosody.domain });
    clients.push(nul);
    await xiff3BetaFlashLogin(nul, { host: '127.0.0.1', user: 'opsnul', pass: passwords.opsnul, resource: 'n' });
    const badNul = await NulFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false, domain: prosody.domain });
    clients.push(badNul);
    await assert.rejects(xiff3BetaFlashLogin(badNul, { host: '127.0.0.1', user: 'opsnul', pass: 'wrong-password-2', resource: 'y' }));

    const rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 3 });
    clients.push(rtmp);
    assert.deepEqual((await rtmp.call('xmpp_connect', [{ username: 'opsrtmp', domain: prosody.domain, password: passwords.opsrtmp, resource: 'a' }]))?.values, [1]);
    const badRtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0 });
    clients.push(badRtmp);
    assert.deepEqual((await badRtmp.call('xmpp_connect', [{ username: 'opsrtmp', domain: prosody.domain, password: 'wrong-password-3', resource: 'b' }]))?.values, [0]);
    // The same user again: the gateway reuses the SCRAM salted password (RFC 5802 §5.1) and the
    // real server accepts the proof made from it.
    const rtmpAgain = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 0 });
    clients.push(rtmpAgain);
    assert.deepEqual((await rtmpAgain.call('xmpp_connect', [{ username: 'opsrtmp', domain: prosody.domain, password: passwords.opsrtmp, resource: 'c' }]))?.values, [1]);

    // Three stanzas from the raw client, each answered by the server (iq) or echoed (message to self).
    const rawJid = `opsraw@${prosody.domain}/r`;
    for (let i = 0; i < 3; i++) {
      raw.send(`<iq type="get" id="ping${i}"><ping xmlns="urn:xmpp:ping"/></iq>`);
      await raw.nextElement((e) => e.is('iq') && e.attrs['id'] === `ping${i}`);
    }
    raw.send(`<message to="${rawJid}"><body>to myself</body></message>`);
    await raw.nextElement((e) => e.is('message'));
    // A client that breaks the XML: a stream error by condition.
    const broken = await RawFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false });
    clients.push(broken);
    broken.send(`<stream:stream to="${prosody.domain}" xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" version="1.0"><a></b>`);
    await broken.waitClosed(5000);

    const after = parseExposition((await get(httpPort, '/metrics')).body);
    const delta = (name: string, labels: Record<string, string> = {}): number => value(after, name, labels) - value(before, name, labels);
    assert.equal(delta(`${G}logins_succeeded_total`, { transport: 'tcp', method: 'sasl' }), 1);
    assert.equal(delta(`${G}logins_succeeded_total`, { transport: 'tcp', method: 'iq:auth' }), 1);
    assert.equal(delta(`${G}logins_succeeded_total`, { transport: 'rtmp', method: 'rtmp' }), 2);
    // Four logins run by the gateway derived their key (two of them with a wrong password, never
    // remembered); the returning RTMP user's skipped PBKDF2.
    assert.equal(delta(`${G}scram_cache_lookups_total`, { result: 'miss' }), 4);
    assert.equal(delta(`${G}scram_cache_lookups_total`, { result: 'hit' }), 1);
    assert.equal(delta(`${G}logins_failed_total`, { transport: 'tcp', method: 'sasl', reason: 'not-authorized' }), 1);
    assert.equal(delta(`${G}logins_failed_total`, { transport: 'tcp', method: 'iq:auth', reason: 'not-authorized' }), 1);
    assert.equal(delta(`${G}logins_failed_total`, { transport: 'rtmp', method: 'rtmp', reason: 'not-authorized' }), 1);
    assert.equal(delta(`${G}login_seconds_count`), 7, 'every login timed');
    assert.ok(delta(`${G}stanzas_total`, { transport: 'tcp', direction: 'in' }) >= 4, 'the pings and the message in');
    assert.ok(delta(`${G}stanzas_total`, { transport: 'tcp', direction: 'out' }) >= 4, 'the answers and the echo out');
    assert.ok(delta(`${G}client_bytes_total`, { transport: 'tcp', direction: 'in' }) > 500);
    assert.ok(delta(`${G}client_bytes_total`, { transport: 'rtmp', direction: 'out' }) > 100);
    assert.equal(delta(`${G}errors_total`, { transport: 'tcp', condition: 'not-well-formed' }), 1);
    assert.ok(delta(`${G}upstream_connect_seconds_count`, { domain: prosody.domain }) >= 7);
    assert.equal(value(after, `${G}connections`, { transport: 'tcp', dialect: 'raw' }), 2, 'the two raw clients still open');
    assert.equal(value(after, `${G}connections`, { transport: 'tcp', dialect: 'nul' }), 2);
    assert.equal(value(after, `${G}connections`, { transport: 'rtmp', dialect: 'call-api' }), 3);

    // The status page names the failed users and why, never their passwords.
    const json = await get(httpPort, '/status.json');
    assert.equal(json.status, 200);
    const status = JSON.parse(json.body) as { recentLoginFailures: { user?: string; reason: string; transport: string; method: string }[] };
    const failures = status.recentLoginFailures.map((f) => `${f.transport}/${f.method}/${f.user ?? '-'}/${f.reason}`).sort();
    assert.deepEqual(failures, ['rtmp/rtmp/opsrtmp/not-authorized', 'tcp/iq:auth/opsnul/not-authorized', 'tcp/sasl/opsraw/not-authorized']);
    const page = await get(httpPort, '/status');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    for (const user of ['opsraw', 'opsnul', 'opsrtmp']) assert.ok(page.body.includes(user), `${user} on the status page`);
    for (const secret of [...Object.values(passwords), 'wrong-password-1', 'wrong-password-2', 'wrong-password-3']) {
      assert.ok(!json.body.includes(secret) && !page.body.includes(secret) && !gateway.logs().includes(secret), `${secret} shown`);
    }

    // Connections leave the gauge when they close.
    for (const client of clients.splice(0)) await client.close();
    const closed = async (): Promise<number> => value(parseExposition((await get(httpPort, '/metrics')).body), `${G}connections`);
    for (let i = 0; i < 50 && (await closed()) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await closed(), 0);

    // The server goes away: a failed connect marks it down, and /readyz says so.
    await prosody.stop();
    const late = await RawFlashClient.connect('127.0.0.1', gateway.port, { failOnStreamError: false });
    clients.push(late);
    await assert.rejects(sparkwebLogin(late, { domain: prosody.domain, user: 'opsraw', pass: passwords.opsraw, resource: 'z' }));
    const down = await get(httpPort, '/readyz');
    assert.equal(down.status, 503, down.body);
    assert.match(down.body, /^not ready\n/);
    assert.match(down.body, new RegExp(`upstream ${prosody.domain} .*: down — `));
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    await gateway.stop();
    await prosody.stop();
  }
});

test('/metrics and /status answer only opsAllowFrom; the health checks answer anyone', async () => {
  const closedPort = await freePort();
  const httpPort = await freePort();
  const gateway = await startGatewayFor(
    { host: '127.0.0.1', c2sPort: closedPort, domain: 'nowhere.test' },
    { extraArgs: ['--http-port', String(httpPort), '--http-host', '127.0.0.1', '--ops-allow-from', '10.0.0.0/8'], listeners: 2 },
  );
  try {
    for (const path of ['/metrics', '/status', '/status.json']) {
      const res = await get(httpPort, path);
      assert.equal(res.status, 403, path);
      assert.match(res.body, /opsAllowFrom/);
    }
    assert.equal((await get(httpPort, '/healthz')).status, 200);
    // Nothing listens on the upstream port: /readyz probes it and says why it is not ready.
    const ready = await get(httpPort, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body, new RegExp(`upstream nowhere\\.test \\(127\\.0\\.0\\.1:${closedPort}\\): down — .*ECONNREFUSED`));
  } finally {
    await gateway.stop();
  }
});

test('the component state shows in /metrics and on the status page, and follows the server', async () => {
  const component = 'ops-control.localhost';
  const secret = 'ops-component-secret-5t8';
  const prosody = await startProsody({ tls: false, users: [], components: [{ domain: component, secret }] });
  const httpPort = await freePort();
  const gateway = await startGatewayFor(prosody, {
    extraArgs: ['--http-port', String(httpPort), '--http-host', '127.0.0.1', '--component', component, '--component-upstream', `${prosody.host}:${prosody.componentPort}`],
    listeners: 2,
    env: { FLASH_XMPP_GATEWAY_COMPONENT_SECRET: secret },
  });
  const up = async (): Promise<number> => value(parseExposition((await get(httpPort, '/metrics')).body), `${G}component_up`, { domain: component });
  const componentState = async (): Promise<string | undefined> =>
    (JSON.parse((await get(httpPort, '/status.json')).body) as { components: { domain: string; state: string }[] }).components.find((c) => c.domain === component)?.state;
  const waitFor = async (check: () => Promise<boolean>, what: string): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      assert.ok(Date.now() < deadline, `${what} within 10 s\n${gateway.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    await waitFor(async () => (await up()) === 1, 'component_up 1');
    assert.equal(await componentState(), 'online');
    await prosody.stop();
    await waitFor(async () => (await up()) === 0, 'component_up 0 after the server stopped');
    assert.notEqual(await componentState(), 'online');
    assert.ok(!gateway.logs().includes(secret), 'the component secret is never logged');
  } finally {
    await gateway.stop();
    await prosody.stop();
  }
});
