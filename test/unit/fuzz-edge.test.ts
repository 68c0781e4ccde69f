/**
 * Fuzzing what reads a client's first bytes and frames its input (docs/fuzzing.md): the Flash
 * port's protocol sniffer, the policy port's request classifier, the policy file, NUL framing
 * detection (ClientInput) and the SASL user-name peek. For any bytes: no exception (or only
 * StreamError from ClientInput), a verdict no later byte can change, and framing that never
 * alters what the parser sees, only refuses.
 *
 * sniffer.test.ts, policy.test.ts, client-input.test.ts and sasl-user.test.ts hold the fixtures;
 * this file runs wide generators, scaled by FUZZ_RUNS.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { XmlStreamParser } from '../../src/codec/xml/parser.js';
import { serialize } from '../../src/codec/xml/serializer.js';
import { policyXml, socketPolicyReply, type PolicyOptions } from '../../src/codec/policy/policy-file.js';
import { classifyPolicyRequest } from '../../src/edge/policy-listener.js';
import { MAX_FILLER_BYTES, sniff, type SniffResult } from '../../src/edge/sniffer.js';
import { StreamError } from '../../src/errors.js';
import { ClientInput, type FramingMode } from '../../src/session/client-input.js';
import { saslUserName } from '../../src/session/sasl-user.js';
import { cutsArb, fuzz, mutate, mutationsArb, splitAt } from '../support/fuzz.js';

// ---------------------------------------------------------------------------------------------
// First bytes

const STREAM_NS = 'xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams"';
const XIFF2 = `<?xml version="1.0"?><stream:stream to="127.0.0.1" ${STREAM_NS} version="1.0" />`;
const FLASH = '<?xml version="1.0"?><flash:stream to="h" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">';
const SPARKWEB = `<?xml version="1.0" encoding="UTF-8"?><stream:stream ${STREAM_NS} to="d" xml:lang="en" version="1.0" />`;
const AUTH_GET = '<iq type="get" id="a1"><query xmlns="jabber:iq:auth"><username>u</username></query></iq>';

/** Beginnings of what reaches the Flash port and the policy port, and filler. */
const OPENINGS = [
  '<policy-file-request/>\0',
  '<policy-file-request/>',
  '<policy-file-',
  XIFF2,
  FLASH,
  SPARKWEB,
  'GET /xmlsocket HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /crossdomain.xml HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /crossdomain.xml?x=1 HTTP/1.0\r\n\r\n',
  'POST /open/1 HTTP/1.1\r\n',
  'PUT / HTTP/1.1\r\n',
  '\x03\x00\x00\x00\x00',
  '\x16\x03\x01\x02\x00',
  'G',
  'GE',
  'POS',
  '<',
  '<p',
];
const fillerArb = fc.oneof(
  fc.constant(''),
  fc.array(fc.constantFrom('\0', ' ', '\t', '\n', '\r'), { maxLength: 8 }).map((a) => a.join('')),
  fc.integer({ min: MAX_FILLER_BYTES - 2, max: MAX_FILLER_BYTES + 2 }).map((n) => '\0'.repeat(n)),
);
const firstBytesArb = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fillerArb, fc.constantFrom(...OPENINGS)).map(([f, o]) => Buffer.from(f + o, 'latin1')) },
  { weight: 2, arbitrary: fc.tuple(fillerArb, fc.constantFrom(...OPENINGS), mutationsArb(3)).map(([f, o, m]) => mutate(Buffer.from(f + o, 'latin1'), m)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((u) => Buffer.from(u)) },
);

function decided(r: SniffResult): boolean {
  return r.kind !== 'need-more';
}

