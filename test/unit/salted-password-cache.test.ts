/**
 * The SCRAM SaltedPassword cache (RFC 5802 §5.1): a returning user skips PBKDF2 and still
 * produces the RFC's exact proof; only values the server accepted are kept; bounded in entries
 * and age; the keys never hold the password.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SaltedPasswordCache } from '../../src/xmpp/sasl/salted-password-cache.js';
import { ScramClientSession } from '../../src/xmpp/sasl/scram.js';

// RFC 7677 §3.
const NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SERVER_FIRST = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const CLIENT_FINAL = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

async function login(cache: SaltedPasswordCache, password = 'pencil', serverFinal = SERVER_FINAL): Promise<{ final: string; usedCache: boolean; verified: boolean }> {
  const scram = new ScramClientSession('sha256', 'user', password, NONCE, cache);
  scram.first();
  const final = await scram.final(SERVER_FIRST);
  let verified = true;
  try {
    scram.verify(serverFinal);
  } catch {
    verified = false;
  }
  return { final, usedCache: scram.usedCache, verified };
}

test('salted passwords: the second login skips PBKDF2 and sends the same proof as the RFC', async () => {
  const cache = new SaltedPasswordCache({ maxEntries: 10, maxAgeMs: 60_000 });
  const first = await login(cache);
  assert.deepEqual(first, { final: CLIENT_FINAL, usedCache: false, verified: true });
  assert.equal(cache.size, 1);
  const second = await login(cache);
  assert.deepEqual(second, { final: CLIENT_FINAL, usedCache: true, verified: true });
});

test('salted passwords: a login the server did not accept is not remembered; another password misses', async () => {
  const cache = new SaltedPasswordCache({ maxEntries: 10, maxAgeMs: 60_000 });
  const refused = await login(cache, 'pencil', 'v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
  assert.equal(refused.verified, false);
  assert.equal(cache.size, 0);
  await login(cache);
  const other = await login(cache, 'crayon');
  assert.equal(other.usedCache, false);
  assert.notEqual(other.final, CLIENT_FINAL);
  assert.equal(other.verified, false, 'a wrong password never verifies');
  assert.equal(cache.size, 1);
});

test('salted passwords: least recently used out first, old entries derived again, 0 entries = off', () => {
  let now = 0;
  const cache = new SaltedPasswordCache({ maxEntries: 2, maxAgeMs: 1000, now: () => now });
  const key = (p: string): string => cache.keyFor('sha256', p, 'c2FsdA==', 4096);
  cache.remember(key('a'), Buffer.from('A'));
  cache.remember(key('b'), Buffer.from('B'));
  assert.equal(cache.get(key('a'))?.toString(), 'A'); // a is now the most recent
  cache.remember(key('c'), Buffer.from('C'));
  assert.equal(cache.get(key('b')), undefined, 'b was the least recently used');
  assert.equal(cache.get(key('a'))?.toString(), 'A');
  assert.equal(cache.get(key('c'))?.toString(), 'C');
  now = 1001;
  assert.equal(cache.get(key('a')), undefined, 'older than maxAgeMs');
  assert.equal(cache.size, 1);

  const off = new SaltedPasswordCache({ maxEntries: 0, maxAgeMs: 1000 });
  off.remember(off.keyFor('sha256', 'p', 's', 1), Buffer.from('x'));
  assert.equal(off.size, 0);
});

test('salted passwords: keys depend on every input and hold no trace of the password', () => {
  const cache = new SaltedPasswordCache({ maxEntries: 10, maxAgeMs: 1000 });
  const base = cache.keyFor('sha256', 'pencil', 'c2FsdA==', 4096);
  assert.equal(cache.keyFor('sha256', 'pencil', 'c2FsdA==', 4096), base);
  for (const other of [
    cache.keyFor('sha1', 'pencil', 'c2FsdA==', 4096),
    cache.keyFor('sha256', 'pencil2', 'c2FsdA==', 4096),
    cache.keyFor('sha256', 'pencil', 'c2FsdB==', 4096),
    cache.keyFor('sha256', 'pencil', 'c2FsdA==', 4097),
  ]) {
    assert.notEqual(other, base);
  }
  assert.ok(!base.includes('pencil') && !Buffer.from(base, 'base64').includes('pencil'));
  const another = new SaltedPasswordCache({ maxEntries: 10, maxAgeMs: 1000 });
  assert.notEqual(another.keyFor('sha256', 'pencil', 'c2FsdA==', 4096), base, 'keyed by a secret made at start-up');
});
