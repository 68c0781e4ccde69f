/**
 * A "native" XMPP client straight to the server, built on @xmpp/client 0.14 (xmpp.js).
 *
 * xmpp.js always negotiates STARTTLS when offered and upgrades with
 * `tls.connect({ socket, host: domain })` only: there is no option to pass a CA. To make it
 * trust a test CA, this module wraps node:tls `connect` once (in this test process only) and
 * adds `ca` to connections whose underlying TCP peer (host:port) was registered with a CA here.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import type * as tlsTypes from 'node:tls';
import { client, xml, type Client, type Element } from '@xmpp/client';

export { xml, type Element };

const require = createRequire(import.meta.url);
// The CommonJS exports object: the same object xmpp.js gets from `import tls from "node:tls"`.
const tlsModule = require('node:tls') as typeof tlsTypes & { connect: (...args: unknown[]) => tlsTypes.TLSSocket };

/** Loopback test servers: keyed by TCP port (the host may be spelled 127.0.0.1, localhost or ::1). */
const trusted = new Map<number, string | Buffer>();
let tlsPatched = false;

/**
 * Makes xmpp.js (and any tls.connect in this process that passes no `ca`) trust `ca` for TLS
 * to a server on this port (loopback test servers: the host is not compared).
 */
export function trustCaFor(_host: string, port: number, ca: string | Buffer): void {
  trusted.set(port, ca);
  if (tlsPatched) return;
  tlsPatched = true;
  const original = tlsModule.connect;
  tlsModule.connect = function patchedConnect(this: unknown, ...args: unknown[]): tlsTypes.TLSSocket {
    const o = args[0];
    if (o !== null && typeof o === 'object' && !('ca' in o)) {
      const opts = o as { socket?: unknown; host?: string; port?: number };
      let key: number | undefined;
      if (opts.socket instanceof net.Socket) key = opts.socket.remotePort;
      else if (typeof opts.port === 'number') key = opts.port;
      const ca = key === undefined ? undefined : trusted.get(key);
      if (ca !== undefined) args[0] = { ...opts, ca };
    }
    return original.apply(this, args);
  };
}

export interface NativeClientOptions {
  /** e.g. `xmpp://127.0.0.1:5222` (STARTTLS if offered) or `xmpps://host:port` (direct TLS). */
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** PEM file of a CA to trust for this service (needed against the TLS Prosody). */
  ca?: string;
  /**
   * SASL mechanism. Default 'PLAIN' (fast; the test Prosody allows it without TLS).
   * 'auto' lets xmpp.js choose (SCRAM-SHA-1, slow in xmpp.js).
   */
  mechanism?: 'PLAIN' | 'SCRAM-SHA-1' | 'auto';
  /** Send initial `<presence/>` once online. Default true. */
  presence?: boolean;
  /** Login timeout, ms. Default 8000. */
  timeoutMs?: number;
}

