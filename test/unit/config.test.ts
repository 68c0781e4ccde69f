import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCommandLine } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const BASE = ['--upstream', '127.0.0.1:5222', '--domain', 'example.org'];

test('config: defaults from the command-line contract', () => {
  const { settings } = loadCommandLine(BASE);
  assert.deepEqual(settings.listen, { host: '0.0.0.0', port: 5222 });
  assert.equal(settings.policyPort, 843);
  assert.equal(settings.upstreamTls, 'required');
  assert.deepEqual(settings.domain, ['example.org']);
  assert.deepEqual(settings.upstream, { host: '127.0.0.1', port: 5222 });
  assert.equal(settings.maxStanzaBytes, 262144);
});

test('config: no --upstream means the embedded demo server for localhost', () => {
  const { settings } = loadCommandLine([]);
  assert.equal(settings.upstream, undefined);
  assert.deepEqual(settings.domain, ['localhost']);
});

test('config: repeatable --domain, the first is the default; names are lower-cased', () => {
  const { settings } = loadCommandLine([...BASE, '--domain', 'Other.ORG']);
  assert.deepEqual(settings.domain, ['example.org', 'other.org']);
});

test('config: IPv6 host:port', () => {
  const { settings } = loadCommandLine([...BASE, '--listen', '[::1]:5223']);
  assert.deepEqual(settings.listen, { host: '::1', port: 5223 });
});

const BAD: ReadonlyArray<readonly [string[], RegExp]> = [
  [['--bogus', 'x'], /Unknown option '--bogus'.*--help/],
  [['--upstream', '127.0.0.1:5222'], /no XMPP domain configured/],
  [[...BASE, '--upstream-tls', 'maybe'], /--upstream-tls \(upstreamTls\): expected one of required, optional, off/],
  [[...BASE, '--policy-port', '70000'], /--policy-port .*0 to 65535/],
  [[...BASE, '--listen', 'nohostport'], /--listen .*expected HOST:PORT/],
  [[...BASE, '--max-stanza-bytes', '12x'], /--max-stanza-bytes .*whole number/],
  [[...BASE, '--max-stanza-bytes', '10'], /--max-stanza-bytes .*at least 1024/],
  [[...BASE, '--upstream-ca', '/nonexistent/ca.pem'], /--upstream-ca: cannot read/],
  [[...BASE, 'positional'], /Unexpected argument|positional/i],
  [[...BASE, '--rtmps-port', '1936'], /--rtmps-port needs a certificate/],
  [[...BASE, '--tls-cert', '/etc/hostname'], /--tls-cert and --tls-key go together/],
];

for (const [args, message] of BAD) {
  test(`config: rejects ${args.join(' ')}`, () => {
    assert.throws(() => loadCommandLine(args), (error: unknown) => error instanceof ConfigError && message.test(error.message));
  });
}

test('config: a YAML file with the same keys; flags win', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-config-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, 'upstream: 10.0.0.1:5222\ndomain: [a.example, b.example]\npolicyPort: 0\nupstreamTls: optional\n');
  const { settings } = loadCommandLine(['--config', file, '--upstream-tls', 'off']);
  assert.deepEqual(settings.upstream, { host: '10.0.0.1', port: 5222 });
  assert.deepEqual(settings.domain, ['a.example', 'b.example']);
  assert.equal(settings.policyPort, 0);
  assert.equal(settings.upstreamTls, 'off');
});

test('config: unknown keys in the file are errors naming the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-config-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, 'domain: [a.example]\npolicy_port: 843\n');
  assert.throws(() => loadCommandLine(['--config', file]), /unknown key "policy_port"/);
});

test('config: --check-config validates a file and says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-config-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'upstream: xmpp.example.org:5222\ndomain: [example.org]\n');
  assert.equal(loadCommandLine(['--check-config', good]).checkOnly, good);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'upstream: xmpp.example.org:5222\ndomain: [example.org]\nmaxStanzaBytes: lots\n');
  assert.throws(() => loadCommandLine(['--check-config', bad]), /--max-stanza-bytes \(maxStanzaBytes\): expected a whole number/);
  assert.throws(() => loadCommandLine(['--check-config', good, '--config', good]), /not both/);
});

test('config: per-domain upstreams in the file (domains:), joining the domain list', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-config-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    'domain: [first.example]\nupstreamTls: optional\ndomains:\n  Second.Example:\n    upstream: 10.0.0.2:5222\n    upstreamTls: off\n  third.example: {}\n',
  );
  const { settings } = loadCommandLine(['--config', file]);
  assert.deepEqual(settings.domain, ['first.example', 'second.example', 'third.example']);
  assert.deepEqual(settings.domains.get('second.example'), { upstream: { host: '10.0.0.2', port: 5222 }, upstreamTls: 'off', upstreamCa: undefined });
  // No upstream: found by DNS SRV; the TLS mode is inherited.
  assert.deepEqual(settings.domains.get('third.example'), { upstream: undefined, upstreamTls: 'optional', upstreamCa: undefined });
  writeFileSync(file, 'domains:\n  a.example:\n    upstreamTsl: off\n');
  assert.throws(() => loadCommandLine(['--config', file]), /domains\.a\.example: unknown key "upstreamTsl"/);
  writeFileSync(file, 'domains:\n  a.example:\n    upstream: nope\n');
  assert.throws(() => loadCommandLine(['--config', file]), /domains\.a\.example: --upstream \(upstream\): expected HOST:PORT/);
});
