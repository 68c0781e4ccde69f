/** What the gateway answers itself: hidden features, pings to its own name, the session IQ. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { XmlElement } from '../../src/codec/xml/element.js';
import { parseFragment } from '../../src/codec/xml/parser.js';
import { legacyAuthError, legacyAuthFields, parseLegacyAuth } from '../../src/session/legacy-auth.js';
import { answerLocally, type LocalContext } from '../../src/session/local-answers.js';

const parse = (xml: string): XmlElement => parseFragment(xml)[0] as XmlElement;
const context = (serverOffersSession: boolean): LocalContext => ({
  serverOffersSession,
  isGatewayName: (name) => name === 'gateway.example' || name === '192.0.2.1',
});

const ANSWERS: ReadonlyArray<readonly [string, string, boolean, string | undefined]> = [
  ['starttls is refused and closes (RFC 6120 §5.4.2.2)', '<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>', true, '<failure xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>'],
  ['compression is refused', '<compress xmlns="http://jabber.org/protocol/compress"><method>zlib</method></compress>', true, '<failure xmlns="http://jabber.org/protocol/compress"><unsupported-method/></failure>'],
  ['stream management is refused', '<enable xmlns="urn:xmpp:sm:3"/>', true, '<failed xmlns="urn:xmpp:sm:3"><feature-not-implemented xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>'],
  ['a ping to the gateway host name', '<iq type="get" id="p1" to="gateway.example"><ping xmlns="urn:xmpp:ping"/></iq>', true, '<iq type="result" id="p1" from="gateway.example"/>'],
  ['a ping to the gateway IP', '<iq type="get" id="p2" to="192.0.2.1"><ping xmlns="urn:xmpp:ping"/></iq>', true, '<iq type="result" id="p2" from="192.0.2.1"/>'],
  ['a ping to the XMPP domain goes to the server', '<iq type="get" id="p3" to="example.org"><ping xmlns="urn:xmpp:ping"/></iq>', true, undefined],
  ['a ping to a user goes to the server', '<iq type="get" id="p4" to="bob@example.org/x"><ping xmlns="urn:xmpp:ping"/></iq>', true, undefined],
  ['the session IQ when the server lacks it', '<iq type="set" id="s1"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>', false, '<iq type="result" id="s1"/>'],
  ['the session IQ when the server has it goes there', '<iq type="set" id="s2"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>', true, undefined],
  ['an ordinary message', '<message to="bob@example.org"><body>x</body></message>', false, undefined],
];

for (const [name, xml, sessionOffered, reply] of ANSWERS) {
  test(`local answers: ${name}`, () => {
    assert.equal(answerLocally(parse(xml), context(sessionOffered))?.reply, reply);
  });
}

test('local answers: only STARTTLS closes the stream', () => {
  assert.equal(answerLocally(parse(ANSWERS[0]![1]), context(true))?.close, true);
  assert.equal(answerLocally(parse(ANSWERS[3]![1]), context(true))?.close, false);
});

const AUTH = 'xmlns="jabber:iq:auth"';
const LEGACY: ReadonlyArray<readonly [string, string, ReturnType<typeof parseLegacyAuth>]> = [
  ['fields query', `<iq type="get" id="a"><query ${AUTH}><username>u</username></query></iq>`, { kind: 'fields', id: 'a', username: 'u' }],
  ['plaintext login', `<iq type="set" id="b"><query ${AUTH}><username>u</username><password>p w</password><resource>r</resource></query></iq>`, { kind: 'login', id: 'b', username: 'u', password: 'p w', resource: 'r' }],
  ['anonymous (empty set)', `<iq type="set" id="c"><query ${AUTH}><resource>r</resource></query></iq>`, { kind: 'anonymous', id: 'c', resource: 'r' }],
  ['digest only', `<iq type="set" id="d"><query ${AUTH}><username>u</username><digest>abc</digest><resource>r</resource></query></iq>`, { kind: 'invalid', id: 'd', reason: 'digest authentication is not supported through this gateway; send the password' }],
  ['no resource', `<iq type="set" id="e"><query ${AUTH}><username>u</username><password>p</password></query></iq>`, { kind: 'invalid', id: 'e', reason: 'a resource is required (XEP-0078 §3)' }],
  ['an oversized field', `<iq type="set" id="f"><query ${AUTH}><username>${'u'.repeat(2000)}</username><password>p</password><resource>r</resource></query></iq>`, { kind: 'invalid', id: 'f', reason: 'iq:auth field too long' }],
  ['not iq:auth', '<iq type="get" id="g"><query xmlns="jabber:iq:roster"/></iq>', undefined],
];

for (const [name, xml, expected] of LEGACY) {
  test(`legacy auth: ${name}`, () => {
    assert.deepEqual(parseLegacyAuth(parse(xml)), expected);
  });
}

test('legacy auth: the fields offered carry no digest; errors carry the legacy codes (XEP-0078 §3, XEP-0086)', () => {
  assert.equal(legacyAuthFields('a', 'u<'), `<iq type="result" id="a"><query ${AUTH}><username>u&lt;</username><password/><resource/></query></iq>`);
  assert.match(legacyAuthError('b', 'not-authorized'), /<error code="401" type="auth"><not-authorized /);
  assert.match(legacyAuthError('b', 'credentials-expired'), /<error code="401" type="auth"><not-authorized /);
  assert.match(legacyAuthError('c', 'conflict'), /<error code="409" type="cancel"><conflict /);
  assert.match(legacyAuthError('d', 'not-acceptable', 'why'), /<error code="406" type="modify"><not-acceptable [^>]*\/><text [^>]*>why<\/text>/);
});
