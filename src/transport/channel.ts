/**
 * What a client session needs of its connection, whatever carries it (TCP now; a WebSocket
 * later): bytes in, bytes out, backpressure, close. Sessions never see a socket.
 */
export interface ClientChannel {
  readonly transport: 'tcp' | 'websocket' | 'rtmpt';
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Queues output (text is UTF-8); writes made in one tick reach the peer together. */
  write(data: string | Uint8Array): void;
  /** Bytes queued that the client has not read yet. */
  readonly backlogBytes: number;
  onDrain(callback: () => void): void;
  /** Flushes queued output, then closes. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  pause(): void;
  resume(): void;
  /** Installs the session's input handlers; `closed` fires once, however the channel ends. */
  start(handlers: { data(chunk: Buffer): void; closed(): void }): void;
}
