/**
 * The embedded default XMPP server: with no --upstream, the gateway installs Prosody if it is
 * missing (as root), starts a throwaway instance on free loopback ports with two demo accounts,
 * and serves it. It is for trying the gateway, not for production: its data lives in a temp
 * directory that goes away when the gateway stops.
 */
import type { HostPort } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { ensureInstalled, PROSODY } from './install.js';
import { startProsody } from './prosody.js';

export interface DemoAccount {
  readonly username: string;
  readonly password: string;
}

export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  { username: 'alice', password: 'alice-demo' },
  { username: 'bob', password: 'bob-demo' },
];

export interface EmbeddedServer {
  readonly upstream: HostPort;
  readonly domain: string;
  readonly mucDomain: string;
  readonly dir: string;
  readonly accounts: readonly DemoAccount[];
  stop(): Promise<void>;
}

export async function startEmbeddedServer(domain: string, log: Logger, say: (line: string) => void): Promise<EmbeddedServer> {
  ensureInstalled([PROSODY], say);
  const prosody = await startProsody({
    domain,
    users: DEMO_ACCOUNTS.map((a) => [a.username, a.password]),
    logLevel: 'info',
  });
  log.info(
    { embedded: 'prosody', c2sPort: prosody.c2sPort, dir: prosody.dir },
    `embedded Prosody started on 127.0.0.1:${prosody.c2sPort} (throwaway, data in ${prosody.dir})`,
  );
  return {
    upstream: { host: prosody.host, port: prosody.c2sPort },
    domain: prosody.domain,
    mucDomain: prosody.mucDomain,
    dir: prosody.dir,
    accounts: DEMO_ACCOUNTS,
    stop: () => prosody.stop(),
  };
}
