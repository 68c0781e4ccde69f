/**
 * RTMPT: RTMP tunnelled through HTTP POSTs (shared/spec/rtmp.md, "Other transports"), on the
 * HTTP listener and on the main Flash port (a sniffed `POST `).
 *
 *   POST /open/N             → `ID\n` (librtmp drops the body's last byte, so the newline is needed)
 *   POST /send/ID/SEQ  body  → the client's RTMP bytes; answer: poll-delay byte + queued RTMP bytes
 *   POST /idle/ID/SEQ        → poll-delay byte + queued RTMP bytes
 *   POST /close/ID/SEQ       → the tunnel ends
 *   POST /fcs/ident2         → 404, as Flash Media Server answers (Flash Player asks it first)
 *
 * Every answer is `HTTP/1.1 200 …` with `Content-Type: application/x-fcs` and a Content-Length
 * (librtmp reads nothing else). A tunnel is a ClientChannel: RtmpConnection runs over it exactly
 * as over TCP. Its output is queued and leaves in the next answer.
 *
 * Polling cost: clients poll back to back (librtmp; Flash Player slows down by the delay byte,
 * which grows while nothing flows, as Red5/FMS do). An empty /idle on a tunnel that has been
 * quiet a while is held a few milliseconds (at most `maxIdleHoldMs`), and answered at once when
 * output arrives, or when any other request comes for the same tunnel or on the same HTTP
 * connection: a pipelined request must never wait behind a held answer (Node answers pipelined
 * requests in order).
 */
import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { ClientChannel } from '../transport/channel.js';
import type { ConnectionLimiter, LimitTicket } from './connection-limiter.js';
import { nextConnectionId } from './connection-ids.js';

export interface RtmptOptions {
  readonly limiter: ConnectionLimiter;
  readonly log: Logger;
  /** A tunnel with no request for this long is closed. */
  readonly sessionTimeoutMs: number;
  /** Largest request body accepted. */
  readonly maxBodyBytes: number;
  /** A new tunnel: the RTMP session runs over `channel` (the tunnel frees its limiter slot itself when it closes). */
  readonly onSession: (channel: ClientChannel, info: { remoteAddress: string; remotePort: number; log: Logger }) => void;
  /**
   * Longest hold of an empty /idle, ms, reached when the delay byte is at its largest (it scales
   * with the delay: none while data flows). Default 32; 0 = never hold.
   */
  readonly maxIdleHoldMs?: number;
  /** Output the client has not polled for beyond which the tunnel is closed (default 8 MiB). */
  readonly maxBacklogBytes?: number;
}

export interface RtmptHandler {
  /** Handles the request if it is RTMPT (POST /open, /send, /idle, /close, /fcs/ident2); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Closes every tunnel. */
  closeAll(): void;
  /** Tunnels open now. */
  readonly tunnels: number;
}

export const RTMPT_CONTENT_TYPE = 'application/x-fcs';
/**
 * The poll-delay byte, on Red5's schedule: 1 while data flows (either way); after 10 empty
 * answers in a row 3, 5, 9, 17, then 33 (0x21, FMS's largest) for as long as nothing flows.
 */
const EMPTY_POLLS_BEFORE_SLOWDOWN = 10;
const MAX_POLL_DELAY = 32;
const DEFAULT_MAX_IDLE_HOLD_MS = 32;
const DEFAULT_MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
/** After the RTMP side ended the channel, the client has this long to poll the last bytes. */
const ENDING_GRACE_MS = 5000;
const SEQUENCE = /^\d{1,10}$/;
const COMMANDS = new Set(['open', 'send', 'idle', 'close']);

type Command = 'send' | 'idle' | 'close';

interface Held {
  readonly res: ServerResponse;
  readonly socket: Socket;
  readonly timer: NodeJS.Timeout;
}

