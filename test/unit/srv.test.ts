import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveClientServer } from '../../src/xmpp/srv.js';

const records = (list: [string, number, number, number][]) => async (name: string) => {
  assert.equal(name, '_xmpp-client._tcp.example.org');
  return list.map(([n, port, priority, weight]) => ({ name: n, port, priority, weight }));
};

test('SRV: the lowest priority, then the heaviest weight (RFC 6120 §3.2.1)', async () => {
  const found = await resolveClientServer('example.org', records([['b.example.org', 5223, 10, 5], ['a.example.org', 5222, 5, 1], ['c.example.org', 5224, 5, 9]]));
  assert.deepEqual(found, { host: 'c.example.org', port: 5224 });
});

test('SRV: no records → the domain itself on 5222 (§3.2.2); "." → no service', async () => {
  const none = async () => {
    throw Object.assign(new Error('queryTxt ENOTFOUND'), { code: 'ENOTFOUND' });
  };
  assert.deepEqual(await resolveClientServer('example.org', none), { host: 'example.org', port: 5222 });
  await assert.rejects(resolveClientServer('example.org', records([['.', 0, 0, 0]])), /no XMPP client service/);
});
