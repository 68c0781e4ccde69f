import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import * as fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { DEFAULT_XML_LIMITS, XmlStreamParser, parseFragment, type XmlLimits } from '../../src/codec/xml/parser.js';
import { NS, type XmlAttribute, type XmlElement, type XmlNode } from '../../src/codec/xml/element.js';
import { StreamError } from '../../src/errors.js';
import { toExpressible, type GenAttr, type GenEl } from '../support/xml-models.js';

// ---------------------------------------------------------------------------------------------
// Helpers: a canonical, serializer-independent rendering of events

const ABBR: Record<string, string> = {
  [NS.client]: 'C',
  [NS.stream]: 'S',
  [NS.flash]: 'F',
  [NS.xml]: 'X',
};

function nsTag(ns: string): string {
  return `{${ABBR[ns] ?? ns}}`;
}

function showAttrs(attrs: readonly XmlAttribute[]): string {
  return attrs
    .map((a) => ` ${a.prefix ? `${a.prefix}:` : ''}${a.local}${a.ns ? nsTag(a.ns) : ''}=${JSON.stringify(a.value)}`)
    .join('');
}

function qn(n: { prefix: string; local: string }): string {
  return n.prefix ? `${n.prefix}:${n.local}` : n.local;
}

/** `<p:local{ns} attr="v">children</p:local>`; ns abbreviated (C, S, F, X); text as JSON. */
function show(n: XmlNode): string {
  if (typeof n === 'string') return JSON.stringify(n);
  const head = `<${qn(n)}${nsTag(n.ns)}${showAttrs(n.attrs)}`;
  return n.children.length === 0 ? `${head}/>` : `${head}>${n.children.map(show).join('')}</${qn(n)}>`;
}

interface RunOptions {
  limits?: Partial<XmlLimits>;
  /** Called after each event is recorded; return true to call parser.restart() right there. */
  restartOn?: (event: string) => boolean;
}

function limitsOf(o: RunOptions): XmlLimits {
  return { ...DEFAULT_XML_LIMITS, ...o.limits };
}

/** Parses the chunks; returns the events, ending with `error:<condition>:<text>` on a StreamError. */
function run(chunks: readonly Uint8Array[], opts: RunOptions = {}): string[] {
  const events: string[] = [];
  const parser: XmlStreamParser = new XmlStreamParser(
    {
      streamOpen(header, selfClosed) {
        assert.deepEqual(header.children, []);
        record(`open ${show(header).slice(0, -2)}>${selfClosed ? ' self' : ''}`);
      },
      element(stanza) {
        record(`el ${show(stanza)}`);
      },
      streamClose() {
        record('close');
      },
    },
    limitsOf(opts),
  );
  function record(e: string): void {
    events.push(e);
    if (opts.restartOn?.(e)) parser.restart();
  }
  try {
    for (const c of chunks) parser.write(c);
  } catch (e) {
    if (!(e instanceof StreamError)) throw e;
    events.push(`error:${e.condition}:${e.text}`);
  }
  return events;
}

/** Events with error texts reduced to `error:<condition>` (for fixtures). */
function brief(events: string[]): string[] {
  return events.map((e) => (e.startsWith('error:') ? e.split(':').slice(0, 2).join(':') : e));
}

const enc = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

function splitAt(b: Uint8Array, i: number): Uint8Array[] {
  return [b.subarray(0, i), b.subarray(i)];
}

function bytewise(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}