export function createRtmptHandler(options: RtmptOptions): RtmptHandler {
  const tunnels = new Map<string, RtmptTunnel>();
  /** The tunnel whose /idle answer is held on this HTTP connection. */
  const heldOn = new WeakMap<Socket, RtmptTunnel>();
  const maxHoldMs = Math.max(0, options.maxIdleHoldMs ?? DEFAULT_MAX_IDLE_HOLD_MS);
  const maxBacklog = options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
  let shutDown = false;

  const context: TunnelContext = {
    sessionTimeoutMs: options.sessionTimeoutMs,
    maxHoldMs,
    maxBacklog,
    heldOn,
    forget: (tunnel) => {
      if (tunnels.get(tunnel.id) === tunnel) tunnels.delete(tunnel.id);
    },
  };

  const open = (req: IncomingMessage, res: ServerResponse): void => {
    const remoteAddress = req.socket.remoteAddress ?? '?';
    const remotePort = req.socket.remotePort ?? 0;
    const log = options.log.child({ conn: nextConnectionId(), remote: `${remoteAddress}:${remotePort}`, protocol: 'rtmpt' });
    if (shutDown) {
      plain(res, 503, 'the gateway is shutting down');
      return;
    }
    const slot = options.limiter.acquire(remoteAddress);
    if (!slot.ok) {
      log.warn(`RTMPT tunnel refused: ${slot.reason}`);
      plain(res, 503, slot.reason);
      return;
    }
    let id = newTunnelId();
    while (tunnels.has(id)) id = newTunnelId();
    const tunnel = new RtmptTunnel(id, remoteAddress, remotePort, log, slot.ticket, context);
    tunnels.set(id, tunnel);
    log.info('RTMPT tunnel opened');
    try {
      options.onSession(tunnel, { remoteAddress, remotePort, log });
    } catch (error) {
      log.error({ err: error }, 'RTMPT session could not start');
      tunnel.destroy();
      plain(res, 500, 'internal error');
      return;
    }
    const body = Buffer.from(`${id}\n`, 'latin1');
    res.writeHead(200, { 'Content-Type': RTMPT_CONTENT_TYPE, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
    res.end(body);
  };

  return {
    handle(req, res) {
      let url = req.url ?? '';
      // The absolute form (`POST http://host/idle/…`) some proxies forward as is.
      if (!url.startsWith('/')) url = url.replace(/^https?:\/\/[^/?#]*/i, '');
      const query = url.indexOf('?');
      const parts = (query < 0 ? url : url.slice(0, query)).split('/');
      const command = parts[1] ?? '';
      // Whatever this request is, an answer held on its connection must not keep it waiting.
      heldOn.get(req.socket)?.releaseHeld();
      if (command === 'fcs') {
        // Flash Player's POST /fcs/ident2: FMS answers 404 and the player goes on to /open.
        plain(res, 404, 'not found');
        return true;
      }
      if (parts[0] !== '' || !COMMANDS.has(command)) return false;
      if (req.method !== 'POST') {
        plain(res, 405, 'RTMPT takes POST', { Allow: 'POST' });
        return true;
      }
      let tunnel: RtmptTunnel | undefined;
      if (command === 'open') {
        if (parts.length !== 3 || !SEQUENCE.test(parts[2] ?? '')) {
          plain(res, 404, 'not found');
          return true;
        }
      } else {
        if (parts.length !== 4) {
          plain(res, 404, 'not found');
          return true;
        }
        // Sequence numbers must be numbers; gaps and repeats are tolerated.
        if (!SEQUENCE.test(parts[3] ?? '')) {
          plain(res, 400, 'bad sequence number');
          return true;
        }
        tunnel = tunnels.get(parts[2] ?? '');
        if (!tunnel) {
          plain(res, 404, 'no such RTMPT session');
          return true;
        }
        tunnel.touch();
        tunnel.releaseHeld();
      }

      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > options.maxBodyBytes) {
        tooLarge(res, tunnel);
        return true;
      }
      readBody(req, options.maxBodyBytes, (body) => {
        if (body === undefined) {
          tooLarge(res, tunnel);
          return;
        }
        if (tunnel === undefined) {
          open(req, res);
          return;
        }
        tunnel.request(command as Command, body, req, res);
      });
      return true;
    },

    closeAll() {
      shutDown = true;
      for (const tunnel of [...tunnels.values()]) tunnel.gone('the gateway is shutting down');
    },

    get tunnels() {
      return tunnels.size;
    },
  };
}

interface TunnelContext {
  readonly sessionTimeoutMs: number;
  readonly maxHoldMs: number;
  readonly maxBacklog: number;
  readonly heldOn: WeakMap<Socket, RtmptTunnel>;
  readonly forget: (tunnel: RtmptTunnel) => void;
}

/** 128 random bits, URL-safe (hex: any HTTP stack and any Flash Player copes with it). */
function newTunnelId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * One tunnel: the ClientChannel an RtmpConnection runs over, fed by /send bodies and drained by
 * the answers to /send and /idle.
 */
class RtmptTunnel implements ClientChannel {
  // The ClientChannel union has no 'rtmpt' member (src/transport/channel.ts); nothing reads it.
  readonly transport = 'rtmpt' as const;
  private state: 'open' | 'ending' | 'gone' = 'open';
  private out: Buffer[] = [];
  private outBytes = 0;
  private inbox: Buffer[] = [];
  private paused = false;
  private handlers: { data(chunk: Buffer): void; closed(): void } | undefined;
  private drainWaiters: (() => void)[] = [];
  private held: Held | undefined;
  private flushScheduled = false;
  private emptyPolls = 0;
  /** Red5's pollingDelay: the byte sent is this + 1. */
  private delay = 0;
  private timer: NodeJS.Timeout;
  private readonly openedAt = Date.now();
  private requests = 0;

  constructor(
    readonly id: string,
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly log: Logger,
    private readonly ticket: LimitTicket,
    private readonly context: TunnelContext,
  ) {
    this.timer = setTimeout(() => this.timedOut(), context.sessionTimeoutMs);
    this.timer.unref();
  }

  // ---- the HTTP side ----

  private get isGone(): boolean {
    return this.state === 'gone';
  }

  /** Any request for this tunnel: it is alive. */
  touch(): void {
    if (this.state === 'open') this.timer.refresh();
  }

  request(command: Command, body: Buffer, req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    if (this.state === 'gone') {
      // Closed while the body was arriving.
      plain(res, 404, 'no such RTMPT session');
      return;
    }
    if (command === 'close') {
      // Delay byte 0, which Red5 sends for a closed connection; librtmp does not even read this answer.
      fcs(res, Buffer.from([0]));
      this.gone('closed by the client (/close)');
      return;
    }
    if (command === 'send' && body.length > 0 && this.state === 'open') {
      // Data flows: the client may poll at full speed again.
      this.emptyPolls = 0;
      this.delay = 0;
      if (this.paused || !this.handlers) this.inbox.push(body);
      else this.handlers.data(body);
      // The RTMP side may have ended or destroyed the channel while handling the bytes.
      if (this.isGone) {
        plain(res, 404, 'no such RTMPT session');
        return;
      }
    }
    if (
      command === 'idle' &&
      this.outBytes === 0 &&
      this.state === 'open' &&
      this.held === undefined &&
      this.delay > 0 &&
      this.context.maxHoldMs > 0
    ) {
      this.hold(req.socket, res, (this.context.maxHoldMs * this.delay) / MAX_POLL_DELAY);
      return;
    }
    this.answer(res);
  }

  private hold(socket: Socket, res: ServerResponse, ms: number): void {
    const timer = setTimeout(() => this.releaseHeld(), ms);
    this.held = { res, socket, timer };
    this.context.heldOn.set(socket, this);
    // The client went away: nothing to answer.
    res.once('close', () => {
      if (this.held?.res === res) this.unhold();
    });
  }

  private unhold(): Held | undefined {
    const held = this.held;
    if (!held) return undefined;
    this.held = undefined;
    clearTimeout(held.timer);
    if (this.context.heldOn.get(held.socket) === this) this.context.heldOn.delete(held.socket);
    return held;
  }

  /** Answers the held /idle now, with whatever is queued. */
  releaseHeld(): void {
    const held = this.unhold();
    if (held) this.answer(held.res);
  }

  /** The delay byte, then everything queued; the last answer of an ending tunnel closes it. */
  private answer(res: ServerResponse): void {
    const size = this.outBytes;
    if (size > 0) {
      this.emptyPolls = 0;
      this.delay = 0;
    } else if (++this.emptyPolls > EMPTY_POLLS_BEFORE_SLOWDOWN) {
      this.delay = Math.min(MAX_POLL_DELAY, Math.max(1, this.delay) * 2);
    }
    const body = Buffer.allocUnsafe(1 + size);
    body[0] = this.delay + 1;
    let at = 1;
    for (const part of this.out) {
      body.set(part, at);
      at += part.length;
    }
    this.out = [];
    this.outBytes = 0;
    fcs(res, body);
    if (size > 0) for (const waiter of this.drainWaiters.splice(0)) waiter();
    if (this.state === 'ending') this.gone('closed by the gateway');
  }

  private timedOut(): void {
    if (this.state === 'ending') this.gone('the client did not poll the last bytes');
    else this.gone(`no request for ${this.context.sessionTimeoutMs / 1000} s`);
  }

  /** The tunnel is over: later requests get 404, the RTMP session hears `closed`. */
  gone(reason: string): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    clearTimeout(this.timer);
    const held = this.unhold();
    if (held) plain(held.res, 404, 'the RTMPT session is closed');
    this.out = [];
    this.outBytes = 0;
    this.inbox = [];
    this.drainWaiters = [];
    this.context.forget(this);
    this.ticket.release();
    this.log.info({ reason, durationMs: Date.now() - this.openedAt, requests: this.requests }, 'RTMPT tunnel closed');
    // Like a socket's 'close': never from inside the caller's own write or destroy.
    const handlers = this.handlers;
    if (handlers) process.nextTick(() => handlers.closed());
  }

  // ---- the ClientChannel side ----

  write(data: string | Uint8Array): void {
    if (this.state !== 'open') return;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length === 0) return;
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (this.outBytes > this.context.maxBacklog) {
      this.gone(`the client did not poll ${this.outBytes} bytes of output`);
      return;
    }
    // A held /idle leaves with all of this tick's writes.
    if (this.held && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => {
        this.flushScheduled = false;
        this.releaseHeld();
      });
    }
  }

  get backlogBytes(): number {
    return this.outBytes;
  }

  onDrain(callback: () => void): void {
    if (this.outBytes === 0) process.nextTick(callback);
    else this.drainWaiters.push(callback);
  }

  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ending';
    // The client has a little while to poll the last bytes; then the tunnel is gone anyway.
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.timedOut(), Math.min(this.context.sessionTimeoutMs, ENDING_GRACE_MS));
    this.timer.unref();
    // Writes made in this tick still go; a held /idle carries them now.
    process.nextTick(() => {
      if (this.state !== 'ending') return;
      const held = this.unhold();
      if (held) this.answer(held.res);
    });
  }

  destroy(): void {
    this.gone('closed by the gateway');
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.deliverInbox();
  }

  start(handlers: { data(chunk: Buffer): void; closed(): void }): void {
    this.handlers = handlers;
    this.deliverInbox();
  }

  private deliverInbox(): void {
    while (this.handlers && !this.paused && this.state === 'open' && this.inbox.length > 0) {
      this.handlers.data(this.inbox.shift() as Buffer);
    }
  }
}

/** Reads the request body; `undefined` once it exceeds `max` (the rest is not read). */
function readBody(req: IncomingMessage, max: number, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > max) {
      over = true;
      chunks.length = 0;
      done(undefined);
      return;
    }
    chunks.push(chunk);
  });
  req.once('end', () => {
    if (over) return;
    done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
}

function tooLarge(res: ServerResponse, tunnel: RtmptTunnel | undefined): void {
  // The RTMP stream lost bytes it cannot do without: the tunnel is over.
  tunnel?.gone('request body too large');
  plain(res, 413, 'request body too large', { Connection: 'close' });
}

/** An RTMPT answer: exactly what librtmp accepts (`HTTP/1.1 200 `, Content-Length, no chunking). */
function fcs(res: ServerResponse, body: Buffer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, { 'Content-Type': RTMPT_CONTENT_TYPE, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
  res.end(body);
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(`${text}\n`, 'utf8');
  res.writeHead(status, STATUS_CODES[status], { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
  res.end(body);
}
