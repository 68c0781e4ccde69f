/**
 * Hostile input on the TCP transports (the main Flash port in raw and NUL mode, the policy
 * port): malformed and truncated XML, DTDs and entities, oversized and deeply nested stanzas,
 * invalid UTF-8, NULs in odd places, unbound prefixes, garbage before a policy request,
 * slow-drip and idle connections, a connection flood from one address, oversized SASL and
 * iq:auth payloads. Each case checks (a)–(d) of test/support/hostile.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  EVIL_DOMAIN,
  FLOOD_ADDRESS,
  LIMITS,
  OTHER_ADDRESS,
  RawConn,
  expectStreamError,
  flashHeader,
  hostileTest,
  rawSaslLogin,
  startHostileEnv,
  streamErrorIn,
  waitFeatures,
  xiffHeader,
  type HostileContext,
  type HostileEnv,
  assertTimedOut,
} from '../support/hostile.js';

const USERS: [string, string][] = [
  ['alice', 'alice-secret'],
  ['bob', 'bob-secret'],
];

let env: HostileEnv;
const hostile = (name: string, body: (ctx: HostileContext) => Promise<void>): void => hostileTest(() => env, name, body);

const STREAM_NS = 'xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams"';
/** The start of a billion-laughs DTD: ten entities, each ten times the one before. */
const LAUGHS =
  '<!DOCTYPE lolz [<!ENTITY lol "lol">' +
  Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('') +
  ']>';
const XXE = '<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>';
const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

interface XmlCase {
  readonly name: string;
  /** 'raw': after a raw-mode header and its features; 'nul': after an XMLSocket header; 'start': the payload opens the connection. */
  readonly at: 'raw' | 'nul' | 'start';
  readonly payload: (marker: string, domain: string) => string | Buffer;
  readonly condition: string;
  readonly text?: RegExp;
}

