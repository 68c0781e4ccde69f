/**
 * Telling XMLSocket (NUL mode) from flash.net.Socket (raw) clients, and NUL framing on input
 * (shared/spec/flash-clients.md, "NUL mode"), with every input split at every byte.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { XmlElement } from '../../src/codec/xml/element.js';
import { XmlStreamParser } from '../../src/codec/xml/parser.js';
import { serialize } from '../../src/codec/xml/serializer.js';
import { StreamError } from '../../src/errors.js';
import { ClientInput, type FramingMode } from '../../src/session/client-input.js';

const STREAM = 'xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams"';
const XIFF2 = `<?xml version="1.0"?><stream:stream to="127.0.0.1" ${STREAM} version="1.0" />`;
const FLASH = '<?xml version="1.0"?><flash:stream to="h" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">';
const SPARKWEB = `<?xml version="1.0" encoding="UTF-8"?><stream:stream ${STREAM} to="d" xml:lang="en" version="1.0" />`;
const AUTH_GET = '<iq type="get" id="a1"><query xmlns="jabber:iq:auth"><username>u</username></query></iq>';

interface Outcome {
  mode: FramingMode | undefined;
  elements: string[];
  error?: string;
}

const GRACE_MS = 2;

/** Feeds the chunks, lets the grace period pass, and reports what was decided and parsed. */
async function feed(chunks: Buffer[]): Promise<Outcome> {
  const elements: string[] = [];
  let mode: FramingMode | undefined;
  const parser = new XmlStreamParser({
    streamOpen: () => undefined,
    element: (e: XmlElement) => elements.push(serialize(e)),
    streamClose: () => elements.push('(close)'),
  });
  const input = new ClientInput(parser, GRACE_MS, (m) => (mode = m));
  try {
    for (const chunk of chunks) input.push(chunk);
  } catch (error) {
    input.dispose();
    assert.ok(error instanceof StreamError, `only StreamError escapes, got ${String(error)}`);
    return { mode, elements, error: error.condition };
  }
  if (mode === undefined) await new Promise((r) => setTimeout(r, GRACE_MS * 4));
  return { mode, elements };
}

const FIXTURES: ReadonlyArray<readonly [string, string, Outcome]> = [
  ['XIFF 2: self-closed header, NUL, iq:auth at once', `${XIFF2}\0${AUTH_GET}\0`, { mode: 'nul', elements: [AUTH_GET] }],
  ['XIFF 3 beta: flash:stream header and its NUL', `${FLASH}\0`, { mode: 'nul', elements: [] }],
  ['a stray NUL before the header', `\0${XIFF2}`, { mode: 'nul', elements: [] }],
  ['stray NULs and empty packets between elements', `${FLASH}\0\0<presence/>\0 \0<presence/>\0`, { mode: 'nul', elements: ['<presence/>', '<presence/>'] }],
  ['the closing tag ends the stream', `${FLASH}\0<presence/>\0</flash:stream>\0`, { mode: 'nul', elements: ['<presence/>', '(close)'] }],
  ['SparkWeb raw header, nothing after it', SPARKWEB, { mode: 'raw', elements: [] }],
  ['a raw client pipelining after its header', `${SPARKWEB}<presence/>`, { mode: 'raw', elements: ['<presence/>'] }],
  ['a raw client that sends flash:stream never becomes NUL mode', `${FLASH}<presence/>`, { mode: 'raw', elements: ['<presence/>'] }],
  ['a NUL inside an element', `${FLASH}\0<message><body>x\0</body></message>\0`, { mode: 'nul', elements: [], error: 'not-well-formed' }],
  ['a NUL inside the header tag', `<stream:stream ${STREAM}\0 version="1.0">`, { mode: undefined, elements: [], error: 'not-well-formed' }],
  ['a NUL from a client already known to be raw', `${SPARKWEB}<presence/>\0`, { mode: 'raw', elements: ['<presence/>'], error: 'not-well-formed' }],
];

for (const [name, input, expected] of FIXTURES) {
  test(`client input: ${name}, whole and split at every byte`, async () => {
    const bytes = Buffer.from(input, 'utf8');
    assert.deepEqual(await feed([bytes]), expected, 'whole');
    for (let cut = 1; cut < bytes.length; cut++) {
      const outcome = await feed([bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(outcome, expected, `split at ${cut}`);
    }
  });
}

test('client input: a raw client is decided after the grace period, not before', async () => {
  const parser = new XmlStreamParser({ streamOpen: () => undefined, element: () => undefined, streamClose: () => undefined });
  let mode: FramingMode | undefined;
  const input = new ClientInput(parser, 50, (m) => (mode = m));
  input.push(Buffer.from(SPARKWEB));
  assert.equal(mode, undefined, 'undecided while a split-off NUL may still come');
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(mode, 'raw');
});
