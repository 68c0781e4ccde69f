/**
 * The composition root: builds listeners and services from validated Settings, wires them,
 * and handles signals. Nothing else constructs concrete objects.
 */
import { readFileSync } from 'node:fs';
import { isIP, type default as net } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { PolicyOptions } from './codec/policy/policy-file.js';
import { ConnectionLimiter } from './edge/connection-limiter.js';
import { startFlashListener, type AcceptedConnection } from './edge/flash-listener.js';
import { startPolicyListener } from './edge/policy-listener.js';
import type { ProxyPolicy } from './edge/proxy-gate.js';
import type { SniffedProtocol } from './edge/sniffer.js';
import { gatewayNameTest, machineNames } from './edge/gateway-names.js';
import { ConfigError, StreamError } from './errors.js';
import { resolveClientServer } from './xmpp/srv.js';
import { SaltedPasswordCache } from './xmpp/sasl/salted-password-cache.js';
import { startEmbeddedServer, type EmbeddedServer } from './embedded/default-server.js';
import { embeddedBanner } from './embedded/banner.js';
import { InstallError } from './embedded/install.js';
import type { Settings } from './config/settings.js';
import { diffSettings, withReloadable, type ReloadPlan } from './config/reload.js';
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
import { exemptionList, type Secrets } from './config/load.js';
import { startRoomControl } from './services/room-control-setup.js';
import { streamErrorXml, streamHeader, STREAM_CLOSE } from './xmpp/stream-header.js';
import { UpstreamStream } from './xmpp/upstream.js';
import { GatewayMetrics, type MetricsTransport } from './ops/metrics.js';
import { MeteredChannel } from './ops/metered-channel.js';
import type { ConnectionObserver } from './ops/observer.js';
import { createOpsRoutes } from './ops/ops-routes.js';
import { UpstreamProbe } from './ops/readiness.js';
import { RecentLoginFailures } from './ops/login-failures.js';
import { ConnectionHistory } from './ops/connection-history.js';
import { addressMatcher } from './config/load.js';
import { packageVersion } from './version.js';

