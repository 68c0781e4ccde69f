import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCommandLine } from '../../src/config/load.js';
import { RELOADABLE, diffSettings, withReloadable } from '../../src/config/reload.js';
import { SETTINGS, type Settings } from '../../src/config/settings.js';
import { ConnectionLimiter } from '../../src/edge/connection-limiter.js';

const BASE = ['--upstream', '127.0.0.1:5222', '--domain', 'example.org'];
const load = (...flags: string[]): Settings => loadCommandLine([...BASE, ...flags]).settings;

test('reload diff: the same command line changes nothing', () => {
  assert.deepEqual(diffSettings(load('--policy-allow-from', 'a.example'), load('--policy-allow-from', 'a.example')), {
    applied: [],
    needsRestart: [],
  });
});

test('reload diff: changed keys split into applied and needsRestart, in the table order', () => {
  const before = load('--max-connections-per-ip', '10', '--log-level', 'info');
  const after = load(
    '--max-connections-per-ip', '2', '--log-level', 'debug',
    '--policy-allow-from', 'games.example', '--websocket-allow-origin', 'https://games.example',
    '--listen', '127.0.0.1:6222', '--upstream-tls', 'off', '--domain', 'other.example', '--tls-cert', '/dev/null', '--tls-key', '/dev/null',
  );
  assert.deepEqual(diffSettings(before, after), {
    applied: ['websocketAllowOrigin', 'policyAllowFrom', 'maxConnectionsPerIp', 'logLevel'],
    needsRestart: ['listen', 'tlsCert', 'tlsKey', 'domain', 'upstreamTls'],
  });
});

test('reload diff: lists, HOST:PORT and the domains map compare by content', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-reload-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, 'domains:\n  example.net: { upstream: "10.0.0.1:5222" }\n');
  const before = loadCommandLine([...BASE, '--config', file]).settings;
  // Fresh objects with equal content: no change.
  assert.deepEqual(diffSettings(before, loadCommandLine([...BASE, '--config', file]).settings).needsRestart, []);
  writeFileSync(file, 'domains:\n  example.net: { upstream: "10.0.0.2:5222" }\n');
  assert.deepEqual(diffSettings(before, loadCommandLine([...BASE, '--config', file]).settings), { applied: [], needsRestart: ['domains'] });
  assert.deepEqual(diffSettings(load('--upstream', '10.0.0.1:5222'), load('--upstream', '10.0.0.1:5223')).needsRestart, ['upstream']);
});

test('reload: the settings table marks what reloads; ports, TLS files, upstream and services do not', () => {
  for (const key of ['policyAllowFrom', 'policySiteControl', 'websocketAllowOrigin', 'connectionLimitExempt', 'maxConnectionsPerIp',
    'maxConnections', 'rateLimit', 'rateBurst', 'maxStanzaBytes', 'maxDepth', 'maxAttributes', 'maxPendingStanzas', 'authTimeout',
    'idleTimeout', 'sniffTimeout', 'nulGrace', 'maxClientBacklogBytes', 'shutdownTimeout', 'logLevel'] as const) {
    assert.ok(RELOADABLE.has(key), key);
  }
  for (const key of ['listen', 'httpPort', 'httpHost', 'tlsCert', 'tlsKey', 'rtmpPort', 'rtmpsPort', 'policyPort', 'policyHost', 'upstream',
    'domain', 'domains', 'upstreamTls', 'upstreamCa', 'component', 'componentSecretFile', 'pushTokenFile'] as const) {
    assert.ok(!RELOADABLE.has(key), key);
  }
  assert.equal(RELOADABLE.size, SETTINGS.filter((s) => s.reload).length);
});

test('reload: the merged settings take reloadable values and keep restart-only ones', () => {
  const running = load('--listen', '127.0.0.1:5222', '--max-connections', '100');
  const next = load('--listen', '127.0.0.1:6222', '--max-connections', '5', '--policy-site-control', 'all');
  const merged = withReloadable(running, next);
  assert.deepEqual(merged.listen, { host: '127.0.0.1', port: 5222 });
  assert.equal(merged.maxConnections, 5);
  assert.equal(merged.policySiteControl, 'all');
  // Applied once, a second identical reload reports only what still waits for a restart.
  assert.deepEqual(diffSettings(merged, next), { applied: [], needsRestart: ['listen'] });
});

test('connection limiter: update() applies to the next connection and keeps those already in', () => {
  const limiter = new ConnectionLimiter({ maxConnectionsPerIp: 3, maxConnections: 10 });
  const first = limiter.acquire('192.0.2.1');
  const second = limiter.acquire('192.0.2.1');
  assert.ok(first.ok && second.ok);
  limiter.update({ maxConnectionsPerIp: 1, maxConnections: 10 });
  const third = limiter.acquire('192.0.2.1');
  assert.equal(third.ok, false);
  assert.match(third.ok ? '' : third.reason, /limit 1\)/);
  assert.equal(limiter.connections, 2);
  limiter.update({ maxConnectionsPerIp: 5, maxConnections: 2 });
  const fourth = limiter.acquire('192.0.2.9');
  assert.equal(fourth.ok, false);
  assert.match(fourth.ok ? '' : fourth.reason, /connection limit \(2\)/);
  if (first.ok) first.ticket.release();
  assert.equal(limiter.acquire('192.0.2.9').ok, true);
});
