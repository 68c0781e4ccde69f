/**
 * SIGHUP against a real Prosody: the gateway re-reads its --config file, applies what can change
 * without dropping anyone (policy, limits, log level), names what needs a restart, keeps a
 * logged-in client working, and keeps running on its old configuration when the new one is bad.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCommandLine } from '../../src/config/load.js';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { startProsody } from '../support/prosody.js';
import { NS_STREAM, NS_STREAM_ERRORS, RawFlashClient, sparkwebLogin, xiffHeader } from '../support/raw-client.js';

type LogRecord = Record<string, unknown>;

/** Sends bytes, reads everything until the peer closes. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error('no close within 5 s'));
    });
    socket.write(bytes);
  });
}

const policyDomains = (reply: string): string[] => [...reply.matchAll(/<allow-access-from domain="([^"]+)"/g)].map((m) => m[1] as string);

/** The port the gateway reports in its "Flash port listening" line (the test gives --config, not --listen). */
function flashPort(gateway: GatewayProcess): number {
  const line = gateway.listening.find((r) => typeof r === 'object' && r !== null && (r as LogRecord)['listener'] === 'flash');
  return Number((line as LogRecord)['port']);
}

/** Sends SIGHUP and resolves with the first log record after it that matches. */
async function sighup(gateway: GatewayProcess, match: (r: LogRecord) => boolean): Promise<LogRecord> {
  const before = new Set(gateway.records());
  gateway.proc.kill('SIGHUP');
  return gateway.waitForLog((r) => !before.has(r) && match(r), 10_000);
}

const isReloaded = (r: LogRecord): boolean => typeof r['msg'] === 'string' && r['msg'].startsWith('configuration reloaded');

/** Opens an XMPP stream; the stream's first element (features, or the refusal's stream error). */
async function tryConnect(port: number, domain: string): Promise<{ client: RawFlashClient; refusal: string | undefined }> {
  const client = await RawFlashClient.connect('127.0.0.1', port, { failOnStreamError: false });
  client.send(xiffHeader(domain));
  const first = await client.nextElement((e) => e.is('features', NS_STREAM) || e.is('error', NS_STREAM));
  if (first.is('features', NS_STREAM)) return { client, refusal: undefined };
  const condition = first.elements().find((e) => e.uri === NS_STREAM_ERRORS && e.local !== 'text')?.local;
  return { client, refusal: `${condition}: ${first.getChildText('text', NS_STREAM_ERRORS) ?? ''}` };
}

