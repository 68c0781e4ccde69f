/**
 * Carries a TCP client's bytes over a WebSocket the way Ruffle's socketProxy does
 * (shared/spec/flash-clients.md, "Ruffle"): each client write becomes one binary frame, and the
 * bytes of every binary frame from the gateway go back to the client. The byte-exact Flash
 * client emulations then run unchanged over the gateway's WebSocket transport.
 *
 * It also checks what Ruffle needs of the frames: binary only (Ruffle ignores text frames) and,
 * once the client is known to speak NUL mode, every frame ending on a NUL boundary.
 */
import net from 'node:net';
import { WebSocket } from 'ws';

export interface WsBridge {
  /** The TCP port the emulations connect to. */
  readonly port: number;
  /** What the frames broke, if anything. */
  readonly violations: string[];
  /** Frames received from the gateway, in order. */
  readonly frames: Buffer[];
  /** Close codes of the WebSockets that ended. */
  readonly closeCodes: number[];
  close(): Promise<void>;
}

export async function startWsBridge(url: string, options: { origin?: string; ca?: Buffer } = {}): Promise<WsBridge> {
  const violations: string[] = [];
  const frames: Buffer[] = [];
  const closeCodes: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const ws = new WebSocket(url, { ...(options.origin ? { origin: options.origin } : {}), ...(options.ca ? { ca: options.ca } : {}) });
    ws.binaryType = 'nodebuffer';
    let nulMode = false;
    const early: Buffer[] = [];
    client.on('data', (data) => {
      if (data.includes(0)) nulMode = true;
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: true });
      else early.push(data);
    });
    ws.on('open', () => {
      for (const data of early.splice(0)) ws.send(data, { binary: true });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      frames.push(data);
      if (!isBinary) violations.push(`a text frame: ${data.toString('utf8').slice(0, 80)}`);
      if (nulMode && data.length > 0 && data[data.length - 1] !== 0) {
        violations.push(`a NUL-mode frame not ending on a NUL boundary: ${JSON.stringify(data.toString('utf8').slice(-80))}`);
      }
      client.write(data);
    });
    ws.on('close', (code) => {
      closeCodes.push(code);
      client.end();
    });
    ws.on('error', () => client.destroy());
    client.on('close', () => {
      sockets.delete(client);
      ws.close();
    });
    client.on('error', () => ws.terminate());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    violations,
    frames,
    closeCodes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
