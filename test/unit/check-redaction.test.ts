/**
 * scripts/check-redaction.mjs, the whole-run redaction check `npm test` runs: it finds a secret
 * planted in a captured log line, plain or in the encodings a SASL payload carries, passes a clean
 * capture, and fails a capture that holds no log lines or no secrets.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CHECKER = fileURLToPath(new URL('../../../scripts/check-redaction.mjs', import.meta.url));
const PASSWORD = 'planted-Secret-42';
const TOKEN = 'push-token-planted-99';
const SPECIAL = 'sp3cial p@ss/+&é';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CLEAN = [
  '{"level":"info","time":"2025-01-01T00:00:00.000Z","pid":4242,"msg":"listening","address":"127.0.0.1:5222"}',
  '{"level":"info","pid":4242,"conn":"c1","transport":"rtmp","msg":"login","user":"alice@localhost/r","password":"[redacted]"}',
  '{"level":"debug","pid":4242,"conn":"c1","msg":"sasl","mechanism":"PLAIN","sasl":"[redacted]"}',
];

/** A capture directory as a test run leaves it; here the test process does not write it itself. */
function capture(logLines: string[] | undefined, secrets: object[] | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'fxg-redaction-test-'));
  dirs.push(dir);
  if (logLines !== undefined) writeFileSync(join(dir, 'gateway-1-4242.log'), logLines.map((l) => `${l}\n`).join(''));
  if (secrets !== undefined) writeFileSync(join(dir, 'secrets-1.jsonl'), secrets.map((s) => `${JSON.stringify(s)}\n`).join(''));
  return dir;
}

const SECRETS = [
  { secret: PASSWORD, kind: 'password', user: 'alice', domain: 'localhost' },
  { secret: TOKEN, kind: 'push-token' },
  { secret: SPECIAL, kind: 'password', user: 'bob', domain: 'localhost' },
  { secret: 'abc', kind: 'password', user: 'short' },
];

function check(dir: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CHECKER, dir], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('check-redaction.mjs', () => {
  test('a clean capture passes and says what it checked (short secrets skipped)', () => {
    const r = check(capture(CLEAN, SECRETS));
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^redaction: 3 log lines from 1 gateway processes checked against 3 secrets \(1 shorter than 6 characters skipped\): no secret found$/m);
  });

  const planted: [string, string, RegExp][] = [
    ['the password itself', `{"level":"debug","msg":"auth","body":"<password>${PASSWORD}</password>"}`, /, plain$/m],
    ['base64 of the SASL PLAIN message', `{"level":"debug","msg":"sent","xml":"<auth mechanism='PLAIN'>${b64(`\0alice\0${PASSWORD}`)}</auth>"}`, /base64 SASL PLAIN$/m],
    ['base64 of PLAIN with a JID authcid', `{"msg":"x","data":"${b64(`\0alice@localhost\0${PASSWORD}`)}"}`, /base64 SASL PLAIN$/m],
    ['the password inside a longer base64 blob (any alignment)', `{"msg":"chunk","data":"${b64(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>x${PASSWORD}y</auth>`)}"}`, /, base64$/m],
    ['base64 of the password alone', `{"msg":"x","v":"${b64(PASSWORD)}"}`, /, base64$/m],
    ['hex', `{"msg":"bytes","hex":"${Buffer.from(PASSWORD).toString('hex')}"}`, /, hex$/m],
    ['URL encoding', `{"msg":"GET /login?user=bob&pass=${encodeURIComponent(SPECIAL)}"}`, /password of bob "sp\*+" found, URL-encoded$/m],
    ['XML escaping', `{"msg":"in","xml":"<password>${SPECIAL.replace('&', '&amp;')}</password>"}`, /password of bob "sp\*+" found, XML-escaped$/m],
    ['the push token', `{"msg":"auth","header":"Bearer ${TOKEN}"}`, /push-token "pu\*+" found, plain$/m],
  ];
  for (const [name, line, form] of planted) {
    test(`fails on a planted secret: ${name}; lists file:line with the secret masked`, () => {
      const r = check(capture([...CLEAN, line, CLEAN[0]!], SECRETS));
      assert.equal(r.status, 1, r.out);
      assert.match(r.out, /FAILED, secrets found in the logs/);
      assert.match(r.out, /^gateway-1-4242\.log:4: /m);
      assert.match(r.out, form);
      for (const secret of [PASSWORD, TOKEN, SPECIAL, encodeURIComponent(SPECIAL), SPECIAL.replace('&', '&amp;')]) {
        assert.ok(!r.out.includes(secret), `the report shows no secret:\n${r.out}`);
      }
      assert.ok(!r.out.includes(b64(`\0alice\0${PASSWORD}`)), 'nor its base64');
    });
  }

  test('every offending line is listed, across files', () => {
    const dir = capture([...CLEAN, `{"msg":"${PASSWORD}"}`], SECRETS);
    writeFileSync(join(dir, 'inproc-2.log'), `{"msg":"ok"}\n{"token":"${TOKEN}"}\n`);
    const r = check(dir);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /^gateway-1-4242\.log:4: password of alice "pl\*+" found, plain$/m);
    assert.match(r.out, /^inproc-2\.log:2: push-token "pu\*+" found, plain$/m);
    assert.match(r.out, /6 log lines from 1 gateway processes \(and 1 in-process loggers\)/);
  });

  test('the published demo passwords may stand in the human-readable banner, never in a JSON record', () => {
    const demo = [...SECRETS, { secret: 'alice-demo', kind: 'demo-password', user: 'alice', domain: 'localhost' }];
    const banner = ['  demo accounts  alice / alice-demo    bob / bob-demo', '  node examples/xmlsocket-chat.mjs --user alice --password alice-demo'];
    const ok = check(capture([...CLEAN, ...banner], demo));
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /no secret found \(2 non-JSON banner lines show the published demo passwords, as intended\)$/m);
    const record = check(capture([...CLEAN, ...banner, '{"level":"info","msg":"login","password":"alice-demo"}'], demo));
    assert.equal(record.status, 1, record.out);
    assert.match(record.out, /^gateway-1-4242\.log:6: demo-password of alice "al\*+" found, plain$/m);
    assert.doesNotMatch(record.out, /gateway-1-4242\.log:[45]:/);
    const planted = check(capture([...CLEAN, `  banner with ${PASSWORD}`], demo));
    assert.equal(planted.status, 1, 'other secrets are not allowed in non-JSON lines');
  });

  test('fails on an empty capture: no log lines, or no secrets, or nothing at all', () => {
    const none = check(capture(undefined, undefined));
    assert.equal(none.status, 1, none.out);
    assert.match(none.out, /0 log lines .* no log lines were captured/);
    const noLines = check(capture([], SECRETS));
    assert.equal(noLines.status, 1, noLines.out);
    assert.match(noLines.out, /no log lines were captured/);
    const noSecrets = check(capture(CLEAN, undefined));
    assert.equal(noSecrets.status, 1, noSecrets.out);
    assert.match(noSecrets.out, /no secrets were recorded/);
    const onlyShort = check(capture(CLEAN, [{ secret: 'abc' }]));
    assert.equal(onlyShort.status, 1, onlyShort.out);
    assert.match(onlyShort.out, /0 secrets \(1 shorter than 6 characters skipped\).*no secrets were recorded/);
  });

  test('a missing directory fails; no directory is a usage error', () => {
    assert.equal(check(join(tmpdir(), 'fxg-no-such-dir-for-redaction')).status, 1);
    assert.equal(spawnSync(process.execPath, [CHECKER], { encoding: 'utf8' }).status, 2);
  });
});