const CASES: readonly XmlCase[] = [
  // Malformed and truncated XML
  { name: 'malformed: an end tag that does not match', at: 'raw', payload: (m) => `<message id="${m}"><body>oops</message>`, condition: 'not-well-formed', text: /does not match/ },
  { name: 'malformed: a start tag cut short by another tag', at: 'raw', payload: (m) => `<message id="${m}" to="x"<body/></message>`, condition: 'not-well-formed' },
  { name: 'malformed: an unquoted attribute value', at: 'raw', payload: (m) => `<message id=${m}><body/></message>`, condition: 'not-well-formed', text: /not quoted/ },
  { name: 'malformed: an end tag with no start tag', at: 'raw', payload: () => '</message>', condition: 'not-well-formed', text: /does not match the stream element/ },
  { name: 'malformed: text between stanzas', at: 'raw', payload: (m) => `hello<message id="${m}"/>`, condition: 'not-well-formed', text: /text outside stanzas/ },
  { name: "malformed: an '&' that starts no reference", at: 'raw', payload: (m) => `<message id="${m}"><body>fish & chips</body></message>`, condition: 'not-well-formed', text: /reference/ },
  { name: 'malformed: an XML declaration inside the stream', at: 'raw', payload: (m) => `<?xml version="1.0"?><message id="${m}"/>`, condition: 'not-well-formed', text: /XML declaration/ },
  {
    name: 'truncated: a stream header cut in an attribute, then markup',
    at: 'start',
    payload: (_m, d) => `<?xml version="1.0"?><stream:stream to="${d}" ${STREAM_NS} version=<stream:features/>`,
    condition: 'not-well-formed',
  },
  // DTDs and entities (RFC 6120 §11.1)
  { name: 'billion laughs: a DTD with nested internal entities before the header', at: 'start', payload: (_m, d) => `<?xml version="1.0"?>${LAUGHS}<stream:stream to="${d}" ${STREAM_NS} version="1.0">`, condition: 'restricted-xml', text: /DTD/ },
  { name: 'billion laughs: the DTD inside the stream, then &lol9;', at: 'raw', payload: (m) => `${LAUGHS}<message id="${m}"><body>&lol9;</body></message>`, condition: 'restricted-xml', text: /DTD/ },
  { name: 'an entity reference never declared (&lol9;)', at: 'raw', payload: (m) => `<message id="${m}"><body>&lol9;</body></message>`, condition: 'restricted-xml', text: /entity reference is not allowed/ },
  { name: 'external entity: SYSTEM file:///etc/passwd before the header', at: 'start', payload: (_m, d) => `<?xml version="1.0"?>${XXE}<stream:stream to="${d}" ${STREAM_NS} version="1.0">`, condition: 'restricted-xml', text: /DTD/ },
  { name: 'external entity: SYSTEM file:///etc/passwd inside the stream, then &xxe;', at: 'raw', payload: (m) => `${XXE}<message id="${m}"><body>&xxe;</body></message>`, condition: 'restricted-xml' },
  { name: 'external parameter entity: <!ENTITY % SYSTEM> inside the stream', at: 'raw', payload: (m) => `<!ENTITY % xxe SYSTEM "file:///etc/passwd"><message id="${m}"/>`, condition: 'restricted-xml', text: /markup declarations/ },
  { name: 'a comment', at: 'raw', payload: (m) => `<!-- ${m} --><message id="${m}"/>`, condition: 'restricted-xml' },
  { name: 'a processing instruction', at: 'raw', payload: (m) => `<?evil ${m}?><message id="${m}"/>`, condition: 'restricted-xml', text: /processing instructions/ },
  // Sizes
  { name: 'oversized: a stanza over --max-stanza-bytes', at: 'raw', payload: (m) => `<message id="${m}"><body>${'x'.repeat(5000)}</body></message>`, condition: 'policy-violation', text: /4096/ },
  { name: 'oversized: an attribute value that never ends', at: 'raw', payload: (m) => `<message id="${m}" to="${'a'.repeat(6000)}`, condition: 'policy-violation', text: /4096/ },
  { name: 'oversized: a stream header over the limit', at: 'start', payload: (_m, d) => `<stream:stream to="${d}" ${STREAM_NS} junk="${'j'.repeat(6000)}">`, condition: 'policy-violation', text: /4096/ },
  { name: 'deeply nested: deeper than --max-depth', at: 'raw', payload: (m) => `<message id="${m}">${'<a>'.repeat(LIMITS.maxDepth + 2)}${'</a>'.repeat(LIMITS.maxDepth + 2)}</message>`, condition: 'policy-violation', text: /maxDepth \(8\)/ },
  { name: 'deeply nested: a thousand open elements in one write', at: 'raw', payload: (m) => `<message id="${m}">${'<a>'.repeat(1000)}`, condition: 'policy-violation', text: /maxDepth \(8\)|4096/ },
  {
    name: 'attributes: more than --max-attributes on a stanza',
    at: 'raw',
    payload: (m) => `<message id="${m}" ${Array.from({ length: LIMITS.maxAttributes }, (_, i) => `a${i}="${i}"`).join(' ')}/>`,
    condition: 'policy-violation',
    text: /maxAttributes \(16\)/,
  },
  { name: 'attributes: a thousand on one stanza', at: 'raw', payload: (m) => `<message id="${m}" ${Array.from({ length: 1000 }, (_, i) => `a${i}=""`).join(' ')}/>`, condition: 'policy-violation', text: /maxAttributes \(16\)|4096/ },
  {
    name: 'attributes: more than --max-attributes on the stream header',
    at: 'start',
    payload: (_m, d) => `<stream:stream to="${d}" ${STREAM_NS} ${Array.from({ length: LIMITS.maxAttributes }, (_, i) => `a${i}="${i}"`).join(' ')}>`,
    condition: 'policy-violation',
    text: /maxAttributes \(16\)/,
  },
  { name: 'attributes: the same attribute twice', at: 'raw', payload: (m) => `<message id="${m}" to="a@b" to="c@d"/>`, condition: 'not-well-formed', text: /duplicate attribute/ },
  // Invalid UTF-8 (RFC 6120 §11.6, RFC 3629)
  { name: "invalid UTF-8: an overlong '<' (C0 BC) in text", at: 'raw', payload: (m) => bytes(`<message id="${m}"><body>`, [0xc0, 0xbc], 'x</body></message>'), condition: 'not-well-formed', text: /UTF-8/ },
  { name: 'invalid UTF-8: an overlong 3-byte NUL (E0 80 80) in an attribute', at: 'raw', payload: (m) => bytes(`<message id="${m}" to="`, [0xe0, 0x80, 0x80], '"/>'), condition: 'not-well-formed', text: /UTF-8/ },
  { name: 'invalid UTF-8: a UTF-16 surrogate encoded in UTF-8 (ED A0 80)', at: 'raw', payload: (m) => bytes(`<message id="${m}"><body>`, [0xed, 0xa0, 0x80], '</body></message>'), condition: 'not-well-formed', text: /UTF-8/ },
  { name: 'invalid UTF-8: a truncated sequence (E2 82) before markup', at: 'raw', payload: (m) => bytes(`<message id="${m}"><body>`, [0xe2, 0x82], '</body></message>'), condition: 'not-well-formed', text: /UTF-8/ },
  { name: 'invalid UTF-8: 0xFF in an element name', at: 'raw', payload: (m) => bytes('<mess', [0xff], `age id="${m}"/>`), condition: 'not-well-formed' },
  { name: 'invalid UTF-8: a code point above U+10FFFF (F4 90 80 80)', at: 'raw', payload: (m) => bytes(`<message id="${m}"><body>`, [0xf4, 0x90, 0x80, 0x80], '</body></message>'), condition: 'not-well-formed', text: /UTF-8/ },
  { name: 'invalid UTF-8 in the stream header', at: 'start', payload: (_m, d) => bytes(`<stream:stream to="${d}`, [0xc3, 0x28], `" ${STREAM_NS} version="1.0">`), condition: 'not-well-formed', text: /UTF-8/ },
  { name: 'a character reference to U+0000 (&#0;)', at: 'raw', payload: (m) => `<message id="${m}"><body>&#0;</body></message>`, condition: 'not-well-formed', text: /a character XML does not allow/ },
  { name: 'a character reference to a lone surrogate (&#xD800;)', at: 'raw', payload: (m) => `<message id="${m}"><body>&#xD800;</body></message>`, condition: 'not-well-formed', text: /a character XML does not allow/ },
  // Namespaces
  { name: 'an unbound prefix on a stanza child', at: 'raw', payload: (m) => `<message id="${m}"><foo:bar/></message>`, condition: 'bad-namespace-prefix', text: /prefix foo/ },
  { name: 'an unbound prefix on an attribute', at: 'raw', payload: (m) => `<message id="${m}" foo:x="1"/>`, condition: 'bad-namespace-prefix', text: /prefix foo/ },
  { name: 'an unbound stream: prefix in the header', at: 'start', payload: (_m, d) => `<?xml version="1.0"?><stream:stream to="${d}" xmlns="jabber:client" version="1.0">`, condition: 'bad-namespace-prefix', text: /prefix stream/ },
  { name: 'a stream header in another namespace', at: 'start', payload: (_m, d) => `<stream:stream to="${d}" xmlns="jabber:client" xmlns:stream="urn:evil" version="1.0">`, condition: 'invalid-namespace' },
  { name: 'an encoding other than UTF-8', at: 'start', payload: (_m, d) => `<?xml version="1.0" encoding="ISO-8859-1"?><stream:stream to="${d}" ${STREAM_NS} version="1.0">`, condition: 'unsupported-encoding' },
  // NULs in odd places
  { name: 'raw mode: a NUL inside a tag', at: 'raw', payload: (m) => `<mess\0age id="${m}"/>`, condition: 'not-well-formed' },
  { name: 'raw mode: a NUL inside an attribute value', at: 'raw', payload: (m) => `<message id="${m}" to="a\0b"/>`, condition: 'not-well-formed', text: /U\+0000/ },
  { name: 'raw mode: a NUL between the stanzas of a raw stream', at: 'raw', payload: (m) => `\0<message id="${m}"/>`, condition: 'not-well-formed', text: /text outside stanzas/ },
  { name: 'NUL mode: a NUL inside an element', at: 'nul', payload: (m) => `<message id="${m}"><body>a\0b</body></message>\0`, condition: 'not-well-formed', text: /NUL byte inside an element/ },
  { name: 'NUL mode: a NUL inside a start tag', at: 'nul', payload: (m) => `<message id="${m}"\0 to="x"/>\0`, condition: 'not-well-formed', text: /NUL byte inside an element/ },
  { name: 'NUL mode: a NUL inside the stream header', at: 'start', payload: (_m, d) => `<?xml version="1.0"?><flash:str\0eam to="${d}" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">\0`, condition: 'not-well-formed', text: /NUL byte inside an element/ },
  // The same classes in NUL mode (XMLSocket): the error must come NUL-framed
  { name: 'NUL mode: billion laughs', at: 'nul', payload: (m) => `${LAUGHS}<message id="${m}">&lol9;</message>\0`, condition: 'restricted-xml' },
  { name: 'NUL mode: a stanza over the limit', at: 'nul', payload: (m) => `<message id="${m}"><body>${'x'.repeat(5000)}</body></message>\0`, condition: 'policy-violation', text: /4096/ },
  { name: 'NUL mode: invalid UTF-8', at: 'nul', payload: (m) => bytes(`<message id="${m}"><body>`, [0xc0, 0xaf], '</body></message>\0'), condition: 'not-well-formed', text: /UTF-8/ },
  { name: 'NUL mode: an unbound prefix', at: 'nul', payload: (m) => `<message id="${m}"><x:y/></message>\0`, condition: 'bad-namespace-prefix' },
];