test('SIGHUP: policy, limits and log level apply live, a port change is named as needing a restart, a bad file changes nothing', async () => {
  const prosody = await startProsody({ tls: false, users: [['alice', 'alice-secret']] });
  const dir = mkdtempSync(join(tmpdir(), 'fxg-reload-'));
  const file = join(dir, 'gateway.yaml');
  const port = await freePort();
  const otherPort = await freePort();
  const yaml = (o: { port: number; domain?: string; allowFrom: string; perIp: number; logLevel: string; rateLimit: number }): string =>
    [
      `listen: "127.0.0.1:${o.port}"`,
      'policyPort: 0',
      `upstream: "${prosody.host}:${prosody.c2sPort}"`,
      `domain: [${o.domain ?? prosody.domain}]`,
      'upstreamTls: "off"',
      `policyAllowFrom: ["${o.allowFrom}"]`,
      `maxConnectionsPerIp: ${o.perIp}`,
      `logLevel: ${o.logLevel}`,
      `rateLimit: ${o.rateLimit}`,
      '',
    ].join('\n');
  writeFileSync(file, yaml({ port, allowFrom: 'old.example', perIp: 3, logLevel: 'info', rateLimit: 50 }));
  // --rate-limit on the command line: it must still win over the file after a reload.
  const gateway = await startGateway(['--config', file, '--rate-limit', '40']);
  let client: RawFlashClient | undefined;
  const extras: RawFlashClient[] = [];
  try {
    assert.equal(flashPort(gateway), port);
    assert.deepEqual(policyDomains(await exchange(port, '<policy-file-request/>\0')), ['old.example']);

    client = await RawFlashClient.connect('127.0.0.1', port);
    await sparkwebLogin(client, { domain: prosody.domain, user: 'alice', pass: 'alice-secret', resource: 'r' });
    const conn = (await gateway.waitForLog((r) => r['msg'] === 'client authenticated'))['conn'];
    assert.ok(conn !== undefined);

    // Unchanged file: the reload says so.
    const same = await sighup(gateway, isReloaded);
    assert.equal(same['msg'], 'configuration reloaded: nothing changed');
    assert.deepEqual([same['applied'], same['needsRestart']], [[], []]);

    // Under the start limit (3), a second connection from this address is accepted.
    const second = await tryConnect(port, prosody.domain);
    extras.push(second.client);
    assert.equal(second.refusal, undefined);
    second.client.destroy();
    assert.ok(!gateway.records().some((r) => r['level'] === 'debug'), 'nothing at debug level before the reload');

    const changed = { port: otherPort, domain: 'elsewhere.example', allowFrom: 'games.example', logLevel: 'debug', rateLimit: 60 };
    writeFileSync(file, yaml({ ...changed, perIp: 1 }));
    const reloaded = await sighup(gateway, isReloaded);
    assert.equal(reloaded['msg'], 'configuration reloaded');
    assert.equal(reloaded['level'], 'info');
    // In the settings table's order; rateLimit is not there (the flag wins); listen and domain are restart-only.
    assert.deepEqual(reloaded['applied'], ['policyAllowFrom', 'maxConnectionsPerIp', 'logLevel']);
    assert.deepEqual(reloaded['needsRestart'], ['listen', 'domain']);
    const warning = await gateway.waitForLog((r) => r['level'] === 'warn' && Array.isArray(r['needsRestart']));
    assert.deepEqual(warning['needsRestart'], ['listen', 'domain']);
    assert.match(String(warning['msg']), /restart needed for: listen, domain/);

    // The policy file on the Flash port carries the new allow-from.
    assert.deepEqual(policyDomains(await exchange(port, '<policy-file-request/>\0')), ['games.example']);
    // The listener did not move: the old port serves, the new one is not bound.
    await assert.rejects(exchange(otherPort, '<policy-file-request/>\0'), /ECONNREFUSED/);
    // The new per-address limit (1, held by the logged-in client) refuses another connection.
    const third = await tryConnect(port, prosody.domain);
    extras.push(third.client);
    assert.equal(third.refusal, 'policy-violation: too many connections from 127.0.0.1 (limit 1)');
    // The logged-in client still works.
    client.send(`<iq type="get" id="after-reload" to="${prosody.domain}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    assert.equal((await client.nextElement((e) => e.is('iq') && e.attrs['id'] === 'after-reload')).attrs['type'], 'result');

    // Bad files: the exact error is logged, nothing changes.
    for (const bad of [
      'policyAllowFrom: [unclosed\n',
      yaml({ port, allowFrom: 'bad.example', perIp: 0, logLevel: 'info', rateLimit: 50 }),
    ]) {
      writeFileSync(file, bad);
      let expected = '';
      try {
        loadCommandLine(gateway.args);
      } catch (error) {
        expected = (error as Error).message;
      }
      assert.notEqual(expected, '', 'the file is invalid');
      const error = await sighup(gateway, (r) => r['level'] === 'error' || isReloaded(r));
      assert.equal(error['level'], 'error', JSON.stringify(error));
      assert.equal(error['error'], expected);
      assert.ok(String(error['msg']).endsWith(expected), String(error['msg']));
    }
    assert.equal(gateway.exited, false);
    assert.deepEqual(policyDomains(await exchange(port, '<policy-file-request/>\0')), ['games.example']);
    const fourth = await tryConnect(port, prosody.domain);
    extras.push(fourth.client);
    assert.match(fourth.refusal ?? '', /\(limit 1\)$/);
    client.send(`<iq type="get" id="after-bad-file" to="${prosody.domain}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    assert.equal((await client.nextElement((e) => e.is('iq') && e.attrs['id'] === 'after-bad-file')).attrs['type'], 'result');

    // Valid again, with a limit of 2: the restart-only changes are still pending (the running
    // gateway kept its port and its domain), and a new client logs in to the old domain.
    writeFileSync(file, yaml({ ...changed, perIp: 2 }));
    const again = await sighup(gateway, (r) => r['level'] === 'error' || isReloaded(r));
    assert.deepEqual([again['applied'], again['needsRestart']], [['maxConnectionsPerIp'], ['listen', 'domain']]);
    const newcomer = await RawFlashClient.connect('127.0.0.1', port);
    extras.push(newcomer);
    await sparkwebLogin(newcomer, { domain: prosody.domain, user: 'alice', pass: 'alice-secret', resource: 'n' });
    await newcomer.close();

    // The session opened before the reload logs at the new level too.
    await client.close();
    await gateway.waitForLog((r) => r['level'] === 'debug' && r['conn'] === conn && r['msg'] === 'client closed its stream');
    client.assertNoViolations();
  } finally {
    client?.destroy();
    for (const extra of extras) extra.destroy();
    await gateway.stop();
    await prosody.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGHUP with the embedded Prosody: its rewritten upstream, domain and TLS mode are no change to report', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-reload-'));
  const file = join(dir, 'gateway.yaml');
  const port = await freePort();
  const yaml = (logLevel: string): string => `listen: "127.0.0.1:${port}"\npolicyPort: 0\nlogLevel: ${logLevel}\n`;
  writeFileSync(file, yaml('info'));
  const gateway = await startGateway(['--config', file], { timeoutMs: 60_000 });
  try {
    assert.ok(gateway.records().some((r) => r['embedded'] === 'prosody'), 'runs the embedded Prosody');
    writeFileSync(file, yaml('warn'));
    const reloaded = await sighup(gateway, (r) => isReloaded(r) || r['level'] === 'error');
    assert.deepEqual([reloaded['applied'], reloaded['needsRestart']], [['logLevel'], []]);
  } finally {
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