/** Same events for the whole input, every two-chunk split and byte-by-byte delivery. */
function assertSplitInvariant(input: Uint8Array, opts: RunOptions = {}): string[] {
  const whole = run([input], opts);
  for (let i = 0; i <= input.length; i++) {
    assert.deepEqual(run(splitAt(input, i), opts), whole, `split at byte ${i}`);
  }
  assert.deepEqual(run(bytewise(input), opts), whole, 'byte by byte');
  // Copies, not views into one buffer, too.
  assert.deepEqual(run(bytewise(input).map((c) => Uint8Array.from(c)), opts), whole, 'byte by byte (copies)');
  return whole;
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const SNS = 'xmlns:stream="http://etherx.jabber.org/streams"';
const H = `<stream:stream xmlns="jabber:client" ${SNS} to="example.com" version="1.0">`;
const HE = 'open <stream:stream{S} to="example.com" version="1.0">';
const DECL = '<?xml version="1.0"?>';
/** A short header for fixtures with small limits. */
const HS = '<s:s xmlns:s="u" xmlns="jabber:client">';
const HSE = 'open <s:s{u}>';

interface Fixture extends RunOptions {
  name: string;
  input: string | Uint8Array;
  events: string[];
}

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

const fixtures: Fixture[] = [
  // --- stream headers and XML declarations
  { name: 'plain header', input: H, events: [HE] },
  { name: 'header and close', input: `${H}</stream:stream>`, events: [HE, 'close'] },
  { name: 'xml decl, double quotes', input: DECL + H, events: [HE] },
  { name: 'xml decl with encoding UTF-8', input: `<?xml version="1.0" encoding="UTF-8"?>${H}`, events: [HE] },
  { name: 'xml decl, single quotes, lower-case utf-8', input: `<?xml version='1.0' encoding='utf-8'?>${H}`, events: [HE] },
  { name: 'xml decl with standalone and spaces', input: `<?xml  version = "1.0"  standalone='yes' ?>\n${H}`, events: [HE] },
  { name: 'leading white space before the decl tolerated', input: ` \r\n\t${DECL}${H}`, events: [HE] },
  { name: 'UTF-8 BOM', input: bytes([0xef, 0xbb, 0xbf], DECL + H), events: [HE] },
  { name: 'bad BOM', input: bytes([0xef, 0xbb, 0x00], H), events: ['error:not-well-formed'] },
  { name: 'UTF-16 BOM', input: bytes([0xfe, 0xff], H), events: ['error:unsupported-encoding'] },
  { name: 'encoding ISO-8859-1', input: `<?xml version="1.0" encoding="ISO-8859-1"?>${H}`, events: ['error:unsupported-encoding'] },
  { name: 'encoding UTF-16', input: `<?xml version='1.0' encoding='UTF-16'?>${H}`, events: ['error:unsupported-encoding'] },
  { name: 'decl without version', input: `<?xml encoding="UTF-8"?>${H}`, events: ['error:not-well-formed'] },
  { name: 'decl with junk', input: `<?xml version="1.0" foo="bar"?>${H}`, events: ['error:not-well-formed'] },
  { name: 'decl not closed with ?>', input: `<?xml version="1.0">${H}`, events: ['error:not-well-formed'] },
  { name: 'two decls', input: `${DECL}${DECL}${H}`, events: ['error:not-well-formed'] },
  { name: 'decl inside the stream', input: `${H}${DECL}`, events: [HE, 'error:not-well-formed'] },
  {
    name: 'XIFF 2 self-closed header, then stanzas in the same chunk',
    input:
      `${DECL}<stream:stream to="HOST" xmlns="jabber:client" ${SNS} version="1.0" />` +
      '<iq type="get" id="auth_1"><query xmlns="jabber:iq:auth"><username>u</username></query></iq>' +
      '<presence/>',
    events: [
      'open <stream:stream{S} to="HOST" version="1.0"> self',
      'el <iq{C} type="get" id="auth_1"><query{jabber:iq:auth}><username{jabber:iq:auth}>"u"</username></query></iq>',
      'el <presence{C}/>',
    ],
  },
  {
    name: 'self-closed header is closed by a later end tag',
    input: `<stream:stream xmlns="jabber:client" ${SNS}/><message><body>x</body></message></stream:stream>`,
    events: ['open <stream:stream{S}> self', 'el <message{C}><body{C}>"x"</body></message>', 'close'],
  },
  {
    name: 'flash:stream header without xmlns:stream',
    input:
      `${DECL}<flash:stream to="HOST" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">` +
      '<iq type="set" id="a"><query xmlns="jabber:iq:auth"><username>u</username><password>p</password><resource>r</resource></query></iq>' +
      '</flash:stream>',
    events: [
      'open <flash:stream{F} to="HOST" version="1.0">',
      'el <iq{C} type="set" id="a"><query{jabber:iq:auth}><username{jabber:iq:auth}>"u"</username><password{jabber:iq:auth}>"p"</password><resource{jabber:iq:auth}>"r"</resource></query></iq>',
      'close',
    ],
  },
  {
    name: 'flash:stream: stream: prefix is unbound',
    input: `<flash:stream xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash"><stream:features/>`,
    events: ['open <flash:stream{F}>', 'error:bad-namespace-prefix'],
  },
  {
    name: 'flash:stream closed by </stream:stream> is a mismatch',
    input: `<flash:stream xmlns:flash="http://www.jabber.com/streams/flash"></stream:stream>`,
    events: ['open <flash:stream{F}>', 'error:not-well-formed'],
  },
  {
    name: 'hxmpp header declares xmlns:xml',
    input: `<stream:stream xmlns="jabber:client" ${SNS} xmlns:xml="http://www.w3.org/XML/1998/namespace" xml:lang="en" version="1.0"><presence xml:lang="de"/>`,
    events: ['open <stream:stream{S} xml:lang{X}="en" version="1.0">', 'el <presence{C} xml:lang{X}="de"/>'],
  },
  {
    name: 'SparkWeb self-closed header with xml:lang',
    input: `<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns="jabber:client" ${SNS} to="d" xml:lang="en" version="1.0" />`,
    events: ['open <stream:stream{S} to="d" xml:lang{X}="en" version="1.0"> self'],
  },
  {
    name: 'server header with features in the same chunk',
    input:
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='localhost' version='1.0' xml:lang='en'>` +
      `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
    events: [
      'open <stream:stream{S} id="abc" from="localhost" version="1.0" xml:lang{X}="en">',
      'el <stream:features{S}><mechanisms{urn:ietf:params:xml:ns:xmpp-sasl}><mechanism{urn:ietf:params:xml:ns:xmpp-sasl}>"PLAIN"</mechanism></mechanisms></stream:features>',
    ],
  },
  { name: 'root with no namespace', input: '<root a="1"><x/></root>', events: ['open <root{} a="1">', 'el <x{}/>', 'close'] },

  // --- namespaces
  {
    name: 'nested default namespaces',
    input: `${H}<message to="a@b"><x xmlns="jabber:x:data" type="form"><field var="v"><value>1</value></field></x><body>hi</body></message>`,
    events: [
      HE,
      'el <message{C} to="a@b"><x{jabber:x:data} type="form"><field{jabber:x:data} var="v"><value{jabber:x:data}>"1"</value></field></x><body{C}>"hi"</body></message>',
    ],
  },
  {
    name: 'prefixed children and prefixed attributes',
    input: `${H}<iq type="set"><pubsub xmlns="http://jabber.org/protocol/pubsub"><p:items xmlns:p="urn:p" p:node="n" node="m"><p:item/></p:items></pubsub></iq>`,
    events: [
      HE,
      'el <iq{C} type="set"><pubsub{http://jabber.org/protocol/pubsub}><p:items{urn:p} p:node{urn:p}="n" node="m"><p:item{urn:p}/></p:items></pubsub></iq>',
    ],
  },
  {
    name: 'prefix shadowing is scoped per element',
    input: `${H}<a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c/></p:b><p:d/></a>`,
    events: [HE, 'el <a{C}><p:b{urn:2}><p:c{urn:2}/></p:b><p:d{urn:1}/></a>'],
  },
  {
    name: 'declaration after use on the same element',
    input: `${H}<q:a q:x="1" xmlns:q="urn:q"/>`,
    events: [HE, 'el <q:a{urn:q} q:x{urn:q}="1"/>'],
  },
  {
    name: 'xmlns="" undeclares the default namespace',
    input: `${H}<a><b xmlns=""><c/></b></a>`,
    events: [HE, 'el <a{C}><b{}><c{}/></b></a>'],
  },
  {
    name: 'stream prefix used by a stanza (stream:error)',
    input: `${H}<stream:error><not-well-formed xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
    events: [HE, 'el <stream:error{S}><not-well-formed{urn:ietf:params:xml:ns:xmpp-streams}/></stream:error>'],
  },
  { name: 'unbound element prefix', input: `${H}<p:a/>`, events: [HE, 'error:bad-namespace-prefix'] },
  { name: 'unbound attribute prefix', input: `${H}<a p:x="1"/>`, events: [HE, 'error:bad-namespace-prefix'] },
  { name: 'unbound prefix in the header', input: '<stream:stream xmlns="jabber:client">', events: ['error:bad-namespace-prefix'] },
  { name: 'element prefix xmlns', input: `${H}<xmlns:a/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'undeclaring a prefix', input: `${H}<a xmlns:p=""/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'rebinding xml', input: `${H}<a xmlns:xml="urn:x"/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'binding a prefix to the xml namespace', input: `${H}<a xmlns:x="http://www.w3.org/XML/1998/namespace"/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'declaring xmlns', input: `${H}<a xmlns:xmlns="urn:x"/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'name with two colons', input: `${H}<a:b:c xmlns:a="u"/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'name starting with a colon', input: `${H}<:a/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'local part starting with a digit', input: `${H}<a:1 xmlns:a="u"/>`, events: [HE, 'error:not-well-formed'] },

  // --- attributes
  { name: 'duplicate attribute', input: `${H}<a b="1" b="2"/>`, events: [HE, 'error:not-well-formed'] },
  {
    name: 'duplicate expanded attribute name',
    input: `${H}<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`,
    events: [HE, 'error:not-well-formed'],
  },
  { name: 'duplicate xmlns declaration', input: `${H}<a xmlns="u" xmlns="u"/>`, events: [HE, 'error:not-well-formed'] },
  {
    name: 'same local name, different namespaces is fine',
    input: `${H}<a xmlns:p="u" x="1" p:x="2"/>`,
    events: [HE, 'el <a{C} x="1" p:x{u}="2"/>'],
  },
  { name: 'missing white space between attributes', input: `${H}<a b="1"c="2"/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'unquoted attribute', input: `${H}<a b=1/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'attribute without value', input: `${H}<a b/>`, events: [HE, 'error:not-well-formed'] },
  { name: "'<' in an attribute value", input: `${H}<a b="<"/>`, events: [HE, 'error:not-well-formed'] },
  {
    name: "'>' and quotes in attribute values",
    input: `${H}<a b=">" c='"' d="'" e="a/>b"/>`,
    events: [HE, 'el <a{C} b=">" c="\\"" d="\'" e="a/>b"/>'],
  },
  {
    name: 'attribute value normalisation',
    input: `${H}<a b="x\ty\r\nz\rw\nv&#9;&#10;&#13;" c = 'q' />`,
    events: [HE, 'el <a{C} b="x y z w v\\t\\n\\r" c="q"/>'],
  },
  {
    name: 'predefined entities and char refs in attributes',
    input: `${H}<a b="&lt;&gt;&amp;&quot;&apos;&#65;&#x42;"/>`,
    events: [HE, 'el <a{C} b="<>&\\"\'AB"/>'],
  },
  {
    name: 'too many attributes',
    input: `${H}<a b="1" c="2" d="3" e="4" f="5"/>`,
    limits: { maxAttributes: 4 },
    events: [HE, 'error:policy-violation'],
  },
  {
    name: 'as many attributes as allowed',
    input: `${H}<a b="1" c="2" d="3" e="4"/>`,
    limits: { maxAttributes: 4 },
    events: [HE, 'el <a{C} b="1" c="2" d="3" e="4"/>'],
  },
  {
    name: 'namespace declarations count as attributes',
    input: `${HS}<a xmlns="u" xmlns:p="v" b="1"/>`,
    limits: { maxAttributes: 2 },
    events: [HSE, 'error:policy-violation'],
  },

  // --- text, CDATA, references
  {
    name: 'CDATA',
    input: `${H}<message><body>a<![CDATA[<b>&amp;]]>c</body></message>`,
    events: [HE, 'el <message{C}><body{C}>"a<b>&amp;c"</body></message>'],
  },
  { name: 'CDATA with brackets', input: `${H}<a><![CDATA[a]]b]]]></a>`, events: [HE, 'el <a{C}>"a]]b]"</a>'] },
  { name: 'empty CDATA', input: `${H}<a><![CDATA[]]></a>`, events: [HE, 'el <a{C}/>'] },
  { name: 'CDATA CRLF normalised', input: `${H}<a><![CDATA[x\r\ny\rz]]></a>`, events: [HE, 'el <a{C}>"x\\ny\\nz"</a>'] },
  { name: 'malformed CDATA start', input: `${H}<a><![CDAT[x]]></a>`, events: [HE, 'error:not-well-formed'] },
  { name: 'white-space CDATA between stanzas ignored', input: `${H}<![CDATA[ \n]]><a/>`, events: [HE, 'el <a{C}/>'] },
  { name: 'CDATA text between stanzas', input: `${H}<![CDATA[x]]>`, events: [HE, 'error:not-well-formed'] },
  { name: 'CDATA before the header', input: '<![CDATA[x]]>', events: ['error:not-well-formed'] },
  {
    name: 'character references',
    input: `${H}<a>&#65;&#x42;&#x1F600;&#0065;&#x00043;&#x10FFFF;</a>`,
    events: [HE, `el <a{C}>${JSON.stringify('AB\u{1F600}AC\u{10FFFF}')}</a>`],
  },
  {
    name: 'predefined entities in text',
    input: `${H}<a>&lt;b&gt; &amp;&amp; &quot;q&quot; &apos;</a>`,
    events: [HE, 'el <a{C}>"<b> && \\"q\\" \'"</a>'],
  },
  { name: "'>' in text is fine", input: `${H}<a>a > b ]> ]]</a>`, events: [HE, 'el <a{C}>"a > b ]> ]]"</a>'] },
  { name: "']]>' in text", input: `${H}<a>x]]>y</a>`, events: [HE, 'error:not-well-formed'] },
  { name: 'entity reference', input: `${H}<a>&nbsp;</a>`, events: [HE, 'error:restricted-xml'] },
  { name: 'entity reference in an attribute', input: `${H}<a b="&foo;"/>`, events: [HE, 'error:restricted-xml'] },
  { name: "stray '&'", input: `${H}<a>a & b</a>`, events: [HE, 'error:not-well-formed'] },
  { name: "'&' without ';'", input: `${H}<a>&amp</a>`, events: [HE, 'error:not-well-formed'] },
  { name: 'empty reference', input: `${H}<a>&;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#X41; (capital X)', input: `${H}<a>&#X41;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#x; (no digits)', input: `${H}<a>&#x;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#0;', input: `${H}<a>&#0;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#x1;', input: `${H}<a>&#x1;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#x1; in an attribute', input: `${H}<a b="&#x1;"/>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#xFFFE;', input: `${H}<a>&#xFFFE;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#xD800; (surrogate)', input: `${H}<a>&#xD800;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: '&#x110000;', input: `${H}<a>&#x110000;</a>`, events: [HE, 'error:not-well-formed'] },
  { name: 'huge char ref', input: `${H}<a>&#99999999999999999999;</a>`, events: [HE, 'error:not-well-formed'] },
  {
    name: 'text normalisation: CRLF and CR become LF, &#13; stays',
    input: `${H}<a>x\r\ny\rz&#13;\n</a>`,
    events: [HE, 'el <a{C}>"x\\ny\\nz\\r\\n"</a>'],
  },
  {
    name: 'white space inside stanzas is kept, adjacent text merged',
    input: `${H}<message> <body>x</body>\n<![CDATA[c]]>&amp;d</message>`,
    events: [HE, 'el <message{C}>" "<body{C}>"x"</body>"\\nc&d"</message>'],
  },
  {
    name: 'multi-byte UTF-8 in text, attributes and names',
    input: `${H}<café xmlns="urn:x" ñ="日本">€😀</café>`,
    events: [HE, 'el <café{urn:x} ñ="日本">"€😀"</café>'],
  },
  { name: 'U+FFFD in the input is fine', input: `${H}<a b="\uFFFD">\uFFFD</a>`, events: [HE, 'el <a{C} b="\uFFFD">"\uFFFD"</a>'] },

  // --- keepalives and depth-0 text
  {
    name: 'whitespace keepalives between stanzas',
    input: `${H} \n\t\r <a/>   \n <b/>  `,
    events: [HE, 'el <a{C}/>', 'el <b{C}/>'],
  },
  { name: 'text at depth 0', input: `${H}hello<a/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'char ref at depth 0', input: `${H}&#32;`, events: [HE, 'error:not-well-formed'] },
  { name: 'text before the header', input: `x${H}`, events: ['error:not-well-formed'] },
  { name: 'end tag before the header', input: '</stream:stream>', events: ['error:not-well-formed'] },
  { name: 'white space after the close', input: `${H}</stream:stream> \n `, events: [HE, 'close'] },
  { name: 'data after the close', input: `${H}</stream:stream><a/>`, events: [HE, 'close', 'error:not-well-formed'] },
  { name: 'text after the close', input: `${H}</stream:stream>x`, events: [HE, 'close', 'error:not-well-formed'] },

  // --- restricted XML (RFC 6120 §11.1)
  { name: 'comment in the prolog', input: `${DECL}<!-- hi -->${H}`, events: ['error:restricted-xml'] },
  { name: 'comment between stanzas', input: `${H}<!-- hi --><a/>`, events: [HE, 'error:restricted-xml'] },
  { name: 'comment inside a stanza', input: `${H}<a><!--x--></a>`, events: [HE, 'error:restricted-xml'] },
  { name: "malformed '<!-'", input: `${H}<a><!-x--></a>`, events: [HE, 'error:not-well-formed'] },
  { name: 'PI in the prolog', input: `${DECL}<?foo bar?>${H}`, events: ['error:restricted-xml'] },
  { name: 'PI xml-stylesheet', input: `<?xml-stylesheet href="x"?>${H}`, events: ['error:restricted-xml'] },
  { name: 'PI inside a stanza', input: `${H}<a><?php echo 1; ?></a>`, events: [HE, 'error:restricted-xml'] },
  {
    name: 'DOCTYPE',
    input: `${DECL}<!DOCTYPE stream [<!ENTITY x "y">]>${H}`,
    events: ['error:restricted-xml'],
  },
  { name: 'DOCTYPE inside the stream', input: `${H}<!DOCTYPE x>`, events: [HE, 'error:restricted-xml'] },
  { name: 'ENTITY declaration', input: `${H}<a><!ENTITY x "y"></a>`, events: [HE, 'error:restricted-xml'] },
  { name: "'<!' junk", input: `${H}<a><!1></a>`, events: [HE, 'error:not-well-formed'] },

  // --- structure
  { name: 'mismatched end tag', input: `${H}<a><b></a></b>`, events: [HE, 'error:not-well-formed'] },
  { name: 'end tag with a different prefix', input: `${H}<a xmlns:p="u" xmlns:q="u"><p:b></q:b></a>`, events: [HE, 'error:not-well-formed'] },
  { name: 'stream closed inside a stanza', input: `${H}<a></stream:stream>`, events: [HE, 'error:not-well-formed'] },
  { name: 'end tag with white space', input: `${H}<a></a \n></stream:stream >`, events: [HE, 'el <a{C}/>', 'close'] },
  { name: "'<' followed by space", input: `${H}< a/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'empty tag <>', input: `${H}<>`, events: [HE, 'error:not-well-formed'] },
  { name: 'end tag junk', input: `${H}<a></a b>`, events: [HE, 'error:not-well-formed'] },
  { name: 'invalid name start', input: `${H}<1a/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'invalid non-ASCII name', input: `${H}<a×b/>`, events: [HE, 'error:not-well-formed'] },
  { name: 'tag with slash in the middle', input: `${H}<a / >`, events: [HE, 'error:not-well-formed'] },

  // --- bytes and characters
  { name: 'invalid UTF-8 in text', input: bytes(`${H}<a>`, [0xc3, 0x28], '</a>'), events: [HE, 'error:not-well-formed'] },
  { name: 'invalid UTF-8 in an attribute', input: bytes(`${H}<a b="`, [0xff], '"/>'), events: [HE, 'error:not-well-formed'] },
  { name: 'invalid UTF-8 in a name', input: bytes(`${H}<a`, [0x80], '/>'), events: [HE, 'error:not-well-formed'] },
  { name: 'overlong UTF-8', input: bytes(`${H}<a>`, [0xc0, 0xaf], '</a>'), events: [HE, 'error:not-well-formed'] },
  { name: 'UTF-8-encoded surrogate', input: bytes(`${H}<a>`, [0xed, 0xa0, 0x80], '</a>'), events: [HE, 'error:not-well-formed'] },
  { name: 'truncated UTF-8 sequence', input: bytes(`${H}<a>`, [0xe2, 0x82], '</a>'), events: [HE, 'error:not-well-formed'] },
  { name: 'U+FFFF encoded', input: bytes(`${H}<a>`, [0xef, 0xbf, 0xbf], '</a>'), events: [HE, 'error:not-well-formed'] },
  { name: 'invalid UTF-8 between stanzas', input: bytes(H, [0xc3]), events: [HE, 'error:not-well-formed'] },
  { name: 'NUL byte in text', input: bytes(`${H}<a>x`, [0], '</a>'), events: [HE, 'error:not-well-formed'] },
  { name: 'NUL byte after a stanza', input: bytes(`${H}<a/>`, [0]), events: [HE, 'el <a{C}/>', 'error:not-well-formed'] },
  { name: 'NUL byte after the header', input: bytes(H, [0]), events: [HE, 'error:not-well-formed'] },
  { name: 'NUL byte in an attribute', input: bytes(`${H}<a b="`, [0], '"/>'), events: [HE, 'error:not-well-formed'] },
  { name: 'control character in text', input: bytes(`${H}<a>`, [0x1b], '</a>'), events: [HE, 'error:not-well-formed'] },
  { name: 'control character in CDATA', input: bytes(`${H}<a><![CDATA[`, [0x07], ']]></a>'), events: [HE, 'error:not-well-formed'] },

  // --- limits
  {
    name: 'stanza exactly at maxStanzaBytes',
    input: `${HS}<m>${'a'.repeat(57)}</m>`,
    limits: { maxStanzaBytes: 64 },
    events: [HSE, `el <m{C}>"${'a'.repeat(57)}"</m>`],
  },
  {
    name: 'stanza one byte over maxStanzaBytes',
    input: `${HS}<m>${'a'.repeat(58)}</m>`,
    limits: { maxStanzaBytes: 64 },
    events: [HSE, 'error:policy-violation'],
  },
  {
    name: 'too big stanza made of small tags',
    input: `${HS}<m>${'<b/>'.repeat(40)}</m>`,
    limits: { maxStanzaBytes: 64 },
    events: [HSE, 'error:policy-violation'],
  },
  {
    name: 'too big stanza: the size wins over later errors',
    input: `${HS}<m>${'a'.repeat(80)}&foo;</m>`,
    limits: { maxStanzaBytes: 64 },
    events: [HSE, 'error:policy-violation'],
  },
  {
    name: 'small stanzas under a small limit',
    input: `${HS}${'<m>x</m>'.repeat(30)}`,
    limits: { maxStanzaBytes: 40 },
    events: [HSE, ...Array<string>(30).fill('el <m{C}>"x"</m>')],
  },
  {
    name: 'header larger than maxStanzaBytes',
    input: `<stream:stream ${SNS} to="${'x'.repeat(80)}">`,
    limits: { maxStanzaBytes: 96 },
    events: ['error:policy-violation'],
  },
  {
    name: 'a tag that never ends',
    input: `${H}<a b="${'x'.repeat(200)}`,
    limits: { maxStanzaBytes: 128 },
    events: [HE, 'error:policy-violation'],
  },
  {
    name: 'a PI target that never ends',
    input: `<?${'x'.repeat(200)}`,
    limits: { maxStanzaBytes: 128 },
    events: ['error:policy-violation'],
  },
  {
    name: 'depth at maxDepth',
    input: `${H}<a><b><c/></b></a>`,
    limits: { maxDepth: 3 },
    events: [HE, 'el <a{C}><b{C}><c{C}/></b></a>'],
  },
  {
    name: 'too deep',
    input: `${H}<a><b><c><d/></c></b></a>`,
    limits: { maxDepth: 3 },
    events: [HE, 'error:policy-violation'],
  },

  // --- restart()
  {
    name: 'restart inside streamOpen, new header in the same chunk',
    input: `${H}${DECL}<stream:stream xmlns="jabber:client" ${SNS} id="2"><a/>`,
    restartOn: (e) => e === HE,
    events: [HE, 'open <stream:stream{S} id="2">', 'el <a{C}/>'],
  },
  {
    name: 'restart inside element (SASL success), new decl and header in the same chunk',
    input:
      `${H}<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>` +
      `\n<?xml version='1.0'?><stream:stream xmlns='jabber:client' ${SNS} id='2' version='1.0'/><iq/></stream:stream>`,
    restartOn: (e) => e.startsWith('el <success'),
    events: [
      HE,
      'el <success{urn:ietf:params:xml:ns:xmpp-sasl}/>',
      'open <stream:stream{S} id="2" version="1.0"> self',
      'el <iq{C}/>',
      'close',
    ],
  },
  {
    name: 'restart forgets the old namespace scope',
    input: `${H}<proceed/><flash:stream xmlns:flash="http://www.jabber.com/streams/flash"><stream:features/>`,
    restartOn: (e) => e.startsWith('el <proceed'),
    events: [HE, 'el <proceed{C}/>', 'open <flash:stream{F}>', 'error:bad-namespace-prefix'],
  },
  {
    name: 'restart inside streamClose',
    input: `${H}</stream:stream>${H}<a/>`,
    restartOn: (e) => e === 'close',
    events: [HE, 'close', HE, 'el <a{C}/>'],
  },
  {
    name: 'without restart a second header is just a stanza',
    input: `${H}${H}`,
    events: [HE],
  },
  {
    name: 'without restart a decl after a stanza is refused',
    input: `${H}<success/>${DECL}${H}`,
    events: [HE, 'el <success{C}/>', 'error:not-well-formed'],
  },
];

describe('XmlStreamParser fixtures', () => {
  for (const f of fixtures) {
    test(f.name, () => {
      const input = enc(f.input);
      const whole = assertSplitInvariant(input, f);
      assert.deepEqual(brief(whole), f.events);
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('XmlStreamParser behaviour', () => {
  function collector(limits?: XmlLimits) {
    const events: string[] = [];
    const parser = new XmlStreamParser(
      {
        streamOpen: (h, s) => events.push(`open ${qn(h)}${s ? ' self' : ''}`),
        element: (e) => events.push(`el ${show(e)}`),
        streamClose: () => events.push('close'),
      },
      limits,
    );
    return { events, parser };
  }

  test('after an error every write throws the same error', () => {
    const { parser } = collector();
    parser.write(enc(H));
    let first: unknown;
    assert.throws(
      () => parser.write(enc('<a><!-- x --></a>')),
      (e: unknown) => {
        first = e;
        return e instanceof StreamError && e.condition === 'restricted-xml';
      },
    );
    assert.throws(() => parser.write(enc('<a/>')), (e: unknown) => e === first);
    assert.throws(() => parser.write(new Uint8Array(0)), (e: unknown) => e === first);
    parser.restart();
    assert.throws(() => parser.write(enc(H)), (e: unknown) => e === first);
    assert.equal(parser.bytesBuffered, 0);
  });

  test('bytesBuffered counts only an unfinished token and is released', () => {
    const { parser, events } = collector();
    parser.write(enc(H));
    assert.equal(parser.bytesBuffered, 0);
    parser.write(enc('<message to="a'));
    assert.equal(parser.bytesBuffered, 14);
    parser.write(enc('@b"><body>hel'));
    assert.equal(parser.bytesBuffered, 3);
    parser.write(enc('lo</body></message>   '));
    assert.equal(parser.bytesBuffered, 0);
    assert.deepEqual(events, ['open stream:stream', 'el <message{C} to="a@b"><body{C}>"hello"</body></message>']);
  });

  test('whitespace keepalives are never buffered', () => {
    const { parser } = collector({ ...DEFAULT_XML_LIMITS, maxStanzaBytes: 64 });
    parser.write(enc(HS));
    const ws = enc(' \n'.repeat(4096));
    for (let i = 0; i < 256; i++) parser.write(ws);
    assert.equal(parser.bytesBuffered, 0);
  });

  test('restart() between writes re-parses the pending bytes as the new stream', () => {
    const { parser, events } = collector();
    parser.write(enc(`${H}<success/><?xm`));
    parser.restart();
    parser.write(enc(`l version="1.0"?>${H}<a/>`));
    assert.deepEqual(events, ['open stream:stream', 'el <success{C}/>', 'open stream:stream', 'el <a{C}/>']);
  });

  test('restart() from streamOpen of a self-closed header', () => {
    const events: string[] = [];
    let n = 0;
    const parser: XmlStreamParser = new XmlStreamParser({
      streamOpen: (h, s) => {
        events.push(`open ${h.attrs.map((a) => a.value).join(',')} ${s}`);
        if (n++ === 0) parser.restart();
      },
      element: (e) => events.push(`el ${e.local}`),
      streamClose: () => events.push('close'),
    });
    parser.write(enc(`<s:s xmlns:s="u" id="1"/><s:s xmlns:s="u" id="2"/><a/></s:s>`));
    assert.deepEqual(events, ['open 1 true', 'open 2 true', 'el a', 'close']);
  });

  test('an exception thrown by the handler propagates and poisons the parser', () => {
    const boom = new Error('boom');
    const parser = new XmlStreamParser({
      streamOpen() {},
      element() {
        throw boom;
      },
      streamClose() {},
    });
    assert.throws(() => parser.write(enc(`${H}<a/><b/>`)), (e: unknown) => e === boom);
    assert.throws(() => parser.write(enc('<c/>')), (e: unknown) => e === boom);
  });

  test('write() from inside a callback is refused', () => {
    const parser: XmlStreamParser = new XmlStreamParser({
      streamOpen() {
        parser.write(enc('<a/>'));
      },
      element() {},
      streamClose() {},
    });
    assert.throws(() => parser.write(enc(H)), /inside a handler/);
  });

  test('accepts Uint8Array views with offsets and Buffers from the pool', () => {
    const all = enc(`${H}<a b="1">x</a>`);
    const big = new Uint8Array(all.length + 20);
    big.set(all, 10);
    const { parser, events } = collector();
    parser.write(big.subarray(10, 10 + 30));
    parser.write(big.subarray(10 + 30, 10 + all.length));
    assert.deepEqual(events, ['open stream:stream', 'el <a{C} b="1">"x"</a>']);
  });

  test('a 10 MiB text stanza is refused with no more than maxStanzaBytes buffered (64 KiB chunks)', () => {
    const { parser } = collector();
    parser.write(enc(H));
    parser.write(enc('<message><body>'));
    const chunk = Buffer.alloc(65536, 'a');
    let maxBuffered = 0;
    let error: unknown;
    let written = 0;
    try {
      for (; written < 10 * 1024 * 1024; written += chunk.length) {
        parser.write(chunk);
        maxBuffered = Math.max(maxBuffered, parser.bytesBuffered);
      }
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof StreamError && error.condition === 'policy-violation', String(error));
    assert.match((error as StreamError).text, /maxStanzaBytes/);
    assert.ok(maxBuffered <= DEFAULT_XML_LIMITS.maxStanzaBytes + 64, `buffered ${maxBuffered}`);
    assert.ok(written <= DEFAULT_XML_LIMITS.maxStanzaBytes + chunk.length, `noticed only after ${written} bytes`);
    assert.equal(parser.bytesBuffered, 0);
  });

  test('a 10 MiB stanza in one write is refused without buffering it', () => {
    const { parser } = collector();
    parser.write(enc(H));
    const big = Buffer.alloc(10 * 1024 * 1024, 'a');
    big.write('<message><body>', 0, 'latin1');
    assert.throws(() => parser.write(big), (e: unknown) => e instanceof StreamError && e.condition === 'policy-violation');
    assert.equal(parser.bytesBuffered, 0);
  });

  test('a 10 MiB attribute value in 1 KiB chunks is refused early', () => {
    const { parser } = collector();
    parser.write(enc(`${H}<message to="`));
    const chunk = Buffer.alloc(1024, 'a');
    let maxBuffered = 0;
    let n = 0;
    assert.throws(() => {
      for (; n < 10240; n++) {
        parser.write(chunk);
        maxBuffered = Math.max(maxBuffered, parser.bytesBuffered);
      }
    }, (e: unknown) => e instanceof StreamError && e.condition === 'policy-violation');
    assert.ok(maxBuffered <= DEFAULT_XML_LIMITS.maxStanzaBytes + 64);
    assert.ok(n <= 257, `noticed after ${n} KiB`);
  });

  test('a too big stanza in 1-byte chunks (default limits)', () => {
    const { parser } = collector();
    parser.write(enc(`${H}<message><body>`));
    const one = enc('a');
    let n = 0;
    assert.throws(() => {
      for (; n < 300000; n++) parser.write(one);
    }, (e: unknown) => e instanceof StreamError && e.condition === 'policy-violation');
    // '<message><body>' is 15 bytes: the 262130th 'a' makes the stanza one byte too big.
    assert.equal(n, DEFAULT_XML_LIMITS.maxStanzaBytes - 15);
  });

  test('slow drip: ~256 KiB stanzas one byte per write stay linear', () => {
    const size = DEFAULT_XML_LIMITS.maxStanzaBytes - 200;
    const inputs = [
      `<message><body>${'x'.repeat(size)}</body></message>`,
      `<message to="${'x'.repeat(size)}"/>`,
      `<message><![CDATA[${'x'.repeat(size)}]]></message>`,
      `<message>${'<a/>'.repeat(size / 4)}</message>`,
      `<message>${'&amp;'.repeat(size / 5)}</message>`,
    ];
    for (const input of inputs) {
      const { parser, events } = collector();
      parser.write(enc(H));
      const b = enc(input);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < b.length; i++) parser.write(b.subarray(i, i + 1));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal(events.length, 2, input.slice(0, 20));
      assert.equal(parser.bytesBuffered, 0);
      // Quadratic rescanning would take minutes here; linear takes well under a second.
      assert.ok(ms < 5000, `${input.slice(0, 20)}: ${ms} ms`);
    }
  });

  test('large input in random chunk sizes (pending token, then a big chunk) gives the same events', () => {
    const stanzas = [
      '<message to="a@b/c" type="chat" id="x1"><body>héllo &amp; bye</body></message>',
      `<iq type="result"><query xmlns="jabber:iq:roster">${'<item jid="u@h" name="Ü"/>'.repeat(40)}</query></iq>`,
      `<message><body>${'long text 😀 '.repeat(2000)}</body></message>`,
      `<presence><status><![CDATA[${'c'.repeat(9000)}]]></status></presence>`,
      `<x a="${'v'.repeat(7000)}"/>`,
      ' \n ',
    ];
    const r = prng(42);
    let doc = H;
    for (let i = 0; i < 300; i++) doc += stanzas[Math.floor(r() * stanzas.length)];
    const input = enc(doc);
    const whole = run([input]);
    assert.ok(whole.length > 200);
    for (let round = 0; round < 20; round++) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < input.length; ) {
        const size = 1 + Math.floor(r() * (r() < 0.5 ? 64 : 40000));
        chunks.push(input.subarray(i, i + size));
        i += size;
      }
      assert.deepEqual(run(chunks), whole);
    }
  });

  test('many stanzas per chunk, many chunks per stanza', () => {
    const stanza = '<message to="a@b/c" type="chat" id="x1"><body>héllo &amp; bye</body></message>';
    const input = enc(H + stanza.repeat(500));
    for (const size of [1, 7, 64, 1500, 65536]) {
      const { parser, events } = collector();
      for (let i = 0; i < input.length; i += size) parser.write(input.subarray(i, i + size));
      assert.equal(events.length, 501);
      assert.equal(events[500], 'el <message{C} to="a@b/c" type="chat" id="x1"><body{C}>"héllo & bye"</body></message>');
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('parseFragment', () => {
  test('elements and text with the default namespace in scope', () => {
    const nodes = parseFragment('hi <b x="1">t&amp;</b> <c:d xmlns:c="urn:c"/>');
    assert.deepEqual(nodes.map(show), ['"hi "', '<b{C} x="1">"t&"</b>', '" "', '<c:d{urn:c}/>']);
  });

  test('another default namespace, or none', () => {
    assert.deepEqual(parseFragment('<a/>', DEFAULT_XML_LIMITS, 'urn:x').map(show), ['<a{urn:x}/>']);
    assert.deepEqual(parseFragment('<a/>', DEFAULT_XML_LIMITS, '').map(show), ['<a{}/>']);
    assert.deepEqual(parseFragment('<a xmlns="urn:y"><b/></a>').map(show), ['<a{urn:y}><b{urn:y}/></a>']);
  });

  test('text only, empty, CDATA at the top level', () => {
    assert.deepEqual(parseFragment('just text'), ['just text']);
    assert.deepEqual(parseFragment(''), []);
    assert.deepEqual(parseFragment('a<![CDATA[<b>]]>c'), ['a<b>c']);
  });

  const bad: [string, string][] = [
    ['<a>', 'not-well-formed'],
    ['</a>', 'not-well-formed'],
    ['<a></b>', 'not-well-formed'],
    ['<a', 'not-well-formed'],
    ['x<a/>y<', 'not-well-formed'],
    ['<a><!--c--></a>', 'restricted-xml'],
    ['<?xml version="1.0"?><a/>', 'not-well-formed'],
    ['<?pi x?>', 'restricted-xml'],
    ['<!DOCTYPE a>', 'restricted-xml'],
    ['&ent;', 'restricted-xml'],
    ['<p:a/>', 'bad-namespace-prefix'],
    ['<a b="1" b="2"/>', 'not-well-formed'],
    ['a\u0000b', 'not-well-formed'],
    ['&#0;', 'not-well-formed'],
    ['a & b', 'not-well-formed'],
    ['\uD800', 'not-well-formed'],
    ['x]]>', 'not-well-formed'],
  ];
  for (const [xml, condition] of bad) {
    test(`refuses ${JSON.stringify(xml)} with ${condition}`, () => {
      assert.throws(() => parseFragment(xml), (e: unknown) => e instanceof StreamError && e.condition === condition);
    });
  }

  test('limits apply per top-level element and to the text', () => {
    const limits: XmlLimits = { maxStanzaBytes: 32, maxDepth: 2, maxAttributes: 2 };
    assert.equal(parseFragment(`<a>${'x'.repeat(25)}</a><a>${'x'.repeat(25)}</a>`, limits).length, 2);
    const violates = (xml: string) =>
      assert.throws(() => parseFragment(xml, limits), (e: unknown) => e instanceof StreamError && e.condition === 'policy-violation', xml);
    violates(`<a>${'x'.repeat(26)}</a>`);
    violates('x'.repeat(40));
    violates('<a><b><c/></b></a>');
    violates('<a b="1" c="2" d="3"/>');
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests

/** Everything thrown is a StreamError; whole and randomly chunked input give the same events. */
function checkRobust(input: Uint8Array, cuts: number[]): void {
  const whole = run([input]);
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(input.subarray(last, p));
    last = p;
  }
  chunks.push(input.subarray(last));
  assert.deepEqual(run(chunks), whole);
}

const SOUP = [
  '<', '>', '/>', '</', 'a', 'b:c', 'stream:stream', ' ', '\n', '=', '"', "'", 'x="1"', 'xmlns="u"',
  'xmlns:b="v"', 'xmlns:stream="http://etherx.jabber.org/streams"', '&', ';', '&amp;', '&#x41;', '&#0;', '#',
  '<?xml version="1.0"?>', '<?', '?>', '<!--', '-->', '<![CDATA[', ']]>', '<!DOCTYPE', 'é', '😀', '\u0000',
  '\uFFFF', '<a>', '</a>', '<stream:stream xmlns:stream="http://etherx.jabber.org/streams">', '</stream:stream>',
];

describe('XmlStreamParser properties', () => {
  test('random bytes: only StreamError, split-invariant', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (input, cuts) => {
        checkRobust(input, cuts);
      }),
      { numRuns: 1000 },
    );
  });

  test('random XML-ish token soup: only StreamError, split-invariant', () => {
    const soup = fc.array(
      fc.oneof(fc.constantFrom(...SOUP), fc.uint8Array({ maxLength: 3 }).map((b) => Buffer.from(b).toString('latin1'))),
      { maxLength: 60 },
    );
    fc.assert(
      fc.property(soup, fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (parts, cuts, withHeader) => {
        const text = (withHeader ? H : '') + parts.join('');
        checkRobust(enc(text), cuts);
      }),
      { numRuns: 2000 },
    );
  });

  test('random bytes with small limits: only StreamError, split-invariant, bounded buffer', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...SOUP), { maxLength: 80 }), fc.array(fc.nat(), { maxLength: 12 }), (parts, cuts) => {
        const input = enc(H + parts.join(''));
        const limits = { maxStanzaBytes: 40, maxDepth: 3, maxAttributes: 3 };
        const whole = run([input], { limits });
        const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(input.subarray(last, p));
          last = p;
        }
        chunks.push(input.subarray(last));
        assert.deepEqual(run(chunks, { limits }), whole);
        const parser = new XmlStreamParser({ streamOpen() {}, element() {}, streamClose() {} }, limits);
        try {
          for (const c of chunks) {
            parser.write(c);
            assert.ok(parser.bytesBuffered <= 41);
          }
        } catch (e) {
          if (!(e instanceof StreamError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Differential test against saxes on generated well-formed documents

const CHARS = ['a', 'b', ' ', '<', '>', '&', ']', '"', "'", '\n', '\r', '\t', 'é', '日', '😀', '\uFFFD', '=', ';', '#'];
const textArb = fc.array(fc.constantFrom(...CHARS), { maxLength: 8 }).map((a) => a.join(''));
const nameArb = fc.constantFrom('message', 'body', 'x', 'item', 'é', 'data-1', 'a.b', '中文', 'q_', 'stream');
const attrArb: fc.Arbitrary<GenAttr> = fc.oneof(
  fc.record({ prefix: fc.constant(''), ns: fc.constant(''), local: fc.constantFrom('id', 'to', 'type', 'é', 'v-1'), value: textArb }),
  fc.record({ prefix: fc.constant('xml'), ns: fc.constant(NS.xml), local: fc.constantFrom('lang', 'space'), value: textArb }),
  fc.record({
    prefix: fc.constantFrom('a', 'b', 'p'),
    ns: fc.constantFrom('urn:a', 'urn:b', 'urn:c'),
    local: fc.constantFrom('id', 'x', 'ü'),
    value: textArb,
  }),
);
const elArb: fc.Arbitrary<GenEl> = fc.letrec<{ el: GenEl }>((tie) => ({
  el: fc.record({
    prefix: fc.constantFrom('', '', 'a', 'b', 'stream'),
    ns: fc.constantFrom('jabber:client', 'urn:a', 'urn:b', NS.stream, ''),
    local: nameArb,
    attrs: fc.array(attrArb, { maxLength: 4 }),
    children: fc.array(fc.oneof({ depthSize: 'small', maxDepth: 4 }, textArb, tie('el')), { maxLength: 4 }),
  }),
})).el;


/** A tiny deterministic PRNG for syntax choices. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Writes an element with randomly varied (but well-formed) syntax. */
function noisy(el: XmlElement, scope: Map<string, string>, r: () => number): string {
  const pick = <T>(...xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ws = () => pick(' ', ' ', '  ', '\n', '\t', '\r\n');
  const local = new Map(scope);
  let decls = '';
  const declare = (p: string, ns: string) => {
    decls += `${ws()}${p === '' ? 'xmlns' : `xmlns:${p}`}=${quote(ns, r)}`;
    local.set(p, ns);
  };
  if ((local.get(el.prefix) ?? (el.prefix === '' ? '' : undefined)) !== el.ns || r() < 0.1) declare(el.prefix, el.ns);
  for (const a of el.attrs) {
    if (a.prefix !== '' && a.prefix !== 'xml' && local.get(a.prefix) !== a.ns) declare(a.prefix, a.ns);
  }
  if (r() < 0.1) declare('z', 'urn:unused');
  const q = el.prefix ? `${el.prefix}:${el.local}` : el.local;
  let attrs = '';
  for (const a of el.attrs) {
    attrs += `${ws()}${a.prefix ? `${a.prefix}:` : ''}${a.local}${pick('', ' ')}=${pick('', ' ', '\n')}${quote(a.value, r)}`;
  }
  // Declarations and attributes interleave freely.
  const head = r() < 0.5 ? decls + attrs : attrs + decls;
  let content = '';
  for (const c of el.children) content += typeof c === 'string' ? noisyText(c, r) : noisy(c, local, r);
  if (content === '' && r() < 0.6) return `<${q}${head}${pick('', ' ', '\n')}/>`;
  return `<${q}${head}${pick('', ' ')}>${content}</${q}${pick('', ' ', '\n ')}>`;
}

function charRef(c: string, r: () => number): string {
  const cp = c.codePointAt(0)!;
  return r() < 0.5 ? `&#${cp};` : `&#x${cp.toString(16)};`;
}

function quote(v: string, r: () => number): string {
  const qc = r() < 0.5 ? '"' : "'";
  let out = '';
  for (const c of v) {
    if (c === qc) out += qc === '"' ? '&quot;' : '&apos;';
    else if (c === '<') out += r() < 0.5 ? '&lt;' : charRef(c, r);
    else if (c === '&') out += r() < 0.5 ? '&amp;' : charRef(c, r);
    else if (r() < 0.15) out += charRef(c, r);
    else out += c; // literal TAB/LF/CR get normalised by both parsers
  }
  return qc + out + qc;
}

function noisyText(t: string, r: () => number): string {
  let out = '';
  let inCdata = false;
  for (const c of t) {
    if (!inCdata && r() < 0.1) {
      out += '<![CDATA[';
      inCdata = true;
    } else if (inCdata && r() < 0.2) {
      out += ']]>';
      inCdata = false;
    }
    if (inCdata) {
      if (c === '>' && out.endsWith(']]')) {
        out += ']]>&gt;<![CDATA[';
      } else {
        out += c;
      }
      continue;
    }
    if (c === '<') out += r() < 0.5 ? '&lt;' : charRef(c, r);
    else if (c === '&') out += r() < 0.5 ? '&amp;' : charRef(c, r);
    else if (c === '>') out += out.endsWith(']]') || r() < 0.5 ? '&gt;' : '>';
    else if (c === '"' || c === "'") out += r() < 0.3 ? (c === '"' ? '&quot;' : '&apos;') : c;
    else if (r() < 0.1) out += charRef(c, r);
    else out += c;
  }
  if (inCdata) out += ']]>';
  return out;
}

const XMLNS_URI = 'http://www.w3.org/2000/xmlns/';

function saxesTree(doc: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const addText = (t: string) => {
    const top = stack[stack.length - 1];
    if (top === undefined || t === '') return;
    const last = top.children[top.children.length - 1];
    if (typeof last === 'string') top.children[top.children.length - 1] = last + t;
    else top.children.push(t);
  };
  parser.on('opentag', (t) => {
    const attrs = Object.values(t.attributes)
      .filter((a) => a.uri !== XMLNS_URI)
      .map((a) => ({ prefix: a.prefix, local: a.local, ns: a.uri, value: a.value }));
    const el: XmlElement = { prefix: t.prefix, local: t.local, ns: t.uri, attrs, children: [] };
    stack[stack.length - 1]?.children.push(el);
    stack.push(el);
    root ??= el;
  });
  parser.on('closetag', () => void stack.pop());
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.on('error', (e) => {
    throw e;
  });
  parser.write(doc).close();
  return root!;
}

describe('differential test against saxes', () => {
  test('generated well-formed streams give the same elements, attributes and text', () => {
    fc.assert(
      fc.property(fc.array(elArb, { minLength: 1, maxLength: 4 }), fc.integer(), fc.array(fc.nat(), { maxLength: 6 }), (gens, seed, cuts) => {
        const r = prng(seed);
        const stanzas = gens.map(toExpressible);
        const scope = new Map([
          ['', 'jabber:client'],
          ['stream', NS.stream],
        ]);
        const header = `<stream:stream xmlns="jabber:client" xmlns:stream="${NS.stream}" to="x" xml:lang="en">`;
        const doc =
          (r() < 0.5 ? "<?xml version='1.0' encoding='UTF-8'?>\n" : '') +
          header +
          stanzas.map((s) => (r() < 0.5 ? ' \n' : '') + noisy(s, scope, r)).join('') +
          '</stream:stream>';
        const ref = saxesTree(doc);
        const refStanzas = ref.children.filter((c): c is XmlElement => typeof c !== 'string');
        const expected = [
          `open ${show({ ...ref, children: [] }).slice(0, -2)}>`,
          ...refStanzas.map((s) => `el ${show(s)}`),
          'close',
        ];
        const input = enc(doc);
        const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(input.subarray(last, p));
          last = p;
        }
        chunks.push(input.subarray(last));
        assert.deepEqual(run(chunks), expected, doc);
      }),
      { numRuns: 500 },
    );
  });
});

test('bad references are reported without their text: a password may hold them, and errors are logged', () => {
  for (const body of ['Amp&Secret-Ref-123;x', 'a&#Secret-Ref-123;', 'a&#x110000;Secret-Ref-123', 'b&Secret-Ref-123 ;']) {
    assert.throws(
      () => parseFragment(`<password>${body}</password>`, DEFAULT_XML_LIMITS, NS.client),
      (error: unknown) => error instanceof StreamError && !error.text.includes('Secret-Ref') && !error.message.includes('Secret-Ref'),
      body,
    );
  }
});
