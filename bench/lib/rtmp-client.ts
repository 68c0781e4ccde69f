/**
 * The benches' RTMP client, on the gateway's own codecs: the plain handshake, NetConnection
 * connect to app `xmpp`, `xmpp_connect`, then `xmpp("message", {to, type}, "<body>…</body>")`
 * calls without a responder (call API dialect A, docs/rtmp-api.md) — as a Flash Player app does.
 * With `amf3` the connection announces objectEncoding 3 and its calls are type-17 messages whose
 * arguments are AMF3 (0x11 switch), as AS3's default; replies are AMF0 either way.
 *
 * Received `xmpp_message` invocations are only recognised by their first bytes (no AMF decoding)
 * unless `onTimestamps` is set, then the body is decoded for its send time.
 */
import net from 'node:net';
import { decodeAmf0Values, encodeAmf0Values, encodeAmf0WithAmf3Values } from '../../src/codec/amf/amf0.js';
import type { AmfValue } from '../../src/codec/amf/values.js';
import { ChunkDecoder, type RtmpMessage } from '../../src/codec/rtmp/chunk-decoder.js';
import { ChunkEncoder } from '../../src/codec/rtmp/chunk-encoder.js';
import { AckTracker, controlMessage, decodeControlMessage, MessageType, pingResponseFor } from '../../src/codec/rtmp/control.js';
import { CLIENT_HANDSHAKE_BYTES, HANDSHAKE_SIZE, makeClientC1, makeClientC2 } from '../../src/codec/rtmp/handshake.js';
import type { BenchClient, LoginOptions } from './xmpp-client.js';

export interface RtmpEndpoint {
  host: string;
  port: number;
  app: string;
  domain: string;
  amf3: boolean;
}

const COMMAND_CSID = 3;
/** The first bytes of an AMF0 command named xmpp_message: string marker, length 12, the name. */
const XMPP_MESSAGE = Buffer.concat([Buffer.from([0x02, 0x00, 12]), Buffer.from('xmpp_message', 'latin1')]);

export class RtmpBenchClient implements BenchClient {
  jid = '';
  received = 0;
  onReceived: ((count: number) => void) | undefined;
  onTimestamps: ((sentAt: number[], now: number) => void) | undefined;
  closedAt: number | undefined;
  private readonly socket: net.Socket;
  private readonly decoder = new ChunkDecoder();
  private readonly encoder = new ChunkEncoder();
  private readonly acks = new AckTracker();
  private handshakeBytes: Buffer | undefined = Buffer.alloc(0);
  private c1: Buffer | undefined;
  private handshakeDone: (() => void) | undefined;
  private readonly pending = new Map<number, { resolve: (v: AmfValue[]) => void; reject: (e: Error) => void }>();
  private nextTxid = 1;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private failure: Error | undefined;
  private onFailure: ((e: Error) => void) | undefined;
  private disconnectReason: string | undefined;

