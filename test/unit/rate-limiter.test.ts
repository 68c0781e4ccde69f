import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exemptionList } from '../../src/config/load.js';
import { StanzaRateLimiter } from '../../src/session/rate-limiter.js';

test('rate limiter: a burst passes, then one token per 1/rate; waiting takes nothing; idle time refills', () => {
  const t0 = 1_000_000;
  const limiter = new StanzaRateLimiter(10, 3, t0);
  assert.deepEqual([limiter.tryTake(t0), limiter.tryTake(t0), limiter.tryTake(t0)], [0, 0, 0]);
  assert.equal(limiter.tryTake(t0), 100, 'the next token in 100 ms');
  assert.equal(limiter.tryTake(t0 + 50), 50, 'asking again takes nothing');
  assert.equal(limiter.tryTake(t0 + 100), 0);
  assert.equal(limiter.tryTake(t0 + 100), 100);
  assert.equal(limiter.tryTake(t0 + 10_000), 0, 'a long pause refills the bucket, up to the burst');
  assert.deepEqual([limiter.tryTake(t0 + 10_000), limiter.tryTake(t0 + 10_000), limiter.tryTake(t0 + 10_000)], [0, 0, 100]);
});

test('connection-limit exemptions: addresses and CIDR ranges, IPv4 and IPv6; bad entries are config errors', () => {
  const list = exemptionList(['192.0.2.0/24', '2001:db8::/32', '198.51.100.7']);
  assert.ok(list.check('192.0.2.200', 'ipv4'));
  assert.ok(!list.check('192.0.3.1', 'ipv4'));
  assert.ok(list.check('2001:db8::1', 'ipv6'));
  assert.ok(list.check('198.51.100.7', 'ipv4'));
  assert.throws(() => exemptionList(['school-nat']), /not an address or a CIDR range/);
  assert.throws(() => exemptionList(['10.0.0.0/x']), /not an address or a CIDR range/);
});
