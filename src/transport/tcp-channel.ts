/** A ClientChannel over a plain TCP socket, coalescing each tick's writes into one. */
import type net from 'node:net';
import type { ClientChannel } from './channel.js';

const TCP_KEEPALIVE_MS = 60_000;

export class TcpChannel implements ClientChannel {
  readonly transport = 'tcp' as const;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private corked = false;

  constructor(private readonly socket: net.Socket) {
    this.remoteAddress = socket.remoteAddress ?? '?';
    this.remotePort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    // Finds peers that vanished without a FIN (a closed laptop lid) even when nothing is sent.
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
  }

  write(data: string | Uint8Array): void {
    if (this.socket.destroyed) return;
    // Cork for the rest of this tick: a stream header and its features, or several stanzas
    // parsed from one upstream read, leave in one TCP segment (flash-clients.md, "Raw mode").
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(data);
  }

  get backlogBytes(): number {
    return this.socket.writableLength;
  }

  onDrain(callback: () => void): void {
    this.socket.once('drain', callback);
  }

  end(): void {
    this.socket.end();
    // A peer that never reads would keep a half-closed socket forever. The timer goes with the
    // socket: left running, it held each ended connection in memory for 5 s.
    const timer = setTimeout(() => this.socket.destroy(), 5000).unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
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
