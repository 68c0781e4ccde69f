/**
 * `attributesOf`: the `attrib` object of xmpp_message/presence/iq (rtmp.md, dialect A) keeps
 * every attribute as a member, in document order — `__proto__` too, which an object literal
 * would swallow as a prototype change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAmf0Values, encodeAmf0Values } from '../../src/codec/amf/amf0.js';
import { DEFAULT_XML_LIMITS, parseFragment } from '../../src/codec/xml/parser.js';
import type { XmlElement } from '../../src/codec/xml/element.js';
import { attributesOf } from '../../src/session/rtmp/xmpp-call-api.js';

const element = (xml: string): XmlElement => parseFragment(xml, DEFAULT_XML_LIMITS, 'jabber:client')[0] as XmlElement;

test('attributesOf: every attribute, in order, prefixed names as written', () => {
  const attrs = attributesOf(element(`<message to="a@x/r" type="chat" xml:lang="en" from="b@x/r" id="1"/>`));
  assert.deepEqual(Object.entries(attrs), [['to', 'a@x/r'], ['type', 'chat'], ['xml:lang', 'en'], ['from', 'b@x/r'], ['id', '1']]);
});

test('attributesOf: an attribute named __proto__ is a member, and survives the AMF round trip', () => {
  for (const xml of [`<message __proto__="p" to="a@x"/>`, `<message to="a@x" __proto__="p"/>`]) {
    const attrs = attributesOf(element(xml));
    assert.equal(Object.getOwnPropertyDescriptor(attrs, '__proto__')?.value, 'p', xml);
    assert.equal(attrs['to'], 'a@x');
    const [decoded] = decodeAmf0Values(encodeAmf0Values([attrs]));
    assert.equal(Object.getOwnPropertyDescriptor(decoded as object, '__proto__')?.value, 'p', `${xml} after AMF0`);
  }
});
