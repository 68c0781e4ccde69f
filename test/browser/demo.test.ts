/**
 * The demo page in headless Chromium: the demo SWF runs in Ruffle, reaches the gateway through
 * Ruffle's socketProxy (a WebSocket at /xmlsocket), and the gateway logs it in to a real Prosody.
 * One client speaks XMLSocket (NUL mode), the other flash.net.Socket (raw mode).
 *
 * Every wait is for an event the SWF reported after real packets arrived (the page records
 * them in window.fxgEvents) — never for Ruffle's early socket `connect`. Screenshots of every
 * page go to test-artifacts/screenshots/ at the end of each case, pass or fail.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  callSwf,
  closeBrowser,
  closePage,
  describePage,
  eventCount,
  launchBrowser,
  openPage,
  requestUrls,
  screenshot,
  waitForEvent,
  wsFrames,
  type EventData,
  type OpenPageOptions,
} from '../support/browser.js';
import { makeTestPki } from '../support/certs.js';
import { REPO_ROOT, startGateway, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, xml, type NativeClient } from '../support/native-client.js';
import { freePorts } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';

const DOMAIN = 'localhost';
const USERS: [string, string][] = [
  ['alice', 'alice-demo'],
  ['bob', 'bob-demo'],
  ['carol', 'carol-native'],
];
/** One login, one stanza round trip: generous for a loaded CI machine, tiny next to a hang. */
const STEP_MS = 15_000;

/** A short token so each case's bodies, resources and rooms are its own. */
const nonce = (): string => Math.random().toString(36).slice(2, 8);

