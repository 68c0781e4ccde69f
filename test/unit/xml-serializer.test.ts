import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { escapeAttr, escapeText, serialize } from '../../src/codec/xml/serializer.js';
import { DEFAULT_XML_LIMITS, parseFragment } from '../../src/codec/xml/parser.js';
import { NS, el, type XmlAttribute, type XmlElement, type XmlNode } from '../../src/codec/xml/element.js';
import { toExpressible, type GenAttr, type GenEl } from '../support/xml-models.js';

/** Parses `xml` alone (as a Flash client would), with `defaultNs` in scope; expects one element. */
function reparse(xml: string, defaultNs: string = NS.client): XmlElement {
  const nodes = parseFragment(xml, DEFAULT_XML_LIMITS, defaultNs);
  assert.equal(nodes.length, 1, xml);
  const [only] = nodes;
  assert.ok(only !== undefined && typeof only !== 'string', xml);
  return only;
}

function roundTrip(x: XmlElement, defaultNs: string = NS.client): string {
  const xml = serialize(x, defaultNs);
  assert.deepEqual(reparse(xml, defaultNs), x, xml);
  return xml;
}

const streamEl = (local: string, children: XmlNode[] = [], attrs: XmlAttribute[] = []): XmlElement => ({
  prefix: 'stream',
  local,
  ns: NS.stream,
  attrs,
  children,
});

describe('escaping', () => {
  test('escapeText', () => {
    assert.equal(escapeText('plain text é 😀'), 'plain text é 😀');
    assert.equal(escapeText('a<b>&c"\''), 'a&lt;b&gt;&amp;c"\'');
    assert.equal(escapeText(']]>'), ']]&gt;');
    assert.equal(escapeText('x\ty\nz'), 'x\ty\nz');
    assert.equal(escapeText('a\r\nb'), 'a&#13;\nb');
  });

  test('escapeAttr', () => {
    assert.equal(escapeAttr('plain'), 'plain');
    assert.equal(escapeAttr(`a<b>&c"d'`), `a&lt;b&gt;&amp;c&quot;d'`);
    assert.equal(escapeAttr('x\ty\nz\r'), 'x&#9;y&#10;z&#13;');
  });

  test('characters XML cannot carry become U+FFFD (never a NUL on the wire)', () => {
    assert.equal(escapeText('a\u0000b\u001bc\uFFFEd\uFFFF'), 'a\uFFFDb\uFFFDc\uFFFDd\uFFFD');
    assert.equal(escapeAttr('\u0000\u0008'), '\uFFFD\uFFFD');
    assert.equal(escapeText('\uD800x\uDC00'), '\uFFFDx\uFFFD');
    assert.equal(escapeText('\uD83D\uDE00'), '\uD83D\uDE00');
  });
});

