#!/usr/bin/env node
// A chat client that talks to the gateway exactly as a Flash XMLSocket app of 2008 did:
// every packet ends in a NUL, the stream opens with `flash:stream`, and the login is the
// legacy `jabber:iq:auth` (XEP-0078) sent without waiting for stream features.
//
//   node examples/xmlsocket-chat.mjs --user alice --password alice-demo --to bob@localhost
//
// Type a line and press Enter to send it; incoming messages and presence are printed.
// Flags: --host (default localhost) --port (default 5222) --resource (default xmlsocket).
import net from 'node:net';
import readline from 'node:readline';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: 'localhost' },
    port: { type: 'string', default: '5222' },
    user: { type: 'string' },
    password: { type: 'string' },
    to: { type: 'string' },
    resource: { type: 'string', default: 'xmlsocket' },
  },
});
if (!opt.user || !opt.password || !opt.to) {
  console.error('usage: node examples/xmlsocket-chat.mjs --user NAME --password PASS --to JID [--host H] [--port P]');
  process.exit(2);
}

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const attr = (xml, name) => new RegExp(`\\s${name}=["']([^"']*)["']`).exec(xml)?.[1];

const socket = net.connect(Number(opt.port), opt.host);
// XMLSocket.send(): the string plus one NUL.
const send = (xml) => socket.write(xml + '\0');

socket.on('connect', () => {
  console.log(`connected to ${opt.host}:${opt.port}; logging in as ${opt.user} …`);
  // `to` is the host the SWF dialled, as XIFF sent it; the gateway maps it to the XMPP domain.
  send(`<?xml version="1.0"?><flash:stream to="${escape(opt.host)}" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">`);
  send(`<iq type="set" id="login"><query xmlns="jabber:iq:auth"><username>${escape(opt.user)}</username><password>${escape(opt.password)}</password><resource>${escape(opt.resource)}</resource></query></iq>`);
});

let buffer = '';
socket.on('data', (data) => {
  buffer += data.toString('utf8');
  let nul;
  while ((nul = buffer.indexOf('\0')) >= 0) {
    handle(buffer.slice(0, nul));
    buffer = buffer.slice(nul + 1);
  }
});
socket.on('close', () => {
  console.log('disconnected');
  process.exit(0);
});
socket.on('error', (error) => {
  console.error(`connection failed: ${error.message}`);
  process.exit(1);
});

/** One packet = one element (the gateway guarantees it). */
function handle(packet) {
  if (packet.startsWith('<?xml') || packet.startsWith('<stream:features')) return;
  if (packet.startsWith('<stream:error')) {
    console.error(`stream error: ${/<text[^>]*>([^<]*)</.exec(packet)?.[1] ?? packet}`);
    return;
  }
  if (packet.startsWith('<iq') && attr(packet, 'id') === 'login') {
    if (attr(packet, 'type') === 'result') {
      console.log(`logged in. Messages you type go to ${opt.to}.`);
      send('<presence/>');
      startTyping();
    } else {
      console.error(`login refused: ${/<error[^>]*><([a-z-]+)/.exec(packet)?.[1] ?? packet}`);
      socket.end('</flash:stream>\0');
    }
    return;
  }
  if (packet.startsWith('<message')) {
    const body = /<body>([\s\S]*?)<\/body>/.exec(packet)?.[1];
    if (body !== undefined) console.log(`${attr(packet, 'from')}: ${unescape(body)}`);
    return;
  }
  if (packet.startsWith('<presence')) {
    console.log(`* ${attr(packet, 'from')} is ${attr(packet, 'type') ?? 'available'}`);
  }
}

function startTyping() {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    send(`<message to="${escape(opt.to)}" type="chat"><body>${escape(line)}</body></message>`);
  });
  rl.on('close', () => socket.end('</flash:stream>\0'));
}
