import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sniff, type SniffResult } from '../../src/edge/sniffer.js';

const XMPP_HEADER =
  '<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="localhost" version="1.0">';

/** Input → verdict once all of it has arrived. */
const FIXTURES: ReadonlyArray<readonly [string, Buffer, SniffResult]> = [
  ['policy request', Buffer.from('<policy-file-request/>\0'), { kind: 'match', protocol: 'policy', skip: 0 }],
  ['policy request without its NUL yet', Buffer.from('<policy-file-request/>'), { kind: 'match', protocol: 'policy', skip: 0 }],
  ['policy after stray NULs', Buffer.from('\0\0<policy-file-request/>\0'), { kind: 'match', protocol: 'policy', skip: 2 }],
  ['raw XMPP header', Buffer.from(XMPP_HEADER), { kind: 'match', protocol: 'xmpp', skip: 0 }],
  ['XMPP after whitespace', Buffer.from(' \r\n' + XMPP_HEADER), { kind: 'match', protocol: 'xmpp', skip: 3 }],
  ['XMPP after a stray NUL (XMLSocket)', Buffer.from('\0' + XMPP_HEADER + '\0'), { kind: 'match', protocol: 'xmpp', skip: 1 }],
  ['flash:stream header', Buffer.from('<flash:stream to="h" xmlns="jabber:client">\0'), { kind: 'match', protocol: 'xmpp', skip: 0 }],
  ['<p... that is not a policy request', Buffer.from('<presence/>'), { kind: 'match', protocol: 'xmpp', skip: 0 }],
  ['WebSocket upgrade', Buffer.from('GET /xmlsocket HTTP/1.1\r\n'), { kind: 'match', protocol: 'http-get', skip: 0 }],
  ['RTMPT', Buffer.from('POST /open/1 HTTP/1.1\r\n'), { kind: 'match', protocol: 'http-post', skip: 0 }],
  ['RTMP C0', Buffer.from([0x03, 0, 0, 0, 0]), { kind: 'match', protocol: 'rtmp', skip: 0 }],
  ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01]), { kind: 'match', protocol: 'tls', skip: 0 }],
  ['garbage', Buffer.from('hello'), { kind: 'unknown' }],
  ['garbage after NULs', Buffer.from('\0\0x'), { kind: 'unknown' }],
  ['too much filler', Buffer.alloc(100, 0x20), { kind: 'unknown' }],
  ['HTTP method not served', Buffer.from('PUT / HTTP/1.1'), { kind: 'unknown' }],
  ['nothing but a NUL so far', Buffer.from('\0'), { kind: 'need-more' }],
  ['a lone G', Buffer.from('G'), { kind: 'need-more' }],
];

for (const [name, input, expected] of FIXTURES) {
  test(`sniff: ${name}`, () => {
    assert.deepEqual(sniff(input), expected);
  });

  test(`sniff: ${name}, every prefix is need-more or the final verdict`, () => {
    // A prefix may only be undecided or already the same verdict: the listener feeds the
    // sniffer every read, so an early wrong verdict would misroute split first bytes.
    for (let cut = 0; cut < input.length; cut++) {
      const early = sniff(input.subarray(0, cut));
      if (early.kind === 'need-more') continue;
      assert.deepEqual(early, expected, `prefix of ${cut} bytes gave ${JSON.stringify(early)}`);
    }
  });
}
