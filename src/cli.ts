#!/usr/bin/env node
/** The `flash-xmpp-gateway` command: parse the command line, start, handle signals. */
import { loadCommandLine } from './config/load.js';
import { SETTINGS, DEFAULTS, flagName } from './config/settings.js';
import { ConfigError } from './errors.js';
import { createLogger } from './log/logger.js';
import { startGateway } from './main.js';
import { packageVersion } from './version.js';

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
  // SIGHUP's default is to end the process: take it from the start, and reload once started
  // when it came during start-up (the file may have changed since it was read).
  let reload: (() => void) | undefined;
  let reloadPending = false;
  process.on('SIGHUP', () => {
    if (reload) reload();
    else reloadPending = true;
  });
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
  const running = gateway;
  /** The settings in force: a reload may change the shutdown timeout. */
  let current = settings;
  let stopping = false;
  const stop = (signal: string): void => {
    stopping = true;
    log.info({ signal }, 'stopping: clients are told and XMPP streams closed');
    // The gateway bounds its own shutdown; this only guards against a hang.
    setTimeout(() => process.exit(1), (current.shutdownTimeout + 5) * 1000).unref();
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
  /** SIGHUP: the same command line again (--config FILE re-read, flags still win). */
  reload = (): void => {
    if (stopping) return;
    log.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    let next;
    try {
      next = loadCommandLine(process.argv.slice(2));
    } catch (error) {
      // A bad edit must not take the gateway down: it keeps the configuration it runs with.
      const message = (error as Error).message;
      log.error({ signal: 'SIGHUP', error: message }, `configuration not reloaded, still running the previous one: ${message}`);
      return;
    }
    const { applied, needsRestart } = running.reload(next.settings);
    current = next.settings;
    // The outcome is logged even when the new log level is above info: a reload is never silent.
    const report = log.isLevelEnabled('info') ? log : log.child({}, { level: 'info' });
    if (applied.length === 0 && needsRestart.length === 0) {
      report.info({ applied, needsRestart }, 'configuration reloaded: nothing changed');
      return;
    }
    report.info({ applied, needsRestart }, 'configuration reloaded');
    if (needsRestart.length > 0) {
      report.warn({ needsRestart }, `restart needed for: ${needsRestart.join(', ')} (running with their previous values)`);
    }
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  if (reloadPending) reload();
}

await main();