describe('serialize', () => {
  test('stanza in the default namespace', () => {
    const m = el('message', NS.client, { to: 'a@b', type: 'chat' }, [el('body', NS.client, {}, ['hi & bye'])]);
    assert.equal(roundTrip(m), '<message to="a@b" type="chat"><body>hi &amp; bye</body></message>');
  });

  test('declares the default namespace when it differs from the one in scope', () => {
    const m = el('message', NS.client, {}, [el('x', 'jabber:x:data', { type: 'form' })]);
    assert.equal(roundTrip(m, ''), '<message xmlns="jabber:client"><x xmlns="jabber:x:data" type="form"/></message>');
    assert.equal(roundTrip(m, 'urn:other'), '<message xmlns="jabber:client"><x xmlns="jabber:x:data" type="form"/></message>');
  });

  test('xmlns="" for an element in no namespace', () => {
    const m = el('a', NS.client, {}, [el('b', '', {}, [el('c', '')])]);
    assert.equal(roundTrip(m), '<a><b xmlns=""><c/></b></a>');
    assert.equal(roundTrip(el('b', ''), ''), '<b/>');
  });

  test('stream:features parses on its own (Flash clients parse each packet alone)', () => {
    const f = streamEl('features', [
      el('mechanisms', NS.sasl, {}, [el('mechanism', NS.sasl, {}, ['PLAIN']), el('mechanism', NS.sasl, {}, ['ANONYMOUS'])]),
      el('bind', NS.bind),
    ]);
    const xml = roundTrip(f);
    assert.equal(
      xml,
      '<stream:features xmlns:stream="http://etherx.jabber.org/streams">' +
        '<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism><mechanism>ANONYMOUS</mechanism></mechanisms>' +
        '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>',
    );
    roundTrip(f, '');
  });

  test('stream:error with text', () => {
    const e = streamEl('error', [
      el('policy-violation', NS.streams),
      el('text', NS.streams, { 'xml:lang': 'en' }, ['too big']),
    ]);
    assert.equal(
      roundTrip(e),
      '<stream:error xmlns:stream="http://etherx.jabber.org/streams"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>' +
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">too big</text></stream:error>',
    );
  });

  test('prefixes are kept, declared once where first needed, re-declared when shadowed', () => {
    const x: XmlElement = {
      prefix: '',
      local: 'iq',
      ns: NS.client,
      attrs: [{ prefix: 'p', local: 'node', ns: 'urn:p', value: 'n' }],
      children: [
        { prefix: 'p', local: 'items', ns: 'urn:p', attrs: [], children: [{ prefix: 'p', local: 'item', ns: 'urn:q', attrs: [], children: [] }] },
      ],
    };
    assert.equal(roundTrip(x), '<iq xmlns:p="urn:p" p:node="n"><p:items><p:item xmlns:p="urn:q"/></p:items></iq>');
  });

  test('the xml prefix is never declared', () => {
    const x = el('presence', NS.client, { 'xml:lang': 'de' });
    assert.equal(roundTrip(x, ''), '<presence xmlns="jabber:client" xml:lang="de"/>');
  });

  test('empty elements are <x/>; empty strings are no content', () => {
    assert.equal(serialize(el('a', NS.client, {}, [])), '<a/>');
    assert.equal(serialize(el('a', NS.client, {}, ['', ''])), '<a/>');
    assert.equal(serialize(el('a', NS.client, {}, [''])), '<a/>');
  });

  test('white space in attributes survives attribute-value normalisation; CR in text survives', () => {
    const x = el('a', NS.client, { v: ' x\ty\nz\r\n ' }, ['line1\r\nline2\rline3\n']);
    assert.equal(roundTrip(x), '<a v=" x&#9;y&#10;z&#13;&#10; ">line1&#13;\nline2&#13;line3\n</a>');
  });

  test('models XML cannot write as given still produce parseable output', () => {
    // A prefixed element in no namespace, an unprefixed attribute with a namespace, a prefix used
    // for two namespaces on one element, and a literal xmlns attribute.
    const x: XmlElement = {
      prefix: 'p',
      local: 'a',
      ns: 'urn:1',
      attrs: [
        { prefix: 'p', local: 'x', ns: 'urn:2', value: '1' },
        { prefix: '', local: 'y', ns: 'urn:3', value: '2' },
        { prefix: '', local: 'xmlns', ns: '', value: 'urn:evil' },
        { prefix: 'q', local: 'z', ns: 'urn:1', value: '3' },
      ],
      children: [{ prefix: 'n', local: 'b', ns: '', attrs: [], children: ['t'] }],
    };
    const xml = serialize(x);
    const back = reparse(xml);
    assert.equal(back.ns, 'urn:1');
    assert.equal(back.prefix, 'p');
    assert.deepEqual(
      back.attrs.map((a) => [a.ns, a.local, a.value]),
      [
        ['urn:2', 'x', '1'],
        ['urn:3', 'y', '2'],
        ['urn:1', 'z', '3'],
      ],
    );
    const b = back.children[0];
    assert.ok(typeof b !== 'string' && b !== undefined && b.ns === '' && b.prefix === '' && b.local === 'b');
  });

  test('invalid characters never reach the output', () => {
    const xml = serialize(el('a', NS.client, { v: 'x\u0000' }, ['\u0000\u0001']));
    assert.ok(!xml.includes('\u0000'));
    assert.deepEqual(reparse(xml), el('a', NS.client, { v: 'x\uFFFD' }, ['\uFFFD\uFFFD']));
  });
});

// ---------------------------------------------------------------------------------------------
// Round-trip property

