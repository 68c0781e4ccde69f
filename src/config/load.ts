/**
 * Builds the validated Settings from defaults, an optional config file and the command line
 * (flags win). Validation happens here, once; everything downstream receives plain values.
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { DEFAULTS, SETTINGS, flagName, type DomainUpstream, type HostPort, type SettingSpec, type Settings } from './settings.js';

export interface CommandLine {
  readonly help: boolean;
  readonly version: boolean;
  /** `--check-config FILE`: validate that file (with the other flags) and stop. */
  readonly checkOnly: string | undefined;
  readonly settings: Settings;
  readonly secrets: Secrets;
}

/** Secrets read from files or the environment: never from flags, never logged. */
export interface Secrets {
  readonly componentSecret: string | undefined;
  readonly pushToken: string | undefined;
}

export const COMPONENT_SECRET_ENV = 'FLASH_XMPP_GATEWAY_COMPONENT_SECRET';
export const PUSH_TOKEN_ENV = 'FLASH_XMPP_GATEWAY_PUSH_TOKEN';

function readSecret(file: string | undefined, envName: string, flag: string, env: NodeJS.ProcessEnv): string | undefined {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
    }
    if (text === '') throw new ConfigError(`${flag}: ${file} is empty`);
    return text;
  }
  const value = env[envName]?.trim();
  return value === '' ? undefined : value;
}

/** Reads the secrets the settings point to, and checks they are there when needed. */
export function loadSecrets(settings: Settings, env: NodeJS.ProcessEnv = process.env): Secrets {
  const componentSecret = readSecret(settings.componentSecretFile, COMPONENT_SECRET_ENV, '--component-secret-file', env);
  const pushToken = readSecret(settings.pushTokenFile, PUSH_TOKEN_ENV, '--push-token-file', env);
  if (settings.component !== undefined && componentSecret === undefined) {
    throw new ConfigError(`--component needs its secret: --component-secret-file FILE or the environment variable ${COMPONENT_SECRET_ENV}`);
  }
  if (pushToken !== undefined && settings.component === undefined) {
    throw new ConfigError('the push API needs the room-control component: give --component DOMAIN');
  }
  return { componentSecret, pushToken };
}

