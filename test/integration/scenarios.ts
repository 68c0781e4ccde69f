/**
 * The chat scenario every Flash client emulation runs through the gateway against a real
 * server: messages both ways with a native client, directed presence, a MUC room, iq round
 * trips in both directions, and a clean close.
 */
import assert from 'node:assert/strict';
import { xml, type NativeClient } from '../support/native-client.js';
import { NS_STREAM, type XmlElement } from '../support/raw-client.js';

const MUC = 'http://jabber.org/protocol/muc';
const PING = 'urn:xmpp:ping';

/** What the scenarios need of a Flash client emulation (raw or NUL mode). */
export interface FlashClient {
  /** Sends one XML string the way the client's transport does (NUL-terminated on XMLSocket). */
  send(xml: string): void;
  nextElement(predicate?: (e: XmlElement) => boolean, timeoutMs?: number): Promise<XmlElement>;
  readonly received: readonly XmlElement[];
  readonly peerClosedStream: boolean;
  close(timeoutMs?: number): Promise<void>;
  waitClosed(timeoutMs?: number): Promise<void>;
  assertNoViolations(): void;
}

export interface ScenarioParties {
  /** The Flash client emulation, logged in through the gateway, with its full JID. */
  readonly flash: FlashClient;
  readonly flashJid: string;
  /** A native client straight to the server. */
  readonly native: NativeClient;
  readonly mucDomain: string;
  /** Unique per test, so parallel runs do not share rooms. */
  readonly tag: string;
}

export async function chatBothWays({ flash, flashJid, native, tag }: ScenarioParties): Promise<void> {
  const body = `hello from flash ${tag} — ünïcödé ✓`;
  flash.send(`<message to="${native.jid}" type="chat" id="m-${tag}"><body>${body}</body></message>`);
  const got = await native.waitFor((s) => s.is('message') && s.getChildText('body') === body);
  assert.equal(got.attrs['from'], flashJid, 'the server stamps the Flash client’s full JID');

  const reply = `reply from native ${tag} <&>`;
  await native.send(xml('message', { to: flashJid, type: 'chat', id: `r-${tag}` }, xml('body', {}, reply)));
  const answer = await flash.nextElement((e) => e.is('message') && e.getChildText('body') === reply);
  assert.equal(answer.attrs['from'], native.jid);
}

export async function directedPresence({ flash, flashJid, native }: ScenarioParties): Promise<void> {
  flash.send(`<presence to="${native.jid}"><show>chat</show><status>via the gateway</status></presence>`);
  const seen = await native.waitFor((s) => s.is('presence') && s.attrs['from'] === flashJid);
  assert.equal(seen.getChildText('status'), 'via the gateway');

  await native.send(xml('presence', { to: flashJid }, xml('status', {}, 'native here')));
  const back = await flash.nextElement((e) => e.is('presence') && e.attrs['from'] === native.jid);
  assert.equal(back.getChildText('status'), 'native here');
}

export async function iqRoundTrips({ flash, flashJid, native, tag }: ScenarioParties): Promise<void> {
  // Flash → native (xmpp.js answers pings itself) → back through the gateway.
  flash.send(`<iq type="get" id="ping-${tag}" to="${native.jid}"><ping xmlns="${PING}"/></iq>`);
  const pong = await flash.nextElement((e) => e.is('iq') && e.attrs['id'] === `ping-${tag}`);
  assert.equal(pong.attrs['type'], 'result', pong.toString());
  assert.equal(pong.attrs['from'], native.jid);

  // Native → Flash: the emulation answers like an app would.
  const request = native.iq(xml('iq', { type: 'get', to: flashJid, id: `q-${tag}` }, xml('query', { xmlns: 'jabber:iq:version' })));
  const asked = await flash.nextElement((e) => e.is('iq') && e.attrs['type'] === 'get' && e.getChild('query', 'jabber:iq:version') !== undefined);
  flash.send(
    `<iq type="result" id="${asked.attrs['id']}" to="${asked.attrs['from']}"><query xmlns="jabber:iq:version"><name>FlashApp</name><version>1.0</version></query></iq>`,
  );
  const result = await request;
  assert.equal(result.getChild('query', 'jabber:iq:version')?.getChildText('name'), 'FlashApp');
}

export async function mucChat({ flash, native, mucDomain, tag }: ScenarioParties): Promise<void> {
  const room = `room-${tag}@${mucDomain}`;
  flash.send(`<presence to="${room}/flash"><x xmlns="${MUC}"/></presence>`);
  await flash.nextElement((e) => e.is('presence') && e.attrs['from'] === `${room}/flash` && hasStatus(e, '110'));
  await native.send(xml('presence', { to: `${room}/native` }, xml('x', { xmlns: MUC })));
  await native.waitFor((s) => s.is('presence') && s.attrs['from'] === `${room}/native` && s.toString().includes('code="110"'));
  await flash.nextElement((e) => e.is('presence') && e.attrs['from'] === `${room}/native`);

  flash.send(`<message to="${room}" type="groupchat"><body>flash says hi in ${tag}</body></message>`);
  const inRoom = await native.waitFor((s) => s.is('message') && s.getChildText('body') === `flash says hi in ${tag}`);
  assert.equal(inRoom.attrs['from'], `${room}/flash`);
  assert.equal(inRoom.attrs['type'], 'groupchat');

  await native.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, `native answers in ${tag}`)));
  const echoed = await flash.nextElement((e) => e.is('message') && e.getChildText('body') === `native answers in ${tag}`);
  assert.equal(echoed.attrs['from'], `${room}/native`);
}

function hasStatus(presence: XmlElement, code: string): boolean {
  return presence.elements().some((x) => x.local === 'x' && x.elements().some((s) => s.local === 'status' && s.attrs['code'] === code));
}

/** The client closes; the gateway answers with its own close and ends the connection. */
export async function cleanClose(flash: FlashClient): Promise<void> {
  await flash.close();
  assert.ok(flash.peerClosedStream, 'the gateway answered </stream:stream>');
  await flash.waitClosed();
  assert.ok(!flash.received.some((e) => e.is('error', NS_STREAM)), 'no stream error on a clean close');
  flash.assertNoViolations();
}

export async function fullScenario(parties: ScenarioParties): Promise<void> {
  await chatBothWays(parties);
  await directedPresence(parties);
  await iqRoundTrips(parties);
  await mucChat(parties);
  parties.flash.assertNoViolations();
  await cleanClose(parties.flash);
}
