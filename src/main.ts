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
import { gatewayNameTest, machineNames } from './edge/gateway-names.js';
import { ConfigError } from './errors.js';
import { startEmbeddedServer, type EmbeddedServer } from './embedded/default-server.js';
import { InstallError } from './embedded/install.js';
import type { Settings } from './config/settings.js';
import type { Logger } from './log/logger.js';
import { XmppClientSession } from './session/xmpp-client-session.js';
import type { ClientChannel } from './transport/channel.js';
import { TcpChannel } from './transport/tcp-channel.js';
import { WebSocketChannel } from './transport/websocket-channel.js';
import { DEFAULT_AMF_LIMITS } from './codec/amf/amf3.js';
import { DEFAULT_CHUNK_DECODER_LIMITS } from './codec/rtmp/chunk-decoder.js';
import { RtmpConnection } from './session/rtmp/rtmp-connection.js';
import { XmppCallApi } from './session/rtmp/xmpp-call-api.js';
import { XiffRedfireApi } from './session/rtmp/xiff-redfire-api.js';
import { ReattachRegistry } from './session/rtmp/reattach.js';
import { createHttpApp } from './edge/http-app.js';
import { HttpFront } from './edge/http-listener.js';
import { createRtmptHandler } from './edge/rtmpt.js';
import type { Secrets } from './config/load.js';
import type { XmlLimits } from './codec/xml/parser.js';
import { ComponentConnection } from './xmpp/component.js';
import { RoomControlService } from './services/room-control.js';
import { createPushApi } from './services/push-api.js';
import { streamErrorXml, streamHeader, STREAM_CLOSE } from './xmpp/stream-header.js';
import { UpstreamStream } from './xmpp/upstream.js';

export interface RunningGateway {
  readonly flashPort: number;
  readonly policyPort: number | undefined;
  readonly httpPort: number | undefined;
  readonly rtmpPort: number | undefined;
  readonly rtmpsPort: number | undefined;
  readonly httpsEnabled: boolean;
  stop(): Promise<void>;
}

/**
 * Starts the gateway; with no upstream configured, in front of the embedded demo server
 * (src/embedded/default-server.ts), whose details `say` prints for people.
 */