describe('demo page: Flash clients in Ruffle through the gateway to Prosody', { timeout: 240_000 }, () => {
  let prosody: ProsodyInstance | undefined;
  let gateway: GatewayProcess | undefined;
  let browser: Browser | undefined;
  let mainPort = 0;
  let httpBase = '';

  before(
    async () => {
      const swf = join(REPO_ROOT, 'demo', 'public', 'fxg-demo.swf');
      if (!existsSync(swf)) throw new Error(`${swf} is missing: build it with \`node scripts/build-demo-swf.mjs\` (needs haxe)`);
      const [servers, chromium] = await Promise.allSettled([
        (async () => {
          prosody = await startProsody({ tls: false, users: USERS });
          const [main, http] = (await freePorts(2)) as [number, number];
          mainPort = main;
          httpBase = `http://127.0.0.1:${http}`;
          gateway = await startGateway(
            [
              '--listen', `127.0.0.1:${main}`,
              '--policy-port', '0',
              '--http-port', String(http),
              '--http-host', '127.0.0.1',
              '--upstream', `127.0.0.1:${prosody.c2sPort}`,
              '--domain', DOMAIN,
              '--upstream-tls', 'off',
            ],
            { listeners: 2, timeoutMs: 20_000 },
          );
        })(),
        launchBrowser(),
      ]);
      if (chromium.status === 'fulfilled') browser = chromium.value;
      if (servers.status === 'rejected') throw servers.reason;
      if (chromium.status === 'rejected') throw chromium.reason;
    },
    { timeout: 90_000 },
  );

  after(async () => {
    await closeBrowser(browser);
    await gateway?.stop();
    await prosody?.stop();
  });

  /**
   * Runs one case with its pages: screenshots of each at the end (named CASE-PAGE, with
   * -FAILED on failure), then closes them. A failure carries the gateway's log tail too.
   */
  async function withPages(
    caseName: string,
    body: (open: (pageName: string, pathOrUrl: string, opts?: OpenPageOptions) => Promise<Page>) => Promise<void>,
  ): Promise<void> {
    const pages: [string, Page][] = [];
    const open = async (pageName: string, pathOrUrl: string, opts: OpenPageOptions = {}): Promise<Page> => {
      assert.ok(browser, 'Chromium did not start');
      const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : httpBase + pathOrUrl;
      const page = await openPage(browser, url, { name: `${caseName}/${pageName}`, ...opts });
      pages.push([pageName, page]);
      return page;
    };
    let failed = true;
    try {
      await body(open);
      failed = false;
    } catch (err) {
      const e = err as Error;
      e.message += `\n--- gateway log tail ---\n${gateway?.logs().slice(-4000) ?? '(no gateway)'}`;
      e.message += `\n--- prosody log tail ---\n${prosody?.logTail(40) ?? '(no prosody)'}`;
      throw e;
    } finally {
      await Promise.all(pages.map(([pageName, page]) => screenshot(page, `${caseName}-${pageName}${failed ? '-FAILED' : ''}`)));
      await Promise.all(pages.map(([, page]) => closePage(page)));
    }
  }

  /** Waits until the client is logged in and the server has its initial presence (it echoes it back). */
  async function online(page: Page, instance: string, user: string): Promise<string> {
    await waitForEvent(page, instance, 'connected', undefined, STEP_MS);
    const { data } = await waitForEvent(page, instance, 'loggedIn', undefined, STEP_MS);
    const jid = String(data.jid);
    assert.ok(jid.startsWith(`${user}@${DOMAIN}/`), `${instance} logged in as ${jid}, expected ${user}@${DOMAIN}/…`);
    await waitForEvent(page, instance, 'presence', (d) => d.from === jid && (d.type === undefined || d.type === '' || d.type === 'available'), STEP_MS);
    return jid;
  }

  const bodyIs =
    (body: string, fromBare?: string) =>
    (d: EventData): boolean =>
      d.body === body && (fromBare === undefined || String(d.from).split('/')[0] === fromBare);

  /** Every binary frame the gateway sent the page ends on a NUL (XMLSocket) or holds none (Socket). */
  function assertFraming(page: Page, nulMode: boolean, what: string, socket?: number): void {
    const received = wsFrames(page).filter((f) => f.dir === 'received' && (socket === undefined || f.socket === socket));
    assert.ok(received.length > 0, `${what}: no WebSocket frames received`);
    for (const f of received) {
      assert.ok(f.binary, `${what}: a text frame (Ruffle ignores those): ${f.text.slice(0, 200)}`);
      if (nulMode) assert.ok(f.text.endsWith('\\0'), `${what}: a frame that does not end on a NUL: ${f.text.slice(0, 200)}`);
      else assert.ok(!f.nul, `${what}: a NUL sent to a flash.net.Socket client: ${f.text.slice(0, 200)}`);
    }
  }

  it('XMLSocket and flash.net.Socket SWFs chat both ways and in a room via the HTTP listener', async () => {
    const n = nonce();
    let carol: NativeClient | undefined;
    try {
      await withPages('http-two-pages', async (open) => {
        const common = `autologin=1&renderer=canvas`;
        const [left, right, native] = await Promise.all([
          open('left', `/?only=left&user=alice&password=alice-demo&resource=xml-${n}&${common}`),
          open('right', `/?only=right&user=bob&password=bob-demo&resource=raw-${n}&${common}`),
          connectNativeTo(prosody!, 'carol', 'carol-native').then((c) => (carol = c)),
        ]);
        const [aliceJid, bobJid] = await Promise.all([online(left, 'left', 'alice'), online(right, 'right', 'bob')]);
        assert.equal(aliceJid, `alice@${DOMAIN}/xml-${n}`);
        assert.equal(bobJid, `bob@${DOMAIN}/raw-${n}`);

        // alice (XMLSocket) -> bob (Socket), then back, to the bare JIDs as a person would type them.
        const toBob = `hello bob, XMLSocket here ${n} <&> "quotes" é ✓`;
        assert.equal(await callSwf(left, 'left', 'sendChat', `bob@${DOMAIN}`, toBob), true);
        const m1 = await waitForEvent(right, 'right', 'message', bodyIs(toBob, `alice@${DOMAIN}`), STEP_MS);
        assert.equal(m1.data.from, aliceJid);
        assert.equal(m1.data.type, 'chat');
        const toAlice = `hi alice, flash.net.Socket here ${n}`;
        assert.equal(await callSwf(right, 'right', 'sendChat', `alice@${DOMAIN}`, toAlice), true);
        const m2 = await waitForEvent(left, 'left', 'message', bodyIs(toAlice, `bob@${DOMAIN}`), STEP_MS);
        assert.equal(m2.data.from, bobJid);

        // What a SWF sends really reaches the server: a native client outside the gateway gets it.
        const toCarol = `carol, this left a Flash client ${n}`;
        assert.equal(await callSwf(left, 'left', 'sendChat', `carol@${DOMAIN}`, toCarol), true);
        const got = await native.waitFor((el) => el.is('message') && el.getChildText('body') === toCarol, STEP_MS);
        assert.equal(got.attrs.from, aliceJid);
        const fromCarol = `bob, a native client writes ${n}`;
        await native.send(xml('message', { to: `bob@${DOMAIN}`, type: 'chat' }, xml('body', {}, fromCarol)));
        await waitForEvent(right, 'right', 'message', bodyIs(fromCarol, `carol@${DOMAIN}`), STEP_MS);

        // The same room: each sees the other's groupchat.
        const room = `demo-${n}@conference.${DOMAIN}`;
        assert.equal(await callSwf(left, 'left', 'joinRoom', room, `alice-${n}`), true);
        await waitForEvent(left, 'left', 'joined', (d) => d.room === room && d.nick === `alice-${n}`, STEP_MS);
        assert.equal(await callSwf(right, 'right', 'joinRoom', room, `bob-${n}`), true);
        await waitForEvent(right, 'right', 'joined', (d) => d.room === room && d.nick === `bob-${n}`, STEP_MS);
        const g1 = `alice to the room ${n}`;
        assert.equal(await callSwf(left, 'left', 'sendGroupchat', room, g1), true);
        await waitForEvent(right, 'right', 'groupchat', (d) => d.room === room && d.nick === `alice-${n}` && d.body === g1, STEP_MS);
        const g2 = `bob to the room ${n}`;
        assert.equal(await callSwf(right, 'right', 'sendGroupchat', room, g2), true);
        await waitForEvent(left, 'left', 'groupchat', (d) => d.room === room && d.nick === `bob-${n}` && d.body === g2, STEP_MS);
        // Each also gets its own message back from the room.
        await waitForEvent(left, 'left', 'groupchat', (d) => d.room === room && d.nick === `alice-${n}` && d.body === g1, STEP_MS);

        // The gateway chose the framing each client needs, per connection, on one WebSocket URL.
        assertFraming(left, true, 'XMLSocket page');
        assertFraming(right, false, 'flash.net.Socket page');
        for (const [name, page] of [['left', left], ['right', right]] as const) {
          const sockets = wsFrames(page).filter((f) => f.dir === 'open');
          assert.deepEqual(
            sockets.map((f) => f.url),
            [`${httpBase.replace('http:', 'ws:')}/xmlsocket`],
            `${name}: one WebSocket, to the page's own origin`,
          );
          // Everything the page loads comes from the gateway itself (Ruffle self-hosted, no CDN).
          const foreign = requestUrls(page).filter((u) => !u.startsWith(`${httpBase}/`) && !u.startsWith('data:') && !u.startsWith(`${httpBase.replace('http:', 'ws:')}/`));
          assert.deepEqual(foreign, [], `${name}: requests to other origins`);
          // The human-readable log under the player says so too.
          const logText = await page.locator(`#log-${name}`).innerText({ timeout: 5000 });
          assert.match(logText, /logged in as/);
        }
      });
    } finally {
      await carol?.stop();
    }
  });

  it('the two-client page works through the WebSocket on the main Flash port', async () => {
    const n = nonce();
    // The page itself is served on the main port too (the gateway sniffs `GET `).
    const index = await fetch(`http://127.0.0.1:${mainPort}/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(index.status, 200);
    assert.match(await index.text(), /<script src="\/demo\/demo\.js">/);
    await withPages('main-port-side-by-side', async (open) => {
      const proxy = `ws://127.0.0.1:${mainPort}/xmlsocket`;
      const page = await open(
        'both',
        `/?proxy=${encodeURIComponent(proxy)}&autologin=1&renderer=canvas&left.resource=main-xml-${n}&right.resource=main-raw-${n}`,
      );
      const [aliceJid, bobJid] = await Promise.all([online(page, 'left', 'alice'), online(page, 'right', 'bob')]);
      const toBob = `via the main port ${n}`;
      assert.equal(await callSwf(page, 'right', 'sendChat', `alice@${DOMAIN}`, `${toBob} (raw)`), true);
      const m1 = await waitForEvent(page, 'left', 'message', bodyIs(`${toBob} (raw)`), STEP_MS);
      assert.equal(m1.data.from, bobJid);
      assert.equal(await callSwf(page, 'left', 'sendChat', `bob@${DOMAIN}`, `${toBob} (nul)`), true);
      const m2 = await waitForEvent(page, 'right', 'message', bodyIs(`${toBob} (nul)`), STEP_MS);
      assert.equal(m2.data.from, aliceJid);
      // Each event went to its own client (the iframes keep the two SWFs apart).
      const events = (await page.evaluate(() => (globalThis as unknown as { fxgEvents: Record<string, { type: string; data: EventData }[]> }).fxgEvents)) ?? {};
      assert.ok(!events['unknown'], 'events nobody could place');
      assert.ok((events['left'] ?? []).every((e) => e.type !== 'loggedIn' || String(e.data.jid).startsWith('alice@')), 'left got bob\u2019s login');
      assert.ok((events['right'] ?? []).every((e) => e.type !== 'loggedIn' || String(e.data.jid).startsWith('bob@')), 'right got alice\u2019s login');
      const opened = wsFrames(page).filter((f) => f.dir === 'open').map((f) => f.url);
      assert.deepEqual(opened, [proxy, proxy], 'both clients used the main port');
      // One socket got NUL-framed packets (XMLSocket), the other none (flash.net.Socket).
      const nulSockets = [0, 1].filter((i) => wsFrames(page).some((f) => f.socket === i && f.dir === 'received' && f.nul));
      if (nulSockets.length !== 1) assert.fail(`${nulSockets.length} NUL-mode sockets, expected exactly 1\n${await describePage(page)}`);
      assertFraming(page, true, 'XMLSocket client', nulSockets[0]);
      assertFraming(page, false, 'flash.net.Socket client', 1 - nulSockets[0]!);
    });
  });

  it('a wrong password typed into the page shows loginFailed on both transports; corrected, Start logs in', async () => {
    const n = nonce();
    await withPages('wrong-password', async (open) => {
      // What a visitor does: the two-client page, no autologin, type a password, press Start.
      const page = await open('both', `/?renderer=canvas&left.resource=retry-xml-${n}&right.resource=retry-raw-${n}`);
      const wrong: Record<string, string> = { left: 'not-alices', right: 'not-bobs' };
      for (const instance of ['left', 'right']) {
        await waitForEvent(page, instance, 'ready', undefined, STEP_MS); // the SWF runs, idle
        const frame = page.frameLocator(`#frame-${instance}`);
        await frame.locator(`#password-${instance}`).fill(wrong[instance]!, { timeout: 5000 });
        await frame.locator(`#start-${instance}`).click({ timeout: 5000 });
      }
      for (const instance of ['left', 'right']) {
        const { data } = await waitForEvent(page, instance, 'loginFailed', undefined, STEP_MS);
        if (data.condition !== 'not-authorized') {
          assert.fail(`${instance}: loginFailed ${JSON.stringify(data)}, expected not-authorized\n${await describePage(page)}`);
        }
      }
      const events = (await page.evaluate(() => (globalThis as unknown as { fxgEvents: Record<string, { type: string }[]> }).fxgEvents)) ?? {};
      for (const instance of ['left', 'right']) {
        assert.ok((events[instance] ?? []).some((e) => e.type === 'connected'), `${instance}: the server was reached before the refusal`);
        assert.ok(!(events[instance] ?? []).some((e) => e.type === 'loggedIn'), `${instance}: logged in with a wrong password`);
      }
      // Corrected and started again, the same SWF logs in (through its `login` callback).
      const since = await eventCount(page, 'left');
      const left = page.frameLocator('#frame-left');
      await left.locator('#password-left').fill('alice-demo', { timeout: 5000 });
      await left.locator('#start-left').click({ timeout: 5000 });
      const { data } = await waitForEvent(page, 'left', 'loggedIn', { since, timeoutMs: STEP_MS });
      assert.equal(data.jid, `alice@${DOMAIN}/retry-xml-${n}`);
    });
  });

  it('an https page reaches the gateway over wss:// (--tls-cert)', async () => {
    const n = nonce();
    const dir = await mkdtemp(join(tmpdir(), 'fxg-demo-tls-'));
    let tlsGateway: GatewayProcess | undefined;
    try {
      const pki = await makeTestPki(dir, ['localhost']);
      const [main, https] = (await freePorts(2)) as [number, number];
      tlsGateway = await startGateway(
        [
          '--listen', `127.0.0.1:${main}`,
          '--policy-port', '0',
          '--http-port', String(https),
          '--http-host', '127.0.0.1',
          '--tls-cert', pki.cert,
          '--tls-key', pki.key,
          '--upstream', `127.0.0.1:${prosody!.c2sPort}`,
          '--domain', DOMAIN,
          '--upstream-tls', 'off',
        ],
        { listeners: 2, timeoutMs: 20_000 },
      );
      await withPages('https-wss', async (open) => {
        const page = await open('left', `https://localhost:${https}/?only=left&autologin=1&renderer=canvas&resource=wss-${n}`, { ignoreHTTPSErrors: true });
        const jid = await online(page, 'left', 'alice');
        assert.equal(jid, `alice@${DOMAIN}/wss-${n}`);
        const opened = wsFrames(page).filter((f) => f.dir === 'open').map((f) => f.url);
        assert.deepEqual(opened, [`wss://localhost:${https}/xmlsocket`], 'the page picked wss:// for itself');
        assertFraming(page, true, 'XMLSocket over wss');
      });
    } catch (err) {
      const e = err as Error;
      e.message += `\n--- TLS gateway log tail ---\n${tlsGateway?.logs().slice(-3000) ?? '(not started)'}`;
      throw e;
    } finally {
      await tlsGateway?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