  private constructor(readonly endpoint: RtmpEndpoint) {
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    this.socket = net.connect({ host: endpoint.host, port: endpoint.port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.receive(d));
    this.socket.on('close', () => this.gone());
    this.socket.on('error', (e) => this.gone(e));
  }

  static async login(endpoint: RtmpEndpoint, o: LoginOptions): Promise<RtmpBenchClient> {
    const c = new RtmpBenchClient(endpoint);
    const timeoutMs = o.timeoutMs ?? 15_000;
    const timer = setTimeout(() => c.fail(new Error(`RTMP login of ${o.user} not done within ${timeoutMs} ms`)), timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        c.onFailure = reject;
        c.socket.once('connect', () => {
          c.c1 = makeClientC1({ digest: false });
          c.socket.write(Buffer.concat([Buffer.from([3]), c.c1]));
        });
        c.handshakeDone = resolve;
      });
      const connected = await c.call(
        'connect',
        [
          {
            app: endpoint.app,
            flashVer: 'WIN 32,0,0,465',
            tcUrl: `rtmp://${endpoint.host}:${endpoint.port}/${endpoint.app}`,
            fpad: false,
            capabilities: 239,
            audioCodecs: 0,
            videoCodecs: 0,
            videoFunction: 1,
            objectEncoding: endpoint.amf3 ? 3 : 0,
          },
        ],
        false,
      );
      if (connected[0] !== '_result') throw new Error(`RTMP connect refused: ${JSON.stringify(connected.slice(3))}`);
      const ok = await c.call('xmpp_connect', [null, { username: o.user, domain: endpoint.domain, password: o.pass, resource: o.resource }]);
      if (ok[0] !== '_result' || ok[3] !== 1) {
        await new Promise((r) => setTimeout(r, 50));
        throw new Error(`xmpp_connect failed for ${o.user}: ${String(ok[3])} ${c.disconnectReason ?? ''}`);
      }
      c.jid = `${o.user}@${endpoint.domain}/${o.resource}`;
      return c;
    } catch (error) {
      c.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A call with a responder; `values` start with the command object. Resolves with the answer's values. */
  private call(name: string, values: AmfValue[], amf3 = this.endpoint.amf3): Promise<AmfValue[]> {
    const txid = this.nextTxid++;
    const p = new Promise<AmfValue[]>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.pending.set(txid, { resolve, reject });
    });
    this.command(name, txid, values, amf3);
    return p;
  }

  private command(name: string, txid: number, values: AmfValue[], amf3: boolean): void {
    let payload: Buffer;
    let typeId: number;
    if (amf3) {
      // Type 17: a 0 byte, the name, transaction id and command object in AMF0, the arguments switched to AMF3.
      const [commandObject, ...args] = values;
      payload = Buffer.concat([Buffer.from([0]), encodeAmf0Values([name, txid, commandObject ?? null]), encodeAmf0WithAmf3Values(args)]);
      typeId = MessageType.CommandAmf3;
    } else {
      payload = encodeAmf0Values([name, txid, ...values]);
      typeId = MessageType.CommandAmf0;
    }
    if (!this.socket.destroyed) this.socket.write(this.encoder.encode({ csid: COMMAND_CSID, timestamp: 0, typeId, streamId: 0, payload }));
  }

  sendMessages(to: string, bodies: readonly string[]): void {
    const parts: Buffer[] = [];
    const amf3 = this.endpoint.amf3;
    for (const b of bodies) {
      const args: AmfValue[] = ['message', { to, type: 'chat' }, `<body>${b}</body>`];
      const payload = amf3
        ? Buffer.concat([XMPP_CALL_HEAD_AMF3, encodeAmf0WithAmf3Values(args)])
        : Buffer.concat([XMPP_CALL_HEAD_AMF0, encodeAmf0Values(args)]);
      parts.push(this.encoder.encode({ csid: COMMAND_CSID, timestamp: 0, typeId: amf3 ? MessageType.CommandAmf3 : MessageType.CommandAmf0, streamId: 0, payload }));
    }
    if (!this.socket.destroyed) this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  get backlog(): number {
    return this.socket.writableLength;
  }

  private receive(data: Buffer): void {
    try {
      const seq = this.acks.received(data.length);
      if (this.handshakeBytes !== undefined) {
        this.handshakeBytes = Buffer.concat([this.handshakeBytes, data]);
        if (this.handshakeBytes.length < CLIENT_HANDSHAKE_BYTES) return;
        const s1 = this.handshakeBytes.subarray(1, 1 + HANDSHAKE_SIZE);
        const rest = this.handshakeBytes.subarray(CLIENT_HANDSHAKE_BYTES);
        this.handshakeBytes = undefined;
        this.socket.write(makeClientC2(this.c1!, s1));
        this.handshakeDone?.();
        data = rest;
        if (data.length === 0) return;
      }
      let count = 0;
      let times: number[] | undefined;
      this.decoder.write(data, (m) => {
        if (m.typeId === MessageType.CommandAmf0 && m.payload.subarray(0, XMPP_MESSAGE.length).equals(XMPP_MESSAGE)) {
          count++;
          if (this.onTimestamps) {
            const body = decodeAmf0Values(m.payload)[4];
            if (typeof body === 'string') {
              const at = body.indexOf('>t');
              if (at >= 0) (times ??= []).push(Number(body.slice(at + 2, body.indexOf('<', at + 2))));
            }
          }
          return;
        }
        this.other(m);
      });
      if (seq !== undefined) this.socket.write(this.encoder.encode(controlMessage({ type: 'acknowledgement', sequence: seq })));
      if (count > 0) {
        this.received += count;
        this.onReceived?.(count);
        if (times) this.onTimestamps?.(times, performance.now());
      }
    } catch (error) {
      this.fail(error as Error);
    }
  }

  private other(m: RtmpMessage): void {
    const control = decodeControlMessage(m.typeId, m.payload);
    if (control) {
      if (control.type === 'window-ack-size') this.acks.setWindowSize(control.size);
      if (control.type === 'user-control') {
        const pong = pingResponseFor(control.event);
        if (pong) this.socket.write(this.encoder.encode(controlMessage({ type: 'user-control', event: pong })));
      }
      return;
    }
    if (m.typeId !== MessageType.CommandAmf0) return;
    const values = decodeAmf0Values(m.payload);
    const [name, txid] = values;
    if ((name === '_result' || name === '_error') && typeof txid === 'number') {
      const p = this.pending.get(txid);
      this.pending.delete(txid);
      p?.resolve(values);
    } else if (name === 'xmpp_disconnected') {
      this.disconnectReason = String(values[3]);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.onFailure?.(error);
    this.onFailure = undefined;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.destroy();
  }

  private gone(error?: Error): void {
    if (this.closedAt !== undefined) return;
    this.closedAt = Date.now();
    this.fail(error ?? new Error('connection closed'));
    this.resolveClosed();
  }

  /** Closes the NetConnection (the gateway ends the XMPP session) and waits (bounded) for the close. */
  async close(timeoutMs = 3000): Promise<void> {
    if (this.closedAt === undefined) {
      this.socket.end();
      const timer = setTimeout(() => this.destroy(), timeoutMs);
      await this.closedPromise;
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.socket.destroy();
    if (this.closedAt === undefined) {
      this.closedAt = Date.now();
      this.resolveClosed();
    }
  }
}

/** `xmpp`, transaction id 0 (no responder), null command object. */
const XMPP_CALL_HEAD_AMF0 = encodeAmf0Values(['xmpp', 0, null]);
const XMPP_CALL_HEAD_AMF3 = Buffer.concat([Buffer.from([0]), XMPP_CALL_HEAD_AMF0]);
