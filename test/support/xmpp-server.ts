/**
 * What every real XMPP server the tests start offers, whichever it is, so a scenario runs
 * against Prosody and ejabberd alike: `for (const server of SERVERS) describe(server.name, …)`.
 */
import type { TestPki } from './certs.js';

export interface XmppServerOptions {
  /** Offer STARTTLS with a generated certificate; false: no STARTTLS offered at all. */
  tls: boolean;
  /** XMPP domain (default 'localhost'); the MUC service is conference.<domain>. */
  domain?: string;
  /** Users created before the start resolves: [username, password]. */
  users?: [string, string][];
  /** XEP-0114 components (domain + secret) the server accepts on its component port. */
  components?: { domain: string; secret: string }[];
  /** JIDs that administer every MUC room (for the room-control component). */
  mucAdmins?: string[];
  /** DNS names the certificate carries (default: domain, MUC domain, components). */
  certificateNames?: string[];
  /** Startup timeout, ms. */
  startTimeoutMs?: number;
}

export interface XmppServerInstance {
  readonly kind: 'prosody' | 'ejabberd';
  readonly host: '127.0.0.1';
  readonly c2sPort: number;
  /** XEP-0114 port; listening only when `components` were given. */
  readonly componentPort: number;
  readonly domain: string;
  readonly mucDomain: string;
  /** PEM file of the CA that signed the server certificate (tls only). */
  readonly caCert?: string;
  /** The generated PKI, including an unrelated "wrong" CA (tls only). */
  readonly pki?: TestPki;
  /** Temporary directory holding config, data, logs. */
  readonly dir: string;
  /** Last lines of the server's logs, for failure messages. */
  logTail(lines?: number): string;
  /** Creates (or resets the password of) user@domain while the server runs. */
  register(user: string, pass: string): Promise<void>;
  /** Kills the server and starts it again on the same ports with the same data. */
  restart(): Promise<void>;
  /** Kills the server and removes its directory; idempotent. */
  stop(): Promise<void>;
  readonly exited: boolean;
}

export interface XmppServerKind {
  readonly name: 'prosody' | 'ejabberd';
  start(options: XmppServerOptions): Promise<XmppServerInstance>;
}
