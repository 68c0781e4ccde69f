#!/usr/bin/env node
/** The `flash-xmpp-gateway` command: parse the command line, start, handle signals. */
import { readFileSync } from 'node:fs';
import { loadCommandLine } from './config/load.js';
import { SETTINGS, DEFAULTS, flagName } from './config/settings.js';
import { ConfigError } from './errors.js';
import { createLogger } from './log/logger.js';
import { startGateway } from './main.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const KIND_VALUE: Record<string, string> = {
  string: 'TEXT',
  strings: 'TEXT',
  port: 'PORT',
  hostport: 'HOST:PORT',
  integer: 'N',
  seconds: 'SECONDS',
  milliseconds: 'MS',
  bytes: 'BYTES',
  file: 'FILE',
};

function helpText(): string {
  const lines = [
    'Usage: flash-xmpp-gateway [options]',
    '',
    'Lets Flash, Flex and AIR XMPP clients use a standard XMPP server.',
    '',
    'Options:',
    `${'  --config FILE'.padEnd(36)} the same settings in a YAML file (keys in camelCase); flags win`,
    `${'  --check-config FILE'.padEnd(36)} validate FILE (with any other flags), say what to fix, exit 0 when valid`,
  ];
  for (const spec of SETTINGS) {
    const value = spec.value ?? (spec.kind === 'enum' ? (spec.choices ?? []).join('|') : KIND_VALUE[spec.kind]);
    const fallback = DEFAULTS[spec.key];
    let shown = '';
    if (Array.isArray(fallback)) shown = fallback.length > 0 ? ` (default ${fallback.join(', ')})` : '';
    else if (typeof fallback === 'object' && 'host' in fallback) shown = ` (default ${fallback.host}:${fallback.port})`;
    else if (fallback !== undefined) shown = ` (default ${String(fallback)})`;
    const left = `  ${flagName(spec.key)} ${value}`;
    lines.push(left.length < 36 ? `${left.padEnd(36)} ${spec.help}${shown}` : `${left}\n${' '.repeat(37)}${spec.help}${shown}`);
  }
  lines.push(`${'  --help'.padEnd(36)} this text`, `${'  --version'.padEnd(36)} the version`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  let commandLine;
  try {
    commandLine = loadCommandLine(process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`flash-xmpp-gateway: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (commandLine.help) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  if (commandLine.version) {
    process.stdout.write(packageVersion() + '\n');
    return;
  }
  if (commandLine.checkOnly !== undefined) {
    process.stdout.write(`flash-xmpp-gateway: ${commandLine.checkOnly} is valid\n`);
    return;
  }
  const { settings, secrets } = commandLine;
  const log = createLogger(settings.logLevel);
  let gateway;
  try {
    gateway = await startGateway(settings, log, (text) => process.stderr.write(text + '\n'), secrets);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`flash-xmpp-gateway: ${error.message}\n`);
      process.exit(2);
    }
    log.fatal({ err: error }, `cannot start: ${(error as Error).message}`);
    process.exit(1);
  }
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping: clients are told and XMPP streams closed');
    // The gateway bounds its own shutdown; this only guards against a hang.
    setTimeout(() => process.exit(1), (settings.shutdownTimeout + 5) * 1000).unref();
    gateway.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

await main();
