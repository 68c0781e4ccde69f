/**
 * Room control (shared/spec/room-control.md) against real Prosody and ejabberd: a moderator
 * pushes a payload through the gateway's XEP-0114 component to every occupant of a room — a
 * native client, an XMLSocket client and an RTMP client through the gateway — and only a
 * moderator may; plus the HTTP push API and the component's reconnection.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, xml, type Element, type NativeClient } from '../support/native-client.js';
import { NulFlashClient, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { freePort } from '../support/ports.js';
import { RtmpTestClient, type AmfJson } from '../support/rtmp-client.js';
import { SERVER_KINDS } from '../support/servers.js';
import type { XmppServerInstance } from '../support/xmpp-server.js';

const CONTROL = 'urn:flash-xmpp-gateway:control:0';
const MUC = 'http://jabber.org/protocol/muc';
const COMPONENT = 'control.localhost';
const SECRET = 'component-secret-for-tests';
const TOKEN = 'push-token-for-tests';
const USERS: [string, string][] = [
  ['mod', 'mod-secret'],
  ['natocc', 'nat-secret'],
  ['nulocc', 'nul-secret'],
  ['rtmpocc', 'rtmp-secret'],
  ['mod2', 'mod2-secret'],
  ['occ2', 'occ2-secret'],
];

type Obj = Record<string, AmfJson>;

/** POSTs to the gateway's HTTP port. */
function post(port: number, path: string, body: string, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'Content-Type': 'application/xml', ...(token ? { Authorization: `Bearer ${token}` } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A native client that answers room-control pushes with a result, recording them. */
function acceptPushes(client: NativeClient, seen: Element[]): void {
  const callee = (client.xmpp as unknown as { iqCallee: { set(ns: string, name: string, handler: (ctx: { stanza: Element }) => unknown): void } }).iqCallee;
  callee.set(CONTROL, 'push', (ctx) => {
    seen.push(ctx.stanza);
    return true;
  });
}

async function joinNative(client: NativeClient, room: string, nick: string): Promise<void> {
  await client.send(xml('presence', { to: `${room}/${nick}` }, xml('x', { xmlns: MUC })));
  await client.waitFor((s) => s.is('presence') && s.attrs['from'] === `${room}/${nick}` && s.toString().includes('code="110"'), 8000);
}

function broadcastIq(room: string, id: string, deliver?: string): Element {
  return xml('iq', { type: 'set', to: COMPONENT, id }, xml('broadcast', { xmlns: CONTROL, room, ...(deliver ? { deliver } : {}) }, xml('slide', { xmlns: 'urn:example:classroom', n: '7' })));
}

for (const kind of SERVER_KINDS) {
  describe(`room control on ${kind.name}`, () => {
    let server: XmppServerInstance;
    let gateway: GatewayProcess;
    let httpPort: number;
    let rtmpPort: number;
    let moderator: NativeClient;
    let participant: NativeClient;
    let flash: NulFlashClient;
    let rtmp: RtmpTestClient;
    const room = `classroom-${kind.name}@conference.localhost`;
    const participantSeen: Element[] = [];

    before(async () => {
      server = await kind.start({ tls: false, users: USERS, components: [{ domain: COMPONENT, secret: SECRET }], mucAdmins: [`rooms@${COMPONENT}`] });
      const dir = await mkdtemp(join(tmpdir(), 'fxg-push-'));
      await writeFile(join(dir, 'token'), TOKEN + '\n');
      httpPort = await freePort();
      rtmpPort = await freePort();
      gateway = await startGateway(
        [
          '--listen', `127.0.0.1:${await freePort()}`, '--policy-port', '0',
          '--http-port', String(httpPort), '--http-host', '127.0.0.1',
          '--rtmp-port', String(rtmpPort), '--rtmp-host', '127.0.0.1',
          '--upstream', `${server.host}:${server.c2sPort}`, '--domain', server.domain, '--upstream-tls', 'off',
          '--component', COMPONENT, '--component-upstream', `${server.host}:${server.componentPort}`,
          '--push-token-file', join(dir, 'token'),
          '--room-control-timeout', '5',
        ],
        { listeners: 3, env: { FLASH_XMPP_GATEWAY_COMPONENT_SECRET: SECRET } },
      );
      await gateway.waitForLog((r) => /^component control\.localhost: online/.test(String(r['msg'])), 15_000);

      moderator = await connectNativeTo(server, 'mod', 'mod-secret', { resource: 'teacher' });
      await joinNative(moderator, room, 'teacher'); // creates the room: owner, moderator
      participant = await connectNativeTo(server, 'natocc', 'nat-secret', { resource: 'pupil' });
      acceptPushes(participant, participantSeen);
      await joinNative(participant, room, 'pupil');

      flash = await NulFlashClient.connect('127.0.0.1', gateway.port, { domain: server.domain });
      await xiff3BetaFlashLogin(flash, { host: '127.0.0.1', user: 'nulocc', pass: 'nul-secret', resource: 'xmlsocket' });
      flash.send(`<presence to="${room}/flash"><x xmlns="${MUC}"/></presence>`);
      await flash.nextElement((e) => e.is('presence') && e.attrs['from'] === `${room}/flash` && e.toString().includes('110'), 8000);

      rtmp = await RtmpTestClient.connect(`rtmp://127.0.0.1:${rtmpPort}/xmpp`, { objectEncoding: 3 });
      assert.deepEqual((await rtmp.call('xmpp_connect', [{ username: 'rtmpocc', domain: server.domain, password: 'rtmp-secret', resource: 'rtmp' }]))?.values, [1]);
      await rtmp.call('xmpp', ['presence', { to: `${room}/rtmp` }, `<x xmlns="${MUC}"/>`]);
      await rtmp.nextInvoke('xmpp_presence', (i) => (i.args[0] as Obj)['from'] === `${room}/rtmp` && String(i.args[1]).includes('110'), 8000);
    });

    after(async () => {
      await rtmp?.close();
      await flash?.close();
      await participant?.stop();
      await moderator?.stop();
      await gateway?.stop();
      await server?.stop();
    });

    test('a moderator’s push reaches the native, XMLSocket and RTMP occupants intact; all answer; the report says 3 delivered', async () => {
      const answer = moderator.iq(broadcastIq(room, 'b1'), 15_000);

      const pushed = await flash.nextElement((e) => e.is('iq') && e.getChild('push', CONTROL) !== undefined, 10_000);
      const push = pushed.getChild('push', CONTROL);
      assert.equal(push?.attrs['room'], room);
      assert.equal(push?.attrs['by'], 'teacher');
      assert.equal(push?.getChild('slide', 'urn:example:classroom')?.attrs['n'], '7');
      assert.equal(pushed.attrs['from'], COMPONENT);
      flash.send(`<iq type="result" id="${pushed.attrs['id']}" to="${pushed.attrs['from']}"/>`);

      const viaRtmp = await rtmp.nextInvoke('xmpp_iq', (i) => String(i.args[1]).includes(CONTROL), 10_000);
      const attrib = viaRtmp.args[0] as Obj;
      assert.match(String(viaRtmp.args[1]), /<slide xmlns="urn:example:classroom" n="7"\/>/);
      await rtmp.call('xmpp', ['iq', { type: 'result', to: attrib['from'] as string, id: attrib['id'] as string }, ''], { responder: false });

      const result = await answer;
      const report = result.getChild('report', CONTROL);
      assert.equal(report?.attrs['delivered'], '3', result.toString());
      assert.equal(report?.attrs['failed'], '0');
      assert.equal(participantSeen.length, 1);
      assert.equal(participantSeen[0]?.getChild('push', CONTROL)?.getChild('slide', 'urn:example:classroom')?.attrs['n'], '7');
      flash.assertNoViolations();
    });

    test('a plain participant gets forbidden and nothing is delivered', async () => {
      const before = participantSeen.length;
      await assert.rejects(participant.iq(broadcastIq(room, 'b2'), 10_000), /forbidden/);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(participantSeen.length, before);
      assert.ok(!flash.queued().some((e) => e.getChild('push', CONTROL)), 'no push reached the XMLSocket client');
    });

    test('an unknown room gets item-not-found, and is not created', async () => {
      await assert.rejects(moderator.iq(broadcastIq(`nowhere-${kind.name}@conference.localhost`, 'b3'), 10_000), /item-not-found/);
    });

    test('deliver="message": a headline with the push, no answers expected', async () => {
      const answer = moderator.iq(broadcastIq(room, 'b4', 'message'), 15_000);
      const headline = await flash.nextElement((e) => e.is('message') && e.attrs['type'] === 'headline', 10_000);
      assert.ok(headline.getChild('push', CONTROL));
      const report = (await answer).getChild('report', CONTROL);
      assert.equal(report?.attrs['delivered'], '3');
      await rtmp.nextInvoke('xmpp_message', (i) => String(i.args[1]).includes(CONTROL), 10_000);
    });

    test('the HTTP push API: with the token a JSON report; without it 401 and nothing sent; unknown room 404', async () => {
      const path = `/api/rooms/${encodeURIComponent(room)}/broadcast?deliver=message`;
      const refused = await post(httpPort, path, '<slide xmlns="urn:example:classroom" n="8"/>');
      assert.equal(refused.status, 401);
      const wrong = await post(httpPort, path, '<slide xmlns="urn:example:classroom" n="8"/>', 'not-the-token');
      assert.equal(wrong.status, 401);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!flash.queued().some((e) => e.toString().includes('n="8"')), 'nothing was sent without the token');

      const ok = await post(httpPort, path, '<slide xmlns="urn:example:classroom" n="9"/>', TOKEN);
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json['delivered'], 4, 'every occupant but the service: the moderator too');
      await flash.nextElement((e) => e.is('message') && e.toString().includes('n="9"'), 10_000);

      const missing = await post(httpPort, `/api/rooms/${encodeURIComponent(`ghost-${kind.name}@conference.localhost`)}/broadcast`, '<x xmlns="urn:a"/>', TOKEN);
      assert.equal(missing.status, 404);
    });

    test('after the server restarts, the component reconnects and pushes work again', async () => {
      const onlineCount = (): number => gateway.records().filter((r) => /^component control\.localhost: online/.test(String(r['msg']))).length;
      const before = onlineCount();
      await server.restart();
      const deadline = Date.now() + 30_000;
      while (onlineCount() <= before) {
        assert.ok(Date.now() < deadline, 'the component came back online within 30 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      // A SIGKILLed ejabberd may lose its latest database writes: the accounts are made again.
      await server.register('mod2', 'mod2-secret');
      await server.register('occ2', 'occ2-secret');
      const teacher = await connectNativeTo(server, 'mod2', 'mod2-secret', { resource: 'teacher' });
      const pupil = await connectNativeTo(server, 'occ2', 'occ2-secret', { resource: 'pupil' });
      const seen: Element[] = [];
      acceptPushes(pupil, seen);
      try {
        const again = `again-${kind.name}@conference.localhost`;
        await joinNative(teacher, again, 'teacher');
        await joinNative(pupil, again, 'pupil');
        const report = (await teacher.iq(broadcastIq(again, 'b5'), 15_000)).getChild('report', CONTROL);
        assert.equal(report?.attrs['delivered'], '1');
        assert.equal(seen.length, 1);
      } finally {
        await pupil.stop();
        await teacher.stop();
      }
    });
  });
}
