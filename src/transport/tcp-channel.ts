/** A ClientChannel over a plain TCP socket, coalescing the writes of each callback into one. */
import type net from 'node:net';
import type { ClientChannel } from './channel.js';
import { AT_END_OF_CALLBACK } from './end-of-callback.js';

const TCP_KEEPALIVE_MS = 60_000;

export class TcpChannel implements ClientChannel {
  readonly transport = 'tcp' as const;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Output gathered until the end of the current callback: one write, or several. */
  private pending: string | Uint8Array | (string | Uint8Array)[] | undefined;
  /** Its length as the socket counts it (characters of a string, bytes of a buffer). */
  private pendingLength = 0;

  constructor(private readonly socket: net.Socket) {
    this.remoteAddress = socket.remoteAddress ?? '?';
    this.remotePort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    // Finds peers that vanished without a FIN (a closed laptop lid) even when nothing is sent.
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
  }

  write(data: string | Uint8Array): void {
    if (this.socket.destroyed) return;
    // Gathered until the end of the current callback: a stream header and its features, or
    // several stanzas parsed from one upstream read, leave in one TCP segment
    // (flash-clients.md, "Raw mode"). A microtask, not cork() and nextTick(): no per-write
    // buffering in the stream and no tick to process (docs/performance.md, "CPU per message").
    const pending = this.pending;
    this.pendingLength += data.length;
    if (pending === undefined) {
      this.pending = data;
      void AT_END_OF_CALLBACK.then(this.flush);
    } else if (Array.isArray(pending)) {
      pending.push(data);
    } else {
      this.pending = [pending, data];
    }
  }

  private readonly flush = (): void => {
    const pending = this.pending;
    this.pending = undefined;
    this.pendingLength = 0;
    if (pending === undefined || this.socket.destroyed) return;
    if (!Array.isArray(pending)) {
      this.socket.write(pending);
    } else if (pending.every((p) => typeof p === 'string')) {
      this.socket.write(pending.join(''));
    } else {
      this.socket.cork();
      for (const p of pending) this.socket.write(p);
      this.socket.uncork();
    }
  };

  get backlogBytes(): number {
    return this.socket.writableLength + this.pendingLength;
  }

  onDrain(callback: () => void): void {
    // What is gathered goes to the socket first: if the kernel took it all, there is no
    // 'drain' to wait for.
    this.flush();
    if (this.socket.writableNeedDrain) this.socket.once('drain', callback);
    else queueMicrotask(callback);
  }

  end(): void {
    this.flush();
    this.socket.end();
    // A peer that never reads would keep a half-closed socket forever. The timer goes with the
    // socket: left running, it held each ended connection in memory for 5 s.
    const timer = setTimeout(() => this.socket.destroy(), 5000).unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.pending = undefined;
    this.pendingLength = 0;
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  start(handlers: { data(chunk: Buffer): void; closed(): void }): void {
    this.socket.on('data', handlers.data);
    this.socket.on('error', () => this.socket.destroy());
    this.socket.once('close', handlers.closed);
  }
}
