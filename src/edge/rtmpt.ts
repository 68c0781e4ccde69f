/**
 * RTMPT: RTMP tunnelled through HTTP POSTs (shared/spec/rtmp.md, "Other transports").
 * Placeholder: the real implementation replaces this file.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';
import type { ClientChannel } from '../transport/channel.js';
import type { ConnectionLimiter } from './connection-limiter.js';

export interface RtmptOptions {
  readonly limiter: ConnectionLimiter;
  readonly log: Logger;
  /** A tunnel with no request for this long is closed. */
  readonly sessionTimeoutMs: number;
  /** Largest request body accepted. */
  readonly maxBodyBytes: number;
  /** A new tunnel: the RTMP session runs over `channel`; call `release` when it is over. */
  readonly onSession: (channel: ClientChannel, info: { remoteAddress: string; remotePort: number; log: Logger }) => void;
}

export interface RtmptHandler {
  /** Handles the request if it is RTMPT (POST /open, /send, /idle, /close, /fcs/ident2); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Closes every tunnel. */
  closeAll(): void;
}

export function createRtmptHandler(_options: RtmptOptions): RtmptHandler {
  return { handle: () => false, closeAll: () => undefined };
}
