/**
 * The configuration reference (docs/configuration.md), generated from the settings table so it
 * can never disagree with the code: `npm run config-reference` writes it, a test checks it.
 */
import { DEFAULTS, SETTINGS, flagName } from './settings.js';

function shown(value: unknown): string {
  if (value === undefined) return '—';
  if (Array.isArray(value)) return value.length === 0 ? '—' : value.map((v) => `\`${String(v)}\``).join(', ');
  if (typeof value === 'object' && value !== null && 'host' in value && 'port' in value) {
    return `\`${String((value as { host: string }).host)}:${String((value as { port: number }).port)}\``;
  }
  return `\`${String(value)}\``;
}

const UNITS: Record<string, string> = { seconds: 'seconds', milliseconds: 'ms', bytes: 'bytes', port: 'port', hostport: 'HOST:PORT' };

export function configurationReference(): string {
  const rows = SETTINGS.map((spec) => {
    const type = spec.kind === 'enum' ? (spec.choices ?? []).map((c) => `\`${c}\``).join(' \\| ') : (UNITS[spec.kind] ?? spec.kind);
    const reload = spec.reload === true ? 'yes' : 'restart';
    return `| \`${spec.key}\` | \`${flagName(spec.key)}\` | ${type} | ${shown(DEFAULTS[spec.key])} | ${reload} | ${spec.help} |`;
  });
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/settings.ts by `npm run config-reference`; a test checks it is current. -->',
    '',
    'Every setting can be given on the command line (`--flag VALUE`) or in a YAML file',
    '(`--config FILE`, key in camelCase); flags win over the file. `--check-config FILE` validates a',
    'file and says exactly what to fix. Unknown flags and keys are errors. Repeatable flags are lists',
    'in the file (`domain: [a.example, b.example]`).',
    '',
    'Several XMPP domains, each with its own server, go in the file under `domains:` (a domain',
    'without `upstream` is found by a DNS SRV lookup of `_xmpp-client._tcp.DOMAIN`, RFC 6120 §3.2;',
    '`upstreamTls` and `upstreamCa` default to the global ones); their names join `domain`:',
    '',
    '```yaml',
    'domains:',
    '  example.org: { upstream: xmpp.example.org:5222 }',
    '  example.net: { upstreamTls: optional }   # found by SRV',
    '```',
    '',
    'Secrets are never settings: the component secret comes from `--component-secret-file` or the',
    'environment variable `FLASH_XMPP_GATEWAY_COMPONENT_SECRET`, the push API token from',
    '`--push-token-file` or `FLASH_XMPP_GATEWAY_PUSH_TOKEN`.',
    '',
    'SIGHUP re-reads the configuration ([operations.md](operations.md#reload-sighup)). The column',
    '"SIGHUP" says whether a setting is applied then (`yes`) or keeps its running value until a',
    'restart (`restart`; so does `domains:`). A connection\'s limits and timeouts are fixed when it',
    'opens: reloaded ones apply to connections opened after the reload, and nobody is dropped for',
    'being over a lowered limit. The log level, the policy file, the WebSocket origins and the',
    'shutdown timeout apply at once. The WebSocket frame and RTMPT request caps',
    '(`maxStanzaBytes` + 64 KiB) stay at their start value.',
    '',
    '| key | flag | type or unit | default | SIGHUP | what it does |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
