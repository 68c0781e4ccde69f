/**
 * The upstream c2s stream (src/xmpp/upstream.ts) on its own, against a real Prosody: STARTTLS
 * with the certificate checked against the XMPP domain, whitespace keepalives, and the server's
 * own stream errors turned into ones the client can read.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { DEFAULT_XML_LIMITS } from '../../src/codec/xml/parser.js';
import { StreamError } from '../../src/errors.js';
import { saslMechanisms } from '../../src/xmpp/features.js';
import { UpstreamStream, type UpstreamOptions } from '../../src/xmpp/upstream.js';
import { startProsody, type ProsodyInstance } from '../support/prosody.js';

const silent = pino({ level: 'silent' });

function options(prosody: ProsodyInstance, extra: Partial<UpstreamOptions> = {}): UpstreamOptions {
  return {
    host: prosody.host,
    port: prosody.c2sPort,
    domain: prosody.domain,
    tls: 'optional',
    connectTimeoutMs: 5000,
    keepaliveMs: 60_000,
    limits: DEFAULT_XML_LIMITS,
    log: silent,
    ...extra,
  };
}

/** A byte relay in front of the server that records what the gateway sends (no parsing). */
async function recordingRelay(target: { host: string; port: number }): Promise<{ port: number; sent: () => string; close: () => void }> {
  let sent = '';
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.push(client, upstream);
    client.on('data', (d) => {
      sent += d.toString('latin1');
      upstream.write(d);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => sent,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('upstream stream against a STARTTLS Prosody', () => {
  let prosody: ProsodyInstance;
  before(async () => {
    prosody = await startProsody({ tls: true });
  });
  after(async () => prosody?.stop());

  test('STARTTLS with the CA given: TLS is up and the post-TLS features come back', async () => {
    const ca = readFileSync(prosody.caCert as string);
    const { stream, features } = await UpstreamStream.connect(options(prosody, { tls: 'required', ca }));
    try {
      assert.equal(stream.tlsActive, true);
      assert.ok(stream.streamId.length > 0);
      assert.ok(saslMechanisms(features).includes('PLAIN'));
    } finally {
      stream.destroy();
    }
  });

  test('optional TLS with an untrusted certificate is refused, never downgraded', async () => {
    await assert.rejects(
      UpstreamStream.connect(options(prosody, { tls: 'optional' })),
      (error: unknown) => error instanceof StreamError && /not accepted/.test(error.text),
    );
  });

  test('tls off: no STARTTLS even when offered', async () => {
    const { stream } = await UpstreamStream.connect(options(prosody, { tls: 'off' }));
    assert.equal(stream.tlsActive, false);
    stream.destroy();
  });
});

describe('upstream stream against a plaintext Prosody', () => {
  let prosody: ProsodyInstance;
  before(async () => {
    prosody = await startProsody({ tls: false });
  });
  after(async () => prosody?.stop());

  test('a domain the server does not serve: the server’s host-unknown, with its text', async () => {
    await assert.rejects(UpstreamStream.connect(options(prosody, { domain: 'not-served.example' })), (error: unknown) => {
      assert.ok(error instanceof StreamError);
      assert.equal(error.condition, 'host-unknown');
      assert.match(error.text, /^XMPP server/);
      return true;
    });
  });

  test('whitespace keepalives go upstream while the stream is idle (RFC 6120 §4.6.1)', async () => {
    const relay = await recordingRelay({ host: prosody.host, port: prosody.c2sPort });
    const { stream } = await UpstreamStream.connect(options(prosody, { port: relay.port, keepaliveMs: 300 }));
    try {
      stream.attach({ element: () => undefined, ended: () => undefined });
      const before = relay.sent().length;
      await new Promise((r) => setTimeout(r, 1100));
      const idle = relay.sent().slice(before);
      assert.ok(idle.length >= 2, `keepalives sent: ${JSON.stringify(idle)}`);
      assert.match(idle, /^ +$/);
    } finally {
      stream.destroy();
      relay.close();
    }
  });

  test('a connection that dies mid-stream is reported as remote-connection-failed', async () => {
    const relay = await recordingRelay({ host: prosody.host, port: prosody.c2sPort });
    const { stream } = await UpstreamStream.connect(options(prosody, { port: relay.port }));
    const ended = new Promise<StreamError | undefined>((resolve) => stream.attach({ element: () => undefined, ended: resolve }));
    relay.close();
    const error = await ended;
    assert.ok(error instanceof StreamError);
    assert.equal(error.condition, 'remote-connection-failed');
    assert.match(error.text, /closed the connection|failed/);
  });
});

describe('upstream stream against a server whose certificate names another host', () => {
  let prosody: ProsodyInstance;
  before(async () => {
    // A trusted CA, but the certificate is for xmpp.elsewhere.example, not for the domain.
    prosody = await startProsody({ tls: true, certificateNames: ['xmpp.elsewhere.example'] });
  });
  after(async () => prosody?.stop());

  test('the certificate is checked against the XMPP domain (RFC 6125), not just the CA', async () => {
    const ca = readFileSync(prosody.caCert as string);
    await assert.rejects(UpstreamStream.connect(options(prosody, { tls: 'required', ca })), (error: unknown) => {
      assert.ok(error instanceof StreamError);
      assert.equal(error.condition, 'remote-connection-failed');
      assert.match(error.text, /not accepted for localhost .*(altnames|Hostname)/i);
      return true;
    });
  });
});