before(async () => {
  env = await startHostileEnv(USERS);
});
after(async () => env?.stop());

describe('hostile XML on the TCP transports', () => {
  for (const c of CASES) {
    hostile(c.name, async ({ marker }) => {
      const conn = await RawConn.open(env.flashPort);
      if (c.at === 'raw') {
        conn.write(xiffHeader(env.domain));
        await waitFeatures(conn);
      } else if (c.at === 'nul') {
        conn.write(flashHeader(env.domain));
        await waitFeatures(conn);
      }
      conn.write(c.payload(marker, env.domain));
      const seen = await expectStreamError(conn, c.condition, c.text, c.at === 'start' ? {} : { nul: c.at === 'nul' });
      assert.ok(!conn.text.includes('root:'), 'nothing of /etc/passwd in the answer');
      assert.ok(seen.text.length > 0, 'the stream error says why');
    });
  }

  // Server-side elements sent by a client pass through untouched (the gateway acts only on what
  // the server sends, never on a client's <success/>); the server refuses them with a stream error.
  const SERVER_ONLY: readonly { name: string; xml: string; condition: RegExp }[] = [
    { name: 'a client-sent <success/> does not log anyone in', xml: '<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>', condition: /^unsupported-stanza-type$/ },
    { name: 'a client-sent <stream:features/>', xml: '<stream:features/>', condition: /^unsupported-(feature|stanza-type)$/ },
    { name: 'a server-to-server (jabber:server) stanza on a client stream', xml: `<message xmlns="jabber:server" from="alice@${EVIL_DOMAIN}" to="bob@localhost"/>`, condition: /^unsupported-stanza-type$/ },
  ];
  for (const row of SERVER_ONLY) {
    hostile(`server-only elements from a client: ${row.name}`, async () => {
      const conn = await RawConn.open(env.flashPort);
      conn.write(xiffHeader(env.domain));
      await waitFeatures(conn);
      conn.write(row.xml);
      const out = await conn.waitClosed(5000);
      const seen = streamErrorIn(out);
      assert.match(seen?.condition ?? '', row.condition, `the server's refusal reaches the client: ${out.toString().slice(-300)}`);
      assert.ok(!out.includes('</jid>') && !out.includes('<success'), 'nobody was logged in');
    });
  }

  hostile('truncated: a stanza cut short, then the client closes: nothing is forwarded', async ({ marker }) => {
    const conn = await RawConn.open(env.flashPort);
    await rawSaslLogin(conn, env.domain, 'alice', 'alice-secret', 'cut');
    conn.write(`<message id="${marker}" to="bob@${env.domain}"><body>cut sho`);
    conn.end();
    await conn.waitClosed(3000);
  });

  hostile('garbage before a policy request on the Flash port: closed without a policy', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write('GARBAGE<policy-file-request/>\0');
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('garbage before a policy request on the policy port: closed without a policy', async () => {
    const conn = await RawConn.open(env.policyPort);
    conn.write('xx<policy-file-request/>\0');
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('more than 64 NULs before a policy request: closed without a policy', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(`${'\0'.repeat(65)}<policy-file-request/>\0`);
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('binary garbage as the first bytes: closed at once', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(Buffer.alloc(300, 0xff));
    assert.equal((await conn.waitClosed(3000)).length, 0);
  });

  hostile('an oversized SASL <auth> payload ends the stream; nothing reaches the server', async ({ marker }) => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await waitFeatures(conn);
    conn.write(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN" id="${marker}">${'QUFB'.repeat(2000)}</auth>`);
    await expectStreamError(conn, 'policy-violation', /4096/);
  });

  hostile('a garbage SASL payload under the limit: the server’s failure passes through, the stream goes on', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await waitFeatures(conn);
    conn.write(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${'!*'.repeat(1500)}</auth>`);
    await conn.waitFor((b) => b.includes('</failure>'), 5000, 'a SASL failure');
    assert.match(conn.text, /<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><(incorrect-encoding|malformed-request|not-authorized)\/>/);
    const plain = Buffer.from('\0alice\0alice-secret').toString('base64');
    conn.write(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${plain}</auth>`);
    await conn.waitFor((b) => b.includes('<success'), 5000, 'SASL success on the retry');
    conn.destroy();
  });

  hostile('iq:auth (XMLSocket): a 1 MB username ends the stream with policy-violation', async ({ marker }) => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(`<?xml version="1.0"?><stream:stream to="${env.domain}" ${STREAM_NS} version="1.0" />\0`);
    await waitFeatures(conn);
    conn.write(`<iq type="set" id="${marker}"><query xmlns="jabber:iq:auth"><username>${'u'.repeat(1 << 20)}</username><password>p</password><resource>r</resource></query></iq>\0`);
    await expectStreamError(conn, 'policy-violation', /4096/, { nul: true });
  });

  hostile('iq:auth (raw): a 1 MB password ends the stream with policy-violation', async ({ marker }) => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await waitFeatures(conn);
    conn.write(`<iq type="set" id="${marker}"><query xmlns="jabber:iq:auth"><username>alice</username><password>${'p'.repeat(1 << 20)}</password><resource>r</resource></query></iq>`);
    await expectStreamError(conn, 'policy-violation', /4096/, { nul: false });
  });

  hostile('iq:auth: a 2000-character username under the stanza limit is refused locally (not-acceptable)', async ({ marker, logMark }) => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await waitFeatures(conn);
    const name = `longuser${'u'.repeat(2000)}`;
    conn.write(`<iq type="set" id="${marker}"><query xmlns="jabber:iq:auth"><username>${name}</username><password>p</password><resource>r</resource></query></iq>`);
    await conn.waitFor((b) => b.includes('</iq>'), 5000, 'the iq:auth answer');
    assert.match(conn.text, new RegExp(`<iq type="error" id="${marker}">.*<error code="406" type="modify"><not-acceptable .*field too long`));
    // The stream goes on, and the server never heard of that name.
    conn.write(`<iq type="get" id="still-up" to="${env.domain}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    await conn.waitFor((b) => b.includes('id="still-up"') || b.includes("id='still-up'"), 5000, 'an answer on the same stream');
    assert.ok(!(await env.prosodyLogSince(logMark)).includes('longuser'), 'no login attempt with that name reached the server');
    conn.destroy();
  });

  hostile('slow drip: a valid header one byte every 5 ms still works (within --auth-timeout)', async () => {
    const conn = await RawConn.open(env.flashPort);
    await conn.drip(xiffHeader(env.domain), 5);
    const jid = await rawSaslLogin(conn, env.domain, 'alice', 'alice-secret', 'drip', { headerSent: true });
    assert.equal(jid, `alice@${env.domain}/drip`);
    conn.destroy();
  });

  hostile('a flood from one address: over --max-connections-per-ip refused with policy-violation, the others unaffected', async ({ recordMark }) => {
    const flood = await Promise.all(Array.from({ length: 8 }, () => RawConn.open(env.flashPort, { localAddress: FLOOD_ADDRESS })));
    try {
      for (const c of flood) c.write(xiffHeader(env.domain));
      const outcomes = await Promise.all(
        flood.map((c) => c.waitFor((b) => b.includes('</stream:features>') || b.includes('</stream:error>'), 5000, 'features or an error')),
      );
      const refused = outcomes.filter((b) => b.includes('</stream:error>'));
      assert.equal(outcomes.length - refused.length, LIMITS.maxConnectionsPerIp, 'exactly the limit gets through');
      for (const b of refused) {
        const seen = streamErrorIn(b);
        assert.equal(seen?.condition, 'policy-violation');
        assert.match(seen?.text ?? '', /too many connections/);
      }
      // Others are unaffected: an exempt address, another address, and the admitted ones all log in.
      const exempt = await RawConn.open(env.flashPort);
      const other = await RawConn.open(env.flashPort, { localAddress: OTHER_ADDRESS });
      await rawSaslLogin(exempt, env.domain, 'alice', 'alice-secret', 'exempt');
      await rawSaslLogin(other, env.domain, 'bob', 'bob-secret', 'other');
      const admitted = flood.filter((c) => !c.text.includes('</stream:error>'));
      await Promise.all(admitted.map((c, i) => rawSaslLogin(c, env.domain, 'alice', 'alice-secret', `flood${i}`, { headerSent: true })));
      exempt.destroy();
      other.destroy();
      assert.ok(env.gatewayLogsSince(recordMark).some((r) => /connection refused: too many connections/.test(String(r['msg']))), 'the refusal is logged');
    } finally {
      for (const c of flood) c.destroy();
    }
    // The slots come back: a new connection from the flooding address is admitted again.
    const deadline = Date.now() + 5000;
    for (;;) {
      const again = await RawConn.open(env.flashPort, { localAddress: FLOOD_ADDRESS });
      again.write(xiffHeader(env.domain));
      const got = await again.waitFor((b) => b.includes('</stream:features>') || b.includes('</stream:error>'), 5000);
      again.destroy();
      if (got.includes('</stream:features>')) break;
      assert.ok(Date.now() < deadline, 'the flood’s slots were freed within 5 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  hostile('no open relay on the raw transport either: a header to another domain is host-unknown', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(EVIL_DOMAIN));
    await expectStreamError(conn, 'host-unknown', /evil\.example/);
  });
});

describe('slow and idle connections (small timeouts, run side by side)', { concurrency: true }, () => {
  hostile('slow drip in the sniff phase: a policy request one byte every 80 ms is cut at --sniff-timeout', async () => {
    const conn = await RawConn.open(env.flashPort);
    void conn.drip('<policy-file-request/>\0', 80);
    const out = await conn.waitClosed(4000);
    assert.equal(out.length, 0, 'no policy for a request that did not arrive in time');
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.sniffTimeoutS, 'cut');
  });

  hostile('slow drip on the policy port: cut at --sniff-timeout, not held open by each byte', async () => {
    const conn = await RawConn.open(env.policyPort);
    void conn.drip('<policy-file-request/>\0', 150);
    const out = await conn.waitClosed(5000);
    assert.equal(out.length, 0, 'no policy for a request that did not arrive in time');
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.sniffTimeoutS, 'cut');
  });

  hostile('slow drip past --auth-timeout: a header one byte every 20 ms is cut with policy-violation', async ({ marker }) => {
    const conn = await RawConn.open(env.flashPort);
    void conn.drip(`${xiffHeader(env.domain)}<message id="${marker}"/>`, 20);
    await expectStreamError(conn, 'policy-violation', /not authenticated within 2 s/, { timeoutMs: 6000 });
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.authTimeoutS, 'cut');
  });

  hostile('an idle connection that sends nothing is closed at --sniff-timeout', async () => {
    const conn = await RawConn.open(env.flashPort);
    assert.equal((await conn.waitClosed(4000)).length, 0);
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.sniffTimeoutS, 'closed');
  });

  hostile('an idle connection on the policy port is closed at --sniff-timeout', async () => {
    const conn = await RawConn.open(env.policyPort);
    assert.equal((await conn.waitClosed(4000)).length, 0);
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.sniffTimeoutS, 'closed');
  });

  hostile('idle after the header: cut at --auth-timeout with policy-violation', async () => {
    const conn = await RawConn.open(env.flashPort);
    conn.write(xiffHeader(env.domain));
    await expectStreamError(conn, 'policy-violation', /not authenticated within 2 s/, { timeoutMs: 5000 });
    const took = conn.closedAt - conn.openedAt;
    assertTimedOut(took, LIMITS.authTimeoutS, 'cut');
  });

  hostile('idle after login: cut at --idle-timeout with connection-timeout', async () => {
    const conn = await RawConn.open(env.flashPort);
    await rawSaslLogin(conn, env.domain, 'bob', 'bob-secret', 'idle');
    const loggedIn = Date.now();
    await expectStreamError(conn, 'connection-timeout', /no traffic for 2 s/, { timeoutMs: 5000 });
    const took = conn.closedAt - loggedIn;
    assertTimedOut(took, LIMITS.idleTimeoutS, 'cut after the last traffic', 500);
  });
});