export interface RunningGateway {
  readonly flashPort: number;
  readonly policyPort: number | undefined;
  readonly httpPort: number | undefined;
  readonly rtmpPort: number | undefined;
  readonly rtmpsPort: number | undefined;
  readonly httpsEnabled: boolean;
  stop(): Promise<void>;
  /**
   * SIGHUP: applies the reloadable settings of `next` without dropping anyone (new limits and
   * timeouts for new connections) and says which changed keys wait for a restart.
   */
  reload(next: Settings): ReloadPlan;
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
  if (!configured.upstream && configured.domains.size === 0) {
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
    // What runs, as configured: the embedded server's rewrite of upstream/domain/upstreamTls
    // above is not a change a reload should report.
    let current = configured;
    return {
      ...running,
      reload(next) {
        const plan = diffSettings(current, next);
        running.reload(next);
        current = withReloadable(current, next);
        return plan;
      },
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

async function startListeners(initial: Settings, log: Logger, secrets: Secrets): Promise<RunningGateway> {
  // Replaced by reload(): closures that read `settings.x` when called see the new values.
  let settings = initial;
  const upstream = settings.upstream;
  if (!upstream && settings.domains.size === 0) throw new ConfigError('no XMPP server configured; give --upstream HOST:PORT');
  const readCa = (file: string | undefined): Buffer | undefined => (file === undefined ? undefined : readFileSync(file));
  const ca = readCa(settings.upstreamCa);
  const domainCas = new Map([...settings.domains].map(([name, d]) => [name, readCa(d.upstreamCa)]));
  const parserLimits = (s: Settings) => ({ maxStanzaBytes: s.maxStanzaBytes, maxDepth: s.maxDepth, maxAttributes: s.maxAttributes });
  let limits = parserLimits(settings);
  let upstreamLimits = { ...limits, maxStanzaBytes: settings.maxUpstreamStanzaBytes };
  let exempt = exemptionList(settings.connectionLimitExempt);
  const limiter = new ConnectionLimiter(settings, (address) => {
    const bare = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    return exempt.check(bare, isIP(bare) === 6 ? 'ipv6' : 'ipv4');
  });
  /** The PROXY protocol at each accept (edge/proxy-gate.ts), or undefined while it is off. */
  const proxyFrom = (s: Settings) => addressMatcher(exemptionList(s.proxyProtocolFrom, '--proxy-protocol-from'));
  let proxyTrusted = proxyFrom(settings);
  const proxy = (): ProxyPolicy | undefined =>
    settings.proxyProtocol === 'off'
      ? undefined
      : { versions: settings.proxyProtocol, trusted: proxyTrusted, timeoutMs: settings.sniffTimeout * 1000 };

  // The policy lists only the gateway's own Flash ports (flash-clients.md): filled in once bound.
  const flashPorts: number[] = [];
  const policy = (): PolicyOptions => ({
    allowFrom: settings.policyAllowFrom,
    toPorts: flashPorts,
    siteControl: settings.policySiteControl,
  });

  /** The domain's own server (`domains:`), else --upstream, else its DNS SRV records. */
  const locateUpstream = async (domain: string) => {
    const own = settings.domains.get(domain);
    const target = own?.upstream ?? (own ? undefined : upstream);
    if (target) return target;
    try {
      return await resolveClientServer(domain);
    } catch (error) {
      throw new StreamError('remote-connection-failed', `cannot find the XMPP server of ${domain} in DNS (${(error as Error).message})`);
    }
  };
  const metrics = new GatewayMetrics();
  // Logins the gateway runs itself (RTMP, iq:auth) skip PBKDF2 for returning users; 0 entries: off.
  const saltedPasswords =
    settings.scramCacheEntries > 0
      ? new SaltedPasswordCache({ maxEntries: settings.scramCacheEntries, maxAgeMs: settings.scramCacheMaxAge * 1000 })
      : undefined;
  if (saltedPasswords) metrics.watchSaltedPasswords(() => saltedPasswords);
  const loginFailures = new RecentLoginFailures();
  metrics.onLoginFailure((failure) => loginFailures.record(failure));
  const history = new ConnectionHistory(() => metrics.liveByTransport());
  history.start();
  const servedDomains = [...new Set([...settings.domain, ...settings.domains.keys()])];
  const probe = new UpstreamProbe({
    domains: servedDomains.map((domain) => ({ domain, locate: () => locateUpstream(domain) })),
    freshMs: 15_000,
    timeoutMs: settings.upstreamConnectTimeout * 1000,
  });
  /** Opens an upstream stream, timing it for metrics and noting the server's health. */
  const connectUpstream = async (domain: string, lang: string | undefined, log: Logger) => {
    const started = process.hrtime.bigint();
    let where = '?';
    try {
      const target = await locateUpstream(domain);
      where = `${target.host}:${target.port}`;
      const opened = await openUpstream(domain, target, lang, log);
      metrics.upstreamConnected(domain, Number(process.hrtime.bigint() - started) / 1e9);
      probe.report(domain, where, true);
      return opened;
    } catch (error) {
      const condition = error instanceof StreamError ? error.condition : 'internal-server-error';
      metrics.upstreamFailed(domain, condition);
      probe.report(domain, where, false, error instanceof StreamError ? error.text : (error as Error).message);
      throw error;
    }
  };
  const openUpstream = (domain: string, target: { host: string; port: number }, lang: string | undefined, log: Logger) => {
    const own = settings.domains.get(domain);
    return UpstreamStream.connect({
      host: target.host,
      port: target.port,
      domain,
      tls: own?.upstreamTls ?? settings.upstreamTls,
      ca: own ? domainCas.get(domain) : ca,
      connectTimeoutMs: settings.upstreamConnectTimeout * 1000,
      keepaliveMs: settings.upstreamKeepalive * 1000,
      writeTimeoutMs: settings.upstreamWriteTimeout * 1000,
      limits: upstreamLimits,
      lang,
      log: log.child({ side: 'upstream' }),
    });
  };

  const names = machineNames(settings.publicHost);
  const sessions = new Set<XmppClientSession>();
  /** One Flash client session over any channel; `ended` runs once the channel is gone. */
  const openSession = (
    channel: ClientChannel,
    log: Logger,
    localAddress: string | undefined,
    observer: ConnectionObserver,
  ): XmppClientSession => {
    const session = new XmppClientSession(channel, {
      domains: settings.domain,
      isGatewayName: gatewayNameTest(names, localAddress),
      nulGraceMs: settings.nulGrace,
      maxPendingStanzas: settings.maxPendingStanzas,
      rateLimit: { perSecond: settings.rateLimit, burst: settings.rateBurst },
      limits,
      authTimeoutMs: settings.authTimeout * 1000,
      idleTimeoutMs: settings.idleTimeout * 1000,
      maxClientBacklogBytes: settings.maxClientBacklogBytes,
      saltedPasswords,
      log,
      observer,
      connectUpstream: (domain, lang) => connectUpstream(domain, lang, log),
    });
    sessions.add(session);
    return session;
  };

  /** Counts the connection in the metrics and its bytes, from the first byte the sniffer read. */
  const metered = (transport: MetricsTransport, channel: ClientChannel, head: Buffer) => {
    const bytes = metrics.clientBytes(transport);
    bytes.in(head.length);
    return { channel: new MeteredChannel(channel, bytes), observer: metrics.observe(transport, channel.remoteAddress) };
  };
  const xmppHandler = (connection: AcceptedConnection): void => {
    const { channel, observer } = metered('tcp', new TcpChannel(connection.socket), connection.head);
    const session = openSession(channel, connection.log.child({ transport: 'tcp' }), connection.socket.localAddress, observer);
    // Not `connection` itself: it holds the first bytes read, for the whole life of the socket.
    const release = connection.release;
    connection.socket.once('close', () => {
      sessions.delete(session);
      release();
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
  const componentSince = new Date();
  let componentChanged = componentSince;
  roomControl?.component.onState((change) => {
    componentChanged = new Date();
    metrics.componentState(roomControl.component.domain, change.state === 'online');
  });
  if (roomControl) metrics.componentState(roomControl.component.domain, false);
  let listening = false;
  const startedAt = new Date();
  const version = packageVersion();
  const opsRoutes = createOpsRoutes({
    metrics,
    // Read at each request, so a reloaded opsAllowFrom applies at once (few requests, small lists).
    mayRead: (address) => addressMatcher(exemptionList(settings.opsAllowFrom, '--ops-allow-from'))(address),
    listening: () => listening,
    upstreams: () => probe.check(),
    status: () => ({
      version,
      startedAt,
      now: new Date(),
      connections: metrics.liveConnections(),
      recentLoginFailures: loginFailures.list(),
      upstreams: probe.snapshot(),
      components: roomControl
        ? [{ domain: roomControl.component.domain, state: componentStateName(roomControl.component.state), since: componentChanged }]
        : [],
      history: history.samples(),
    }),
  });
  const rtmpt = createRtmptHandler({
    limiter,
    log,
    sessionTimeoutMs: settings.rtmptSessionTimeout * 1000,
    maxBodyBytes: settings.maxStanzaBytes + 65536,
    onSession: (channel, info) => startRtmp(channel, info.log.child({ transport: 'rtmpt' }), Buffer.alloc(0), 'rtmpt'),
  });
  const httpFront = new HttpFront({
    refusal,
    app: (req, res) => {
      if (opsRoutes(req, res)) return;
      if (roomControl?.pushApi?.(req, res)) return;
      if (!rtmpt.handle(req, res)) httpApp(req, res);
    },
    // One frame may carry several stanzas (a coalesced send), but never much more than one.
    maxPayload: settings.maxStanzaBytes + 65536,
    allowOrigins: () => settings.websocketAllowOrigin,
    requestHeadTimeoutMs: () => settings.sniffTimeout * 1000,
    limiter,
    log,
    proxy,
    onWebSocket: ({ ws, remoteAddress, remotePort, localAddress, log: connectionLog, release }) => {
      const { channel, observer } = metered('websocket', new WebSocketChannel(ws, remoteAddress, remotePort), Buffer.alloc(0));
      const session = openSession(channel, connectionLog.child({ transport: 'websocket' }), localAddress, observer);
      ws.once('close', () => {
        sessions.delete(session);
        release();
      });
    },
  });


  const rtmpConnections = new Set<RtmpConnection>();
  const reattach = new ReattachRegistry(settings.rtmpReattachGrace * 1000, settings.maxPendingStanzas, log);
  /** One RTMP client over any channel (TCP, or an RTMPT tunnel). */
  const startRtmp = (raw: ClientChannel, log: Logger, head: Buffer, transport: MetricsTransport): void => {
    const { channel, observer } = metered(transport, raw, head);
    const rtmp: RtmpConnection = new RtmpConnection(channel, {
      appName: settings.rtmpApp,
      amfLimits: { ...DEFAULT_AMF_LIMITS, maxStringBytes: settings.maxStanzaBytes },
      chunkLimits: { ...DEFAULT_CHUNK_DECODER_LIMITS, maxMessageLength: settings.maxStanzaBytes + 65536 },
      idleTimeoutMs: settings.idleTimeout * 1000,
      connectTimeoutMs: settings.authTimeout * 1000,
      rateLimit: { perSecond: settings.rateLimit, burst: settings.rateBurst },
      maxPendingCalls: settings.maxPendingStanzas,
      log,
      observer,
      createApplications: (peer) => [
        new XmppCallApi(peer, {
          domains: settings.domain,
          limits,
          connectUpstream: (domain) => connectUpstream(domain, undefined, log),
          loginTimeoutMs: settings.authTimeout * 1000,
          saltedPasswords,
          iqTimeoutMs: settings.rtmpIqTimeout * 1000,
          unansweredIqMs: settings.rtmpUnansweredIqTimeout * 1000,
          log,
          observer,
        }),
        new XiffRedfireApi(peer, {
          domains: settings.domain,
          limits,
          connectUpstream: (domain) => connectUpstream(domain, undefined, log),
          loginTimeoutMs: settings.authTimeout * 1000,
          saltedPasswords,
          reattach,
          log,
          observer,
        }),
      ],
    });
    rtmpConnections.add(rtmp);
    rtmp.onClosed(() => {
      rtmpConnections.delete(rtmp);
      observer.closed();
    });
    if (head.length > 0) rtmp.receive(head);
  };
  const rtmpHandler = (connection: AcceptedConnection, transport: 'rtmp' | 'rtmps' = 'rtmp'): void => {
    startRtmp(new TcpChannel(connection.socket), connection.log.child({ transport }), connection.head, transport);
    connection.socket.once('close', connection.release);
    connection.socket.resume();
  };

  const flash = await startFlashListener({
    name: 'flash',
    host: settings.listen.host,
    port: settings.listen.port,
    get sniffTimeoutMs() {
      return settings.sniffTimeout * 1000;
    },
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
    proxy,
  });
  const flashPort = (flash.address() as net.AddressInfo).port;
  flashPorts.push(flashPort);

  const policyServer =
    settings.policyPort === 0
      ? undefined
      : await startPolicyListener({
          host: settings.policyHost,
          port: settings.policyPort,
          get timeoutMs() {
            return settings.sniffTimeout * 1000;
          },
          policy,
          log,
          proxy,
        });

  const tls =
    settings.tlsCert !== undefined && settings.tlsKey !== undefined
      ? { cert: readFileSync(settings.tlsCert), key: readFileSync(settings.tlsKey) }
      : undefined;
  const httpServer = settings.httpPort === 0 ? undefined : await httpFront.listen(settings.httpHost, settings.httpPort, tls, settings.sniffTimeout * 1000);
  /** The RTMP port, or the RTMPS port (the same, inside TLS). */
  const rtmpListener = (name: 'rtmp' | 'rtmps', port: number, tlsOptions?: TlsOptions) =>
    startFlashListener({
      name,
      ...(tlsOptions ? { tls: tlsOptions } : {}),
      host: settings.rtmpHost,
      port,
      get sniffTimeoutMs() {
        return settings.sniffTimeout * 1000;
      },
      limiter,
      policy,
      log,
      handlers: { rtmp: (connection) => rtmpHandler(connection, name) },
      refuse,
      proxy,
    });
  const rtmpServer = settings.rtmpPort === 0 ? undefined : await rtmpListener('rtmp', settings.rtmpPort);
  const rtmpsServer =
    settings.rtmpsPort === 0 || !tls
      ? undefined
      : await rtmpListener('rtmps', settings.rtmpsPort, {
          cert: tls.cert,
          key: tls.key,
          minVersion: settings.rtmpsMinTls,
          maxVersion: settings.rtmpsMaxTls,
          // The handshake is the connection's first bytes: --sniff-timeout, not Node's 120 s.
          handshakeTimeout: settings.sniffTimeout * 1000,
        });

  listening = true;
  return {
    flashPort,
    policyPort: policyServer ? (policyServer.address() as net.AddressInfo).port : undefined,
    httpPort: httpServer ? (httpServer.address() as net.AddressInfo).port : undefined,
    rtmpPort: rtmpServer ? (rtmpServer.address() as net.AddressInfo).port : undefined,
    rtmpsPort: rtmpsServer ? (rtmpsServer.address() as net.AddressInfo).port : undefined,
    httpsEnabled: tls !== undefined,
    reload(next) {
      const plan = diffSettings(settings, next);
      settings = withReloadable(settings, next);
      limits = parserLimits(settings);
      upstreamLimits = { ...limits, maxStanzaBytes: settings.maxUpstreamStanzaBytes };
      exempt = exemptionList(settings.connectionLimitExempt);
      proxyTrusted = proxyFrom(settings);
      limiter.update(settings);
      // Connection loggers are pino children made without options: they follow the root's level.
      log.level = settings.logLevel;
      return plan;
    },
    async stop() {
      // 1. Stop accepting: no new client while the others are told.
      for (const server of [flash, policyServer, rtmpServer, rtmpsServer, httpServer]) server?.close();
      // 2. Every client hears why (stream error system-shutdown, xmpp_disconnected on RTMP)
      //    and its XMPP stream is closed properly — within the shutdown timeout.
      const told = Promise.allSettled([...[...sessions].map((s) => s.shutdown()), ...[...rtmpConnections].map((r) => r.shutdown())]);
      await Promise.race([told, new Promise((resolve) => setTimeout(resolve, settings.shutdownTimeout * 1000).unref())]);
      // 3. What is left: tunnels, parked Redfire sessions, the component, idle HTTP connections.
      history.stop();
      rtmpt.closeAll();
      reattach.closeAll();
      roomControl?.service.leaveAll();
      await roomControl?.component.stop();
      httpServer?.closeAllConnections();
    },
  };
}

/** The status page's three component states (stopped reads as offline). */
function componentStateName(state: string): 'online' | 'offline' | 'connecting' {
  return state === 'online' || state === 'connecting' ? state : 'offline';
}