fuzz(
  'sniffer: any first bytes: a well-formed verdict that no later byte changes',
  { runs: 2000 },
  firstBytesArb,
  (input) => {
    const final = sniff(input);
    if (final.kind === 'match') {
      assert.ok(final.skip >= 0 && final.skip <= MAX_FILLER_BYTES && final.skip < input.length, `skip ${final.skip}`);
      if (final.protocol === 'xmpp' || final.protocol === 'policy') assert.equal(input[final.skip], 0x3c);
      else assert.equal(final.skip, 0);
    }
    // The listener sniffs every read: a prefix is undecided or already gives the final verdict.
    for (let cut = 0; cut < input.length; cut++) {
      const early = sniff(input.subarray(0, cut));
      if (decided(early)) assert.deepEqual(early, final, `prefix of ${cut} bytes`);
    }
    // Bytes after a decision never change it.
    if (decided(final)) assert.deepEqual(sniff(Buffer.concat([input, Buffer.from('\0<x GET ')])), final);
  },
);

fuzz(
  'policy port: any first bytes: a verdict (never an exception) that no later byte changes',
  { runs: 2000 },
  firstBytesArb,
  (input) => {
    const final = classifyPolicyRequest(input);
    for (let cut = 0; cut < input.length; cut++) {
      const early = classifyPolicyRequest(input.subarray(0, cut));
      if (early !== 'need-more') assert.deepEqual(early, final, `prefix of ${cut} bytes`);
    }
  },
);

test(
  'policy port: a request after more than 64 filler bytes gets the same verdict however it is split',
  () => {
    // Found by the property above (FUZZ_SEED=-1669998827 FUZZ_PATH='31:2'): 65 NULs then the
    // request was "socket" in one read but "invalid" when the NULs came first.
    const input = Buffer.concat([Buffer.alloc(65), Buffer.from('<policy-file-request/>\0')]);
    assert.deepEqual(classifyPolicyRequest(input.subarray(0, 65)), classifyPolicyRequest(input));
  },
);

const domainArb = fc.oneof(
  fc.constantFrom('*', 'example.com', '*.example.com', 'localhost', '127.0.0.1'),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('"', '<', '>', '&', "'", '\0', '\n', 'a', '\uD800'), maxLength: 10 }),
);

fuzz(
  'policy file: any allowed domains give well-formed XML ending in exactly one NUL, domains intact',
  { runs: 500 },
  fc.record({
    allowFrom: fc.array(domainArb, { maxLength: 4 }),
    toPorts: fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 }),
    siteControl: fc.constantFrom('master-only', 'all', 'by-content-type', 'none'),
  }),
  ({ allowFrom, toPorts, siteControl }) => {
    const options = { allowFrom, toPorts, siteControl } as PolicyOptions;
    const reply = socketPolicyReply(options);
    assert.equal(reply.indexOf(0), reply.length - 1, 'one NUL, at the end');
    const domains: string[] = [];
    const parser = new SaxesParser();
    parser.on('opentag', (t) => {
      if (t.name === 'allow-access-from') domains.push(t.attributes.domain as string);
    });
    parser.on('error', (e) => {
      throw e;
    });
    parser.write(policyXml(options)).close();
    // Characters XML cannot carry arrive as U+FFFD; everything else as given.
    const clean = (d: string): string => d.replace(/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu, '\uFFFD');
    assert.deepEqual(domains, allowFrom.map(clean));
  },
);

// ---------------------------------------------------------------------------------------------
// NUL framing (ClientInput)

interface Outcome {
  mode: FramingMode | undefined;
  events: string[];
  error?: string;
}

function parserRecording(events: string[]): XmlStreamParser {
  return new XmlStreamParser({
    streamOpen: (h, self) => events.push(`open ${serialize(h)}${self ? ' self' : ''}`),
    element: (e) => events.push(serialize(e)),
    streamClose: () => events.push('close'),
  });
}

/** Pushes the chunks through ClientInput (the grace period never fires: it is disposed at the end). */
function frame(chunks: readonly Uint8Array[]): Outcome {
  const events: string[] = [];
  const parser = parserRecording(events);
  let mode: FramingMode | undefined;
  const input = new ClientInput(parser, 60_000, (m) => (mode = m));
  try {
    for (const c of chunks) {
      input.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      assert.ok(parser.bytesBuffered <= 262145);
    }
  } catch (e) {
    if (!(e instanceof StreamError)) throw new Error(`expected only StreamError, got ${String(e)}`, { cause: e });
    return { mode, events, error: e.condition };
  } finally {
    input.dispose();
  }
  return { mode, events };
}

