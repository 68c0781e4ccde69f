/**
 * A ClientChannel that counts the bytes it carries, for the client_bytes_total metric; the
 * session behind it sees the same channel otherwise.
 */
import type { ClientChannel } from '../transport/channel.js';

export interface ByteCounter {
  in(count: number): void;
  out(count: number): void;
}

export class MeteredChannel implements ClientChannel {
  constructor(
    private readonly inner: ClientChannel,
    private readonly count: ByteCounter,
  ) {}

  get transport(): ClientChannel['transport'] {
    return this.inner.transport;
  }

  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }

  get remotePort(): number {
    return this.inner.remotePort;
  }

  get backlogBytes(): number {
    return this.inner.backlogBytes;
  }

  write(data: string | Uint8Array): void {
    this.count.out(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
    this.inner.write(data);
  }

  onDrain(callback: () => void): void {
    this.inner.onDrain(callback);
  }

  end(): void {
    this.inner.end();
  }

  destroy(): void {
    this.inner.destroy();
  }

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  start(handlers: { data(chunk: Buffer): void; closed(): void }): void {
    this.inner.start({
      data: (chunk) => {
        this.count.in(chunk.length);
        handlers.data(chunk);
      },
      closed: handlers.closed,
    });
  }
}
