/**
 * The process logger (pino, JSON lines on stdout) and its redaction rules. Sessions take a
 * child logger carrying their connection id, transport and remote address; secrets (passwords,
 * SASL payloads, tokens, the component handshake) are never logged: the paths below are censored
 * and protocol code logs stanza names and conditions, never SASL element contents.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/settings.js';

export type { Logger };

export const REDACTED_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'sasl',
  '*.sasl',
  'handshake',
  '*.handshake',
];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
