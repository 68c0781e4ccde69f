/** The gateway's own SCRAM client against the RFC test vectors, and against hostile servers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseMechanism } from '../../src/xmpp/sasl/mechanisms.js';
import { ScramClientSession } from '../../src/xmpp/sasl/scram.js';

test('SCRAM-SHA-1: RFC 5802 §5 example', async () => {
  const scram = new ScramClientSession('sha1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL');
  assert.equal(scram.first(), 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
  const final = await scram.final('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096');
  assert.equal(final, 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=');
  scram.verify('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
});

test('SCRAM-SHA-256: RFC 7677 §3 example', async () => {
  const scram = new ScramClientSession('sha256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
  assert.equal(scram.first(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const final = await scram.final('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
  assert.equal(final, 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  scram.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

test('SCRAM: a wrong server signature, a server error, a foreign nonce and absurd iterations are refused', async () => {
  const signed = new ScramClientSession('sha1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL');
  signed.first();
  await signed.final('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096');
  assert.throws(() => signed.verify('v=AAAAAAAAAAAAAAAAAAAAAAAAAAA='), /server signature is wrong/);
  assert.throws(() => signed.verify('e=invalid-proof'), /reports invalid-proof/);

  const nonce = new ScramClientSession('sha1', 'user', 'pencil', 'abc');
  nonce.first();
  await assert.rejects(nonce.final('r=xyz123,s=QSXCR+Q6sek8bf92,i=4096'), /nonce/);
  const iterations = new ScramClientSession('sha1', 'user', 'pencil', 'abc');
  iterations.first();
  await assert.rejects(iterations.final('r=abcdef,s=QSXCR+Q6sek8bf92,i=999999999'), /iteration count/);
});

test('SCRAM: usernames are escaped (RFC 5802 §5.1)', () => {
  assert.equal(new ScramClientSession('sha1', 'a=b,c', 'p', 'n').first(), 'n,,n=a=3Db=2Cc,r=n');
});

test('mechanism choice: SCRAM-SHA-256 > SCRAM-SHA-1 > PLAIN; ANONYMOUS only without credentials; never -PLUS', () => {
  const creds = { username: 'u', password: 'p' };
  assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256'], creds)?.name, 'SCRAM-SHA-256');
  assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-1'], creds)?.name, 'SCRAM-SHA-1');
  assert.equal(chooseMechanism(['SCRAM-SHA-1-PLUS', 'PLAIN'], creds)?.name, 'PLAIN');
  assert.equal(chooseMechanism(['DIGEST-MD5', 'ANONYMOUS'], creds), undefined);
  assert.equal(chooseMechanism(['PLAIN', 'ANONYMOUS'], undefined)?.name, 'ANONYMOUS');
  assert.equal(chooseMechanism(['PLAIN'], undefined), undefined);
});
