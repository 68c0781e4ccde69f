/**
 * The values the AMF bench encodes and decodes: RTMP command bodies as the call API really
 * carries them (docs/rtmp-api.md) — [command name, transaction id, command object, ...args] —
 * and a few large ones. Built once, deterministically (no randomness), so every run and every
 * codec sees the same values.
 */
import type { AmfValue } from '../../src/codec/amf/values.js';

export interface AmfPayload {
  /** Short stable name, used in result names and `extra` keys. */
  readonly name: string;
  /** 'realistic': the call API's everyday traffic; 'large': the tail a gateway must also survive. */
  readonly kind: 'realistic' | 'large';
  /** What it stands for. */
  readonly what: string;
  /** The command body's values, in order. */
  readonly values: AmfValue[];
}

const DOMAIN = 'example.org';
const jid = (user: string, resource?: string): string => `${user}@${DOMAIN}${resource ? `/${resource}` : ''}`;

/** A chat body of about `n` characters, with some non-ASCII (UTF-8 lengths differ from UTF-16). */
function chatText(n: number, seed: number): string {
  const words = ['hello', 'bonjour', 'grüße', 'привет', 'こんにちは', 'flash', 'gateway', 'xmpp', 'room', 'see', 'you', 'at', 'noon', '😀'];
  let out = '';
  let i = seed;
  while (out.length < n) {
    out += words[i % words.length] + ' ';
    i = (i * 7 + 3) % 1009;
  }
  // Never cut a surrogate pair in two: a lone surrogate is not valid UTF-8 text.
  const cut = out.slice(0, n);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function rosterItems(count: number): string {
  let xml = '';
  for (let i = 0; i < count; i++) {
    xml += `<item jid="${jid(`user${i}`)}" name="User ${i}" subscription="both"><group>Friends</group>${i % 3 === 0 ? '<group>Work</group>' : ''}</item>`;
  }
  return xml;
}

function rosterObjects(count: number): AmfValue[] {
  const out: AmfValue[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      jid: jid(`user${i}`),
      name: `User ${i}`,
      subscription: i % 5 === 0 ? 'to' : 'both',
      ask: null,
      groups: i % 3 === 0 ? ['Friends', 'Work'] : ['Friends'],
      presence: { show: i % 2 === 0 ? 'chat' : 'away', status: chatText(24, i), priority: i % 10 },
      online: i % 2 === 0,
    });
  }
  return out;
}

