import assert from 'node:assert/strict';
import { test } from 'node:test';
import { el, NS } from '../../src/codec/xml/element.js';
import { filterFeatures, saslMechanisms, starttlsOffer } from '../../src/xmpp/features.js';

const mechanisms = (...names: string[]) => el('mechanisms', NS.sasl, {}, names.map((n) => el('mechanism', NS.sasl, {}, [n])));

// What ejabberd offers after TLS (shared/spec/xmpp-servers.md) plus what Prosody may add.
const OFFERED = el('features', NS.stream, {}, [
  el('starttls', NS.tls, {}, [el('required', NS.tls)]),
  mechanisms('SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1', 'PLAIN', 'SCRAM-SHA-256-PLUS', 'X-OAUTH2'),
  el('compression', 'http://jabber.org/features/compress', {}, [el('method', 'http://jabber.org/features/compress', {}, ['zlib'])]),
  el('sm', 'urn:xmpp:sm:3'),
  el('sm', 'urn:xmpp:sm:2'),
  el('authentication', 'urn:xmpp:sasl:2'),
  el('bind', NS.bind),
  el('session', NS.session, {}, [el('optional', NS.session)]),
  el('ver', 'urn:xmpp:features:rosterver'),
  el('c', 'http://jabber.org/protocol/caps', { hash: 'sha-1', node: 'n', ver: 'v' }),
]);

test('features: STARTTLS, -PLUS mechanisms, compression, stream management and SASL2 are hidden', () => {
  const filtered = filterFeatures(OFFERED);
  assert.deepEqual(saslMechanisms(filtered), ['SCRAM-SHA-1', 'PLAIN', 'X-OAUTH2']);
  assert.equal(starttlsOffer(filtered).offered, false);
  const kept = filtered.children.map((c) => (typeof c === 'string' ? c : `${c.ns} ${c.local}`));
  assert.deepEqual(kept, [
    `${NS.sasl} mechanisms`,
    `${NS.bind} bind`,
    `${NS.session} session`,
    'urn:xmpp:features:rosterver ver',
    'http://jabber.org/protocol/caps c',
  ]);
});

test('features: the input is not modified', () => {
  filterFeatures(OFFERED);
  assert.equal(saslMechanisms(OFFERED).length, 5);
  assert.deepEqual(starttlsOffer(OFFERED), { offered: true, required: true });
});

test('features: starttls offer without required', () => {
  assert.deepEqual(starttlsOffer(el('features', NS.stream, {}, [el('starttls', NS.tls)])), { offered: true, required: false });
  assert.deepEqual(starttlsOffer(el('features', NS.stream)), { offered: false, required: false });
});
