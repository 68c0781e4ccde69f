/**
 * The WebSocket transport (what Ruffle's socketProxy opens) against a real Prosody: the same
 * byte-exact XMLSocket and flash.net.Socket emulations, carried in binary frames, on the HTTP
 * listener and on the main Flash port; upstream failures as stream errors; origins; wss; and
 * the files the HTTP listener serves.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { makeTestPki } from '../support/certs.js';
import { startGateway, type GatewayProcess } from '../support/gateway.js';
import { connectNativeTo, type NativeClient } from '../support/native-client.js';
import { NulFlashClient, xiff3BetaFlashLogin } from '../support/nul-client.js';
import { freePort } from '../support/ports.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';
import { NS_STREAM, NS_STREAM_ERRORS, RawFlashClient, sparkwebLogin, xiffHeader } from '../support/raw-client.js';
import { startWsBridge, type WsBridge } from '../support/ws-bridge.js';
import { fullScenario } from './scenarios.js';

const USERS: [string, string][] = [
  ['wsnul', 'nul-secret'],
  ['wsraw', 'raw-secret'],
  ['wspeer', 'peer-secret'],
];

function get(port: number, path: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function gatewayArgs(prosody: { host: string; c2sPort: number; domain: string }, extra: string[] = []): Promise<string[]> {
  return [
    '--listen', `127.0.0.1:${await freePort()}`,
    '--policy-port', '0',
    '--http-port', String(await freePort()),
    '--http-host', '127.0.0.1',
    '--upstream', `${prosody.host}:${prosody.c2sPort}`,
    '--domain', prosody.domain,
    '--upstream-tls', 'off',
    ...extra,
  ];
}

const httpPortOf = (g: GatewayProcess): number => Number(g.args[g.args.indexOf('--http-port') + 1]);

describe('WebSocket transport against Prosody', () => {
  let prosody: ProsodyInstance;
  let gateway: GatewayProcess;
  let native: NativeClient;
  const bridges: WsBridge[] = [];

  before(async () => {
    prosody = await startProsody({ tls: false, users: USERS });
    gateway = await startGateway(await gatewayArgs(prosody), { listeners: 2 });
    native = await connectNativeTo(prosody, 'wspeer', 'peer-secret', { resource: 'native' });
  });
  after(async () => {
    for (const b of bridges) await b.close();
    await native?.stop();
    await gateway?.stop();
    await prosody?.stop();
  });

  test('an XMLSocket SWF over the HTTP listener: NUL mode in binary frames, each ending on a NUL; the whole scenario', async () => {
    const bridge = await startWsBridge(`ws://127.0.0.1:${httpPortOf(gateway)}/xmlsocket`, { origin: 'http://127.0.0.1' });
    bridges.push(bridge);
    const flash = await NulFlashClient.connect('127.0.0.1', bridge.port, { name: 'ws-xmlsocket', domain: prosody.domain });
    const jid = await xiff3BetaFlashLogin(flash, { host: 'localhost', user: 'wsnul', pass: 'nul-secret', resource: 'ruffle' });
    await fullScenario({ flash, flashJid: jid, native, mucDomain: prosody.mucDomain, tag: 'ws-nul' });
    assert.deepEqual(bridge.violations, []);
    assert.ok(bridge.frames.length > 5);
    await gateway.waitForLog((r) => r['transport'] === 'websocket' && r['msg'] === 'client authenticated');
  });

  test('a flash.net.Socket SWF over the WebSocket on the main Flash port (sniffed GET): the whole scenario', async () => {
    const bridge = await startWsBridge(`ws://127.0.0.1:${gateway.port}/xmlsocket`);
    bridges.push(bridge);
    const flash = await RawFlashClient.connect('127.0.0.1', bridge.port, { name: 'ws-socket' });
    const jid = await sparkwebLogin(flash, { domain: prosody.domain, user: 'wsraw', pass: 'raw-secret', resource: 'ruffle-socket' });
    await fullScenario({ flash, flashJid: jid, native, mucDomain: prosody.mucDomain, tag: 'ws-raw' });
    assert.deepEqual(bridge.violations, []);
  });

  test('a text frame is refused with close code 1003', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${httpPortOf(gateway)}/xmlsocket`);
    await new Promise((r) => ws.once('open', r));
    ws.send(xiffHeader(prosody.domain));
    const code = await new Promise<number>((r) => ws.once('close', (c: number) => r(c)));
    assert.equal(code, 1003);
  });

  test('another path is 404, and the demo page, Ruffle and the policy are served', async () => {
    const http = httpPortOf(gateway);
    const page = await get(http, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    const ruffle = await get(http, '/ruffle/ruffle.js');
    assert.equal(ruffle.status, 200);
    assert.match(ruffle.type, /^text\/javascript/);
    const pkg = JSON.parse(await readFile(new URL('../../../node_modules/@ruffle-rs/ruffle/package.json', import.meta.url), 'utf8')) as { files?: string[] };
    assert.ok(pkg);
    const wasmName = (await import('node:fs')).readdirSync(new URL('../../../node_modules/@ruffle-rs/ruffle/', import.meta.url)).find((f) => f.endsWith('.wasm'));
    assert.ok(wasmName);
    const wasm = await get(http, `/ruffle/${wasmName}`);
    assert.equal(wasm.status, 200);
    assert.equal(wasm.type, 'application/wasm');
    const policy = await get(http, '/crossdomain.xml');
    assert.equal(policy.status, 200);
    assert.match(policy.body.toString(), /<allow-access-from domain="\*" to-ports="\d+"\/>/);
    for (const path of ['/demo/../package.json', '/demo/%2e%2e/package.json', '/ruffle/..%2f..%2fpackage.json', '/nothing']) {
      assert.equal((await get(http, path)).status, 404, path);
    }
    const wrongPath = new WebSocket(`ws://127.0.0.1:${http}/elsewhere`);
    const status = await new Promise<number>((r) => wrongPath.once('unexpected-response', (_req, res) => r(res.statusCode ?? 0)));
    assert.equal(status, 404);
  });

  test('the same page is served on the main Flash port', async () => {
    const page = await get(gateway.port, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
  });
});

describe('WebSocket edges', () => {
  let prosody: ProsodyInstance;
  before(async () => {
    prosody = await startProsody({ tls: false, users: [['edge', 'edge-secret']] });
  });
  after(async () => prosody?.stop());

  test('an unreachable server: the upgrade succeeds, then a stream error says why, then the close', async () => {
    const deadPort = await freePort();
    const g = await startGateway(await gatewayArgs({ host: '127.0.0.1', c2sPort: deadPort, domain: 'localhost' }), { listeners: 2 });
    const bridge = await startWsBridge(`ws://127.0.0.1:${httpPortOf(g)}/xmlsocket`);
    try {
      const flash = await NulFlashClient.connect('127.0.0.1', bridge.port, { failOnStreamError: false, domain: 'localhost' });
      flash.send('<?xml version="1.0"?><flash:stream to="localhost" xmlns="jabber:client" xmlns:flash="http://www.jabber.com/streams/flash" version="1.0">');
      const error = await flash.nextElement((e) => e.is('error', NS_STREAM), 10_000);
      assert.equal(error.elements()[0]?.local, 'remote-connection-failed');
      assert.match(error.getChildText('text', NS_STREAM_ERRORS) ?? '', /cannot reach the XMPP server/);
      await flash.waitClosed();
      flash.assertNoViolations();
      assert.deepEqual(bridge.violations, []);
      assert.deepEqual(bridge.closeCodes, [1000]);
    } finally {
      await bridge.close();
      await g.stop();
    }
  });

  test('origins outside --websocket-allow-origin are refused (403); listed ones are served', async () => {
    const g = await startGateway(await gatewayArgs(prosody, ['--websocket-allow-origin', 'https://games.example']), { listeners: 2 });
    try {
      const url = `ws://127.0.0.1:${httpPortOf(g)}/xmlsocket`;
      const evil = new WebSocket(url, { origin: 'https://evil.example' });
      const status = await new Promise<number>((r) => evil.once('unexpected-response', (_req, res) => r(res.statusCode ?? 0)));
      assert.equal(status, 403);
      const bridge = await startWsBridge(url, { origin: 'https://games.example' });
      try {
        const flash = await RawFlashClient.connect('127.0.0.1', bridge.port);
        await sparkwebLogin(flash, { domain: prosody.domain, user: 'edge', pass: 'edge-secret', resource: 'origin' });
        await flash.close();
      } finally {
        await bridge.close();
      }
    } finally {
      await g.stop();
    }
  });

  test('wss:// with --tls-cert and --tls-key', async () => {
    const pki = await makeTestPki(await mkdtemp(join(tmpdir(), 'fxg-wss-')), ['localhost']);
    const g = await startGateway(await gatewayArgs(prosody, ['--tls-cert', pki.cert, '--tls-key', pki.key]), { listeners: 2 });
    try {
      const bridge = await startWsBridge(`wss://localhost:${httpPortOf(g)}/xmlsocket`, { ca: await readFile(pki.caCert) });
      try {
        const flash = await RawFlashClient.connect('127.0.0.1', bridge.port);
        const jid = await sparkwebLogin(flash, { domain: prosody.domain, user: 'edge', pass: 'edge-secret', resource: 'wss' });
        assert.equal(jid, `edge@${prosody.domain}/wss`);
        await flash.close();
      } finally {
        await bridge.close();
      }
    } finally {
      await g.stop();
    }
  });
});
