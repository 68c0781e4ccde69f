/** Traffic tracing: only at trace level, and never with SASL payloads or iq:auth passwords. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFragment } from '../../src/codec/xml/parser.js';
import type { XmlElement } from '../../src/codec/xml/element.js';
import { createLogger } from '../../src/log/logger.js';
import { traceElement } from '../../src/log/traffic.js';

const LIMITS = { maxStanzaBytes: 65536, maxDepth: 32, maxAttributes: 64 };
const one = (xml: string): XmlElement => parseFragment(xml, LIMITS, 'jabber:client')[0] as XmlElement;

function capture(level: 'info' | 'trace'): { log: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  return { log: createLogger(level, { write: (s: string) => void lines.push(s) }), text: () => lines.join('') };
}

test('at info level nothing is traced', () => {
  const { log, text } = capture('info');
  traceElement(log, 'client→server', one('<message to="a@b"><body>hello</body></message>'));
  assert.equal(text(), '');
});

test('at trace level stanzas are traced, secrets are not', () => {
  const { log, text } = capture('trace');
  traceElement(log, 'client→server', one('<message to="a@b"><body>hello there</body></message>'));
  traceElement(log, 'client→server', one(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from('\0u\0sasl-pass-123').toString('base64')}</auth>`));
  traceElement(log, 'server→client', one('<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl">cj1zZWNyZXQtbm9uY2U=</challenge>'));
  traceElement(
    log,
    'client→server',
    one('<iq type="set" id="a1"><query xmlns="jabber:iq:auth"><username>u</username><password>iq-pass-456</password><digest>d1g3st-789</digest><resource>r</resource></query></iq>'),
  );
  const out = text();
  assert.match(out, /hello there/);
  assert.match(out, /"saslElement":"auth","mechanism":"PLAIN"/);
  assert.match(out, /\[redacted\]/);
  assert.match(out, /<username>u<\/username>/);
  for (const secret of ['sasl-pass-123', Buffer.from('\0u\0sasl-pass-123').toString('base64'), 'cj1zZWNyZXQtbm9uY2U=', 'iq-pass-456', 'd1g3st-789']) {
    assert.ok(!out.includes(secret), `${secret} traced`);
  }
});
