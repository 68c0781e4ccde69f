/**
 * The HTTP side of the gateway: its own listener (--http-port, HTTPS when a certificate is
 * configured) and the HTTP connections sniffed on the main Flash port (`GET `), both served by
 * the same handlers. WebSocket upgrades at /xmlsocket become Flash client sessions (Ruffle's
 * socketProxy); everything else goes to the HTTP app (demo page, Ruffle, crossdomain.xml).
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import type { ConnectionLimiter } from './connection-limiter.js';
import { nextConnectionId } from './connection-ids.js';
import { guardConnections, type ProxyPolicySource } from './proxy-gate.js';

export const WEBSOCKET_PATH = '/xmlsocket';

export interface WebSocketArrival {
  readonly ws: WebSocket;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string | undefined;
  readonly log: Logger;
  /** Frees the connection's slot in the limiter; call when the session is over. */
  readonly release: () => void;
}

export interface HttpFrontOptions {
  readonly app: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Largest WebSocket message accepted (RFC 6455 frames are reassembled by ws). */
  readonly maxPayload: number;
  /** Page origins allowed to open WebSockets; `*` allows any. */
  readonly allowOrigins: () => readonly string[];
  readonly limiter: ConnectionLimiter;
  readonly log: Logger;
  readonly onWebSocket: (arrival: WebSocketArrival) => void;
  /** What a client over a connection limit reads before the close (a stream error). */
  readonly refusal: (reason: string) => string;
  /**
   * The PROXY protocol on the HTTP listener (edge/proxy-gate.ts), read before HTTP (and before
   * TLS with HTTPS). Connections sniffed on the Flash port passed its gate already.
   */
  readonly proxy?: ProxyPolicySource;
  /** Time a connection sniffed on the Flash port has to finish its request head (--sniff-timeout). */
  readonly requestHeadTimeoutMs?: () => number;
}

export class HttpFront {
  /** Parses the plain HTTP sniffed on the main port; never listens itself. */
  private readonly inline: http.Server;
  private readonly wss: WebSocketServer;
  /** Sockets whose slot the main port's listener already holds. */
  private readonly counted = new WeakSet<net.Socket>();
  /** Sniffed sockets still owing their first request head, with the timer that ends them. */
  private readonly owingHead = new WeakMap<net.Socket, NodeJS.Timeout>();

  constructor(private readonly options: HttpFrontOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload, perMessageDeflate: false });
    this.inline = this.decorate(http.createServer());
  }

  private decorate<S extends http.Server>(server: S): S {
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.headArrived(req.socket);
      this.options.app(req, res);
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      this.headArrived(socket);
      this.upgrade(req, socket, head);
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
      // A TLS handshake that failed or timed out (ERR_TLS_*, ERR_SSL_*) has no HTTP to answer in:
      // a 400 written there waits for a handshake that never comes, holding the socket for ever
      // (found by hostile-tls.test.ts). Close it.
      const tlsFailure = /^ERR_(TLS|SSL)_/.test(error.code ?? '');
      if (socket.writable && !tlsFailure) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    return server;
  }

  /** An HTTP connection sniffed on the main Flash port, with the bytes read so far. */
  takeConnection(socket: net.Socket, head: Buffer, release: () => void): void {
    this.counted.add(socket);
    // The inline server never listens, so Node's headersTimeout check never runs for it: without
    // this a `GET ` that never finishes its head held the socket and its slot for ever
    // (found by the hostile-input suite).
    const deadline = setTimeout(() => socket.destroy(), this.options.requestHeadTimeoutMs?.() ?? this.inline.headersTimeout);
    deadline.unref();
    this.owingHead.set(socket, deadline);
    socket.once('close', () => {
      clearTimeout(deadline);
      release();
    });
    socket.unshift(head);
    this.inline.emit('connection', socket);
    socket.resume();
  }

  private headArrived(socket: net.Socket): void {
    clearTimeout(this.owingHead.get(socket));
    this.owingHead.delete(socket);
  }

  /** Starts the HTTP listener (HTTPS when `tls` is given). */
  listen(host: string, port: number, tls: { cert: Buffer; key: Buffer } | undefined, handshakeTimeoutMs?: number): Promise<http.Server> {
    // A TLS handshake is a connection's first bytes: bounded like them (--sniff-timeout), not by
    // Node's default 120 s, which let silent or half-finished handshakes linger (hostile-tls.test.ts).
    const timeout = handshakeTimeoutMs !== undefined ? { handshakeTimeout: handshakeTimeoutMs } : {};
    const server = this.decorate(tls ? https.createServer({ cert: tls.cert, key: tls.key, ...timeout }) : http.createServer());
    if (this.options.proxy) guardConnections(server, this.options.proxy, this.options.log.child({ listener: 'http' }));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address() as net.AddressInfo;
        this.options.log.info(
          { listener: 'http', host: address.address, port: address.port, tls: tls !== undefined },
          `HTTP${tls ? 'S' : ''} port listening on ${address.address}:${address.port} (WebSocket at ${WEBSOCKET_PATH})`,
        );
        resolve(server);
      });
    });
  }

  private upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    const remoteAddress = socket.remoteAddress ?? '?';
    const log = this.options.log.child({ conn: nextConnectionId(), remote: `${remoteAddress}:${socket.remotePort ?? 0}`, protocol: 'websocket' });
    const refuse = (status: number, reason: string): void => {
      log.info({ status }, `WebSocket refused: ${reason}`);
      const body = `${reason}\n`;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    if (path !== WEBSOCKET_PATH) {
      refuse(404, `WebSockets are served at ${WEBSOCKET_PATH}`);
      return;
    }
    const origin = req.headers.origin;
    const allowed = this.options.allowOrigins();
    // Browsers always send Origin; other clients are no different from a TCP client.
    if (origin !== undefined && !allowed.includes('*') && !allowed.includes(origin.toLowerCase())) {
      refuse(403, `origin ${origin} is not allowed`);
      return;
    }
    let release = (): void => undefined;
    if (!this.counted.has(socket)) {
      const slot = this.options.limiter.acquire(remoteAddress);
      if (!slot.ok) {
        // Ruffle has told the SWF "connected" already: a stream error says why, a refused
        // upgrade would not (flash-clients.md, "Ruffle").
        log.warn(`connection refused: ${slot.reason}`);
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          ws.send(Buffer.from(this.options.refusal(slot.reason), 'utf8'), { binary: true });
          ws.close(1008, 'connection limit');
        });
        return;
      }
      release = slot.ticket.release;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.options.onWebSocket({
        ws,
        remoteAddress,
        remotePort: socket.remotePort ?? 0,
        localAddress: socket.localAddress,
        log,
        release,
      });
    });
  }
}