/** The same bytes without their NULs, straight into a parser. */
function unframed(input: Uint8Array): { events: string[]; error?: string } {
  const events: string[] = [];
  const parser = parserRecording(events);
  try {
    parser.write(Buffer.from(input).filter((b) => b !== 0));
  } catch (e) {
    if (!(e instanceof StreamError)) throw e;
    return { events, error: e.condition };
  }
  return { events };
}

/** XMLSocket packets (each ending in NUL), raw streams, and mixtures. */
const framedArb = fc.oneof(
  fc
    .tuple(fc.constantFrom(XIFF2, FLASH, SPARKWEB), fc.array(fc.constantFrom(AUTH_GET, '<presence/>', ' ', '', '</flash:stream>', '</stream:stream>', '<message><body>x</body></message>'), { maxLength: 5 }), fc.boolean(), fc.boolean())
    .map(([header, packets, nul, strayNul]) => {
      const sep = nul ? '\0' : '';
      return Buffer.from((strayNul ? '\0' : '') + [header, ...packets].map((p) => p + sep).join(''), 'utf8');
    }),
  fc
    .tuple(fc.constantFrom(XIFF2, FLASH, SPARKWEB), fc.array(fc.constantFrom(AUTH_GET, '<presence/>', '\0', '<message><body>x</body></message>'), { maxLength: 5 }), mutationsArb(3))
    .map(([header, packets, m]) => mutate(Buffer.from(header + '\0' + packets.join('\0'), 'utf8'), m)),
  fc.uint8Array({ maxLength: 60 }),
);

fuzz(
  'NUL framing: any bytes, split anywhere: only StreamError; framing never changes what the parser sees, it only refuses',
  { runs: 1500 },
  fc.record({ input: framedArb, cuts: cutsArb }),
  ({ input, cuts }) => {
    const reference = unframed(input);
    for (const chunks of [[input], splitAt(input, cuts)]) {
      const got = frame(chunks);
      // Elements delivered are those of the NUL-less bytes, in order, up to any error.
      assert.deepEqual(got.events, reference.events.slice(0, got.events.length));
      if (got.error === undefined) {
        assert.deepEqual(got.events, reference.events);
        assert.equal(reference.error, undefined);
      }
    }
  },
);

// ---------------------------------------------------------------------------------------------
// SASL user names

const base64Arb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')),
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n -_.!'.split('')), maxLength: 80 }),
  fc.string({ maxLength: 30 }),
  fc.integer({ min: 2040, max: 2060 }).map((n) => 'A'.repeat(n)),
);

fuzz(
  'SASL user name: any mechanism and response: undefined or a short printable name, never the password',
  { runs: 2000 },
  fc.record({
    mechanism: fc.oneof(fc.constantFrom('PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-1-PLUS', 'ANONYMOUS', 'DIGEST-MD5', ''), fc.string({ maxLength: 12 })),
    response: base64Arb,
    authzid: fc.string({ maxLength: 8 }),
    user: fc.string({ maxLength: 70 }),
    secret: fc.string({ minLength: 1, maxLength: 12 }),
  }),
  ({ mechanism, response, authzid, user, secret }) => {
    const check = (name: string | undefined): void => {
      if (name === undefined) return;
      assert.equal(typeof name, 'string');
      assert.ok(name.length > 0 && name.length <= 64, `a name of ${name.length} characters`);
      assert.ok(!/[\u0000-\u001f\u007f]/.test(name), 'no control characters');
    };
    check(saslUserName(mechanism, response));
    // PLAIN: authzid NUL authcid NUL password. The marker around the password never comes back.
    const password = `\u2603${secret}\u2603`;
    const plain = Buffer.from(`${authzid}\0${user.replace(/\0/g, '')}\0${password}`, 'utf8').toString('base64');
    const name = saslUserName('PLAIN', plain);
    check(name);
    assert.ok(name === undefined || !name.includes('\u2603'), 'the password leaked');
  },
);