/** Parses argv (without node and script), reads `--config FILE` if given, validates it all. */
export function loadCommandLine(argv: readonly string[]): CommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    help: { type: 'boolean' },
    version: { type: 'boolean' },
    config: { type: 'string' },
    'check-config': { type: 'string' },
  };
  for (const spec of SETTINGS) {
    options[flagName(spec.key).slice(2)] = { type: 'string', multiple: spec.kind === 'strings' };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new ConfigError(`${message}; run with --help for the options`);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (values['help'] === true || values['version'] === true) {
    return {
      help: values['help'] === true,
      version: values['version'] === true,
      checkOnly: undefined,
      settings: { ...DEFAULTS },
      secrets: { componentSecret: undefined, pushToken: undefined },
    };
  }

  const raw: Record<string, unknown> = {};
  const checkOnly = typeof values['check-config'] === 'string' ? values['check-config'] : undefined;
  if (checkOnly !== undefined && typeof values['config'] === 'string') {
    throw new ConfigError('give either --config FILE or --check-config FILE, not both');
  }
  const configFile = checkOnly ?? values['config'];
  if (typeof configFile === 'string') Object.assign(raw, readConfigFile(configFile));
  for (const spec of SETTINGS) {
    const value = values[flagName(spec.key).slice(2)];
    if (value !== undefined) raw[spec.key] = value;
  }
  const settings = validateSettings(raw, 'command line');
  return { help: false, version: false, checkOnly, settings, secrets: loadSecrets(settings) };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} must hold a mapping of settings`);
  }
  const known = new Set<string>([...SETTINGS.map((s) => s.key), 'domains']);
  for (const key of Object.keys(data)) {
    if (!known.has(key)) {
      throw new ConfigError(`config file ${path}: unknown key "${key}" (known keys: ${[...known].join(', ')})`);
    }
  }
  return data as Record<string, unknown>;
}

/** Checks every value and fills defaults; throws ConfigError naming the setting and the fix. */
export function validateSettings(raw: Record<string, unknown>, source = 'settings'): Settings {
  const settings: Settings = { ...DEFAULTS, listen: { ...DEFAULTS.listen }, policyAllowFrom: [...DEFAULTS.policyAllowFrom] };
  const target = settings as unknown as Record<string, unknown>;
  for (const spec of SETTINGS) {
    if (raw[spec.key] === undefined) continue;
    target[spec.key] = convert(spec, raw[spec.key]);
  }
  settings.domains = convertDomains(raw['domains'], settings);
  settings.domain = [...settings.domain, ...[...settings.domains.keys()].filter((name) => !settings.domain.includes(name))];
  if (settings.domain.length === 0) {
    // Without --upstream the embedded demo server serves `localhost` (src/embedded/).
    if (settings.upstream !== undefined || settings.domains.size > 0) {
      throw new ConfigError(`${source}: no XMPP domain configured; give --domain NAME (repeatable)`);
    }
    settings.domain = ['localhost'];
  }
  settings.domain = settings.domain.map((d) => d.toLowerCase());
  settings.publicHost = settings.publicHost.map((d) => d.toLowerCase());
  if ((settings.tlsCert === undefined) !== (settings.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together: give both for HTTPS/wss, or neither');
  }
  for (const [flag, file] of [['--tls-cert', settings.tlsCert], ['--tls-key', settings.tlsKey]] as const) {
    if (file === undefined) continue;
    try {
      readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  if (settings.rtmpsPort !== 0 && settings.tlsCert === undefined) {
    throw new ConfigError('--rtmps-port needs a certificate: give --tls-cert and --tls-key');
  }
  const tlsOrder = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  if (tlsOrder.indexOf(settings.rtmpsMinTls) > tlsOrder.indexOf(settings.rtmpsMaxTls)) {
    throw new ConfigError(`--rtmps-min-tls ${settings.rtmpsMinTls} is newer than --rtmps-max-tls ${settings.rtmpsMaxTls}`);
  }
  if (settings.component !== undefined) settings.component = settings.component.toLowerCase();
  exemptionList(settings.connectionLimitExempt);
  exemptionList(settings.opsAllowFrom, '--ops-allow-from');
  exemptionList(settings.proxyProtocolFrom, '--proxy-protocol-from');
  if (settings.proxyProtocol !== 'off' && settings.proxyProtocolFrom.length === 0) {
    throw new ConfigError('--proxy-protocol needs --proxy-protocol-from: the addresses of the load balancers that send the header (nobody else may)');
  }
  settings.websocketAllowOrigin = settings.websocketAllowOrigin.map((o) => (o === '*' ? o : o.replace(/\/+$/, '').toLowerCase()));
  if (settings.upstreamCa !== undefined) {
    try {
      readFileSync(settings.upstreamCa);
    } catch (error) {
      throw new ConfigError(`--upstream-ca: cannot read ${settings.upstreamCa}: ${(error as Error).message}`);
    }
  }
  return settings;
}

/** `--connection-limit-exempt` (or another address list) as a BlockList (addresses and CIDR ranges, IPv4 and IPv6). */
export function exemptionList(entries: readonly string[], flag = '--connection-limit-exempt'): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string?];
    const family = isIP(address);
    if (family === 0 || (prefix !== undefined && !/^\d+$/.test(prefix))) {
      throw new ConfigError(`${flag}: "${entry}" is not an address or a CIDR range`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** Whether a socket's remote address is on the list; IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4. */
export function addressMatcher(list: BlockList): (address: string) => boolean {
  return (address) => {
    const bare = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const family = isIP(bare);
    return family !== 0 && list.check(bare, family === 6 ? 'ipv6' : 'ipv4');
  };
}

const DOMAIN_KEYS = new Set(['upstream', 'upstreamTls', 'upstreamCa']);

/** The `domains:` map of the config file: each domain's own server, TLS mode and CA. */
function convertDomains(value: unknown, settings: Settings): Map<string, DomainUpstream> {
  const out = new Map<string, DomainUpstream>();
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError('domains: expected a mapping of domain names to { upstream, upstreamTls, upstreamCa }');
  }
  const spec = (key: 'upstream' | 'upstreamTls' | 'upstreamCa'): SettingSpec => SETTINGS.find((s) => s.key === key) as SettingSpec;
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    const where = `domains.${name}`;
    if (!/^[a-z0-9.-]+$/i.test(name)) throw new ConfigError(`${where}: "${name}" is not a domain name`);
    const fields = (entry ?? {}) as Record<string, unknown>;
    if (typeof fields !== 'object' || Array.isArray(fields)) throw new ConfigError(`${where}: expected { upstream, upstreamTls, upstreamCa }`);
    for (const key of Object.keys(fields)) {
      if (!DOMAIN_KEYS.has(key)) throw new ConfigError(`${where}: unknown key "${key}" (known keys: upstream, upstreamTls, upstreamCa)`);
    }
    const field = (key: 'upstream' | 'upstreamTls' | 'upstreamCa'): unknown => {
      try {
        return fields[key] === undefined ? undefined : convert(spec(key), fields[key]);
      } catch (error) {
        throw new ConfigError(`${where}: ${(error as Error).message}`);
      }
    };
    const ca = field('upstreamCa') as string | undefined;
    if (ca !== undefined) {
      try {
        readFileSync(ca);
      } catch (error) {
        throw new ConfigError(`${where}.upstreamCa: cannot read ${ca}: ${(error as Error).message}`);
      }
    }
    out.set(name.toLowerCase(), {
      upstream: field('upstream') as HostPort | undefined,
      upstreamTls: (field('upstreamTls') as Settings['upstreamTls'] | undefined) ?? settings.upstreamTls,
      upstreamCa: ca ?? settings.upstreamCa,
    });
  }
  return out;
}

function convert(spec: SettingSpec, value: unknown): unknown {
  const flag = flagName(spec.key);
  const fail = (what: string): never => {
    throw new ConfigError(`${flag} (${spec.key}): ${what}, got ${JSON.stringify(value)}`);
  };
  const scalar = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return fail('expected a single value');
  };
  switch (spec.kind) {
    case 'strings': {
      const list = Array.isArray(value) ? value : [value];
      const strings = list.map(scalar).map((s) => s.trim());
      if (strings.some((s) => s === '')) fail('empty value');
      return strings;
    }
    case 'string':
    case 'file': {
      const s = scalar(value).trim();
      if (s === '') fail('empty value');
      return s;
    }
    case 'enum': {
      const s = scalar(value);
      if (!spec.choices?.includes(s)) fail(`expected one of ${spec.choices?.join(', ')}`);
      return s;
    }
    case 'hostport':
      return parseHostPort(scalar(value), fail);
    case 'port': {
      const n = parseInteger(scalar(value), fail);
      if (n < 0 || n > 65535) fail('expected a port from 0 to 65535');
      return n;
    }
    case 'integer':
    case 'seconds':
    case 'milliseconds':
    case 'bytes': {
      const n = parseInteger(scalar(value), fail);
      if (spec.min !== undefined && n < spec.min) fail(`expected at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`expected at most ${spec.max}`);
      return n;
    }
  }
}

function parseInteger(s: string, fail: (what: string) => never): number {
  if (!/^\d+$/.test(s.trim())) fail('expected a whole number');
  return Number(s.trim());
}

/** `host:port`, `[v6]:port`. */
export function parseHostPort(s: string, fail: (what: string) => never): HostPort {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:\s]+):(\d+)$/.exec(s);
  if (!match) return fail('expected HOST:PORT');
  const port = Number(match[2]);
  if (port > 65535) fail('port out of range');
  return { host: match[1] as string, port };
}