export interface NativeClient {
  xmpp: Client;
  /** Full JID bound by the server. */
  jid: string;
  /** True when the stream is TLS-protected. */
  secure: boolean;
  /** Every stanza (iq/message/presence) received since login. */
  received: Element[];
  /** Errors emitted by xmpp.js. */
  errors: Error[];
  /** Sends an element (or a raw string, written as is). */
  send(el: Element | string): Promise<void>;
  /** First unconsumed stanza matching `predicate` (already received ones first). */
  waitFor(predicate: (el: Element) => boolean, timeoutMs?: number): Promise<Element>;
  /** Sends an IQ and resolves with the result (rejects on error/timeout). */
  iq(el: Element, timeoutMs?: number): Promise<Element>;
  /** Closes the stream and socket (bounded). Never throws. */
  stop(): Promise<void>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

function destroySocket(xmpp: Client): void {
  const s = xmpp.socket as { destroy?: () => void; socket?: { destroy?: () => void } | null } | null;
  s?.socket?.destroy?.();
  s?.destroy?.();
}

export async function connectNative(o: NativeClientOptions): Promise<NativeClient> {
  const timeoutMs = o.timeoutMs ?? 8000;
  if (o.ca !== undefined) {
    const u = new URL(o.service);
    const defaultPort = u.protocol === 'xmpps:' ? 5223 : 5222;
    trustCaFor(u.hostname, u.port === '' ? defaultPort : Number(u.port), readFileSync(o.ca));
  }
  const mechanism = o.mechanism ?? 'PLAIN';
  const credentials = { username: o.username, password: o.password };
  const xmpp = client({
    service: o.service,
    domain: o.domain,
    ...(o.resource !== undefined ? { resource: o.resource } : {}),
    username: o.username,
    timeout: Math.min(timeoutMs, 5000),
    credentials:
      mechanism === 'auto'
        ? credentials
        : async (authenticate, mechanisms) => {
            if (!mechanisms.includes(mechanism)) {
              throw new Error(`${mechanism} not offered (server offers ${mechanisms.join(', ')})`);
            }
            await authenticate(credentials, mechanism);
          },
  });
  xmpp.reconnect.stop(); // never reconnect behind the test's back
  const received: Element[] = [];
  const queue: Element[] = [];
  const errors: Error[] = [];
  let waiters: { predicate: (el: Element) => boolean; resolve: (el: Element) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  let closed = false;
  xmpp.on('error', (err: Error) => errors.push(err));
  xmpp.on('stanza', (el: Element) => {
    received.push(el);
    const i = waiters.findIndex((w) => w.predicate(el));
    if (i >= 0) {
      const [w] = waiters.splice(i, 1);
      clearTimeout(w!.timer);
      w!.resolve(el);
    } else {
      queue.push(el);
    }
  });
  xmpp.on('disconnect', () => {
    closed = true;
    for (const w of waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`native client ${o.username}: disconnected while waiting`));
    }
  });

  const stop = async (): Promise<void> => {
    try {
      await withTimeout(xmpp.stop(), 2000, 'xmpp.stop');
    } catch {
      /* ignore */
    }
    destroySocket(xmpp);
  };

  let address;
  try {
    address = await withTimeout(xmpp.start(), timeoutMs, `native login of ${o.username}@${o.domain}`);
  } catch (err) {
    await stop();
    const extra = errors.length > 0 ? ` (errors: ${errors.map((e) => e.message).join('; ')})` : '';
    throw new Error(`connectNative ${o.username}@${o.domain} via ${o.service} failed: ${(err as Error).message}${extra}`);
  }

  const nc: NativeClient = {
    xmpp,
    jid: address.toString(),
    secure: xmpp.isSecure(),
    received,
    errors,
    send: (el) => (typeof el === 'string' ? xmpp.write(el) : xmpp.send(el)),
    waitFor(predicate, waitMs = 5000) {
      const idx = queue.findIndex(predicate);
      if (idx >= 0) return Promise.resolve(queue.splice(idx, 1)[0]!);
      if (closed) return Promise.reject(new Error(`native client ${o.username}: disconnected`));
      return new Promise<Element>((resolve, reject) => {
        const w = {
          predicate,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters = waiters.filter((x) => x !== w);
            const recent = received.slice(-5).map((e) => e.toString()).join('\n  ');
            reject(new Error(`native client ${o.username}: no matching stanza within ${waitMs} ms; last received:\n  ${recent}`));
          }, waitMs),
        };
        waiters.push(w);
      });
    },
    iq: (el, waitMs = 5000) => xmpp.iqCaller.request(el, waitMs),
    stop,
  };
  if (o.presence ?? true) await xmpp.send(xml('presence'));
  return nc;
}

/** connectNative against a test Prosody (plain TCP + STARTTLS when it offers it, its CA trusted). */
export function connectNativeTo(
  p: { host: string; c2sPort: number; domain: string; caCert?: string },
  username: string,
  password: string,
  extra: Partial<NativeClientOptions> = {},
): Promise<NativeClient> {
  return connectNative({
    service: `xmpp://${p.host}:${p.c2sPort}`,
    domain: p.domain,
    username,
    password,
    ...(p.caCert !== undefined ? { ca: p.caCert } : {}),
    ...extra,
  });
}
