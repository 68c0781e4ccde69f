/** Builds the XEP-0114 component, the room-control service on it and the HTTP push API. */
import type { XmlLimits } from '../codec/xml/parser.js';
import type { Secrets } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { ComponentConnection } from '../xmpp/component.js';
import { createPushApi } from './push-api.js';
import { RoomControlService } from './room-control.js';

export function startRoomControl(settings: Settings, secrets: Secrets, log: Logger, limits: XmlLimits) {
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

