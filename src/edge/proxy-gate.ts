/**
 * The PROXY protocol on the listeners (`--proxy-protocol`, `--proxy-protocol-from`): a
 * connection from a trusted load balancer must start with a PROXY header (edge/proxy-protocol.ts),
 * which is read off the socket before anything else sees it; the socket then reports the client's
 * address and port as its `remoteAddress`/`remotePort` (and the address the client dialled as its
 * `localAddress`/`localPort`), so the connection limiter, the logs, the metrics and the status
 * page all see the client, not the balancer. A connection from any other address that starts
 * with a PROXY header is refused: only the configured balancers may speak for someone else.
 *
 * Off (the default) costs nothing: the listeners do not wait for a byte.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../log/logger.js';
import { parseProxyHeader, proxySignature, ProxyProtocolError, type ProxyHeader, type ProxyVersions } from './proxy-protocol.js';

/** What a listener checks at each accept; read again for every connection, so a reload applies. */
export interface ProxyPolicy {
  readonly versions: ProxyVersions;
  /** Whether the peer is a load balancer, which must send a header. */
  readonly trusted: (address: string) => boolean;
  /** Time a balancer has to send its header, and anyone else to show it sends none. */
  readonly timeoutMs: number;
}

/** The policy now, or undefined while the PROXY protocol is off. */
export type ProxyPolicySource = () => ProxyPolicy | undefined;

/** Headers applied to raw sockets, for the TLS sockets later built on them. */
const applied = new WeakMap<object, ProxyHeader & { command: 'proxy' }>();

function peerName(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
}

/** Makes the socket report the header's client (remote) and dialled (local) endpoints. */
function adopt(socket: net.Socket, header: ProxyHeader & { command: 'proxy' }): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: header.source.address, configurable: true },
    remotePort: { value: header.source.port, configurable: true },
    remoteFamily: { value: header.family, configurable: true },
    localAddress: { value: header.destination.address, configurable: true },
    localPort: { value: header.destination.port, configurable: true },
  });
  applied.set(socket, header);
}

/**
 * Reads the bytes a gate needs, then either hands the socket on (the bytes read put back in
 * front of its stream) or destroys it. `decide` sees all bytes so far and answers 'more', a
 * length of bytes to drop before handing on, or a refusal text.
 */
function gate(
  socket: net.Socket,
  timeoutMs: number,
  decide: (data: Buffer) => 'more' | { take: number } | { refuse: string },
  /** What the log says when nothing decisive came in time, and how loud. */
  onTimeout: () => { message: string; level: 'warn' | 'debug' },
  log: Logger,
  pass: () => void,
): void {
  let data: Buffer = Buffer.alloc(0);
  const finish = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('close', onClose);
  };
  const refuse = (message: string, level: 'warn' | 'debug' = 'warn'): void => {
    finish();
    log[level]({ remote: peerName(socket) }, message);
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
    const verdict = decide(data);
    if (verdict === 'more') return;
    if ('refuse' in verdict) {
      refuse(verdict.refuse);
      return;
    }
    finish();
    socket.pause();
    if (verdict.take < data.length) socket.unshift(data.subarray(verdict.take));
    pass();
  };
  const onError = (): void => {
    finish();
    socket.destroy();
  };
  const onClose = (): void => finish();
  const timer = setTimeout(() => {
    const { message, level } = onTimeout();
    refuse(message, level);
  }, timeoutMs);
  timer.unref();
  socket.on('error', onError);
  socket.once('close', onClose);
  socket.on('data', onData);
}

/**
 * A connection from a trusted balancer: its PROXY header is read and adopted, then `pass` runs
 * with the socket paused and the bytes after the header unread. A missing or bad header closes
 * the connection with a log line.
 */
export function readProxyHeader(socket: net.Socket, policy: ProxyPolicy, log: Logger, pass: () => void): void {
  const balancer = peerName(socket);
  gate(
    socket,
    policy.timeoutMs,
    (data) => {
      let result;
      try {
        result = parseProxyHeader(data, policy.versions);
      } catch (error) {
        if (!(error instanceof ProxyProtocolError)) throw error;
        return { refuse: `bad PROXY protocol header from ${balancer} (${error.code}): ${error.message}; closed` };
      }
      if (result.kind === 'need-more') return 'more';
      const { header } = result;
      if (header.command === 'proxy') {
        adopt(socket, header);
        log.debug({ remote: peerName(socket), via: balancer, proxyVersion: header.version }, 'PROXY header: client address adopted');
      } else {
        log.debug({ remote: balancer, proxyVersion: header.version, command: header.command }, 'PROXY header without a client address: the balancer itself');
      }
      return { take: header.length };
    },
    () => ({ message: `no PROXY protocol header from ${balancer} within ${policy.timeoutMs / 1000} s; closed`, level: 'warn' }),
    log,
    pass,
  );
}

/**
 * A connection from anyone else: refused if it starts with a PROXY header; otherwise `pass`
 * runs (socket paused, nothing consumed) as soon as its first bytes show it does not.
 */
export function refuseProxyHeader(socket: net.Socket, policy: ProxyPolicy, log: Logger, pass: () => void): void {
  gate(
    socket,
    policy.timeoutMs,
    (data) => {
      const signature = proxySignature(data);
      if (signature === 'maybe') return 'more';
      if (signature === 'yes') return { refuse: 'a PROXY protocol header from an address not in --proxy-protocol-from; closed' };
      return { take: 0 };
    },
    // An idle connection (a browser's preconnect) is no misconfiguration.
    () => ({ message: 'nothing sent in time; closed', level: 'debug' }),
    log,
    pass,
  );
}

/**
 * Puts the gate in front of every connection a server accepts: its own 'connection' listeners
 * run once the header is read (or, for an untrusted peer, once it shows none), with the bytes
 * after the header still to read. For a TLS server the header comes before the handshake, and
 * the TLS socket built on the raw one reports the client too.
 */
export function guardConnections(server: net.Server, proxy: ProxyPolicySource, log: Logger): void {
  const inner = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  const isTls = server instanceof tls.Server;
  const handOn = (socket: net.Socket): void => {
    for (const listener of inner) listener.call(server, socket);
    // A TLS socket reads the raw one itself (and takes what was put back first); a plain
    // server's socket flows again.
    if (!isTls) socket.resume();
  };
  server.on('connection', (socket: net.Socket) => {
    const policy = proxy();
    if (!policy) {
      for (const listener of inner) listener.call(server, socket);
      return;
    }
    if (socket.remoteAddress === undefined) {
      // Gone before it was accepted (a balancer's health check resets at once): no one to serve.
      socket.destroy();
      return;
    }
    const check = policy.trusted(socket.remoteAddress) ? readProxyHeader : refuseProxyHeader;
    check(socket, policy, log, () => handOn(socket));
  });
  if (isTls) {
    server.prependListener('secureConnection', (secure: tls.TLSSocket) => {
      // Node keeps the wrapped socket as `_parent`.
      const header = applied.get((secure as unknown as { _parent?: object })._parent ?? {});
      if (header) adopt(secure, header);
    });
  }
}
