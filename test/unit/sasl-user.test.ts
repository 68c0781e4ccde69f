/** The user name read from SASL initial responses for the login log: fixture table and hostile input. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { saslUserName } from '../../src/session/sasl-user.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

test('user names from PLAIN and SCRAM initial responses (RFC 4616, RFC 5802 §5.1)', () => {
  const cases: [string, string, string | undefined][] = [
    ['PLAIN', b64('\0alice\0secret'), 'alice'],
    ['PLAIN', b64('alice@example.org\0alice\0secret'), 'alice'],
    ['PLAIN', b64('\0\0secret'), undefined],
    ['PLAIN', b64('no-nuls-at-all'), undefined],
    ['PLAIN', '=', undefined],
    ['PLAIN', '', undefined],
    ['SCRAM-SHA-1', b64('n,,n=bob,r=abc123'), 'bob'],
    ['SCRAM-SHA-256', b64('y,,n=we=2Cird=3Dname,r=x'), 'we,ird=name'],
    ['SCRAM-SHA-1-PLUS', b64('p=tls-unique,,n=carol,r=x'), 'carol'],
    ['SCRAM-SHA-1', b64('garbage'), undefined],
    ['DIGEST-MD5', b64('anything'), undefined],
    ['PLAIN', b64('\0a\u0007b\nc\0pw'), 'a?b?c'],
    ['PLAIN', 'A'.repeat(5000), undefined],
  ];
  for (const [mechanism, payload, expected] of cases) assert.equal(saslUserName(mechanism, payload), expected, `${mechanism} ${payload.slice(0, 40)}`);
});

test('the password never comes back, whatever the bytes', () => {
  fc.assert(
    fc.property(fc.string(), fc.string({ minLength: 1 }), fc.uint8Array({ maxLength: 300 }), (user, password, noise) => {
      const plain = saslUserName('PLAIN', b64(`\0${user}\0${password}`));
      assert.ok(plain === undefined || !plain.includes('\0'));
      if (!user.includes('\0') && password.length > 8 && !user.includes(password)) assert.ok(!(plain ?? '').includes(password));
      saslUserName('PLAIN', Buffer.from(noise).toString('base64'));
      saslUserName('SCRAM-SHA-1', Buffer.from(noise).toString('base64'));
      assert.ok((plain ?? '').length <= 64);
    }),
  );
});
