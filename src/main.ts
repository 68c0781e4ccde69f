/**
 * The composition root: builds listeners and services from validated Settings, wires them,
 * and handles signals. Nothing else constructs concrete objects.
 */
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import type { PolicyOptions } from './codec/policy/policy-file.js';
import { ConnectionLimiter } from './edge/connection-limiter.js';
import { startFlashListener, type AcceptedConnection } from './edge/flash-listener.js';
import { startPolicyListener } from './edge/policy-listener.js';
import type { SniffedProtocol } from './edge/sniffer.js';
import { ConfigError } from './errors.js';
import type { Settings } from './config/settings.js';
import type { Logger } from './log/logger.js';
import { RAW_FRAMING } from './session/framing.js';
import { XmppClientSession } from './session/xmpp-client-session.js';
import { TcpChannel } from './transport/tcp-channel.js';
import { streamErrorXml, streamHeader, STREAM_CLOSE } from './xmpp/stream-header.js';
import { UpstreamStream } from './xmpp/upstream.js';

export interface RunningGateway {
  readonly flashPort: number;
  readonly policyPort: number | undefined;
  stop(): Promise<void>;
}

export async function startGateway(settings: Settings, log: Logger): Promise<RunningGateway> {
  const upstream = settings.upstream;
  if (!upstream) throw new ConfigError('no XMPP server configured; give --upstream HOST:PORT');
  const ca = settings.upstreamCa !== undefined ? readFileSync(settings.upstreamCa) : undefined;
  const limits = { maxStanzaBytes: settings.maxStanzaBytes, maxDepth: settings.maxDepth, maxAttributes: settings.maxAttributes };
  const upstreamLimits = { ...limits, maxStanzaBytes: settings.maxUpstreamStanzaBytes };
  const limiter = new ConnectionLimiter(settings);

  // The policy lists only the gateway's own Flash ports (flash-clients.md): filled in once bound.
  const flashPorts: number[] = [];
  const policy = (): PolicyOptions => ({
    allowFrom: settings.policyAllowFrom,
    toPorts: flashPorts,
    siteControl: settings.policySiteControl,
  });

  const sessions = new Set<XmppClientSession>();
  const xmppHandler = (connection: AcceptedConnection): void => {
    const channel = new TcpChannel(connection.socket);
    const session = new XmppClientSession(channel, RAW_FRAMING, {
      domains: settings.domain,
      limits,
      authTimeoutMs: settings.authTimeout * 1000,
      idleTimeoutMs: settings.idleTimeout * 1000,
      maxClientBacklogBytes: settings.maxClientBacklogBytes,
      log: connection.log.child({ transport: 'tcp', mode: 'raw' }),
      connectUpstream: (domain, lang) =>
        UpstreamStream.connect({
          host: upstream.host,
          port: upstream.port,
          domain,
          tls: settings.upstreamTls,
          ca,
          connectTimeoutMs: settings.upstreamConnectTimeout * 1000,
          keepaliveMs: settings.upstreamKeepalive * 1000,
          limits: upstreamLimits,
          lang,
          log: connection.log.child({ side: 'upstream' }),
        }),
    });
    sessions.add(session);
    connection.socket.once('close', () => {
      sessions.delete(session);
      connection.release();
    });
    session.receive(connection.head);
    connection.socket.resume();
  };

  const refuse = (protocol: SniffedProtocol, socket: net.Socket, reason: string): void => {
    if (protocol === 'xmpp') {
      socket.end(streamHeader({ from: settings.domain[0], version: '1.0' }) + streamErrorXml('policy-violation', reason) + STREAM_CLOSE);
    } else {
      socket.destroy();
    }
  };

  const flash = await startFlashListener({
    host: settings.listen.host,
    port: settings.listen.port,
    sniffTimeoutMs: settings.sniffTimeout * 1000,
    limiter,
    policy,
    log,
    handlers: { xmpp: xmppHandler },
    refuse,
  });
  const flashPort = (flash.address() as net.AddressInfo).port;
  flashPorts.push(flashPort);

  const policyServer =
    settings.policyPort === 0
      ? undefined
      : await startPolicyListener({
          host: settings.policyHost,
          port: settings.policyPort,
          timeoutMs: settings.sniffTimeout * 1000,
          policy,
          log,
        });

  return {
    flashPort,
    policyPort: policyServer ? (policyServer.address() as net.AddressInfo).port : undefined,
    async stop() {
      policyServer?.close();
      await new Promise<void>((resolve) => flash.close(() => resolve()));
    },
  };
}
