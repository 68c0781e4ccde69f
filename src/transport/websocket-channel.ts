/**
 * A ClientChannel over a WebSocket, as Ruffle's `socketProxy` opens it
 * (shared/spec/flash-clients.md, "Ruffle"): binary frames carrying exactly the bytes the SWF
 * would have seen on TCP. The writes of each callback leave as one binary frame, so in NUL mode every
 * frame ends on a NUL boundary (older Ruffle builds dropped data split across frames). Ruffle
 * ignores text frames; a text frame from the client is refused with 1003 (RFC 6455 §7.4.1).
 */
import type { WebSocket } from 'ws';
import type { ClientChannel } from './channel.js';
import { AT_END_OF_CALLBACK } from './end-of-callback.js';

export class WebSocketChannel implements ClientChannel {
  readonly transport = 'websocket' as const;
  private pending: (string | Uint8Array)[] = [];
  /** Bytes handed to ws whose send callback has not fired yet. */
  private unsent = 0;
  private drainWaiters: (() => void)[] = [];
  private ending = false;

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {}

  write(data: string | Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    // A microtask: the writes of the current callback leave as one frame (see TcpChannel).
    if (this.pending.length === 0) void AT_END_OF_CALLBACK.then(() => this.flush());
    this.pending.push(data);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const parts = this.pending;
    const frame = parts.every((p) => typeof p === 'string')
      ? Buffer.from(parts.join(''), 'utf8')
      : Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
    this.pending = [];
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.unsent += frame.length;
    this.ws.send(frame, { binary: true }, () => {
      this.unsent -= frame.length;
      if (this.unsent === 0) for (const waiter of this.drainWaiters.splice(0)) waiter();
    });
  }

  get backlogBytes(): number {
    let queued = 0;
    for (const p of this.pending) queued += typeof p === 'string' ? Buffer.byteLength(p) : p.byteLength;
    return this.unsent + queued;
  }

  onDrain(callback: () => void): void {
    if (this.unsent === 0) process.nextTick(callback);
    else this.drainWaiters.push(callback);
  }

  end(): void {
    if (this.ending) return;
    this.ending = true;
    // The stream close must leave before the close frame.
    process.nextTick(() => {
      this.flush();
      this.ws.close(1000, 'stream closed');
      // A peer that never answers the close handshake is cut off.
      setTimeout(() => this.ws.terminate(), 5000).unref();
    });
  }

  destroy(): void {
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  start(handlers: { data(chunk: Buffer): void; closed(): void }): void {
    this.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        this.ws.close(1003, 'binary frames only: the bytes of the Flash socket');
        return;
      }
      handlers.data(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    // A frame that breaks RFC 6455 (unmasked, reserved bits or opcodes, over maxPayload…): ws has
    // already sent the close frame with its code (§7.4.1: 1002, 1007, 1009) and ends the socket
    // once it is written. Terminating here would drop that frame before it leaves (always over
    // TLS; found by hostile-tls.test.ts), so only a peer that never lets it leave is cut off.
    this.ws.on('error', () => setTimeout(() => this.ws.terminate(), 5000).unref());
    this.ws.once('close', handlers.closed);
  }
}