export function amfPayloads(): AmfPayload[] {
  const connect: AmfPayload = {
    name: 'connect',
    kind: 'realistic',
    what: 'NetConnection connect from Flash Player (command object with the player fields)',
    values: [
      'connect',
      1,
      {
        app: 'xmpp',
        flashVer: 'WIN 32,0,0,465',
        swfUrl: 'https://chat.example.org/client/chat.swf',
        tcUrl: 'rtmp://chat.example.org/xmpp',
        fpad: false,
        capabilities: 239,
        audioCodecs: 3575,
        videoCodecs: 252,
        videoFunction: 1,
        pageUrl: 'https://chat.example.org/',
        objectEncoding: 3,
      },
    ],
  };
  const xmppConnect: AmfPayload = {
    name: 'xmpp_connect',
    kind: 'realistic',
    what: 'xmpp_connect({username, domain, password, resource})',
    values: ['xmpp_connect', 2, null, { username: 'alice', domain: DOMAIN, password: 's3cret-pässword', resource: 'flash' }],
  };
  const sendMessage: AmfPayload = {
    name: 'xmpp-send-message',
    kind: 'realistic',
    what: 'xmpp("message", {to, type}, "<body>…</body>") from the app',
    values: ['xmpp', 0, null, 'message', { to: jid('bob'), type: 'chat', id: 'm-1042' }, `<body>${escapeXml(chatText(80, 1))}</body>`],
  };
  const inboundMessage: AmfPayload = {
    name: 'xmpp_message',
    kind: 'realistic',
    what: 'xmpp_message(attrib, rawbody) to the app: five attributes, body and chat state',
    values: [
      'xmpp_message',
      0,
      null,
      { from: jid('bob', 'laptop'), to: jid('alice', 'flash'), type: 'chat', id: 'b-77', 'xml:lang': 'en' },
      `<body>${escapeXml(chatText(120, 2))}</body><active xmlns="http://jabber.org/protocol/chatstates"/>`,
    ],
  };
  const groupchat: AmfPayload = {
    name: 'xmpp_message-groupchat',
    kind: 'realistic',
    what: 'a groupchat message with a delay stamp',
    values: [
      'xmpp_message',
      0,
      null,
      { from: `room@conference.${DOMAIN}/bob`, to: jid('alice', 'flash'), type: 'groupchat', id: 'g-9' },
      `<body>${escapeXml(chatText(60, 3))}</body><delay xmlns="urn:xmpp:delay" from="room@conference.${DOMAIN}" stamp="2026-11-21T10:00:00Z"/>`,
    ],
  };
  const presence: AmfPayload = {
    name: 'xmpp_presence',
    kind: 'realistic',
    what: 'xmpp_presence with show, status, priority and caps',
    values: [
      'xmpp_presence',
      0,
      null,
      { from: jid('bob', 'laptop'), to: jid('alice', 'flash') },
      `<show>away</show><status>${escapeXml(chatText(30, 4))}</status><priority>5</priority><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://gajim.org" ver="QgayPKawpkPSDYmwT/WM94uAlu0="/>`,
    ],
  };
  const iqResult: AmfPayload = {
    name: 'iq-roster-result',
    kind: 'realistic',
    what: '_result of an iq: [attrs, innerXml] with a 20-item roster',
    values: ['_result', 5, null, [{ type: 'result', from: DOMAIN, to: jid('alice', 'flash'), id: 'roster-1' }, `<query xmlns="jabber:iq:roster">${rosterItems(20)}</query>`]],
  };
  const nested: AmfPayload = {
    name: 'nested-roster-objects',
    kind: 'realistic',
    what: 'an app-level call with nested objects and arrays (20 roster entries as objects)',
    values: ['rosterUpdate', 0, null, { version: 'v42', complete: true, items: rosterObjects(20) }],
  };
  const result: AmfPayload = {
    name: 'connect-result',
    kind: 'realistic',
    what: "the gateway's connect _result (properties and information objects)",
    values: [
      '_result',
      1,
      { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 },
      { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding: 3 },
    ],
  };

  const bigBody: AmfPayload = {
    name: 'message-64k',
    kind: 'large',
    what: 'xmpp_message with a 64 KiB inner XML (long text, non-ASCII)',
    values: ['xmpp_message', 0, null, { from: jid('bob', 'laptop'), to: jid('alice', 'flash'), type: 'chat', id: 'big-1' }, `<body>${escapeXml(chatText(32 * 1024, 5))}</body>`],
  };
  const longString: AmfPayload = {
    name: 'long-string-200k',
    kind: 'large',
    what: 'an iq result whose inner XML is a 200 KiB vCard photo (AMF0 long string)',
    values: [
      '_result',
      9,
      null,
      [{ type: 'result', from: jid('bob'), id: 'vc-1' }, `<vCard xmlns="vcard-temp"><PHOTO><TYPE>image/png</TYPE><BINVAL>${'iVBORw0KGgoAAAANSUhEUgAA'.repeat(8700)}</BINVAL></PHOTO></vCard>`],
    ],
  };
  const bigRoster: AmfPayload = {
    name: 'roster-1000-objects',
    kind: 'large',
    what: 'nested objects: a 1000-entry roster as objects with arrays and sub-objects',
    values: ['rosterUpdate', 0, null, { version: 'v43', complete: true, items: rosterObjects(1000) }],
  };
  const bigRosterXml: AmfPayload = {
    name: 'roster-xml-1000',
    kind: 'large',
    what: 'iq result with a 1000-item roster as inner XML',
    values: ['_result', 6, null, [{ type: 'result', to: jid('alice', 'flash'), id: 'roster-2' }, `<query xmlns="jabber:iq:roster">${rosterItems(1000)}</query>`]],
  };
  return [connect, xmppConnect, sendMessage, inboundMessage, groupchat, presence, iqResult, nested, result, bigBody, longString, bigRoster, bigRosterXml];
}
