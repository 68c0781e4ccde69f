/**
 * Fuzzing the XML codec (docs/fuzzing.md): the streaming parser (with restart() as sessions call
 * it), parseFragment and the serializer. For any bytes, split anywhere: only StreamError with one
 * of the parser's conditions, the same events however the input is split, no more pending bytes
 * than maxStanzaBytes + 1, and no more elements, attributes or text than bytes in. The streams
 * Flash clients send (shared/spec/flash-clients.md) are mutated at random; serialize → parse
 * round trips run through the stream parser at random split points.
 *
 * xml-parser.test.ts and xml-serializer.test.ts hold the fixtures, the spec rules and the
 * differential test against saxes; this file runs wide generators, scaled by FUZZ_RUNS.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Buffer } from 'node:buffer';
import * as fc from 'fast-check';
import { NS, type XmlElement, type XmlNode } from '../../src/codec/xml/element.js';
import { DEFAULT_XML_LIMITS, XmlStreamParser, parseFragment, type XmlLimits } from '../../src/codec/xml/parser.js';
import { serialize } from '../../src/codec/xml/serializer.js';
import { StreamError, type StreamErrorCondition } from '../../src/errors.js';
import { toExpressible, type GenAttr, type GenEl } from '../support/xml-models.js';
import { cutsArb, fuzz, mutate, mutationsArb, splitAt } from '../support/fuzz.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** The conditions the parser raises (RFC 6120 §4.9.3). */
const CONDITIONS: ReadonlySet<StreamErrorCondition> = new Set<StreamErrorCondition>([
  'not-well-formed',
  'restricted-xml',
  'policy-violation',
  'bad-namespace-prefix',
  'unsupported-encoding',
]);

