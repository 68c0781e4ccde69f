/** What the quick start prints for people when the gateway runs in front of the embedded server. */
import type { Settings } from '../config/settings.js';
import type { EmbeddedServer } from './default-server.js';

/** The ports the gateway ended up listening on. */
export interface BannerPorts {
  readonly flashPort: number;
  readonly policyPort: number | undefined;
  readonly httpPort: number | undefined;
  readonly rtmpPort: number | undefined;
  readonly httpsEnabled: boolean;
}

export function embeddedBanner(settings: Settings, running: BannerPorts, server: EmbeddedServer): string {
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