export async function startGateway(
  configured: Settings,
  log: Logger,
  say: (text: string) => void = () => undefined,
  secrets: Secrets = { componentSecret: undefined, pushToken: undefined },
): Promise<RunningGateway> {
  let embedded: EmbeddedServer | undefined;
  let settings = configured;
  if (!configured.upstream) {
    try {
      embedded = await startEmbeddedServer(configured.domain[0] ?? 'localhost', log, say);
    } catch (error) {
      if (error instanceof InstallError) throw new ConfigError(`no --upstream given and the embedded Prosody is not available: ${error.message}`);
      throw error;
    }
    // Loopback to a throwaway server: plaintext is fine there (and its certificate is none).
    settings = { ...configured, upstream: embedded.upstream, domain: [embedded.domain], upstreamTls: 'off' };
  }
  try {
    const running = await startListeners(settings, log, secrets);
    if (embedded) say(embeddedBanner(settings, running, embedded));
    return {
      ...running,
      async stop() {
        await running.stop();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

/** The XEP-0114 component and the room-control service on it, with the HTTP push API. */
function startRoomControl(settings: Settings, secrets: Secrets, log: Logger, limits: XmlLimits) {
  if (settings.component === undefined || secrets.componentSecret === undefined) return undefined;
  const upstream = settings.componentUpstream ?? { host: settings.upstream?.host ?? '127.0.0.1', port: 5347 };
  const componentLog = log.child({ component: settings.component });
  const component = new ComponentConnection({
    host: upstream.host,
    port: upstream.port,
    domain: settings.component,
    secret: secrets.componentSecret,
    limits: { ...limits, maxStanzaBytes: settings.maxUpstreamStanzaBytes },
    keepaliveMs: settings.upstreamKeepalive * 1000,
    handshakeTimeoutMs: settings.upstreamConnectTimeout * 1000,
    log: componentLog,
  });
  const service = new RoomControlService({
    component: {
      get state() {
        return component.state;
      },
      send: (element) => component.send(element),
      iq: (element, timeoutMs) => component.iq(element, timeoutMs),
      onStanza: (handler) => void component.onStanza(handler),
      onState: (handler) => void component.onState((change) => handler(change.state)),
    },
    domain: settings.component,
    serviceJid: `rooms@${settings.component}/${settings.roomControlNick}`,
    nick: settings.roomControlNick,
    answerTimeoutMs: settings.roomControlTimeout * 1000,
    log: componentLog,
  });
  component.start();
  const pushApi = secrets.pushToken === undefined ? undefined : createPushApi({ token: secrets.pushToken, service, limits, log: componentLog });
  return { component, service, pushApi };
}

async function startListeners(settings: Settings, log: Logger, secrets: Secrets): Promise<RunningGateway> {
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

  const connectUpstream = (domain: string, lang: string | undefined, log: Logger) =>
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
      log: log.child({ side: 'upstream' }),
    });

  const names = machineNames(settings.publicHost);
  const sessions = new Set<XmppClientSession>();
  /** One Flash client session over any channel; `ended` runs once the channel is gone. */
  const openSession = (channel: ClientChannel, log: Logger, localAddress: string | undefined): XmppClientSession => {
    const session = new XmppClientSession(channel, {
      domains: settings.domain,
      isGatewayName: gatewayNameTest(names, localAddress),
      nulGraceMs: settings.nulGrace,
      maxPendingStanzas: settings.maxPendingStanzas,
      limits,
      authTimeoutMs: settings.authTimeout * 1000,
      idleTimeoutMs: settings.idleTimeout * 1000,
      maxClientBacklogBytes: settings.maxClientBacklogBytes,
      log,
      connectUpstream: (domain, lang) => connectUpstream(domain, lang, log),
    });
    sessions.add(session);
    return session;
  };

  const xmppHandler = (connection: AcceptedConnection): void => {
    const session = openSession(new TcpChannel(connection.socket), connection.log.child({ transport: 'tcp' }), connection.socket.localAddress);
    connection.socket.once('close', () => {
      sessions.delete(session);
      connection.release();
    });
    session.receive(connection.head);
    connection.socket.resume();
  };

  /** A stream error for a client over a connection limit, before its framing is known. */
  const refusal = (reason: string): string =>
    streamHeader({ from: settings.domain[0], version: '1.0' }) + streamErrorXml('policy-violation', reason) + STREAM_CLOSE;
  const refuse = (protocol: SniffedProtocol, socket: net.Socket, reason: string): void => {
    if (protocol === 'xmpp') socket.end(refusal(reason));
    else socket.destroy();
  };

  const httpApp = createHttpApp({ policy });
  const roomControl = startRoomControl(settings, secrets, log, limits);
  const rtmpt = createRtmptHandler({
    limiter,
    log,
    sessionTimeoutMs: settings.rtmptSessionTimeout * 1000,
    maxBodyBytes: settings.maxStanzaBytes + 65536,
    onSession: (channel, info) => startRtmp(channel, info.log.child({ transport: 'rtmpt' }), Buffer.alloc(0)),
  });
  const httpFront = new HttpFront({
    refusal,
    app: (req, res) => {
      if (roomControl?.pushApi?.(req, res)) return;
      if (!rtmpt.handle(req, res)) httpApp(req, res);
    },
    // One frame may carry several stanzas (a coalesced send), but never much more than one.
    maxPayload: settings.maxStanzaBytes + 65536,
    allowOrigins: () => settings.websocketAllowOrigin,
    limiter,
    log,
    onWebSocket: ({ ws, remoteAddress, remotePort, localAddress, log: connectionLog, release }) => {
      const session = openSession(new WebSocketChannel(ws, remoteAddress, remotePort), connectionLog.child({ transport: 'websocket' }), localAddress);
      ws.once('close', () => {
        sessions.delete(session);
        release();
      });
    },
  });


  const reattach = new ReattachRegistry(settings.rtmpReattachGrace * 1000, settings.maxPendingStanzas, log);
  /** One RTMP client over any channel (TCP, or an RTMPT tunnel). */
  const startRtmp = (channel: ClientChannel, log: Logger, head: Buffer): void => {
    const rtmp = new RtmpConnection(channel, {
      appName: settings.rtmpApp,
      amfLimits: { ...DEFAULT_AMF_LIMITS, maxStringBytes: settings.maxStanzaBytes },
      chunkLimits: { ...DEFAULT_CHUNK_DECODER_LIMITS, maxMessageLength: settings.maxStanzaBytes + 65536 },
      idleTimeoutMs: settings.idleTimeout * 1000,
      connectTimeoutMs: settings.authTimeout * 1000,
      log,
      createApplications: (peer) => [
        new XmppCallApi(peer, {
          domains: settings.domain,
          limits,
          connectUpstream: (domain) => connectUpstream(domain, undefined, log),
          loginTimeoutMs: settings.authTimeout * 1000,
          iqTimeoutMs: settings.rtmpIqTimeout * 1000,
          unansweredIqMs: settings.rtmpUnansweredIqTimeout * 1000,
          log,
        }),
        new XiffRedfireApi(peer, {
          domains: settings.domain,
          limits,
          connectUpstream: (domain) => connectUpstream(domain, undefined, log),
          loginTimeoutMs: settings.authTimeout * 1000,
          reattach,
          log,
        }),
      ],
    });
    if (head.length > 0) rtmp.receive(head);
  };
  const rtmpHandler = (connection: AcceptedConnection): void => {
    startRtmp(new TcpChannel(connection.socket), connection.log.child({ transport: 'rtmp' }), connection.head);
    connection.socket.once('close', connection.release);
    connection.socket.resume();
  };

  const flash = await startFlashListener({
    name: 'flash',
    host: settings.listen.host,
    port: settings.listen.port,
    sniffTimeoutMs: settings.sniffTimeout * 1000,
    limiter,
    policy,
    log,
    handlers: {
      xmpp: xmppHandler,
      // WebSocket upgrades (Ruffle) and the demo page on the Flash port itself.
      'http-get': (connection) => httpFront.takeConnection(connection.socket, connection.head, connection.release),
      // RTMPT (POST /open/1 …) on the Flash port too.
      'http-post': (connection) => httpFront.takeConnection(connection.socket, connection.head, connection.release),
      // RTMP on the Flash port too (0x03), whether or not the RTMP port is on.
      rtmp: rtmpHandler,
    },
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

  const tls =
    settings.tlsCert !== undefined && settings.tlsKey !== undefined
      ? { cert: readFileSync(settings.tlsCert), key: readFileSync(settings.tlsKey) }
      : undefined;
  const httpServer = settings.httpPort === 0 ? undefined : await httpFront.listen(settings.httpHost, settings.httpPort, tls);
  const rtmpServer =
    settings.rtmpPort === 0
      ? undefined
      : await startFlashListener({
          name: 'rtmp',
          host: settings.rtmpHost,
          port: settings.rtmpPort,
          sniffTimeoutMs: settings.sniffTimeout * 1000,
          limiter,
          policy,
          log,
          handlers: { rtmp: rtmpHandler },
          refuse,
        });

  const rtmpsServer =
    settings.rtmpsPort === 0 || !tls
      ? undefined
      : await startFlashListener({
          name: 'rtmps',
          tls: { cert: tls.cert, key: tls.key, minVersion: settings.rtmpsMinTls, maxVersion: settings.rtmpsMaxTls },
          host: settings.rtmpHost,
          port: settings.rtmpsPort,
          sniffTimeoutMs: settings.sniffTimeout * 1000,
          limiter,
          policy,
          log,
          handlers: { rtmp: rtmpHandler },
          refuse,
        });

  return {
    flashPort,
    policyPort: policyServer ? (policyServer.address() as net.AddressInfo).port : undefined,
    httpPort: httpServer ? (httpServer.address() as net.AddressInfo).port : undefined,
    rtmpPort: rtmpServer ? (rtmpServer.address() as net.AddressInfo).port : undefined,
    rtmpsPort: rtmpsServer ? (rtmpsServer.address() as net.AddressInfo).port : undefined,
    httpsEnabled: tls !== undefined,
    async stop() {
      policyServer?.close();
      rtmpServer?.close();
      rtmpsServer?.close();
      rtmpt.closeAll();
      roomControl?.service.leaveAll();
      await roomControl?.component.stop();
      reattach.closeAll();
      httpServer?.close();
      httpServer?.closeAllConnections();
      await new Promise<void>((resolve) => flash.close(() => resolve()));
    },
  };
}

function embeddedBanner(settings: Settings, running: RunningGateway, server: EmbeddedServer): string {
  const [alice, bob] = server.accounts;
  const host = settings.listen.host === '0.0.0.0' || settings.listen.host === '::' ? 'localhost' : settings.listen.host;
  const lines = [
    '',
    'flash-xmpp-gateway is running in front of an embedded Prosody (a throwaway demo server:',
    `its data in ${server.dir} goes away when the gateway stops).`,
    '',
    `  Flash port     ${settings.listen.host}:${running.flashPort}  (XMLSocket, flash.net.Socket, socket policy)`,
    `  policy port    ${running.policyPort ?? 'off'}`,
    `  RTMP           ${running.rtmpPort === undefined ? 'off' : `rtmp://${host}:${running.rtmpPort}/${settings.rtmpApp}  (the XMPP call API for Flash Player and AIR)`}`,
    ...(running.httpPort === undefined
      ? []
      : [
          `  demo page      ${running.httpsEnabled ? 'https' : 'http'}://${host}:${running.httpPort}/   (two Flash clients in Ruffle, side by side)`,
          `  WebSocket      ${running.httpsEnabled ? 'wss' : 'ws'}://${host}:${running.httpPort}/xmlsocket  (Ruffle socketProxy)`,
        ]),
    `  XMPP domain    ${server.domain}   rooms on ${server.mucDomain}`,
    `  demo accounts  ${alice?.username} / ${alice?.password}    ${bob?.username} / ${bob?.password}`,
    '',
    'Point a Flash client at this host, port ' + String(running.flashPort) + ', domain ' + server.domain + ', or try the example',
    'XMLSocket client in two terminals:',
    `  node examples/xmlsocket-chat.mjs --port ${running.flashPort} --host ${host} --user ${alice?.username} --password ${alice?.password} --to ${bob?.username}@${server.domain}`,
    `  node examples/xmlsocket-chat.mjs --port ${running.flashPort} --host ${host} --user ${bob?.username} --password ${bob?.password} --to ${alice?.username}@${server.domain}`,
    '',
    'Stop with Ctrl-C. To serve a real server: --upstream HOST:PORT --domain NAME.',
    '',
  ];
  return lines.join('\n');
}