function typedCondition(e: unknown): string {
  if (!(e instanceof StreamError)) {
    throw new Error(`expected only StreamError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
  }
  assert.ok(CONDITIONS.has(e.condition), `unexpected condition ${e.condition}`);
  assert.ok(e.text.length > 0, 'a StreamError says what went wrong');
  return e.condition;
}

/** A canonical rendering of a node (independent of the serializer). */
function show(n: XmlNode): string {
  if (typeof n === 'string') return JSON.stringify(n);
  const attrs = n.attrs.map((a) => ` ${a.prefix ? `${a.prefix}:` : ''}${a.local}{${a.ns}}=${JSON.stringify(a.value)}`).join('');
  return `<${n.prefix ? `${n.prefix}:` : ''}${n.local}{${n.ns}}${attrs}>${n.children.map(show).join('')}</>`;
}

/** Elements, attributes and UTF-16 units of text and attribute values in a tree. */
function weigh(el: XmlElement): { nodes: number; chars: number } {
  let nodes = 1 + el.attrs.length;
  let chars = el.attrs.reduce((n, a) => n + a.value.length, 0);
  for (const c of el.children) {
    if (typeof c === 'string') chars += c.length;
    else {
      const w = weigh(c);
      nodes += w.nodes;
      chars += w.chars;
    }
  }
  return { nodes, chars };
}

interface RunOptions {
  limits?: XmlLimits;
  /** Restart the stream after these top-level elements (as sessions do after SASL success or STARTTLS). */
  restartAfter?: ReadonlySet<string>;
}

/**
 * Parses the chunks; returns the events, ending with `error:<condition>` on a StreamError. Checks
 * after every write that no more than maxStanzaBytes + 1 bytes are pending, and that what came out
 * is no bigger than what went in.
 */
function run(chunks: readonly Uint8Array[], opts: RunOptions = {}): string[] {
  const limits = opts.limits ?? DEFAULT_XML_LIMITS;
  const events: string[] = [];
  let nodes = 0;
  let chars = 0;
  const parser: XmlStreamParser = new XmlStreamParser(
    {
      streamOpen(header, selfClosed) {
        assert.deepEqual(header.children, []);
        const w = weigh(header);
        nodes += w.nodes;
        chars += w.chars;
        events.push(`open ${show(header)}${selfClosed ? ' self' : ''}`);
      },
      element(stanza) {
        const w = weigh(stanza);
        nodes += w.nodes;
        chars += w.chars;
        events.push(`el ${show(stanza)}`);
        if (opts.restartAfter?.has(stanza.local)) {
          events.push('restart');
          parser.restart();
        }
      },
      streamClose() {
        events.push('close');
      },
    },
    limits,
  );
  let bytesIn = 0;
  try {
    for (const c of chunks) {
      bytesIn += c.length;
      parser.write(c);
      assert.ok(parser.bytesBuffered <= limits.maxStanzaBytes + 1, `${parser.bytesBuffered} bytes pending (limit ${limits.maxStanzaBytes})`);
      assert.ok(nodes <= bytesIn && chars <= bytesIn, `${nodes} nodes and ${chars} characters from ${bytesIn} bytes`);
    }
  } catch (e) {
    events.push(`error:${typedCondition(e)}`);
  }
  return events;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

// ---------------------------------------------------------------------------------------------
// Fixtures: what Flash clients send (shared/spec/flash-clients.md)

const STREAM_NS = 'xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams"';
const XIFF2 = `<?xml version="1.0"?><stream:stream to="127.0.0.1" ${STREAM_NS} version="1.0" />`;
const FLASH = '<?xml version="1.0"?><flash:stream to="chat.example.com" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">';
const XIFF3 = `<?xml version="1.0" encoding="UTF-8"?><stream:stream ${STREAM_NS} to="example.com" xml:lang="en" version="1.0">`;
const SPARKWEB = `<?xml version="1.0" encoding="UTF-8"?><stream:stream ${STREAM_NS} to="example.com" xml:lang="en" version="1.0" />`;
const HXMPP = `<stream:stream ${STREAM_NS} xmlns:xml="http://www.w3.org/XML/1998/namespace" to="example.com" version="1.0">`;
const AUTH_GET = '<iq type="get" id="auth_1"><query xmlns="jabber:iq:auth"><username>alice</username></query></iq>';
const AUTH_SET =
  '<iq type="set" id="auth_2"><query xmlns="jabber:iq:auth"><username>alice</username><password>s3cr&amp;t</password><resource>xiff</resource></query></iq>';
const SASL_PLAIN = '<auth mechanism="PLAIN" xmlns="urn:ietf:params:xml:ns:xmpp-sasl">AGFsaWNlAHNlY3JldA==</auth>';
const BIND =
  '<iq type="set" id="bind_1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>xiff</resource></bind></iq><iq type="set" id="sess_1"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>';
const STANZAS =
  '<presence><show>chat</show><status>hé &lt;3 😀</status><priority>5</priority></presence>' +
  '<message to="room@conference.example.com" type="groupchat" id="m1"><body>hello &amp; <![CDATA[<b>bold</b>]]> &#x1F600;&#233;</body><x xmlns="jabber:x:event"><composing/></x></message>' +
  '<iq type="get" id="ping_1" to="127.0.0.1"><ping xmlns="urn:xmpp:ping"/></iq>' +
  '<iq type="get" id="roster_1"><query xmlns="jabber:iq:roster"/></iq>' +
  '<iq type="get" id="sg_1"><sharedgroup xmlns="http://www.jivesoftware.org/protocol/sharedgroup"/></iq>';

/** Whole client streams: header, login, stanzas, close. SASL streams restart after <success/>. */
const STREAMS: readonly string[] = [
  `${XIFF2}${AUTH_GET}${AUTH_SET}${STANZAS}</stream:stream>`,
  `${FLASH}${AUTH_GET}${AUTH_SET}${STANZAS} \n </flash:stream>`,
  `${XIFF3}${SASL_PLAIN}<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>${XIFF3}${BIND}${STANZAS}</stream:stream>`,
  `${SPARKWEB}${SASL_PLAIN}<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>${SPARKWEB}${BIND}${STANZAS}`,
  `${HXMPP}${SASL_PLAIN}<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>${HXMPP}${BIND}${STANZAS}</stream:stream>`,
  '<policy-file-request/>',
];
// (A client does not send <success/>: it stands here for the moment the session restarts the
// parser, which is what restartAfter does.)
const RESTART_AFTER: ReadonlySet<string> = new Set(['success']);

const limitsArb: fc.Arbitrary<XmlLimits> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(DEFAULT_XML_LIMITS) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        maxStanzaBytes: fc.oneof(fc.integer({ min: 1, max: 400 }), fc.constantFrom(64, 1024)),
        maxDepth: fc.integer({ min: 1, max: 6 }),
        maxAttributes: fc.integer({ min: 0, max: 5 }),
      },
      { noNullPrototype: true },
    ),
  },
);

// ---------------------------------------------------------------------------------------------
// Properties

/** Text around the parser's delimiters, references, names and encodings. */
const SOUP = [
  '<', '>', '/>', '</', 'a', 'b:c', 'stream:stream', 'flash:stream', ' ', '\n', '\r\n', '\t', '=', '"', "'", 'x="1"', "y='2'",
  'xmlns="u"', 'xmlns=""', 'xmlns:b="v"', 'xmlns:xml="http://www.w3.org/XML/1998/namespace"', 'xmlns:xmlns="x"', STREAM_NS,
  '&', ';', '&amp;', '&lt;', '&#x41;', '&#65;', '&#0;', '&#xD800;', '&#x110000;', '&#99999999999;', '&foo;', '#', '<?xml version="1.0"?>',
  '<?xml version="1.0" encoding="UTF-16"?>', '<?', '?>', '<?php', '<!--', '-->', '<![CDATA[', ']]>', ']]', '<!DOCTYPE x>', '<!ENTITY', '<!',
  'é', '😀', '\u0000', '\u0001', '\uFFFE', '\uFEFF', '<a>', '</a>', '<a/>', '<stream:stream>', '</stream:stream>', XIFF2, FLASH, XIFF3,
  AUTH_GET, '<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>',
];
const soupArb = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...SOUP).map(enc) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }) },
      { weight: 1, arbitrary: fc.constantFrom(Buffer.of(0xef, 0xbb, 0xbf), Buffer.of(0xfe, 0xff), Buffer.of(0xc3), Buffer.of(0xed, 0xa0, 0x80), Buffer.of(0xf4, 0x90, 0x80, 0x80)) },
    ),
    { maxLength: 60 },
  )
  .map((parts) => Buffer.concat(parts));

fuzz(
  'stream parser: any bytes and XML token soup, split anywhere: only StreamError, split-invariant, bounded',
  { runs: 1500 },
  fc.record({ input: fc.oneof(soupArb, fc.uint8Array({ maxLength: 400 })), limits: limitsArb, cuts: cutsArb, restart: fc.boolean() }),
  ({ input, limits, cuts, restart }) => {
    const opts: RunOptions = { limits, restartAfter: restart ? RESTART_AFTER : undefined };
    assert.deepEqual(run(splitAt(input, cuts), opts), run([input], opts));
  },
);

fuzz(
  'stream parser: Flash client streams (XIFF 2/3, flash:stream, SparkWeb, hxmpp, policy request), mutated and split: only StreamError, split-invariant, bounded',
  { runs: 1500 },
  fc.record({ stream: fc.constantFrom(...STREAMS), mutations: mutationsArb(), limits: limitsArb, cuts: cutsArb }),
  ({ stream, mutations, limits, cuts }) => {
    const input = mutate(enc(stream), mutations);
    const opts: RunOptions = { limits, restartAfter: RESTART_AFTER };
    assert.deepEqual(run(splitAt(input, cuts), opts), run([input], opts));
  },
);

fuzz(
  'stream parser: the unmutated client streams parse without error, split anywhere',
  { runs: 200 },
  fc.record({ stream: fc.constantFrom(...STREAMS.slice(0, -1)), cuts: cutsArb }),
  ({ stream, cuts }) => {
    const input = enc(stream);
    const events = run(splitAt(input, cuts), { restartAfter: RESTART_AFTER });
    assert.ok(!events.some((e) => e.startsWith('error')), events.join('\n'));
    assert.deepEqual(events, run([input], { restartAfter: RESTART_AFTER }));
  },
);

fuzz(
  'parseFragment: any string gives nodes or only StreamError',
  { runs: 1500 },
  fc.record({
    xml: fc.oneof(
      fc.array(fc.constantFrom(...SOUP), { maxLength: 30 }).map((a) => a.join('')),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: fc.constantFrom('<', '>', '/', 'a', '"', '=', ' ', '&', ';', '\uD800', '\uDC00', 'é'), maxLength: 60 }),
    ),
    limits: limitsArb,
    defaultNs: fc.constantFrom(NS.client, '', 'urn:x'),
  }),
  ({ xml, limits, defaultNs }) => {
    let nodes: XmlNode[];
    try {
      nodes = parseFragment(xml, limits, defaultNs);
    } catch (e) {
      typedCondition(e);
      return;
    }
    const size = nodes.reduce((n, c) => n + (typeof c === 'string' ? c.length : weigh(c).chars + weigh(c).nodes), 0);
    assert.ok(size <= Buffer.byteLength(xml, 'utf8'), `${size} from ${xml.length}`);
    // What parses re-serializes to something that parses to the same nodes.
    for (const n of nodes) {
      if (typeof n === 'string') continue;
      const again = parseFragment(serialize(n, defaultNs), DEFAULT_XML_LIMITS, defaultNs);
      assert.deepEqual(again.map(show), [show(n)]);
    }
  },
);

// Models for serialize → parse (in the shapes XML can express: see test/support/xml-models.ts).
const CHARS = ['a', ' ', '<', '>', '&', ']]>', '"', "'", '\n', '\r', '\t', '\r\n', 'é', '日', '😀', '\uFFFD', '=', ';', '#', '\u0085', '\u2028'];
const textArb = fc.oneof(
  fc.array(fc.constantFrom(...CHARS), { maxLength: 10 }).map((a) => a.join('')),
  fc.string({ maxLength: 20 }).filter((s) => !/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u.test(s)),
);
const attrArb: fc.Arbitrary<GenAttr> = fc.oneof(
  fc.record({ prefix: fc.constant(''), ns: fc.constant(''), local: fc.constantFrom('id', 'to', 'type', 'é', 'v-1', 'xmlnsx'), value: textArb }, { noNullPrototype: true }),
  fc.record({ prefix: fc.constant('xml'), ns: fc.constant(NS.xml), local: fc.constantFrom('lang', 'space'), value: textArb }, { noNullPrototype: true }),
  fc.record(
    {
      prefix: fc.constantFrom('a', 'b', 'stream', 'ns0', 'flash'),
      ns: fc.constantFrom('urn:a', 'urn:b', NS.stream, 'jabber:client', NS.flash),
      local: fc.constantFrom('id', 'x', 'ü'),
      value: textArb,
    },
    { noNullPrototype: true },
  ),
);
const elArb: fc.Arbitrary<GenEl> = fc.letrec<{ el: GenEl }>((tie) => ({
  el: fc.record(
    {
      prefix: fc.constantFrom('', '', 'a', 'b', 'stream', 'flash'),
      ns: fc.constantFrom('jabber:client', 'urn:a', 'urn:b', NS.stream, NS.flash, ''),
      local: fc.constantFrom('message', 'body', 'x', 'item', 'é', 'data-1', 'a.b', '中文', 'q_', 'stream', 'features'),
      attrs: fc.array(attrArb, { maxLength: 4 }),
      children: fc.array(fc.oneof({ depthSize: 'small', maxDepth: 5 }, textArb, tie('el')), { maxLength: 5 }),
    },
    { noNullPrototype: true },
  ),
})).el;

fuzz(
  'serialize → stream parser round trip: stanzas come back equal, split anywhere',
  { runs: 500 },
  fc.record({ stanzas: fc.array(elArb, { minLength: 1, maxLength: 5 }), keepalives: fc.boolean(), cuts: cutsArb }),
  ({ stanzas, keepalives, cuts }) => {
    const models = stanzas.map(toExpressible);
    const body = models.map((m) => (keepalives ? ' \n' : '') + serialize(m, NS.client)).join('');
    const input = enc(`${XIFF3}${body}</stream:stream>`);
    const events = run(splitAt(input, cuts));
    const expected = [
      `open ${show({ prefix: 'stream', local: 'stream', ns: NS.stream, attrs: [{ prefix: '', local: 'to', ns: '', value: 'example.com' }, { prefix: 'xml', local: 'lang', ns: NS.xml, value: 'en' }, { prefix: '', local: 'version', ns: '', value: '1.0' }], children: [] })}`,
      ...models.map((m) => `el ${show(m)}`),
      'close',
    ];
    assert.deepEqual(events, expected);
  },
);

fuzz(
  'stream parser: large inputs (many stanzas, deep nesting, long text, one mutation) parse in bounded time and space',
  { runs: 30, maxRunMs: 5000 },
  fc.record({
    kind: fc.constantFrom('stanzas', 'deep', 'text', 'attrs', 'refs'),
    count: fc.integer({ min: 100, max: 4000 }),
    mutations: fc.option(mutationsArb(2)),
    cuts: cutsArb,
  }),
  ({ kind, count, mutations, cuts }) => {
    let body: string;
    switch (kind) {
      case 'stanzas':
        body = STANZAS.repeat(Math.ceil(count / 10));
        break;
      case 'deep':
        body = '<a>'.repeat(count) + '</a>'.repeat(count);
        break;
      case 'text':
        body = `<message><body>${'x&amp;y&#233;'.repeat(count * 4)}</body></message>`;
        break;
      case 'attrs':
        body = `<message ${Array.from({ length: count }, (_, i) => `a${i}="${i}"`).join(' ')}/>`;
        break;
      default:
        body = `<message><body>${'&lt;&#x1F600;'.repeat(count)}</body></message>`;
    }
    const bytes = enc(`${XIFF3}${body}</stream:stream>`);
    const input = mutations === null ? bytes : mutate(bytes, mutations);
    const whole = run([input]);
    assert.deepEqual(run(splitAt(input, cuts)), whole);
  },
);

// ---------------------------------------------------------------------------------------------
// Regressions: counterexamples the fuzzer found, fixed in the codec

test('regression: a byte order mark gets the same verdict in one write or split, whatever maxStanzaBytes', () => {
  // Found by 'stream parser: any bytes and XML token soup…' (FUZZ_SEED=606225518
  // FUZZ_PATH='30211:3:1:2:3'): with maxStanzaBytes 1 the BOM passed in one write but was
  // refused as too big when split after its first byte (bom() had no size check).
  const boms = [Buffer.of(0xef, 0xbb, 0xbf), Buffer.of(0xef, 0xbb, 0x00), Buffer.of(0xef, 0x00), Buffer.from(`\uFEFF${XIFF3}`, 'utf8')];
  for (const maxStanzaBytes of [1, 2, 3, 4, 1024]) {
    const opts: RunOptions = { limits: { ...DEFAULT_XML_LIMITS, maxStanzaBytes } };
    for (const input of boms) {
      const whole = run([input], opts);
      for (let cut = 0; cut <= input.length; cut++) {
        assert.deepEqual(run(splitAt(input, [cut]), opts), whole, `maxStanzaBytes ${maxStanzaBytes}, ${input.toString('hex').slice(0, 12)} split at ${cut}`);
      }
      const bytewise = Array.from(input, (_, i) => input.subarray(i, i + 1));
      assert.deepEqual(run(bytewise, opts), whole);
    }
  }
  assert.deepEqual(run([Buffer.of(0xef, 0xbb, 0xbf)], { limits: { ...DEFAULT_XML_LIMITS, maxStanzaBytes: 2 } }), ['error:policy-violation']);
  assert.deepEqual(run([Buffer.of(0xef, 0xbb, 0xbf)]), []);
});
