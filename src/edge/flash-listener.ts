/**
 * The main Flash port: one TCP listener whose connections are told apart by their first bytes
 * (edge/sniffer.ts). A policy request gets the policy file and a close; an XMPP stream becomes
 * a session; protocols not served (yet) are closed.
 */
import net from 'node:net';
import tls from 'node:tls';
import { socketPolicyReply, type PolicyOptions } from '../codec/policy/policy-file.js';
import type { Logger } from '../log/logger.js';
import type { ConnectionLimiter } from './connection-limiter.js';
import { nextConnectionId } from './connection-ids.js';
import { guardConnections, readProxyHeader, type ProxyPolicySource } from './proxy-gate.js';
import { proxySignature } from './proxy-protocol.js';
import { sniff, type SniffedProtocol } from './sniffer.js';

/** Bytes a connection may send before the sniffer must have decided. */
const MAX_SNIFF_BYTES = 256;

export interface AcceptedConnection {
  readonly socket: net.Socket;
  /** The bytes read while sniffing; they belong to the protocol. */
  readonly head: Buffer;
  /** Leading filler (NULs, white space) in `head`: a stray NUL tells an XMLSocket client. */
  readonly skip: number;
  readonly log: Logger;
  /** Call when the connection is over, to free its slot in the limiter. */
  readonly release: () => void;
}

export interface FlashListenerOptions {
  /** What the log calls this port. */
  readonly name: 'flash' | 'rtmp' | 'rtmps';
  /** TLS first (RTMPS), then the same sniffing inside it. */
  readonly tls?: tls.TlsOptions;
  readonly host: string;
  readonly port: number;
  readonly sniffTimeoutMs: number;
  readonly limiter: ConnectionLimiter;
  readonly policy: () => PolicyOptions;
  readonly log: Logger;
  /** Handlers for the protocols this gateway serves on the port, besides the policy. */
  readonly handlers: Partial<Record<Exclude<SniffedProtocol, 'policy'>, (connection: AcceptedConnection) => void>>;
  /** Tells a refused client why, in its own protocol, when it is over a connection limit. */
  readonly refuse: (protocol: SniffedProtocol, socket: net.Socket, reason: string) => void;
  /** The PROXY protocol (edge/proxy-gate.ts); absent or undefined: off. */
  readonly proxy?: ProxyPolicySource;
}


export function startFlashListener(options: FlashListenerOptions): Promise<net.Server> {
  const proxy = options.proxy ?? (() => undefined);
  const server = options.tls
    ? tls.createServer(options.tls, (socket) => accept(socket, options, false))
    : net.createServer({ noDelay: true }, (socket) => {
        const policy = proxy();
        if (policy === undefined) {
          accept(socket, options, false);
        } else if (socket.remoteAddress === undefined) {
          // Gone before it was accepted (a balancer's health check resets at once): no one to serve.
          socket.destroy();
        } else if (policy.trusted(socket.remoteAddress)) {
          readProxyHeader(socket, policy, options.log.child({ listener: options.name }), () => accept(socket, options, false));
        } else {
          // Counted from accept like any connection; a PROXY header is refused while sniffing.
          accept(socket, options, true);
        }
      });
  if (options.tls) {
    // The header comes before the TLS handshake, on the raw socket.
    if (options.proxy) guardConnections(server, proxy, options.log.child({ listener: options.name }));
    server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      options.log.debug({ code: error.code, remote: socket.remoteAddress }, `TLS handshake failed: ${error.message}`);
      socket.destroy();
    });
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const address = server.address() as net.AddressInfo;
      options.log.info(
        { listener: options.name, host: address.address, port: address.port },
        `${{ flash: 'Flash', rtmp: 'RTMP', rtmps: 'RTMPS' }[options.name]} port listening on ${address.address}:${address.port}`,
      );
      resolve(server);
    });
  });
}

/** A connection over its limit gets this long to show its protocol, so it can be told why. */
const REFUSAL_SNIFF_MS = 2000;

/**
 * `refuseProxy`: the PROXY protocol is on and this peer is no trusted balancer, so a PROXY
 * header is refused. A balancer's header was read before (and the socket reports the client).
 */
function accept(socket: net.Socket, options: FlashListenerOptions, refuseProxy: boolean): void {
  const id = nextConnectionId();
  const remote = socket.remoteAddress ?? '?';
  const log = options.log.child({ conn: id, remote: `${remote}:${socket.remotePort ?? 0}` });
  // Counted from accept, not from the first bytes: silent connections hold slots too.
  const slot = options.limiter.acquire(remote);
  const release = slot.ok ? slot.ticket.release : () => undefined;
  let head: Buffer = Buffer.alloc(0);
  let handedOver = false;
  socket.once('close', () => {
    if (!handedOver) release();
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    log.debug({ code: error.code }, 'socket error before the protocol was known');
    socket.destroy();
  });
  const timer = setTimeout(
    () => {
      log.debug('no recognisable first bytes in time; closed');
      socket.destroy();
    },
    slot.ok ? options.sniffTimeoutMs : REFUSAL_SNIFF_MS,
  );
  timer.unref();

  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    if (refuseProxy) {
      const signature = proxySignature(head);
      if (signature === 'maybe' && head.length < MAX_SNIFF_BYTES) return;
      if (signature === 'yes') {
        socket.off('data', onData);
        clearTimeout(timer);
        log.warn('a PROXY protocol header from an address not in --proxy-protocol-from; closed');
        socket.destroy();
        return;
      }
    }
    const verdict = sniff(head);
    if (verdict.kind === 'need-more' && head.length < MAX_SNIFF_BYTES) return;
    socket.off('data', onData);
    clearTimeout(timer);
    if (verdict.kind !== 'match') {
      log.debug('unrecognised protocol; closed');
      socket.destroy();
      return;
    }
    const protocol = verdict.protocol;
    if (protocol === 'policy') {
      // Inline policy on the Flash port (Flash Player asks the target port after 843).
      log.debug('policy request served inline');
      socket.end(socketPolicyReply(options.policy()));
      return;
    }
    const handler = options.handlers[protocol];
    if (!handler) {
      log.debug({ protocol }, 'protocol not served on this port; closed');
      socket.destroy();
      return;
    }
    if (!slot.ok) {
      log.warn({ protocol }, `connection refused: ${slot.reason}`);
      options.refuse(protocol, socket, slot.reason);
      return;
    }
    handedOver = true;
    socket.removeAllListeners('error');
    socket.pause();
    handler({ socket, head, skip: verdict.skip, log: log.child({ protocol }), release });
    // This scope lives as long as the socket (its close listener): let the first bytes go.
    head = Buffer.alloc(0);
  };
  socket.on('data', onData);
  // After a PROXY header the socket was paused with the bytes that followed put back.
  socket.resume();
}
