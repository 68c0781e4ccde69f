import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpPolicyReply, policyXml, socketPolicyReply } from '../../src/codec/policy/policy-file.js';
import { classifyPolicyRequest } from '../../src/edge/policy-listener.js';

const OPTIONS = { allowFrom: ['*'], toPorts: [5222], siteControl: 'master-only' as const };

test('policy file: the exact bytes of shared/spec/flash-clients.md', () => {
  assert.equal(
    socketPolicyReply(OPTIONS).toString('utf8'),
    '<?xml version="1.0"?><!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">' +
      '<cross-domain-policy><site-control permitted-cross-domain-policies="master-only"/>' +
      '<allow-access-from domain="*" to-ports="5222"/></cross-domain-policy>\0',
  );
});

test('policy file: one allow-access-from per origin, only the given ports, never *', () => {
  const xml = policyXml({ allowFrom: ['example.com', '*.example.org'], toPorts: [5229, 5222, 5222], siteControl: 'all' });
  assert.match(xml, /<allow-access-from domain="example.com" to-ports="5222,5229"\/>/);
  assert.match(xml, /<allow-access-from domain="\*.example.org" to-ports="5222,5229"\/>/);
  assert.match(xml, /permitted-cross-domain-policies="all"/);
  assert.doesNotMatch(xml, /to-ports="\*"/);
});

test('policy file: origins are escaped', () => {
  assert.match(policyXml({ ...OPTIONS, allowFrom: ['a"b<c'] }), /domain="a&quot;b&lt;c"/);
});

test('HTTP policy: /crossdomain.xml gets the policy without NUL, anything else 404', () => {
  const ok = httpPolicyReply('/crossdomain.xml', OPTIONS).toString('utf8');
  assert.match(ok, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(ok, /Content-Type: text\/x-cross-domain-policy\r\n/);
  assert.ok(ok.endsWith('</cross-domain-policy>'));
  assert.ok(!ok.includes('\0'));
  const body = ok.slice(ok.indexOf('\r\n\r\n') + 4);
  assert.match(ok, new RegExp(`Content-Length: ${Buffer.byteLength(body)}\r\n`));
  assert.match(httpPolicyReply('/other', OPTIONS).toString('utf8'), /^HTTP\/1\.0 404 /);
});

const REQUESTS: ReadonlyArray<readonly [string, string, ReturnType<typeof classifyPolicyRequest>]> = [
  ['socket request', '<policy-file-request/>\0', 'socket'],
  ['socket request after NULs', '\0\0<policy-file-request/>\0', 'socket'],
  ['HTTP request', 'GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\n\r\n', { http: '/crossdomain.xml' }],
  ['HTTP request with a query', 'GET /crossdomain.xml?x=1 HTTP/1.0\r\n\r\n', { http: '/crossdomain.xml' }],
  ['HTTP request for another path', 'GET /other HTTP/1.1\r\n\r\n', { http: '/other' }],
  ['XMPP header', '<stream:stream>', 'invalid'],
  ['garbage', 'hello', 'invalid'],
  ['bad request line', 'GET nonsense\r\n\r\n', 'invalid'],
];

for (const [name, input, expected] of REQUESTS) {
  test(`policy port request: ${name}, split at every byte`, () => {
    const bytes = Buffer.from(input, 'latin1');
    assert.deepEqual(classifyPolicyRequest(bytes), expected);
    for (let cut = 1; cut < bytes.length; cut++) {
      const early = classifyPolicyRequest(bytes.subarray(0, cut));
      if (early === 'need-more') continue;
      assert.deepEqual(early, expected, `prefix of ${cut} bytes`);
    }
  });
}
