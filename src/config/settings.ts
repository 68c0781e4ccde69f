/**
 * Every setting of the gateway, in one table: its command-line flag, its config-file key (the
 * flag in camelCase), its default, its unit and what it is for. The CLI help, the config file
 * loader and the validation are all driven by this table, so a setting exists in one place.
 */

export type SettingKind = 'string' | 'strings' | 'port' | 'hostport' | 'integer' | 'seconds' | 'milliseconds' | 'bytes' | 'enum' | 'file';

export interface SettingSpec {
  /** Config-file key and property of `Settings`; the flag is its kebab-case form. */
  readonly key: keyof Settings;
  readonly kind: SettingKind;
  readonly help: string;
  /** How the value is shown in --help (default from the kind). */
  readonly value?: string;
  /** For kind 'enum'. */
  readonly choices?: readonly string[];
  /** Lower bound for numbers (inclusive). */
  readonly min?: number;
  readonly max?: number;
  /**
   * SIGHUP applies a new value without dropping anyone (src/config/reload.ts). Absent: the value
   * is fixed at start (a listener, a TLS file, the upstream, a service built once) and a change
   * waits for a restart. Limits and timeouts apply to connections opened after the reload.
   */
  readonly reload?: true;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type UpstreamTlsMode = 'required' | 'optional' | 'off';
export type SiteControl = 'none' | 'master-only' | 'by-content-type' | 'all';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
/** PROXY protocol header versions a trusted load balancer sends (HAProxy: send-proxy = v1, send-proxy-v2 = v2). */
export type ProxyProtocolMode = 'off' | 'v1' | 'v2' | 'any';

/** One XMPP domain's own server (the config file's `domains:` map). */
export interface DomainUpstream {
  /** Absent: a DNS SRV lookup of `_xmpp-client._tcp.DOMAIN` finds it (RFC 6120 §3.2). */
  readonly upstream: HostPort | undefined;
  readonly upstreamTls: UpstreamTlsMode;
  readonly upstreamCa: string | undefined;
}

export interface Settings {
  /** Main Flash port: policy requests and XMPP client streams, told apart by their first bytes. */
  listen: HostPort;
  /**
   * HTTP listener: the demo page, Ruffle, and WebSocket connections at /xmlsocket; 0 turns it
   * off. HTTPS (and wss://) when tlsCert and tlsKey are set.
   */
  httpPort: number;
  httpHost: string;
  /** Certificate and key (PEM) for HTTPS/wss on the HTTP listener. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Page origins allowed to open WebSockets (`https://example.org`); `*` allows any. */
  websocketAllowOrigin: string[];
  /** Addresses or CIDR ranges that may read /metrics and the status page (/healthz, /readyz are open). */
  opsAllowFrom: string[];
  /** RTMP port for the XMPP call API (also sniffed on the main port); 0 turns it off. */
  rtmpPort: number;
  rtmpHost: string;
  /** The RTMP application clients connect to: rtmp://host/APP. */
  rtmpApp: string;
  /** How long an iq an RTMP app sent with a responder waits for its answer. */
  rtmpIqTimeout: number;
  /** How long an iq get/set for an RTMP app may stay unanswered before the gateway answers it. */
  rtmpUnansweredIqTimeout: number;
  /** RTMPS: RTMP inside TLS on its own port, with --tls-cert and --tls-key; 0 turns it off. */
  rtmpsPort: number;
  /**
   * TLS versions accepted on the RTMPS port. Flash-era clients predate TLS 1.3, and librtmp
   * (GnuTLS) fails on TLS 1.3 session tickets: 1.2 by default (shared/spec/rtmp.md).
   */
  rtmpsMinTls: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  rtmpsMaxTls: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** How long a Redfire client's XMPP session waits for it to reconnect. */
  rtmpReattachGrace: number;
  /** An RTMPT tunnel with no HTTP request for this long is closed. */
  rtmptSessionTimeout: number;
  /** The XEP-0114 component domain serving room control (e.g. control.example.org); off when unset. */
  component: string | undefined;
  /** The XMPP server's component port (default: the upstream host, port 5347). */
  componentUpstream: HostPort | undefined;
  /** File holding the component secret (or FLASH_XMPP_GATEWAY_COMPONENT_SECRET); never a flag. */
  componentSecretFile: string | undefined;
  /** File holding the bearer token of the HTTP push API (or FLASH_XMPP_GATEWAY_PUSH_TOKEN). */
  pushTokenFile: string | undefined;
  /** The nick the room-control service joins rooms with. */
  roomControlNick: string;
  /** How long occupants have to answer a pushed IQ before it counts as failed. */
  roomControlTimeout: number;
  /** Dedicated socket policy port (Flash Player asks port 843 first); 0 turns it off. */
  policyPort: number;
  /** Address the policy port binds to. */
  policyHost: string;
  /** Page domains a real Flash Player may connect from (`allow-access-from domain`). */
  policyAllowFrom: string[];
  /** `site-control permitted-cross-domain-policies` of the policy file. */
  policySiteControl: SiteControl;
  /** The XMPP server's client port. */
  upstream: HostPort | undefined;
  /** XMPP domains clients may reach; the first is the default domain. */
  domain: string[];
  /**
   * Per-domain servers, from the config file only: `domains: { NAME: { upstream, upstreamTls,
   * upstreamCa } }`. Their names join `domain`; the others use `upstream`.
   */
  domains: ReadonlyMap<string, DomainUpstream>;
  /**
   * Names the gateway is reached by (besides this machine's host name and the address a client
   * dialled): a stream header `to` naming one means the default domain (XIFF 2 sends that).
   */
  publicHost: string[];
  upstreamTls: UpstreamTlsMode;
  /** Extra CA certificate (PEM) trusted for the upstream's STARTTLS certificate. */
  upstreamCa: string | undefined;
  /** How long connecting to the upstream (TCP, stream, STARTTLS) may take. */
  upstreamConnectTimeout: number;
  /** Whitespace keepalive interval on idle upstream streams (RFC 6120 §4.6.1). */
  upstreamKeepalive: number;
  /**
   * A session whose XMPP server has read none of the output queued to it for this long is ended
   * (`remote-connection-failed`) and its upstream socket destroyed: a server that stopped reading
   * (hung, stopped, its window shut) would otherwise hold the client paused for ever. Progress
   * shows only as the kernel's send buffer empties (up to a few MiB), so the default leaves room
   * for a server that throttles a client which has just sent a lot.
   */
  upstreamWriteTimeout: number;
  /** Largest top-level element (stanza) a client may send, in bytes. */
  maxStanzaBytes: number;
  /**
   * Largest element the server may send. Larger than the client's: a server's own answers
   * (a big roster, a MUC history) exceed what it accepts from a client.
   */
  maxUpstreamStanzaBytes: number;
  /** Deepest element nesting inside a stanza. */
  maxDepth: number;
  /** Most attributes on one element. */
  maxAttributes: number;
  /** Stanzas a client may send before its upstream stream is ready (held in memory meanwhile); also stanzas or RTMP calls waiting over the rate. */
  maxPendingStanzas: number;
  /** Stanzas (or RTMP calls) per second one client may send on average; over it its input is slowed. */
  rateLimit: number;
  /** Stanzas (or RTMP calls) a client may send at once above its rate. */
  rateBurst: number;
  /** Addresses or CIDR ranges exempt from maxConnectionsPerIp (a school behind one NAT). */
  connectionLimitExempt: string[];
  /** Most simultaneous client connections from one IP address. */
  maxConnectionsPerIp: number;
  /** Most simultaneous client connections in all. */
  maxConnections: number;
  /**
   * PROXY protocol on every listener (Flash, RTMP, RTMPS, HTTP, policy): connections from
   * proxyProtocolFrom must start with a header of this version, and the client address in it is
   * the connection's address for limits, logs and metrics.
   */
  proxyProtocol: ProxyProtocolMode;
  /** Addresses or CIDR ranges of the load balancers that send PROXY headers; nobody else may. */
  proxyProtocolFrom: string[];
  /** Time a client has to finish authenticating. */
  authTimeout: number;
  /** SCRAM SaltedPassword values kept for logins the gateway runs (RTMP, iq:auth); 0 = off. */
  scramCacheEntries: number;
  /** How long a kept SaltedPassword is used before it is derived again. */
  scramCacheMaxAge: number;
  /** A client connection with no traffic either way for this long is dropped. */
  idleTimeout: number;
  /** Time a new connection has to send its first bytes. */
  sniffTimeout: number;
  /** Wait for an XMLSocket NUL split off from the stream header into the next TCP segment. */
  nulGrace: number;
  /** Bytes of output queued to a client that does not read before it is dropped. */
  maxClientBacklogBytes: number;
  /** On SIGTERM, how long clients and XMPP streams get to be closed properly before exit. */
  shutdownTimeout: number;
  logLevel: LogLevel;
}

export const DEFAULTS: Readonly<Settings> = {
  listen: { host: '0.0.0.0', port: 5222 },
  httpPort: 8080,
  httpHost: '0.0.0.0',
  tlsCert: undefined,
  tlsKey: undefined,
  websocketAllowOrigin: ['*'],
  opsAllowFrom: ['127.0.0.0/8', '::1'],
  rtmpPort: 1935,
  rtmpHost: '0.0.0.0',
  rtmpApp: 'xmpp',
  rtmpIqTimeout: 30,
  rtmpUnansweredIqTimeout: 30,
  rtmpsPort: 0,
  rtmpsMinTls: 'TLSv1.2',
  rtmpsMaxTls: 'TLSv1.2',
  rtmpReattachGrace: 60,
  rtmptSessionTimeout: 30,
  component: undefined,
  componentUpstream: undefined,
  componentSecretFile: undefined,
  pushTokenFile: undefined,
  roomControlNick: 'room-control',
  roomControlTimeout: 10,
  policyPort: 843,
  policyHost: '0.0.0.0',
  policyAllowFrom: ['*'],
  policySiteControl: 'master-only',
  upstream: undefined,
  domain: [],
  domains: new Map(),
  publicHost: [],
  upstreamTls: 'required',
  upstreamCa: undefined,
  upstreamConnectTimeout: 10,
  upstreamKeepalive: 60,
  upstreamWriteTimeout: 60,
  maxStanzaBytes: 256 * 1024,
  maxUpstreamStanzaBytes: 4 * 1024 * 1024,
  maxDepth: 32,
  maxAttributes: 64,
  maxPendingStanzas: 100,
  rateLimit: 50,
  rateBurst: 200,
  connectionLimitExempt: [],
  maxConnectionsPerIp: 50,
  maxConnections: 20000,
  proxyProtocol: 'off',
  proxyProtocolFrom: [],
  authTimeout: 60,
  scramCacheEntries: 10_000,
  scramCacheMaxAge: 3600,
  idleTimeout: 600,
  sniffTimeout: 10,
  // XMLSocket writes header and NUL in one send(), so a split NUL follows within the same
  // flight; jabberd2 waited for nothing (flash-clients.md, "NUL mode"). Raw clients pay it.
  nulGrace: 10,
  maxClientBacklogBytes: 4 * 1024 * 1024,
  shutdownTimeout: 10,
  logLevel: 'info',
};

export const SETTINGS: readonly SettingSpec[] = [
  { key: 'listen', kind: 'hostport', help: 'main Flash port: XMPP clients and inline policy requests' },
  { key: 'httpPort', kind: 'port', help: 'HTTP port: demo page, Ruffle, WebSocket at /xmlsocket; 0 = off' },
  { key: 'httpHost', kind: 'string', value: 'ADDRESS', help: 'address the HTTP port binds to' },
  { key: 'tlsCert', kind: 'file', help: 'certificate (PEM) for HTTPS and wss:// on the HTTP port' },
  { key: 'tlsKey', kind: 'file', help: 'private key (PEM) for --tls-cert' },
  { key: 'websocketAllowOrigin', kind: 'strings', value: 'ORIGIN', reload: true, help: 'page origin allowed to open WebSockets (repeatable; * = any)' },
  { key: 'opsAllowFrom', kind: 'strings', value: 'CIDR', reload: true, help: 'address or CIDR range that may read /metrics and /status (repeatable)' },
  { key: 'rtmpPort', kind: 'port', help: 'RTMP port for the XMPP call API; 0 = off' },
  { key: 'rtmpHost', kind: 'string', value: 'ADDRESS', help: 'address the RTMP port binds to' },
  { key: 'rtmpApp', kind: 'string', value: 'NAME', reload: true, help: 'RTMP application: rtmp://host/NAME' },
  { key: 'rtmpIqTimeout', kind: 'seconds', min: 1, reload: true, help: 'wait for the answer to an iq an RTMP app sent, in seconds' },
  { key: 'rtmpUnansweredIqTimeout', kind: 'seconds', min: 1, reload: true, help: 'answer for an RTMP app that leaves an iq unanswered, after seconds' },
  { key: 'rtmpsPort', kind: 'port', help: 'RTMPS port (needs --tls-cert and --tls-key); 0 = off' },
  { key: 'rtmpsMinTls', kind: 'enum', choices: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'], help: 'oldest TLS version on the RTMPS port' },
  { key: 'rtmpsMaxTls', kind: 'enum', choices: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'], help: 'newest TLS version on the RTMPS port (1.3 breaks librtmp)' },
  { key: 'rtmpReattachGrace', kind: 'seconds', min: 1, help: "keep a dropped Redfire client's XMPP session for it, in seconds" },
  { key: 'rtmptSessionTimeout', kind: 'seconds', min: 1, help: 'close an RTMPT tunnel idle this long, in seconds' },
  { key: 'component', kind: 'string', value: 'DOMAIN', help: 'XEP-0114 component domain for room control (off when unset)' },
  { key: 'componentUpstream', kind: 'hostport', help: "the XMPP server's component port (default: upstream host, 5347)" },
  { key: 'componentSecretFile', kind: 'file', help: 'file with the component secret (or env FLASH_XMPP_GATEWAY_COMPONENT_SECRET)' },
  { key: 'pushTokenFile', kind: 'file', help: 'file with the HTTP push API token (or env FLASH_XMPP_GATEWAY_PUSH_TOKEN)' },
  { key: 'roomControlNick', kind: 'string', value: 'NICK', help: 'nick the room-control service joins rooms with' },
  { key: 'roomControlTimeout', kind: 'seconds', min: 1, help: 'time occupants have to answer a push, in seconds' },
  { key: 'policyPort', kind: 'port', help: 'socket policy port, 0 = off' },
  { key: 'policyHost', kind: 'string', value: 'ADDRESS', help: 'address the policy port binds to' },
  { key: 'policyAllowFrom', kind: 'strings', value: 'DOMAIN', reload: true, help: 'page domain allowed by the policy file (repeatable)' },
  {
    key: 'policySiteControl',
    kind: 'enum',
    choices: ['none', 'master-only', 'by-content-type', 'all'],
    reload: true,
    help: 'site-control of the policy file',
  },
  { key: 'upstream', kind: 'hostport', help: "the XMPP server's client port" },
  { key: 'domain', kind: 'strings', value: 'NAME', help: 'XMPP domain clients may reach (repeatable; the first is the default)' },
  { key: 'publicHost', kind: 'strings', value: 'NAME', help: "host name clients dial, mapped to the default domain (repeatable)" },
  { key: 'upstreamTls', kind: 'enum', choices: ['required', 'optional', 'off'], help: 'STARTTLS to the XMPP server' },
  { key: 'upstreamCa', kind: 'file', help: "extra CA (PEM) trusted for the server's certificate" },
  { key: 'upstreamConnectTimeout', kind: 'seconds', min: 1, reload: true, help: 'time to connect to the XMPP server, in seconds' },
  { key: 'upstreamKeepalive', kind: 'seconds', min: 1, reload: true, help: 'whitespace keepalive to the server, in seconds' },
  {
    key: 'upstreamWriteTimeout',
    kind: 'seconds',
    min: 1,
    reload: true,
    help: 'end a session when the XMPP server reads none of its queued output for this long, in seconds',
  },
  { key: 'maxStanzaBytes', kind: 'bytes', min: 1024, reload: true, help: 'largest stanza a client may send, in bytes' },
  { key: 'maxUpstreamStanzaBytes', kind: 'bytes', min: 65536, reload: true, help: 'largest stanza the XMPP server may send, in bytes' },
  { key: 'maxDepth', kind: 'integer', min: 2, max: 1000, value: 'N', reload: true, help: 'deepest element nesting in a stanza' },
  { key: 'maxAttributes', kind: 'integer', min: 4, value: 'N', reload: true, help: 'most attributes on one element' },
  { key: 'maxPendingStanzas', kind: 'integer', min: 1, value: 'N', reload: true, help: 'stanzas held while the upstream stream is not ready, or stanzas and RTMP calls waiting over the rate' },
  { key: 'rateLimit', kind: 'integer', min: 1, value: 'N', reload: true, help: 'stanzas or RTMP calls per second a client may send (over it, it is slowed)' },
  { key: 'rateBurst', kind: 'integer', min: 1, value: 'N', reload: true, help: 'stanzas or RTMP calls a client may send at once above its rate' },
  { key: 'connectionLimitExempt', kind: 'strings', value: 'CIDR', reload: true, help: 'address or range exempt from --max-connections-per-ip (repeatable)' },
  { key: 'maxConnectionsPerIp', kind: 'integer', min: 1, value: 'N', reload: true, help: 'most connections from one IP address' },
  { key: 'maxConnections', kind: 'integer', min: 1, value: 'N', reload: true, help: 'most connections in all' },
  {
    key: 'proxyProtocol',
    kind: 'enum',
    choices: ['off', 'v1', 'v2', 'any'],
    reload: true,
    help: 'PROXY protocol header required from --proxy-protocol-from on every port (HAProxy send-proxy = v1, send-proxy-v2 = v2)',
  },
  { key: 'proxyProtocolFrom', kind: 'strings', value: 'CIDR', reload: true, help: 'address or CIDR range of a load balancer that sends PROXY headers (repeatable)' },
  { key: 'authTimeout', kind: 'seconds', min: 1, reload: true, help: 'time to authenticate, in seconds' },
  {
    key: 'scramCacheEntries',
    kind: 'integer',
    min: 0,
    value: 'N',
    help: 'SCRAM salted passwords remembered for RTMP and iq:auth logins (RFC 5802 §5.1), 0 = off',
  },
  { key: 'scramCacheMaxAge', kind: 'seconds', min: 1, help: 'how long a remembered salted password is used, in seconds' },
  { key: 'idleTimeout', kind: 'seconds', min: 1, reload: true, help: 'no traffic either way for this long drops a client, in seconds' },
  { key: 'sniffTimeout', kind: 'seconds', min: 1, reload: true, help: 'time for a new connection to send its first bytes, in seconds' },
  { key: 'nulGrace', kind: 'milliseconds', min: 0, max: 5000, reload: true, help: 'wait for an XMLSocket NUL split from the header, in ms' },
  { key: 'maxClientBacklogBytes', kind: 'bytes', min: 65536, reload: true, help: 'output queued to a client that does not read, in bytes' },
  { key: 'shutdownTimeout', kind: 'seconds', min: 1, reload: true, help: 'on SIGTERM, time to close every client properly, in seconds' },
  { key: 'logLevel', kind: 'enum', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], reload: true, help: 'log level' },
];

/** `policyPort` → `--policy-port`. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}
