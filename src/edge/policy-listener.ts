/**
 * The dedicated socket policy service (default port 843). Flash Player 9.0.124+ asks this port
 * first (shared/spec/flash-clients.md, "Socket policy files"); Openfire's policy port also
 * answered `GET /crossdomain.xml`, so this one does too. Each connection gets one answer, then
 * is closed; anything else is closed without an answer.
 */
import net from 'node:net';
import { httpPolicyReply, POLICY_REQUEST, socketPolicyReply, type PolicyOptions } from '../codec/policy/policy-file.js';
import type { Logger } from '../log/logger.js';
import { guardConnections, type ProxyPolicySource } from './proxy-gate.js';

/** A request larger than this is not a policy request. */
const MAX_REQUEST_BYTES = 4096;

export interface PolicyListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly policy: () => PolicyOptions;
  readonly log: Logger;
  /** The PROXY protocol (edge/proxy-gate.ts); absent: off. */
  readonly proxy?: ProxyPolicySource;
}

/** What a policy connection's bytes ask for so far. */
export function classifyPolicyRequest(data: Buffer): 'socket' | { http: string } | 'need-more' | 'invalid' {
  let start = 0;
  while (start < data.length && (data[start] === 0 || data[start] === 0x20 || data[start] === 0x0a || data[start] === 0x0d)) start++;
  // At most 64 filler bytes, however they arrive: the verdict must not depend on the split (fuzz-edge.test.ts).
  if (start > 64) return 'invalid';
  const rest = data.subarray(start);
  const probe = Buffer.from(POLICY_REQUEST);
  const n = Math.min(rest.length, probe.length);
  if (n > 0 && rest.subarray(0, n).equals(probe.subarray(0, n))) {
    return n === probe.length ? 'socket' : 'need-more';
  }
  if (start === 0 && 'GET '.startsWith(data.subarray(0, 4).toString('latin1'))) {
    if (data.length < 4) return 'need-more';
    const end = data.indexOf('\r\n');
    if (end < 0) return data.length > MAX_REQUEST_BYTES ? 'invalid' : 'need-more';
    const match = /^GET (\S+) HTTP\/1\.[01]$/.exec(data.subarray(0, end).toString('latin1'));
    if (!match) return 'invalid';
    // Answer once the whole request head is in, so the reply does not race the client's writes.
    if (data.indexOf('\r\n\r\n') < 0) return data.length > MAX_REQUEST_BYTES ? 'invalid' : 'need-more';
    return { http: (match[1] as string).split('?')[0] as string };
  }
  if (rest.length === 0 && data.length <= 64) return 'need-more';
  return 'invalid';
}

export function startPolicyListener(options: PolicyListenerOptions): Promise<net.Server | undefined> {
  const { log } = options;
  const server = net.createServer((socket) => {
    let received = Buffer.alloc(0);
    // One deadline for the whole request (the --sniff-timeout "time to send its first bytes", as
    // the Flash port's sniffer has): socket.setTimeout is an inactivity timer, which a client
    // dripping one byte every few seconds would reset for hours (found by hostile-xml.test.ts).
    const deadline = setTimeout(() => socket.destroy(), options.timeoutMs);
    deadline.unref();
    socket.once('close', () => clearTimeout(deadline));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const verdict = classifyPolicyRequest(received);
      if (verdict === 'need-more' && received.length <= MAX_REQUEST_BYTES) return;
      socket.removeAllListeners('data');
      if (verdict === 'socket') {
        socket.end(socketPolicyReply(options.policy()));
      } else if (typeof verdict === 'object') {
        socket.end(httpPolicyReply(verdict.http, options.policy()));
      } else {
        log.debug({ remote: socket.remoteAddress }, 'policy port: not a policy request, closed');
        socket.destroy();
      }
    });
  });
  if (options.proxy) guardConnections(server, options.proxy, log.child({ listener: 'policy' }));
  return new Promise((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      // The policy port is optional: a real Flash Player falls back to the inline policy on
      // the Flash port, so failing to bind 843 (busy, or no privilege) must not stop start-up.
      log.warn(
        { port: options.port, code: error.code },
        `policy port ${options.port} not available (${error.code ?? error.message}); continuing without it — ` +
          'Flash Player will use the inline policy on the Flash port. Port 843 needs root or CAP_NET_BIND_SERVICE.',
      );
      resolve(undefined);
    });
    server.listen(options.port, options.host, () => {
      const address = server.address() as net.AddressInfo;
      log.info({ listener: 'policy', host: address.address, port: address.port }, `policy service listening on ${address.address}:${address.port}`);
      resolve(server);
    });
  });
}