const CHARS = ['a', 'b', ' ', '<', '>', '&', ']', '"', "'", '\n', '\r', '\t', 'é', '日', '😀', '\uFFFD', '=', ';', '#', '\u0085', '\u2028'];
const textArb = fc.array(fc.constantFrom(...CHARS), { maxLength: 8 }).map((a) => a.join(''));
const validText = fc.oneof(
  textArb,
  fc.string({ maxLength: 20 }).filter((s) => !/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u.test(s)),
);

const attrArb: fc.Arbitrary<GenAttr> = fc.oneof(
  fc.record({ prefix: fc.constant(''), ns: fc.constant(''), local: fc.constantFrom('id', 'to', 'type', 'é', 'v-1', 'xmlnsx'), value: validText }),
  fc.record({ prefix: fc.constant('xml'), ns: fc.constant(NS.xml), local: fc.constantFrom('lang', 'space'), value: validText }),
  fc.record({
    prefix: fc.constantFrom('a', 'b', 'p', 'stream', 'ns0'),
    ns: fc.constantFrom('urn:a', 'urn:b', 'urn:c', NS.stream, 'jabber:client'),
    local: fc.constantFrom('id', 'x', 'ü'),
    value: validText,
  }),
);
const elArb: fc.Arbitrary<GenEl> = fc.letrec<{ el: GenEl }>((tie) => ({
  el: fc.record({
    prefix: fc.constantFrom('', '', 'a', 'b', 'stream', 'flash'),
    ns: fc.constantFrom('jabber:client', 'urn:a', 'urn:b', NS.stream, NS.flash, ''),
    local: fc.constantFrom('message', 'body', 'x', 'item', 'é', 'data-1', 'a.b', '中文', 'q_', 'stream', 'features'),
    attrs: fc.array(attrArb, { maxLength: 4 }),
    children: fc.array(fc.oneof({ depthSize: 'small', maxDepth: 5 }, validText, tie('el')), { maxLength: 5 }),
  }),
})).el;


/** No normalisation at all: whatever the model, the output must parse. */
function raw(g: GenEl): XmlElement {
  return { prefix: g.prefix, local: g.local, ns: g.ns, attrs: g.attrs, children: g.children.map((c) => (typeof c === 'string' ? c : raw(c))) };
}

describe('serialize properties', () => {
  test('parse(serialize(x)) gives back x', () => {
    fc.assert(
      fc.property(elArb, fc.constantFrom(NS.client, '', 'urn:a', NS.stream), (g, defaultNs) => {
        roundTrip(toExpressible(g), defaultNs);
      }),
      { numRuns: 2000 },
    );
  });

  test('every output parses on its own, whatever the model', () => {
    const anyText = fc.string({ maxLength: 12, unit: 'binary' });
    const wild: fc.Arbitrary<GenEl> = fc.letrec<{ el: GenEl }>((tie) => ({
      el: fc.record({
        prefix: fc.constantFrom('', 'a', 'xml', 'xmlns', 'stream'),
        ns: fc.constantFrom('', 'urn:a', NS.xml, NS.xmlns, NS.stream),
        local: fc.constantFrom('x', 'y', 'xmlns'),
        attrs: fc.array(
          fc.record({
            prefix: fc.constantFrom('', 'a', 'b', 'xml', 'xmlns', 'ns0'),
            ns: fc.constantFrom('', 'urn:a', 'urn:b', NS.xml, NS.xmlns),
            local: fc.constantFrom('x', 'y', 'xmlns', 'lang'),
            value: anyText,
          }),
          { maxLength: 4 },
        ),
        children: fc.array(fc.oneof({ depthSize: 'small', maxDepth: 3 }, anyText, tie('el')), { maxLength: 3 }),
      }),
    })).el;
    fc.assert(
      fc.property(wild, fc.constantFrom(NS.client, ''), (g, defaultNs) => {
        const x = raw(g);
        const xml = serialize(x, defaultNs);
        let nodes: XmlNode[];
        try {
          nodes = parseFragment(xml, DEFAULT_XML_LIMITS, defaultNs);
        } catch (e) {
          throw new Error(`${String(e)}\n${xml}`);
        }
        assert.equal(nodes.filter((n) => typeof n !== 'string').length, 1);
      }),
      { numRuns: 1000 },
    );
  });
});
